// `epbench split --placement P.json --loads B.csv [--rule lp|round-robin|lplb] [--output F]`:
// reads a placement (what `epbench place --output` writes) and one batch per CSV row (`layer`,
// then the batch's token rows per logical expert), splits each batch with the rule, and reports
// per batch the most loaded GPU's rows, the certified lower bound (of the exact optimum), the
// balancedness and the solver's time, as a table or JSON.
#include "app/split_command.hpp"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/int_csv.hpp"
#include "dispatch/batch_split.hpp"
#include "metrics/balance.hpp"
#include "results/table.hpp"

namespace epbench {
namespace {

struct SplitOptions {
  std::string placement, loads, rule = "lp", output;
  int gpus = 0, nodes = 0;
};

const char* const kRules = "lp, round-robin, lplb";

int shape_field(const nlohmann::json& doc, const char* key, const std::string& source) {
  const auto& v = doc.at(key);
  require_input(v.is_number_integer() && v.get<int64_t>() > 0 && v.get<int64_t>() < (1 << 24),
                source + ": \"" + key + "\" must be a positive integer");
  return v.get<int>();
}

// Notes (shape taken from elsewhere) go to stderr once the placement is known to be good.
Placement read_placement(const SplitOptions& opt, std::vector<std::string>& notes) {
  const nlohmann::json doc = read_json_file(opt.placement);
  const std::string& src = opt.placement;
  require_input(doc.is_object() && doc.contains("phy2log") && doc["phy2log"].is_array() &&
                    !doc["phy2log"].empty(),
                src + ": no \"phy2log\" (expected what `epbench place --output` writes)");
  int gpus = opt.gpus, nodes = opt.nodes;
  if (gpus == 0 && doc.contains("num_gpus")) gpus = shape_field(doc, "num_gpus", src);
  if (gpus == 0 && doc.contains("gpu_loads") && doc["gpu_loads"].is_array() &&
      !doc["gpu_loads"].empty() && doc["gpu_loads"][0].is_array()) {
    gpus = static_cast<int>(doc["gpu_loads"][0].size());
    notes.push_back(src + ": no num_gpus; " + std::to_string(gpus) + " GPUs from gpu_loads");
  }
  require_input(gpus > 0, src + ": no num_gpus: give --gpus");
  if (nodes == 0 && doc.contains("num_nodes")) nodes = shape_field(doc, "num_nodes", src);
  if (nodes == 0) {
    nodes = 1;
    notes.push_back(src + ": no num_nodes; assuming 1 node (else give --nodes)");
  }
  require_input(gpus % nodes == 0, src + ": " + std::to_string(gpus) +
                                       " GPUs are not divisible by " + std::to_string(nodes) +
                                       " nodes");
  const auto& rows = doc["phy2log"];
  const size_t slots = rows[0].is_array() ? rows[0].size() : 0;
  std::vector<int32_t> phy2log;
  int experts = 0;
  for (size_t l = 0; l < rows.size(); ++l) {
    require_input(rows[l].is_array() && rows[l].size() == slots && slots > 0,
                  src + ": phy2log layer " + std::to_string(l) + " is not a row of " +
                      std::to_string(slots) + " slots");
    for (const auto& v : rows[l]) {
      require_input(v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() < (1 << 24),
                    src + ": phy2log layer " + std::to_string(l) + " has a bad expert id " +
                        v.dump());
      phy2log.push_back(v.get<int32_t>());
      experts = std::max(experts, v.get<int32_t>() + 1);
    }
  }
  if (doc.contains("num_experts")) experts = shape_field(doc, "num_experts", src);
  require_input(slots % size_t(gpus) == 0, src + ": " + std::to_string(slots) +
                                               " slots are not divisible by " +
                                               std::to_string(gpus) + " GPUs");
  try {
    Placement p(int(rows.size()), experts, gpus, nodes, std::move(phy2log));
    p.validate();
    return p;
  } catch (const std::logic_error& e) {
    throw InputError(src + ": " + e.what());
  }
}

struct Batch {
  int layer = 0;
  std::vector<int64_t> rows;
};

std::vector<Batch> read_batches(const std::string& file, const Placement& p) {
  IntCsv csv = read_int_csv(file);
  const size_t want = size_t(p.num_experts()) + 1;
  if (!csv.header.empty())
    require_input(csv.header.size() == want && csv.header[0] == "layer",
                  file + ": header must be layer,e0,...,e" + std::to_string(p.num_experts() - 1) +
                      " (" + std::to_string(p.num_experts()) + " experts in the placement)");
  require_input(!csv.rows.empty(), file + ": no batch rows");
  std::vector<Batch> batches;
  for (size_t i = 0; i < csv.rows.size(); ++i) {
    const auto& row = csv.rows[i];
    const std::string where = file + ":" + std::to_string(csv.line_of_row[i]);
    require_input(row.size() == want, where + ": " + std::to_string(row.size()) +
                                          " fields, expected layer + " +
                                          std::to_string(p.num_experts()) + " expert counts");
    require_input(row[0] >= 0 && row[0] < p.num_layers(),
                  where + ": layer " + std::to_string(row[0]) + " outside the placement's " +
                      std::to_string(p.num_layers()) + " layers");
    for (size_t e = 1; e < row.size(); ++e)
      require_input(row[e] >= 0 && row[e] < (int64_t(1) << 40),
                    where + ": count of expert " + std::to_string(e - 1) + " is negative");
    batches.push_back({int(row[0]), std::vector<int64_t>(row.begin() + 1, row.end())});
  }
  return batches;
}

void run_split(const SplitOptions& opt) {
  require_input(opt.rule == "lp" || opt.rule == "round-robin" || opt.rule == "lplb",
                "unknown split rule \"" + opt.rule + "\" (known: " + kRules + ")");
  require_input(opt.gpus >= 0 && opt.nodes >= 0, "--gpus and --nodes must be positive");
  std::vector<std::string> notes;
  const Placement placement = read_placement(opt, notes);
  const std::vector<Batch> batches = read_batches(opt.loads, placement);
  for (const auto& note : notes) std::cerr << "# " << note << "\n";

  BatchSplitSolver solver;
  BatchSplit split, exact;
  auto solve = [&](const Batch& b) {
    if (opt.rule == "lp") solver.split_exact(placement, b.layer, b.rows, split);
    else if (opt.rule == "lplb") solver.split_lplb_lp(placement, b.layer, b.rows, split);
    else solver.split_even(placement, b.layer, b.rows, split);
  };
  nlohmann::json out_batches = nlohmann::json::array();
  Table table({"batch", "layer", "rule", "max_gpu_load", "lower_bound", "balancedness",
               "solve_us"});
  for (size_t i = 0; i < batches.size(); ++i) {
    const Batch& b = batches[i];
    // Median of 5 timed solves (a single one is a few microseconds).
    std::vector<double> us;
    for (int rep = 0; rep < 5; ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      solve(b);
      us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                       .count());
    }
    std::sort(us.begin(), us.end());
    solver.split_exact(placement, b.layer, b.rows, exact);  // the certified bound
    solve(b);
    std::vector<double> loads(split.gpu_rows.begin(), split.gpu_rows.end());
    const double bal = balancedness(loads);
    nlohmann::json j = {{"layer", b.layer},
                        {"max_gpu_load", split.max_gpu_rows},
                        {"lower_bound", exact.lower_bound},
                        {"balancedness", bal},
                        {"solve_us", us[2]},
                        {"slot_tokens", split.slot_rows},
                        {"gpu_tokens", split.gpu_rows}};
    if (opt.rule == "lplb") j["lp_max_gpu_load"] = split.lp_max_gpu_rows;
    out_batches.push_back(std::move(j));
    table.add_row({std::to_string(i), std::to_string(b.layer), opt.rule,
                   std::to_string(split.max_gpu_rows), std::to_string(exact.lower_bound),
                   fmt_fixed(bal, 4), fmt_general(us[2], 3)});
  }
  if (opt.output.empty()) {
    std::cout << "# epbench split: " << batches.size() << " batches on " << placement.num_slots()
              << " slots, " << placement.num_gpus() << " GPUs, " << placement.num_nodes()
              << " nodes; rule " << opt.rule << "\n"
              << "# max_gpu_load: rows on the most loaded GPU; lower_bound: certified bound of "
                 "the exact optimum;\n# balancedness = mean/max GPU rows; solve_us: median of 5\n";
    table.print(std::cout);
    return;
  }
  nlohmann::json doc = {{"placement", opt.placement}, {"loads", opt.loads},
                        {"rule", opt.rule},           {"num_gpus", placement.num_gpus()},
                        {"num_nodes", placement.num_nodes()},
                        {"num_slots", placement.num_slots()},
                        {"batches", std::move(out_batches)}};
  write_file_atomic(opt.output, doc.dump(1) + "\n");
  std::cout << "wrote " << opt.output << " (" << batches.size() << " batches)\n";
}

}  // namespace

void add_split_command(CLI::App& app) {
  auto opt = std::make_shared<SplitOptions>();
  CLI::App* cmd = app.add_subcommand(
      "split", "Split recorded batches among expert replicas (per-batch balancing, LPLB)");
  cmd->add_option("--placement", opt->placement, "Placement JSON (epbench place --output)")
      ->required();
  cmd->add_option("--loads", opt->loads,
                  "Batches CSV: header layer,e0,e1,...; per row the layer, then the batch's "
                  "token rows per logical expert")
      ->required();
  cmd->add_option("--rule", opt->rule, std::string("Split rule: ") + kRules)
      ->capture_default_str();
  cmd->add_option("--output", opt->output, "Write JSON here (else a table)");
  cmd->add_option("--gpus", opt->gpus, "GPUs, when the placement file does not record them");
  cmd->add_option("--nodes", opt->nodes, "Nodes, when the placement file does not record them");
  cmd->callback([opt] { run_split(*opt); });
}

}  // namespace epbench
