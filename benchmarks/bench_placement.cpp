// Placement policies on the DeepSeek-V3 shape: 58 layers x 256 experts -> 288 replicas,
// 8 groups; 4 nodes x 8 GPUs (hierarchical) and 3 nodes x 8 GPUs (global: 8 groups do not
// divide over 3 nodes). Loads are zipf(1.0)-skewed with a random expert order per layer.
//   BM_Eplb*    the exact EPLB port, on 1 thread and on all hardware threads (layers in
//               parallel). The reference eplb.py (PyTorch on CPU, 1 thread) takes about
//               0.25 s (hierarchical) and 0.54 s (global) for these on the 2-core build
//               machine when it runs at full speed (results/placement/eplb-speed.md: its
//               median in the rounds where the port ran at full speed too); counter
//               `x_vs_eplb_py` = that time / this one. Ratios measured in the same rounds as
//               eplb.py: results/placement/speed_rounds.py.
//   BM_Minmax*  the minmax policy (EPLB start + search, deterministic work limits) and its
//               `gap` counter: mean over layers of 1 - lower_bound / max GPU load;
//               `eplb_gap` is EPLB's for the same loads.
//   BM_LowerBound*  the per-layer lower bounds alone.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "placement/bounds.hpp"
#include "placement/eplb.hpp"
#include "placement/policy.hpp"

namespace {

constexpr double kEplbPyHierarchicalSeconds = 0.25, kEplbPyGlobalSeconds = 0.54;

epbench::EplbProblem deepseek_v3_problem(int nodes, int gpus, int threads) {
  constexpr int kLayers = 58, kExperts = 256;
  epbench::EplbProblem p{kLayers, kExperts, {}, 288, 8, nodes, gpus};
  p.num_threads = threads;
  std::mt19937 rng(42);
  std::vector<int> rank(kExperts);
  for (int l = 0; l < kLayers; ++l) {
    std::iota(rank.begin(), rank.end(), 1);
    std::shuffle(rank.begin(), rank.end(), rng);
    for (int e = 0; e < kExperts; ++e) p.weight.push_back(100000.0 / rank[e]);
  }
  return p;
}

// Mean over layers of 1 - bound / max GPU load.
double mean_gap(const epbench::EplbProblem& p, const epbench::Placement& placement,
                const std::vector<double>& bounds) {
  double sum = 0;
  for (int l = 0; l < p.num_layers; ++l) {
    std::span<const double> w(p.weight.data() + size_t(l) * p.num_experts, p.num_experts);
    auto loads = placement.gpu_loads(l, w);
    sum += epbench::gap_to_bound(bounds[l], *std::max_element(loads.begin(), loads.end()));
  }
  return sum / p.num_layers;
}

void eplb(benchmark::State& state, int nodes, int gpus, const char* expected_policy,
          double reference_seconds) {
  const epbench::EplbProblem problem =
      deepseek_v3_problem(nodes, gpus, static_cast<int>(state.range(0)));
  for (auto _ : state) {
    epbench::EplbResult r = epbench::rebalance_experts(problem);
    benchmark::DoNotOptimize(r);
    if (r.policy_used != expected_policy) state.SkipWithError("unexpected policy");
  }
  state.counters["layers/s"] =
      benchmark::Counter(problem.num_layers, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["x_vs_eplb_py"] = benchmark::Counter(
      reference_seconds, benchmark::Counter::kIsIterationInvariantRate);
}

void minmax(benchmark::State& state, int nodes, int gpus) {
  const epbench::EplbProblem problem =
      deepseek_v3_problem(nodes, gpus, static_cast<int>(state.range(0)));
  const auto& policy = epbench::find_policy("minmax");
  epbench::PolicyResult r;
  for (auto _ : state) {
    r = policy.compute(problem);
    benchmark::DoNotOptimize(r);
  }
  const auto bounds = epbench::lower_bounds(problem);
  state.counters["gap"] = mean_gap(problem, r.placement, bounds);
  state.counters["eplb_gap"] =
      mean_gap(problem, epbench::rebalance_experts(problem).placement, bounds);
}

void lower_bound(benchmark::State& state, int nodes, int gpus) {
  const epbench::EplbProblem problem = deepseek_v3_problem(nodes, gpus, 1);
  for (auto _ : state) benchmark::DoNotOptimize(epbench::lower_bounds(problem));
}

void BM_EplbHierarchical_DeepSeekV3_4x8(benchmark::State& s) {
  eplb(s, 4, 32, "hierarchical", kEplbPyHierarchicalSeconds);
}
void BM_EplbGlobal_DeepSeekV3_3x8(benchmark::State& s) {
  eplb(s, 3, 24, "global", kEplbPyGlobalSeconds);
}
void BM_MinmaxHierarchical_DeepSeekV3_4x8(benchmark::State& s) { minmax(s, 4, 32); }
void BM_MinmaxGlobal_DeepSeekV3_3x8(benchmark::State& s) { minmax(s, 3, 24); }
void BM_LowerBoundHierarchical_DeepSeekV3_4x8(benchmark::State& s) { lower_bound(s, 4, 32); }
void BM_LowerBoundGlobal_DeepSeekV3_3x8(benchmark::State& s) { lower_bound(s, 3, 24); }

// Argument: threads (1, or 0 = all hardware threads).
BENCHMARK(BM_EplbHierarchical_DeepSeekV3_4x8)->ArgName("threads")->Arg(1)->Arg(0)
    ->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_EplbGlobal_DeepSeekV3_3x8)->ArgName("threads")->Arg(1)->Arg(0)
    ->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_MinmaxHierarchical_DeepSeekV3_4x8)->ArgName("threads")->Arg(1)->Arg(0)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_MinmaxGlobal_DeepSeekV3_3x8)->ArgName("threads")->Arg(1)->Arg(0)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LowerBoundHierarchical_DeepSeekV3_4x8)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LowerBoundGlobal_DeepSeekV3_3x8)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
