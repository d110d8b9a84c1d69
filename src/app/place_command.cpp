// `epbench place`: reads a problem (JSON, or CSV loads plus shape flags), runs a placement
// policy, and reports per-layer balancedness before (experts spread in order, no replicas) and
// after, a lower bound on the max GPU load any placement can reach and the gap to it, and with
// --current the experts each layer moves. Timing covers the algorithm alone, not file I/O or
// the bounds.
#include "app/place_command.hpp"

#include <chrono>
#include <iostream>
#include <memory>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/memory_check.hpp"
#include "metrics/balance.hpp"
#include "placement/bounds.hpp"
#include "placement/memory_estimate.hpp"
#include "placement/placement_json.hpp"
#include "placement/policies/lplb.hpp"
#include "placement/policy.hpp"
#include "placement/problem_io.hpp"
#include "results/table.hpp"

namespace epbench {
namespace {

struct PlaceOptions {
  std::string input, loads_csv, output, policy = "eplb", current,
      lplb_topology = kDefaultLplbTopology;
  int replicas = 0, groups = 1, nodes = 1, gpus = 0, threads = 0, max_moved_experts = -1;
  double time_budget_ms = 0;
};

// What `place` reports per layer beside the placement itself.
struct LayerReport {
  std::vector<double> lower_bound, gap, max_load;
  std::vector<int64_t> moved;  // with --current
  double bound_seconds = 0;
};

LayerReport report_layers(const EplbProblem& problem, const PolicyResult& result) {
  LayerReport r;
  auto t0 = std::chrono::steady_clock::now();
  r.lower_bound = lower_bounds(problem, result.policy_used == "hierarchical");
  r.bound_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const size_t E = problem.num_experts;
  for (int l = 0; l < problem.num_layers; ++l) {
    auto loads = result.placement.gpu_loads(l, {problem.weight.data() + l * E, E});
    r.max_load.push_back(load_stats(loads).max);
    r.gap.push_back(gap_to_bound(r.lower_bound[l], r.max_load[l]));
    if (problem.current) r.moved.push_back(count_moved_experts(*problem.current, result.placement, l));
  }
  return r;
}

double mean_of(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? 0 : sum / v.size();
}

// Per-GPU loads with no balancing: logical expert e on GPU e * num_gpus / num_experts.
std::vector<double> unbalanced_gpu_loads(std::span<const double> loads, int num_gpus) {
  std::vector<double> gpu(num_gpus, 0.0);
  const size_t E = loads.size();
  for (size_t e = 0; e < E; ++e) gpu[e * num_gpus / E] += loads[e];
  return gpu;
}

void print_table(const EplbProblem& problem, const PolicyResult& result, const LayerReport& rep,
                 double seconds) {
  std::vector<std::string> headers = {"layer", "policy", "balancedness_before",
                                      "balancedness_after", "max_gpu_load", "mean_gpu_load",
                                      "lower_bound", "gap"};
  if (problem.current) headers.push_back("moved_experts");
  Table table(headers);
  std::vector<std::vector<double>> before_all, after_all;
  const size_t E = problem.num_experts;
  for (int l = 0; l < problem.num_layers; ++l) {
    std::span<const double> loads(problem.weight.data() + l * E, E);
    auto before = unbalanced_gpu_loads(loads, problem.num_gpus);
    auto after = result.placement.gpu_loads(l, loads);
    LoadStats s = load_stats(after);
    std::vector<std::string> row = {std::to_string(l), result.policy_used,
                                    fmt_fixed(balancedness(before), 4),
                                    fmt_fixed(balancedness(after), 4), fmt_general(s.max, 6),
                                    fmt_general(s.mean, 6), fmt_general(rep.lower_bound[l], 6),
                                    fmt_fixed(rep.gap[l], 4)};
    if (problem.current) row.push_back(std::to_string(rep.moved[l]));
    table.add_row(row);
    before_all.push_back(std::move(before));
    after_all.push_back(std::move(after));
  }
  std::vector<std::string> all = {"all", result.policy_used,
                                  fmt_fixed(vllm_balancedness(before_all), 4),
                                  fmt_fixed(vllm_balancedness(after_all), 4), "", "", "",
                                  fmt_fixed(mean_of(rep.gap), 4)};
  if (problem.current) {
    int64_t moved = 0;
    for (int64_t m : rep.moved) moved += m;
    all.push_back(std::to_string(moved));
  }
  table.add_row(all);
  std::cout << "# epbench place: " << problem.num_layers << " layers x " << problem.num_experts
            << " experts -> " << problem.num_replicas << " replicas on " << problem.num_gpus
            << " GPUs, " << problem.num_nodes << " nodes, " << problem.num_groups << " groups\n";
  std::cout << "# balancedness = mean GPU load / max GPU load (1 = perfect); \"before\" = experts\n"
               "# in order on GPUs without replicas; row \"all\" = sum of means / sum of maxima\n"
               "# lower_bound: no placement under the same constraints has a smaller max GPU load;\n"
               "# gap = 1 - lower_bound / max_gpu_load (0 = proven optimal; row \"all\": mean)\n";
  table.print(std::cout);
  std::cout << "# algorithm time: " << fmt_general(seconds * 1e3, 4) << " ms\n";
}

void run_place(const PlaceOptions& opt) {
  check_lplb_topology_name(opt.lplb_topology);
  const PlacementPolicy policy = configured_policy(opt.policy, opt.lplb_topology);
  EplbProblem problem;
  if (!opt.input.empty()) {
    problem = read_problem_json(opt.input);
  } else {
    require_input(!opt.loads_csv.empty(), "give --input problem.json or --loads loads.csv");
    require_input(opt.replicas > 0 && opt.gpus > 0,
                  "--loads needs --replicas and --gpus (and optionally --groups, --nodes)");
    read_loads_csv(opt.loads_csv, problem);
    problem.num_replicas = opt.replicas;
    problem.num_groups = opt.groups;
    problem.num_nodes = opt.nodes;
    problem.num_gpus = opt.gpus;
  }
  problem.num_threads = opt.threads;
  problem.time_budget_ms = opt.time_budget_ms;
  problem.max_moved_experts = opt.max_moved_experts;
  require_input(opt.time_budget_ms >= 0, "--time-budget-ms must not be negative");
  require_input(opt.max_moved_experts < 0 || !opt.current.empty(),
                "--max-moved-experts needs --current (the placement the cluster holds now)");
  if (!opt.current.empty())
    problem.current = placement_from_json(read_json_file(opt.current), opt.current);
  problem.validate();
  if (!opt.output.empty()) check_output_path(opt.output);  // before computing; never overwrites
  // Every buffer that grows with layers, experts, slots and GPUs, against what the host has.
  require_place_memory(problem, !opt.output.empty(), 0, available_memory_bytes());

  auto t0 = std::chrono::steady_clock::now();
  PolicyResult result = policy.compute(problem);
  auto t1 = std::chrono::steady_clock::now();
  const double seconds = std::chrono::duration<double>(t1 - t0).count();
  result.placement.validate();
  const LayerReport rep = report_layers(problem, result);

  if (opt.output.empty()) {
    print_table(problem, result, rep, seconds);
    return;
  }
  // The JSON's log2phy is padded to the hottest expert's replica count, known only now.
  require_place_memory(problem, true, result.placement.max_replicas(), available_memory_bytes());
  nlohmann::json out = placement_to_json(result.placement, problem.weight);
  out["policy"] = policy.name;
  out["policy_used"] = result.policy_used;
  out["num_groups"] = problem.num_groups;
  out["algorithm_seconds"] = seconds;
  out["lower_bound"] = rep.lower_bound;
  out["gap"] = rep.gap;
  out["mean_gap"] = mean_of(rep.gap);
  out["bound_seconds"] = rep.bound_seconds;
  if (!result.proven_optimal.empty()) {
    std::vector<bool> proven(result.proven_optimal.begin(), result.proven_optimal.end());
    out["proven_optimal"] = proven;
  }
  if (problem.current) {
    out["moved_experts"] = rep.moved;
    out["max_moved_experts"] = opt.max_moved_experts;
  }
  if (opt.time_budget_ms > 0) out["time_budget_ms"] = opt.time_budget_ms;
  write_file_atomic(opt.output, out.dump(1) + "\n");
  std::cout << "wrote " << opt.output << " (" << result.policy_used << ", "
            << fmt_general(seconds * 1e3, 4) << " ms)\n";
}

}  // namespace

void add_place_command(CLI::App& app) {
  auto opt = std::make_shared<PlaceOptions>();
  CLI::App* cmd = app.add_subcommand("place", "Compute an expert placement for a load matrix");
  auto* input = cmd->add_option("--input", opt->input,
                                "Problem JSON: weight[layers][experts], num_replicas, "
                                "num_groups, num_nodes, num_gpus");
  auto* loads = cmd->add_option("--loads", opt->loads_csv,
                                "CSV of expert loads, one row per layer (use with --replicas "
                                "--gpus [--groups --nodes])");
  input->excludes(loads);
  auto* r = cmd->add_option("--replicas", opt->replicas, "Physical expert slots in total");
  auto* g = cmd->add_option("--groups", opt->groups, "Expert groups (default 1)");
  auto* n = cmd->add_option("--nodes", opt->nodes, "Nodes (default 1)");
  auto* p = cmd->add_option("--gpus", opt->gpus, "GPUs in total");
  for (auto* o : {r, g, n, p}) o->excludes(input);
  cmd->add_option("--output", opt->output, "Write the placement as JSON here (else a table)");
  cmd->add_option("--policy", opt->policy, "Placement policy: " + policy_names())
      ->capture_default_str();
  cmd->add_option("--time-budget-ms", opt->time_budget_ms,
                  "Wall-clock cap on a search policy (minmax), all layers; 0 = none "
                  "(deterministic work limits only)");
  cmd->add_option("--current", opt->current,
                  "Placement the cluster holds now (a file written by place --output): "
                  "minmax keeps experts where they are when it can");
  cmd->add_option("--max-moved-experts", opt->max_moved_experts,
                  "With --current: move at most N expert weights per layer (minmax)");
  cmd->add_option("--threads", opt->threads, "Threads over layers (0 = hardware threads)");
  cmd->add_option("--lplb-topology", opt->lplb_topology,
                  "Policy lplb: cube | hypercube | torus | r2o:FILE (docs/lplb.md)")
      ->capture_default_str();
  cmd->callback([opt] { run_place(*opt); });
}

}  // namespace epbench
