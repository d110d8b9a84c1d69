// Simulator per-step cost: one layer step of `epbench simulate --routing counts` (per-rank
// multinomial counts, replica split and traffic, cost model for every rank) at EP 64 / 512 /
// 4096 with the DeepSeek-V3 layer (4096 tokens per rank, top-8), against a baseline in the same
// run: one pass writing and summing the ranks x experts count matrix (the memory the step must
// touch at least). The target, 100 steps of 4096 GPUs x 1024 experts in < 60 s on one
// core, is < 0.6 s per step here.
#include <benchmark/benchmark.h>

#include <numeric>
#include <vector>

#include "placement/policy.hpp"
#include "sim/cost_model.hpp"
#include "sim/traffic.hpp"

namespace {

using namespace epbench;
using namespace epbench::sim;

struct Setup {
  int gpus, experts, slots;
  Placement placement;
  std::vector<double> shares;
  LayerShape shape;
  Profile profile;
};

Setup make_setup(int gpus, int experts) {
  const int slots = std::max(2 * gpus, experts + gpus);
  const int nodes = gpus / 8;
  std::vector<double> load(experts);
  for (int e = 0; e < experts; ++e) load[e] = 1.0 / std::pow(e + 1, 1.2);
  EplbProblem problem{1, experts, load, slots, 8, nodes, gpus};
  Setup s{gpus, experts, slots, find_policy("eplb").compute(problem).placement,
          capped_shares(load, 8), LayerShape{7168, 2048, experts, 8, gpus, 4096}, Profile{}};
  s.profile.name = "bench";
  s.profile.ffn_tile_rows = 128;
  s.profile.ffn_gflops = 790000;
  return s;
}

void BM_SimulatedLayerStep(benchmark::State& state) {
  const Setup s = make_setup(int(state.range(0)), int(state.range(1)));
  std::vector<int64_t> counts(s.experts);
  StepTraffic traffic;
  uint64_t step = 0;
  for (auto _ : state) {
    TrafficBuilder b(s.placement, 0, 8, SplitModel::kRoundRobin, 8, 4096, false, traffic);
    for (int r = 0; r < s.gpus; ++r) {
      sample_counts(s.shares, 4096 * 8, step * 1000003 + r, counts);
      b.add_source_counts(r, counts, step * 7 + r);
    }
    b.finish();
    const int spr = s.slots / s.gpus;
    double span = 0;
    for (int r = 0; r < s.gpus; ++r) {
      const std::span<const int64_t> rows(traffic.slot_rows.data() + size_t(r) * spr, spr);
      span = std::max(span, ffn_us(s.profile, s.shape, rows) +
                                dispatch_us(s.profile, s.shape, traffic.ranks[r]) +
                                combine_us(s.profile, s.shape, traffic.ranks[r]));
    }
    benchmark::DoNotOptimize(span);
    ++step;
  }
  state.counters["gpus_x_experts"] = double(s.gpus) * s.experts;
  state.counters["s_per_100_steps"] =
      benchmark::Counter(0.01, benchmark::Counter::kIsIterationInvariantRate |
                                                         benchmark::Counter::kInvert);
}

// Baseline: write and sum a ranks x experts int64 matrix once per iteration.
void BM_TouchCountMatrix(benchmark::State& state) {
  const size_t n = size_t(state.range(0)) * state.range(1);
  std::vector<int64_t> m(n);
  int64_t v = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < n; ++i) m[i] = int64_t(i) ^ v;
    v = std::accumulate(m.begin(), m.end(), int64_t{0});
    benchmark::DoNotOptimize(v);
  }
}

}  // namespace

BENCHMARK(BM_SimulatedLayerStep)->Args({64, 256})->Args({512, 256})->Args({4096, 1024})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TouchCountMatrix)->Args({64, 256})->Args({512, 256})->Args({4096, 1024})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
