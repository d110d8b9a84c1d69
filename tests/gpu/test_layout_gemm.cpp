// cuBLAS GEMM sanity and the layout kernels (histogram, scan, stable rows, permute and
// unpermute-combine) against host references.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "cuda/cuda_kernels.hpp"
#include "gpu_test_util.hpp"

namespace epbench::gpu_test {
namespace {

class CublasGemm : public GpuTest {};
class Layout : public GpuTest {};

void check_gemm(int m, int n, int k) {
  const auto a = random_floats(size_t(m) * k, 1, 1.0f);
  const auto b = random_floats(size_t(n) * k, 2, 1.0f);
  auto a_dev = upload(to_bf16(a)), b_dev = upload(to_bf16(b));
  kc::DeviceBuffer c_dev(sizeof(bf16_t) * m * n);
  kc::CublasHandle cublas;
  kc::gemm_bf16_nt(a_dev.as<bf16_t>(), b_dev.as<bf16_t>(), c_dev.as<bf16_t>(), m, n, k,
                   cublas.get(), nullptr);
  const auto c = to_float(download<bf16_t>(c_dev, size_t(m) * n));
  int wrong = 0;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double ref = 0, magnitude = 0;
      for (int l = 0; l < k; ++l) {
        ref += double(a[size_t(i) * k + l]) * b[size_t(j) * k + l];
        magnitude += std::fabs(double(a[size_t(i) * k + l]) * b[size_t(j) * k + l]);
      }
      // bf16 output rounding (2^-8 relative) plus fp32 accumulation noise.
      const double tol = std::fabs(ref) * 0.0079 + magnitude * 1e-5 + 1e-6;
      if (!(std::fabs(c[size_t(i) * n + j] - ref) <= tol)) ++wrong;
    }
  EXPECT_EQ(wrong, 0) << "m=" << m << " n=" << n << " k=" << k;
}

TEST_F(CublasGemm, Bf16MatchesHostReference) {
  check_gemm(64, 64, 64);
  check_gemm(37, 53, 96);  // odd sizes: no vector/tile assumptions
  check_gemm(1, 256, 512);
}

TEST_F(Layout, HistogramScanAndStableRows) {
  const int num_bins = 37;
  const int64_t n = 5000;
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> key_dist(-2, num_bins + 1);  // a few out-of-range keys
  std::vector<int32_t> keys(n);
  for (auto& k : keys) k = key_dist(rng);

  auto keys_dev = upload(keys);
  kc::DeviceBuffer counts_dev(sizeof(int32_t) * num_bins),
      offsets_dev(sizeof(int64_t) * (num_bins + 1)), rows_dev(sizeof(int32_t) * n);
  kc::histogram(keys_dev.as<int32_t>(), n, num_bins, counts_dev.as<int32_t>(), nullptr);
  kc::exclusive_scan(counts_dev.as<int32_t>(), num_bins, offsets_dev.as<int64_t>(), nullptr);
  kc::assign_rows(keys_dev.as<int32_t>(), n, num_bins, offsets_dev.as<int64_t>(),
                  rows_dev.as<int32_t>(), nullptr);
  const auto counts = download<int32_t>(counts_dev, num_bins);
  const auto offsets = download<int64_t>(offsets_dev, num_bins + 1);
  const auto rows = download<int32_t>(rows_dev, n);

  std::vector<int32_t> want_counts(num_bins, 0);
  for (int32_t k : keys)
    if (k >= 0 && k < num_bins) ++want_counts[k];
  EXPECT_EQ(counts, want_counts);
  std::vector<int64_t> want_offsets(num_bins + 1, 0);
  for (int b = 0; b < num_bins; ++b) want_offsets[b + 1] = want_offsets[b] + want_counts[b];
  EXPECT_EQ(offsets, want_offsets);
  std::vector<int64_t> next(want_offsets.begin(), want_offsets.end() - 1);
  std::vector<int32_t> want_rows(n);
  for (int64_t i = 0; i < n; ++i)
    want_rows[i] = keys[i] >= 0 && keys[i] < num_bins ? static_cast<int32_t>(next[keys[i]]++) : -1;
  EXPECT_EQ(rows, want_rows);
}

TEST_F(Layout, ScanOfManyBins) {  // more bins than one scan chunk
  const int num_bins = 3000;
  std::vector<int32_t> counts(num_bins);
  for (int b = 0; b < num_bins; ++b) counts[b] = (b * 7919) % 13;
  auto counts_dev = upload(counts);
  kc::DeviceBuffer offsets_dev(sizeof(int64_t) * (num_bins + 1));
  kc::exclusive_scan(counts_dev.as<int32_t>(), num_bins, offsets_dev.as<int64_t>(), nullptr);
  const auto offsets = download<int64_t>(offsets_dev, num_bins + 1);
  int64_t sum = 0;
  for (int b = 0; b < num_bins; ++b) {
    ASSERT_EQ(offsets[b], sum) << "bin " << b;
    sum += counts[b];
  }
  EXPECT_EQ(offsets[num_bins], sum);
}

// Permute by expert, check every destination row, then combine back with the router weights.
void round_trip(int num_tokens, int hidden, int top_k, int num_experts) {
  const auto x = random_floats(size_t(num_tokens) * hidden, 11, 2.0f);
  std::mt19937 rng(13);
  std::vector<int32_t> ids(size_t(num_tokens) * top_k);
  std::vector<float> weights(ids.size());
  for (int t = 0; t < num_tokens; ++t) {
    std::vector<int> experts(num_experts);
    for (int e = 0; e < num_experts; ++e) experts[e] = e;
    std::shuffle(experts.begin(), experts.end(), rng);
    float sum = 0;
    for (int j = 0; j < top_k; ++j) {
      ids[size_t(t) * top_k + j] = experts[j];
      sum += weights[size_t(t) * top_k + j] = 0.1f + std::uniform_real_distribution<float>(0, 1)(rng);
    }
    for (int j = 0; j < top_k; ++j) weights[size_t(t) * top_k + j] /= sum;
  }
  ids[0] = -1;  // a dropped (token, k) slot: not sent, contributes nothing

  const int64_t n = static_cast<int64_t>(ids.size());
  auto x_dev = upload(to_bf16(x));
  auto ids_dev = upload(ids);
  auto weights_dev = upload(weights);
  kc::DeviceBuffer counts_dev(sizeof(int32_t) * num_experts),
      offsets_dev(sizeof(int64_t) * (num_experts + 1)), rows_dev(sizeof(int32_t) * n),
      permuted_dev(sizeof(bf16_t) * n * hidden), out_dev(sizeof(bf16_t) * num_tokens * hidden);
  kc::histogram(ids_dev.as<int32_t>(), n, num_experts, counts_dev.as<int32_t>(), nullptr);
  kc::exclusive_scan(counts_dev.as<int32_t>(), num_experts, offsets_dev.as<int64_t>(), nullptr);
  kc::assign_rows(ids_dev.as<int32_t>(), n, num_experts, offsets_dev.as<int64_t>(),
                  rows_dev.as<int32_t>(), nullptr);
  kc::permute_tokens(x_dev.as<bf16_t>(), num_tokens, hidden, top_k, rows_dev.as<int32_t>(),
                     permuted_dev.as<bf16_t>(), nullptr);
  const auto rows = download<int32_t>(rows_dev, n);
  const auto offsets = download<int64_t>(offsets_dev, num_experts + 1);
  const int64_t used_rows = offsets[num_experts];
  EXPECT_EQ(used_rows, n - 1);
  const auto permuted = download<bf16_t>(permuted_dev, size_t(used_rows) * hidden);
  const auto x_bits = to_bf16(x);
  for (int64_t i = 0; i < n; ++i) {
    if (ids[i] < 0) {
      EXPECT_EQ(rows[i], -1);
      continue;
    }
    ASSERT_GE(rows[i], offsets[ids[i]]);
    ASSERT_LT(rows[i], offsets[ids[i] + 1]);
    ASSERT_EQ(0, std::memcmp(&permuted[size_t(rows[i]) * hidden], &x_bits[size_t(i / top_k) * hidden],
                             sizeof(bf16_t) * hidden))
        << "row of (token " << i / top_k << ", k " << i % top_k << ")";
  }

  // Combine: expert outputs y = the permuted rows themselves, so out[t] = x[t] * sum of weights.
  kc::unpermute_combine(permuted_dev.as<bf16_t>(), num_tokens, hidden, top_k,
                        rows_dev.as<int32_t>(), weights_dev.as<float>(), out_dev.as<bf16_t>(),
                        nullptr);
  const auto out = to_float(download<bf16_t>(out_dev, size_t(num_tokens) * hidden));
  int wrong = 0;
  for (int t = 0; t < num_tokens; ++t) {
    double weight_sum = 0;
    for (int j = 0; j < top_k; ++j)
      if (ids[size_t(t) * top_k + j] >= 0) weight_sum += weights[size_t(t) * top_k + j];
    for (int h = 0; h < hidden; ++h) {
      const double ref = double(x[size_t(t) * hidden + h]) * weight_sum;
      if (!(std::fabs(out[size_t(t) * hidden + h] - ref) <= std::fabs(ref) * 0.0079 + 1e-6)) ++wrong;
    }
  }
  EXPECT_EQ(wrong, 0);
}

TEST_F(Layout, PermuteUnpermuteRoundTripVectorized) { round_trip(300, 512, 4, 16); }
TEST_F(Layout, PermuteUnpermuteRoundTripScalarPath) { round_trip(97, 100, 3, 8); }  // hidden % 8 != 0

TEST_F(Layout, SiluMulMatchesHost) {
  const int rows = 33, ffn = 72;
  const auto g = random_floats(size_t(rows) * 2 * ffn, 5, 4.0f);
  auto g_dev = upload(to_bf16(g));
  kc::DeviceBuffer h_dev(sizeof(bf16_t) * rows * ffn);
  kc::silu_mul(g_dev.as<bf16_t>(), rows, ffn, h_dev.as<bf16_t>(), nullptr);
  const auto h = to_float(download<bf16_t>(h_dev, size_t(rows) * ffn));
  for (int r = 0; r < rows; ++r)
    for (int f = 0; f < ffn; ++f) {
      const double a = g[size_t(r) * 2 * ffn + f], b = g[size_t(r) * 2 * ffn + ffn + f];
      const double ref = a / (1.0 + std::exp(-a)) * b;
      ASSERT_NEAR(h[size_t(r) * ffn + f], ref, std::fabs(ref) * 0.008 + 1e-5) << r << "," << f;
    }
}

}  // namespace
}  // namespace epbench::gpu_test
