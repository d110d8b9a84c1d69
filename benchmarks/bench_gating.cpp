// Router throughput: 4096 tokens through the logits GEMM (OpenBLAS sgemm), scoring and
// group-limited top-k, for the small shape (hidden 256, 32 experts, top-2, softmax) and the
// DeepSeek-V3 shape (hidden 7168, 256 experts, top-8, 8 groups keep 4, sigmoid); plus trace
// replay. Reports tokens/s, GFLOP/s of the GEMM, the hottest expert's load over the mean, and
// `wrong`: tokens whose ids are out of range or repeated, or whose weights do not sum to 1.
// Skew calibration: Router construction time (the bias fit, a fresh cache key per iteration)
// against an uncalibrated uniform router of the same shape, and realized-vs-target shares on
// fresh tokens per preset shape and skew (`tv`: total-variation distance, `hot_err`: relative
// error on the hottest expert, `tv_noise`: the TV a perfect router would show on as many
// tokens, `rows`: (token, k) rows routed).
// Wall-clock time (UseRealTime): OpenBLAS may use several threads.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "gating/router.hpp"
#include "gating/shares.hpp"
#include "gating/trace_replay.hpp"

namespace {

using namespace epbench::gating;

constexpr int kTokens = 4096;

// Router shapes of the presets (src/suite/scenario.cpp) plus a 32-expert top-2 gate.
RouterConfig small_shape() { return {.hidden = 256, .num_experts = 32, .top_k = 2}; }
RouterConfig small_preset_shape() {  // the `small` preset: 16 experts, 4 groups keep 2
  return {.hidden = 256, .num_experts = 16, .top_k = 2, .n_group = 4, .topk_group = 2};
}
RouterConfig qwen3_shape() { return {.hidden = 2048, .num_experts = 128, .top_k = 8}; }
RouterConfig mixtral_shape() { return {.hidden = 4096, .num_experts = 8, .top_k = 2}; }
RouterConfig deepseek_v3_shape() {
  return {.hidden = 7168,
          .num_experts = 256,
          .top_k = 8,
          .n_group = 8,
          .topk_group = 4,
          .score = ScoreFunction::kSigmoid};
}

int64_t count_wrong(const std::vector<int32_t>& ids, const std::vector<float>& weights, int top_k,
                    int num_experts) {
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

struct Routed {
  std::vector<int32_t> ids;
  std::vector<float> weights;
};

// Hidden states of (input_seed, layer, step 0, input_rank). The last set is kept: benchmarks of
// one shape run one after another, so each shape's inputs are generated once (the generation,
// not the routing, dominates the smoke test's time).
const std::vector<float>& hidden_states(int hidden, int tokens, uint64_t input_seed, int layer,
                                        int input_rank) {
  static std::vector<float> cached;
  static std::vector<uint64_t> cached_key;
  const std::vector<uint64_t> key = {uint64_t(hidden), uint64_t(tokens), input_seed,
                                     uint64_t(layer), uint64_t(input_rank)};
  if (key != cached_key) {
    cached.assign(size_t(tokens) * hidden, 0.0f);
    make_hidden_states(input_seed, layer, 0, input_rank, tokens, hidden, cached);
    cached_key = key;
  }
  return cached;
}

// Routes the same `tokens` hidden states of (input_seed, layer, step 0, input_rank) at step 0
// every iteration (the timed part); returns the routing.
Routed route_each_iteration(benchmark::State& state, const Router& router, int tokens,
                            uint64_t input_seed, int layer, int input_rank) {
  const RouterConfig& config = router.config();
  const std::vector<float>& hidden =
      hidden_states(config.hidden, tokens, input_seed, layer, input_rank);
  Routed out{std::vector<int32_t>(size_t(tokens) * config.top_k),
             std::vector<float>(size_t(tokens) * config.top_k)};
  for (auto _ : state) {
    router.route(hidden, tokens, /*step=*/0, out.ids, out.weights);
    benchmark::DoNotOptimize(out.ids.data());
    benchmark::ClobberMemory();
  }
  return out;
}

void route_benchmark(benchmark::State& state, RouterConfig config, const char* skew) {
  const Router router(config, SkewSpec::parse(skew), 0.0, /*seed=*/2024, /*layer=*/3);
  const auto [ids, weights] = route_each_iteration(state, router, kTokens, 2024, 3, 0);
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

// Router construction including the skew calibration; each iteration uses a new seed so the
// per-(shape, skew, seed, layer) cache never answers. Compare with the uniform skew of the same
// shape (weights only, no calibration).
void construct_benchmark(benchmark::State& state, RouterConfig config, const char* skew) {
  const SkewSpec spec = SkewSpec::parse(skew);
  uint64_t seed = 1u << 20;
  int iterations_fit = 0;
  for (auto _ : state) {
    const Router router(config, spec, 0.0, seed++, /*layer=*/0);
    iterations_fit = router.calibration() ? router.calibration()->iterations : 0;
    benchmark::DoNotOptimize(router.rank_bias().data());
  }
  state.counters["fit_iterations"] = iterations_fit;
}

// Realized vs target shares on `tokens` fresh tokens (never the calibration sample).
void realized_benchmark(benchmark::State& state, RouterConfig config, const char* skew,
                        int tokens) {
  const Router router(config, SkewSpec::parse(skew), 0.0, /*seed=*/2024, /*layer=*/0);
  const auto [ids, weights] = route_each_iteration(state, router, tokens, 77, 0, 1);
  const auto realized = shares_from_counts(count_tokens_per_expert(ids, config.num_experts));
  const auto target = router.target_shares(0);
  state.counters["tv"] = total_variation_distance(target, realized);
  state.counters["tv_noise"] = expected_sampling_tv(target, config.top_k, tokens);
  state.counters["hot_err"] = hottest_relative_error(target, realized);
  state.counters["target_hot_over_mean"] =
      *std::max_element(target.begin(), target.end()) * config.num_experts;
  state.counters["rows"] = double(ids.size());
  state.counters["wrong"] = double(count_wrong(ids, weights, config.top_k, config.num_experts));
}

#define EPBENCH_CONSTRUCT(name, shape, skew)                \
  BENCHMARK_CAPTURE(construct_benchmark, name, shape, skew) \
      ->Unit(benchmark::kMillisecond)                       \
      ->UseRealTime()
EPBENCH_CONSTRUCT(DeepSeekV3 / uniform, deepseek_v3_shape(), "uniform");
EPBENCH_CONSTRUCT(DeepSeekV3 / zipf : 1.2, deepseek_v3_shape(), "zipf:1.2");
EPBENCH_CONSTRUCT(DeepSeekV3 / zipf : 0.8, deepseek_v3_shape(), "zipf:0.8");
EPBENCH_CONSTRUCT(Qwen3 / uniform, qwen3_shape(), "uniform");
EPBENCH_CONSTRUCT(Qwen3 / zipf : 1.2, qwen3_shape(), "zipf:1.2");
EPBENCH_CONSTRUCT(SmallPreset / zipf : 1.2, small_preset_shape(), "zipf:1.2");

void register_realized_benchmarks() {
  struct Shape {
    const char* name;
    RouterConfig config;
    int tokens;
    std::vector<const char*> skews;
  };
  const std::vector<const char*> skews = {"zipf:1.2", "zipf:0.8", "hot:4:10", "lognormal:1.0"};
  std::vector<const char*> grouped = skews;
  grouped.push_back("group:1");
  const Shape shapes[] = {
      {"Small32", small_shape(), 32768, skews},
      {"SmallPreset", small_preset_shape(), 32768, grouped},
      {"Qwen3", qwen3_shape(), 8192, skews},
      {"Mixtral", mixtral_shape(), 4096, skews},
      {"DeepSeekV3", deepseek_v3_shape(), 4096, grouped},
  };
  for (const Shape& shape : shapes)
    for (const char* skew : shape.skews)
      benchmark::RegisterBenchmark(
          (std::string("Realized/") + shape.name + "/" + skew).c_str(),
          [config = shape.config, skew, tokens = shape.tokens](benchmark::State& state) {
            realized_benchmark(state, config, skew, tokens);
          })
          ->Iterations(1)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
}

BENCHMARK(BM_Route_Small_Uniform)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Route_Small_Zipf1_2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Route_DeepSeekV3_Group1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_TraceReplay_DeepSeekV3)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  register_realized_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
