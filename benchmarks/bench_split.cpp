// Per-batch split solver time per layer (one core), the number DeepSeek LPLB quotes as ~100 us
// for its single-SM interior-point LP on a GPU (intra-node). Shapes:
//   EP64: 256 experts in 320 slots (EPLB placement, 64 GPUs on 8 nodes): exact (lp), exact
//         node-first (lp-node), LPLB's LP, and the equal split (round-robin's expectation) as
//         the floor of any per-batch rule's bookkeeping;
//   EP8 : 256 experts + 2 LPLB cube copies per GPU (272 slots): exact and LPLB's LP.
// Batches: 4096 tokens per GPU, top-8, zipf(1.1) popularity around the placement's statistics,
// 16 different batches cycled so no two consecutive solves see the same counts.
#include <benchmark/benchmark.h>

#include <cmath>
#include <numeric>
#include <random>

#include "dispatch/batch_split.hpp"
#include "placement/eplb.hpp"
#include "placement/policies/lplb.hpp"

namespace {

constexpr int kExperts = 256, kTopK = 8, kTokensPerGpu = 4096, kBatches = 16;

std::vector<double> zipf_popularity(std::mt19937& rng) {
  std::vector<int> rank(kExperts);
  std::iota(rank.begin(), rank.end(), 1);
  std::shuffle(rank.begin(), rank.end(), rng);
  std::vector<double> p(kExperts);
  double sum = 0;
  for (int e = 0; e < kExperts; ++e) sum += p[e] = 1.0 / std::pow(rank[e], 1.1);
  for (double& x : p) x /= sum;
  return p;
}

struct Setup {
  epbench::Placement placement;
  std::vector<std::vector<int64_t>> batches;       // [batch][experts]
  std::vector<std::vector<int64_t>> node_batches;  // [batch][nodes * experts]
  std::vector<int64_t> optimum;                    // [batch] exact min-max rows
};

Setup make_setup(int gpus, int nodes, bool lplb_cube) {
  std::mt19937 rng(42);
  const std::vector<double> pop = zipf_popularity(rng);
  epbench::EplbProblem problem{1, kExperts, {}, kExperts + (lplb_cube ? 2 * gpus : 64),
                               8, nodes, gpus};
  for (double x : pop) problem.weight.push_back(x * 1e6);
  Setup s;
  s.placement = lplb_cube ? epbench::lplb_placement(problem, "cube").placement
                          : epbench::rebalance_experts(problem).placement;
  // Each batch: the popularity perturbed per batch (per-batch noise), tokens drawn per node.
  const int64_t rows_per_node = int64_t(kTokensPerGpu) * kTopK * (gpus / nodes);
  for (int b = 0; b < kBatches; ++b) {
    std::vector<double> w(kExperts);
    std::lognormal_distribution<double> noise(0.0, 0.5);
    for (int e = 0; e < kExperts; ++e) w[e] = pop[e] * noise(rng);
    std::discrete_distribution<int> pick(w.begin(), w.end());
    std::vector<int64_t> total(kExperts, 0), per_node(size_t(nodes) * kExperts, 0);
    for (int n = 0; n < nodes; ++n)
      for (int64_t i = 0; i < rows_per_node / 16; ++i) {  // 16 rows per draw keeps setup quick
        const int e = pick(rng);
        total[e] += 16;
        per_node[size_t(n) * kExperts + e] += 16;
      }
    epbench::BatchSplitSolver solver;
    epbench::BatchSplit exact;
    solver.split_exact(s.placement, 0, total, exact);
    s.optimum.push_back(exact.max_gpu_rows);
    s.batches.push_back(std::move(total));
    s.node_batches.push_back(std::move(per_node));
  }
  return s;
}

template <typename Solve>
void run(benchmark::State& state, const Setup& s, Solve solve) {
  epbench::BatchSplitSolver solver;
  epbench::BatchSplit split;
  size_t b = 0;
  double max_sum = 0, bound_sum = 0;
  int64_t n = 0;
  for (auto _ : state) {
    solve(solver, s, b, split);
    benchmark::DoNotOptimize(split.max_gpu_rows);
    max_sum += double(split.max_gpu_rows);
    bound_sum += double(s.optimum[b]);
    ++n;
    b = (b + 1) % kBatches;
  }
  // Over the batches solved: the most loaded GPU against the exact optimum (1 = optimal).
  state.counters["max/opt"] = max_sum / std::max(bound_sum, 1.0);
}

const Setup& ep64() {
  static const Setup s = make_setup(64, 8, false);
  return s;
}
const Setup& ep8_cube() {
  static const Setup s = make_setup(8, 1, true);
  return s;
}

void BM_SplitExact_EP64(benchmark::State& state) {
  run(state, ep64(), [](auto& solver, const Setup& s, size_t b, auto& out) {
    solver.split_exact(s.placement, 0, s.batches[b], out);
  });
}
void BM_SplitExactOnNode_EP64(benchmark::State& state) {
  run(state, ep64(), [](auto& solver, const Setup& s, size_t b, auto& out) {
    solver.split_exact_on_node(s.placement, 0, s.node_batches[b], out);
  });
}
void BM_SplitLplbLp_EP64(benchmark::State& state) {
  run(state, ep64(), [](auto& solver, const Setup& s, size_t b, auto& out) {
    solver.split_lplb_lp(s.placement, 0, s.batches[b], out);
  });
}
void BM_SplitEven_EP64(benchmark::State& state) {
  run(state, ep64(), [](auto& solver, const Setup& s, size_t b, auto& out) {
    solver.split_even(s.placement, 0, s.batches[b], out);
  });
}
void BM_SplitExact_EP8Cube(benchmark::State& state) {
  run(state, ep8_cube(), [](auto& solver, const Setup& s, size_t b, auto& out) {
    solver.split_exact(s.placement, 0, s.batches[b], out);
  });
}
void BM_SplitLplbLp_EP8Cube(benchmark::State& state) {
  run(state, ep8_cube(), [](auto& solver, const Setup& s, size_t b, auto& out) {
    solver.split_lplb_lp(s.placement, 0, s.batches[b], out);
  });
}

BENCHMARK(BM_SplitEven_EP64)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SplitExact_EP64)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SplitExactOnNode_EP64)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SplitLplbLp_EP64)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SplitExact_EP8Cube)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SplitLplbLp_EP8Cube)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
