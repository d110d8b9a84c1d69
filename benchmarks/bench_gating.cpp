// Router throughput: 4096 tokens through the logits GEMM (OpenBLAS sgemm), scoring and
// group-limited top-k, for the small shape (hidden 256, 32 experts, top-2, softmax) and the
// DeepSeek-V3 shape (hidden 7168, 256 experts, top-8, 8 groups keep 4, sigmoid); plus trace
// replay. Reports tokens/s, GFLOP/s of the GEMM, the hottest expert's load over the mean, and
// `wrong`: tokens whose ids are out of range or repeated, or whose weights do not sum to 1.
// Wall-clock time (UseRealTime): OpenBLAS may use several threads.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "gating/router.hpp"
#include "gating/trace_replay.hpp"

namespace {

using namespace epbench::gating;

constexpr int kTokens = 4096;

RouterConfig small_shape() {
  RouterConfig c;
  c.hidden = 256;
  c.num_experts = 32;
  c.top_k = 2;
  return c;
}

RouterConfig deepseek_v3_shape() {
  RouterConfig c;
  c.hidden = 7168;
  c.num_experts = 256;
  c.top_k = 8;
  c.n_group = 8;
  c.topk_group = 4;
  c.score = ScoreFunction::kSigmoid;
  return c;
}

int64_t count_wrong(const std::vector<int32_t>& ids, const std::vector<float>& weights,
                    int top_k, int num_experts) {
  int64_t wrong = 0;
  for (size_t t = 0; t * top_k < ids.size(); ++t) {
    std::set<int32_t> unique(ids.begin() + t * top_k, ids.begin() + (t + 1) * top_k);
    float sum = 0;
    for (int i = 0; i < top_k; ++i) sum += weights[t * top_k + i];
    const bool ok = int(unique.size()) == top_k && *unique.begin() >= 0 &&
                    *unique.rbegin() < num_experts && std::fabs(sum - 1.0f) < 1e-4f;
    wrong += ok ? 0 : 1;
  }
  return wrong;
}

void set_load_counters(benchmark::State& state, const std::vector<int32_t>& ids, int top_k,
                       int num_experts, int64_t wrong) {
  const auto counts = count_tokens_per_expert(ids, num_experts);
  const double mean = double(ids.size()) / num_experts;
  state.counters["hot_over_mean"] = double(*std::max_element(counts.begin(), counts.end())) / mean;
  state.counters["wrong"] = double(wrong);
  state.counters["tokens"] = benchmark::Counter(  // shown as tokens/s
      ids.size() / top_k, benchmark::Counter::kIsIterationInvariantRate);
}

void route_benchmark(benchmark::State& state, RouterConfig config, const char* skew) {
  const Router router(config, SkewSpec::parse(skew), 0.0, /*seed=*/2024, /*layer=*/3);
  std::vector<float> hidden(size_t(kTokens) * config.hidden);
  make_hidden_states(2024, 3, 0, 0, kTokens, config.hidden, hidden);
  std::vector<int32_t> ids(size_t(kTokens) * config.top_k);
  std::vector<float> weights(ids.size());
  for (auto _ : state) {
    router.route(hidden, kTokens, /*step=*/0, ids, weights);
    benchmark::DoNotOptimize(ids.data());
    benchmark::ClobberMemory();
  }
  set_load_counters(state, ids, config.top_k, config.num_experts,
                    count_wrong(ids, weights, config.top_k, config.num_experts));
  state.counters["GFLOP"] = benchmark::Counter(  // shown as GFLOP/s
      router.flops_per_token() * kTokens * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Route_Small_Uniform(benchmark::State& s) { route_benchmark(s, small_shape(), "uniform"); }
void BM_Route_Small_Zipf1_2(benchmark::State& s) { route_benchmark(s, small_shape(), "zipf:1.2"); }
void BM_Route_DeepSeekV3_Group1(benchmark::State& s) {
  route_benchmark(s, deepseek_v3_shape(), "group:1");
}

// Trace replay of a synthetic 256-expert, 4-step zipf trace over 8 ranks (this is rank 3).
void BM_TraceReplay_DeepSeekV3(benchmark::State& state) {
  constexpr int kExperts = 256, kTopK = 8, kRanks = 8;
  std::string csv = "step,layer";
  for (int e = 0; e < kExperts; ++e) csv.append(",e").append(std::to_string(e));
  for (int step = 0; step < 4; ++step) {
    csv.append("\n").append(std::to_string(step)).append(",*");
    for (int e = 0; e < kExperts; ++e)
      csv.append(",").append(std::to_string(100000 / (1 + (e + 37 * step) % kExperts)));
  }
  const TraceReplay trace = TraceReplay::parse(csv, "synthetic-trace", kExperts);
  std::vector<int32_t> ids(size_t(kTokens) * kTopK);
  std::vector<float> weights(ids.size());
  int step = 0;
  for (auto _ : state) {
    trace.route(step++, /*layer=*/0, /*rank=*/3, kRanks, kTokens, kTopK, ids, weights);
    benchmark::DoNotOptimize(ids.data());
  }
  set_load_counters(state, ids, kTopK, kExperts, count_wrong(ids, weights, kTopK, kExperts));
}

BENCHMARK(BM_Route_Small_Uniform)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Route_Small_Zipf1_2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Route_DeepSeekV3_Group1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_TraceReplay_DeepSeekV3)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
