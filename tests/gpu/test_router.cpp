// GPU router vs the CPU router (src/gating): top-k selection on identical logits, the logits
// GEMM against a host reference, and the whole GPU path against gating::Router.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "cuda/cuda_kernels.hpp"
#include "cuda/cuda_router.hpp"
#include "suite/device_router_shape.hpp"
#include "gating/router.hpp"
#include "gating/topk.hpp"
#include "gpu_test_util.hpp"

namespace epbench::gpu_test {
namespace {

class GpuRouter : public GpuTest {};

kc::RouterShape gpu_shape(const gating::RouterConfig& c, int num_tokens) {
  return device_router_shape(c, num_tokens);
}

// The CPU router's logits and selection for `tokens` deterministic tokens of (layer, step).
struct CpuRouting {
  CpuRouting(const gating::RouterConfig& c, int num_tokens, uint64_t seed, int layer, int step)
      : tokens(num_tokens),
        router(c, gating::SkewSpec::parse("zipf:1.0"), 0.0, seed, layer),
        x(size_t(tokens) * c.hidden),
        logits(size_t(tokens) * c.num_experts),
        ids(size_t(tokens) * c.top_k),
        weights(ids.size()) {
    gating::make_hidden_states(seed, layer, step, 0, tokens, c.hidden, x);
    router.compute_logits(x, tokens, step, logits);
    router.route(x, tokens, step, ids, weights);
  }
  int tokens;
  gating::Router router;
  std::vector<float> x, logits;
  std::vector<int32_t> ids;
  std::vector<float> weights;
};

// Compares GPU and CPU selections token by token; a differing id is accepted only as a tie
// (the two experts' CPU scores within `tie_tol`). Returns the number of disagreeing tokens.
int compare_selection(const gating::RouterConfig& c, int num_tokens,
                      const std::vector<float>& logits, const std::vector<int32_t>& gpu_ids,
                      const std::vector<float>& gpu_weights, const std::vector<int32_t>& cpu_ids,
                      const std::vector<float>& cpu_weights, double tie_tol) {
  int bad = 0;
  for (int t = 0; t < num_tokens; ++t) {
    // CPU scores of this token, to judge ties.
    std::vector<double> scores(c.num_experts);
    const float* row = &logits[size_t(t) * c.num_experts];
    if (c.score == gating::ScoreFunction::kSigmoid) {
      for (int e = 0; e < c.num_experts; ++e) scores[e] = 1.0 / (1.0 + std::exp(-double(row[e])));
    } else {
      double mx = row[0], sum = 0;
      for (int e = 0; e < c.num_experts; ++e) mx = std::max(mx, double(row[e]));
      for (int e = 0; e < c.num_experts; ++e) sum += scores[e] = std::exp(row[e] - mx);
      for (auto& s : scores) s /= sum;
    }
    bool token_bad = false;
    for (int j = 0; j < c.top_k; ++j) {
      const size_t i = size_t(t) * c.top_k + j;
      if (gpu_ids[i] != cpu_ids[i]) {
        if (gpu_ids[i] < 0 || gpu_ids[i] >= c.num_experts ||
            std::fabs(scores[gpu_ids[i]] - scores[cpu_ids[i]]) > tie_tol)
          token_bad = true;
      } else if (std::fabs(gpu_weights[i] - cpu_weights[i]) > 1e-4 + 1e-3 * cpu_weights[i]) {
        token_bad = true;
      }
    }
    bad += token_bad;
  }
  return bad;
}

void check_topk_on_same_logits(gating::RouterConfig c, int num_tokens, bool with_bias) {
  c.validate();
  const auto logits = random_floats(size_t(num_tokens) * c.num_experts, 21, 3.0f);
  std::vector<float> bias(c.num_experts, 0.0f);
  if (with_bias)
    for (int e = 0; e < c.num_experts; ++e) bias[e] = 0.25f * std::sin(float(e));
  // The CPU applies the logit bias inside Router::compute_logits: add it here for select_topk.
  std::vector<float> biased = logits;
  for (int t = 0; t < num_tokens; ++t)
    for (int e = 0; e < c.num_experts; ++e) biased[size_t(t) * c.num_experts + e] += bias[e];
  std::vector<int32_t> cpu_ids(size_t(num_tokens) * c.top_k);
  std::vector<float> cpu_weights(cpu_ids.size());
  gating::select_topk_from_logits(c, biased, num_tokens, cpu_ids, cpu_weights);

  auto logits_dev = upload(logits);
  auto bias_dev = upload(bias);
  kc::DeviceBuffer ids_dev(sizeof(int32_t) * cpu_ids.size()),
      weights_dev(sizeof(float) * cpu_ids.size());
  kc::router_topk(gpu_shape(c, num_tokens), logits_dev.as<float>(),
                  with_bias ? bias_dev.as<float>() : nullptr, ids_dev.as<int32_t>(),
                  weights_dev.as<float>(), nullptr);
  const auto gpu_ids = download<int32_t>(ids_dev, cpu_ids.size());
  const auto gpu_weights = download<float>(weights_dev, cpu_ids.size());
  EXPECT_EQ(compare_selection(c, num_tokens, biased, gpu_ids, gpu_weights, cpu_ids, cpu_weights,
                              1e-6),
            0)
      << c.str();
}

gating::RouterConfig config(int hidden, int experts, int top_k, int n_group, int topk_group,
                            gating::ScoreFunction score, bool normalize) {
  gating::RouterConfig c;
  c.hidden = hidden;
  c.num_experts = experts;
  c.top_k = top_k;
  c.n_group = n_group;
  c.topk_group = topk_group;
  c.score = score;
  c.normalize_topk = normalize;
  return c;
}

TEST_F(GpuRouter, TopkMatchesCpuSoftmax) {
  check_topk_on_same_logits(config(64, 64, 6, 1, 1, gating::ScoreFunction::kSoftmax, true), 500, false);
  check_topk_on_same_logits(config(64, 160, 6, 8, 3, gating::ScoreFunction::kSoftmax, true), 500, true);
  check_topk_on_same_logits(config(64, 32, 2, 1, 1, gating::ScoreFunction::kSoftmax, false), 500, false);
}

TEST_F(GpuRouter, TopkMatchesCpuSigmoidDeepSeekV3) {
  // DeepSeek-V3: 256 routed experts in 8 groups, 4 groups kept, top-8, sigmoid, normalized.
  check_topk_on_same_logits(config(64, 256, 8, 8, 4, gating::ScoreFunction::kSigmoid, true), 700, true);
  check_topk_on_same_logits(config(64, 1024, 16, 32, 2, gating::ScoreFunction::kSigmoid, true), 64, false);
}

TEST_F(GpuRouter, LogitsGemmMatchesHost) {
  const int tokens = 77, hidden = 320, experts = 96;
  const auto x = random_floats(size_t(tokens) * hidden, 31, 1.0f);
  const auto wr = random_floats(size_t(hidden) * experts, 32, 0.1f);
  auto x_dev = upload(to_bf16(x)), wr_dev = upload(to_bf16(wr));
  kc::DeviceBuffer logits_dev(sizeof(float) * tokens * experts);
  kc::CublasHandle cublas;
  kc::RouterShape s;
  s.num_tokens = tokens, s.hidden = hidden, s.num_experts = experts, s.top_k = 2;
  kc::router_logits(s, x_dev.as<bf16_t>(), wr_dev.as<bf16_t>(), logits_dev.as<float>(),
                    cublas.get(), nullptr);
  const auto logits = download<float>(logits_dev, size_t(tokens) * experts);
  for (int t = 0; t < tokens; ++t)
    for (int e = 0; e < experts; ++e) {
      double ref = 0;
      for (int h = 0; h < hidden; ++h) ref += double(x[size_t(t) * hidden + h]) * wr[size_t(h) * experts + e];
      ASSERT_NEAR(logits[size_t(t) * experts + e], ref, 1e-3) << "token " << t << " expert " << e;
    }
}

TEST_F(GpuRouter, FullPathMatchesCpuRouter) {
  auto c = config(256, 64, 4, 4, 2, gating::ScoreFunction::kSigmoid, true);
  const int tokens = 256;
  CpuRouting cpu(c, tokens, 42, 0, 0);
  const auto& router = cpu.router;
  const auto& x = cpu.x;
  const auto& cpu_logits = cpu.logits;
  const auto& cpu_ids = cpu.ids;
  const auto& cpu_weights = cpu.weights;

  // The GPU gate weights are bf16: logits differ from the fp32 CPU ones by that rounding only.
  auto x_dev = upload(to_bf16(x));
  auto wr_dev = upload(to_bf16(router.weights()));
  auto bias_dev = upload(router.logit_bias(0));
  kc::DeviceBuffer logits_dev(sizeof(float) * cpu_logits.size()),
      ids_dev(sizeof(int32_t) * cpu_ids.size()), weights_dev(sizeof(float) * cpu_ids.size());
  kc::CublasHandle cublas;
  kc::router_forward(gpu_shape(c, tokens), x_dev.as<bf16_t>(), wr_dev.as<bf16_t>(),
                     bias_dev.as<float>(), logits_dev.as<float>(), ids_dev.as<int32_t>(),
                     weights_dev.as<float>(), cublas.get(), nullptr);
  auto gpu_logits = download<float>(logits_dev, cpu_logits.size());
  const auto bias = router.logit_bias(0);
  double max_diff = 0;
  for (int t = 0; t < tokens; ++t)
    for (int e = 0; e < c.num_experts; ++e) {
      const size_t i = size_t(t) * c.num_experts + e;
      max_diff = std::max(max_diff, std::fabs(double(gpu_logits[i]) + bias[e] - cpu_logits[i]));
    }
  EXPECT_LT(max_diff, 0.05);  // bf16 gate weights, unit-norm columns, N(0,1) inputs
  const auto gpu_ids = download<int32_t>(ids_dev, cpu_ids.size());
  const auto gpu_weights = download<float>(weights_dev, cpu_ids.size());
  // Near-ties may flip with the bf16 gate; allow only those, and few of them.
  const int bad = compare_selection(c, tokens, cpu_logits, gpu_ids, gpu_weights, cpu_ids,
                                    cpu_weights, 0.02);
  EXPECT_LE(bad, tokens / 50) << "tokens whose GPU selection is not a near-tie of the CPU one";
}

// The suite's GPU gate (host tokens in, host top-k out) against the CPU router on the same
// tokens: near-ties only, and a positive device time.
TEST_F(GpuRouter, DeviceRouterMatchesCpuRouter) {
  auto c = config(256, 64, 4, 4, 2, gating::ScoreFunction::kSigmoid, true);
  const int tokens = 300;
  CpuRouting cpu(c, tokens, 7, 1, 3);
  std::vector<int32_t> gpu_ids(cpu.ids.size());
  std::vector<float> gpu_weights(cpu.ids.size());
  kc::DeviceRouter device_router(gpu_shape(c, 0), cpu.router.weights().data());
  const auto bias = cpu.router.logit_bias(3);
  const double seconds =
      device_router.route(cpu.x.data(), tokens, bias.data(), gpu_ids.data(), gpu_weights.data());
  EXPECT_GT(seconds, 0.0);
  const int bad = compare_selection(c, tokens, cpu.logits, gpu_ids, gpu_weights, cpu.ids,
                                    cpu.weights, 0.02);
  EXPECT_LE(bad, tokens / 50);
}

TEST(GpuRouterShape, ValidationNamesTheProblem) {  // host-only: runs without a GPU
  kc::RouterShape s;
  s.num_tokens = 1, s.hidden = 8, s.num_experts = 12, s.top_k = 2, s.n_group = 5, s.topk_group = 1;
  EXPECT_THROW(kc::validate_router_shape(s), std::invalid_argument);  // 12 % 5 != 0
  s.n_group = 4;
  s.topk_group = 1;
  s.top_k = 4;  // only 3 experts in one kept group
  EXPECT_THROW(kc::validate_router_shape(s), std::invalid_argument);
  s.top_k = 3;
  EXPECT_NO_THROW(kc::validate_router_shape(s));
  s.num_experts = 2048;
  EXPECT_THROW(kc::validate_router_shape(s), std::invalid_argument);
}

}  // namespace
}  // namespace epbench::gpu_test
