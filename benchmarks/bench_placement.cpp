// EPLB placement time on the DeepSeek-V3 shape: 58 layers x 256 experts -> 288 replicas,
// 8 groups; 4 nodes x 8 GPUs (hierarchical) and 3 nodes x 8 GPUs (global: 8 groups do not
// divide over 3 nodes). Loads are zipf(1.0)-skewed with a random expert order per layer.
// For scale: the reference eplb.py (PyTorch on CPU) takes about 0.3 s and 0.6 s for these on
// a 2-core build machine.
#include <benchmark/benchmark.h>

#include <numeric>
#include <random>

#include "placement/eplb.hpp"

namespace {

epbench::EplbProblem deepseek_v3_problem(int nodes, int gpus) {
  constexpr int kLayers = 58, kExperts = 256;
  epbench::EplbProblem p{kLayers, kExperts, {}, 288, 8, nodes, gpus};
  std::mt19937 rng(42);
  std::vector<int> rank(kExperts);
  for (int l = 0; l < kLayers; ++l) {
    std::iota(rank.begin(), rank.end(), 1);
    std::shuffle(rank.begin(), rank.end(), rng);
    for (int e = 0; e < kExperts; ++e) p.weight.push_back(100000.0 / rank[e]);
  }
  return p;
}

void run(benchmark::State& state, int nodes, int gpus, const char* expected_policy) {
  const epbench::EplbProblem problem = deepseek_v3_problem(nodes, gpus);
  for (auto _ : state) {
    epbench::EplbResult r = epbench::rebalance_experts(problem);
    benchmark::DoNotOptimize(r);
    if (r.policy_used != expected_policy) state.SkipWithError("unexpected policy");
  }
  state.counters["layers/s"] =
      benchmark::Counter(problem.num_layers, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_EplbHierarchical_DeepSeekV3_4x8(benchmark::State& state) {
  run(state, 4, 32, "hierarchical");
}
void BM_EplbGlobal_DeepSeekV3_3x8(benchmark::State& state) { run(state, 3, 24, "global"); }

BENCHMARK(BM_EplbHierarchical_DeepSeekV3_4x8)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_EplbGlobal_DeepSeekV3_3x8)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
