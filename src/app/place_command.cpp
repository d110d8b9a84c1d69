// `epbench place`: reads a problem (JSON, or CSV loads plus shape flags), runs a placement
// policy, and reports per-layer balancedness before (experts spread in order, no replicas) and
// after. Timing covers the algorithm alone, not file I/O.
#include "app/place_command.hpp"

#include <chrono>
#include <iostream>
#include <memory>

#include "common/error.hpp"
#include "common/files.hpp"
#include "metrics/balance.hpp"
#include "placement/placement_json.hpp"
#include "placement/policy.hpp"
#include "placement/problem_io.hpp"
#include "results/table.hpp"

namespace epbench {
namespace {

struct PlaceOptions {
  std::string input, loads_csv, output, policy = "eplb";
  int replicas = 0, groups = 1, nodes = 1, gpus = 0;
};

// Per-GPU loads with no balancing: logical expert e on GPU e * num_gpus / num_experts.
std::vector<double> unbalanced_gpu_loads(std::span<const double> loads, int num_gpus) {
  std::vector<double> gpu(num_gpus, 0.0);
  const size_t E = loads.size();
  for (size_t e = 0; e < E; ++e) gpu[e * num_gpus / E] += loads[e];
  return gpu;
}

void print_table(const EplbProblem& problem, const PolicyResult& result, double seconds) {
  Table table({"layer", "policy", "balancedness_before", "balancedness_after", "max_gpu_load",
               "mean_gpu_load"});
  std::vector<std::vector<double>> before_all, after_all;
  const size_t E = problem.num_experts;
  for (int l = 0; l < problem.num_layers; ++l) {
    std::span<const double> loads(problem.weight.data() + l * E, E);
    auto before = unbalanced_gpu_loads(loads, problem.num_gpus);
    auto after = result.placement.gpu_loads(l, loads);
    LoadStats s = load_stats(after);
    table.add_row({std::to_string(l), result.policy_used, fmt_fixed(balancedness(before), 4),
                   fmt_fixed(balancedness(after), 4), fmt_general(s.max, 6),
                   fmt_general(s.mean, 6)});
    before_all.push_back(std::move(before));
    after_all.push_back(std::move(after));
  }
  table.add_row({"all", result.policy_used, fmt_fixed(vllm_balancedness(before_all), 4),
                 fmt_fixed(vllm_balancedness(after_all), 4), "", ""});
  std::cout << "# epbench place: " << problem.num_layers << " layers x " << problem.num_experts
            << " experts -> " << problem.num_replicas << " replicas on " << problem.num_gpus
            << " GPUs, " << problem.num_nodes << " nodes, " << problem.num_groups << " groups\n";
  std::cout << "# balancedness = mean GPU load / max GPU load (1 = perfect); \"before\" = experts\n"
               "# in order on GPUs without replicas; row \"all\" = sum of means / sum of maxima\n";
  table.print(std::cout);
  std::cout << "# algorithm time: " << fmt_general(seconds * 1e3, 4) << " ms\n";
}

void run_place(const PlaceOptions& opt) {
  const PlacementPolicy& policy = find_policy(opt.policy);
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
  problem.validate();
  if (!opt.output.empty()) check_output_path(opt.output);  // before computing; never overwrites

  auto t0 = std::chrono::steady_clock::now();
  PolicyResult result = policy.compute(problem);
  auto t1 = std::chrono::steady_clock::now();
  const double seconds = std::chrono::duration<double>(t1 - t0).count();
  result.placement.validate();

  if (opt.output.empty()) {
    print_table(problem, result, seconds);
    return;
  }
  nlohmann::json out = placement_to_json(result.placement, problem.weight);
  out["policy"] = policy.name;
  out["policy_used"] = result.policy_used;
  out["num_groups"] = problem.num_groups;
  out["algorithm_seconds"] = seconds;
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
  cmd->callback([opt] { run_place(*opt); });
}

}  // namespace epbench
