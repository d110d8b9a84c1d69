// GroupedFfn conformance, written once and run for every CPU backend built into this binary
// (today "kokkos"): forward against swiglu_reference, weight round-trip, argument validation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "backend.hpp"

namespace ek = epbench::kernels;

namespace {

constexpr uint64_t kSeed = 2024;

std::vector<std::string> cpu_backends() {
  std::vector<std::string> names;
  for (const auto& b : ek::available_backends())
    if (b == "kokkos") names.push_back(b);
  return names;
}

// Random tokens in [-1, 1], bf16; never all zero.
std::vector<ek::bf16_t> random_tokens(int64_t rows, int hidden, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<ek::bf16_t> x(static_cast<size_t>(rows) * hidden);
  for (auto& v : x) v = ek::float_to_bf16(dist(rng));
  return x;
}

class GroupedFfnTest : public testing::TestWithParam<std::string> {
 protected:
  static constexpr ek::FfnShape kShape{64, 96};  // F != H catches transposed layouts
  static constexpr int kLayers = 2;
  static constexpr int kSlots = 4;

  void SetUp() override {
    ffn_ = ek::make_grouped_ffn(GetParam(), kShape, kLayers, kSlots);
    experts_.resize(kLayers);
    for (int layer = 0; layer < kLayers; ++layer) {
      for (int slot = 0; slot < kSlots; ++slot) {
        const int expert = 3 * slot + 1;  // any logical expert id
        std::vector<ek::bf16_t> w(kShape.weight_elems());
        ek::make_expert_weights(kSeed, layer, expert, kShape, w.data());
        ffn_->set_slot_weights(layer, slot, w.data());
        experts_[layer].push_back(std::move(w));
      }
    }
  }

  // Runs forward on `counts` tokens per slot (rows start at `first_row`) and compares every
  // token with the reference. Returns the largest relative error.
  double check_forward(int layer, const std::vector<int64_t>& counts, int64_t first_row = 0) {
    std::vector<int64_t> offsets{first_row};
    for (int64_t c : counts) offsets.push_back(offsets.back() + c);
    const int H = kShape.hidden;
    const auto x = random_tokens(offsets.back(), H, static_cast<uint32_t>(offsets.back() + layer));
    const ek::bf16_t kSentinel = ek::float_to_bf16(-7.0f);
    std::vector<ek::bf16_t> y(x.size(), kSentinel);
    ffn_->forward(layer, x.data(), offsets, y.data());

    for (int64_t r = 0; r < first_row * H; ++r) EXPECT_EQ(y[r], kSentinel) << "row before first";
    double worst = 0.0;
    for (int s = 0; s < kSlots; ++s) {
      const int64_t n = counts[s];
      if (n == 0) continue;
      std::vector<float> xf(n * H), ref(n * H);
      for (int64_t i = 0; i < n * H; ++i) xf[i] = ek::bf16_to_float(x[offsets[s] * H + i]);
      ek::swiglu_reference(experts_[layer][s].data(), kShape, xf.data(), static_cast<int>(n),
                           ref.data());
      const ek::bf16_t* ys = y.data() + offsets[s] * H;
      EXPECT_EQ(ek::count_wrong_tokens(ys, ref.data(), n, H), 0) << "slot " << s;
      for (int64_t t = 0; t < n; ++t) {
        worst = std::max(worst, ek::token_relative_error(ys + t * H, ref.data() + t * H, H));
        EXPECT_TRUE(std::any_of(ys + t * H, ys + (t + 1) * H,
                                [](ek::bf16_t v) { return ek::bf16_to_float(v) != 0.0f; }));
      }
    }
    return worst;
  }

  std::unique_ptr<ek::GroupedFfn> ffn_;
  std::vector<std::vector<std::vector<ek::bf16_t>>> experts_;  // [layer][slot]
};

TEST_P(GroupedFfnTest, Describes) {
  EXPECT_EQ(ffn_->backend().rfind(GetParam(), 0), 0u) << ffn_->backend();
  EXPECT_EQ(ffn_->shape().hidden, kShape.hidden);
  EXPECT_EQ(ffn_->shape().ffn, kShape.ffn);
  EXPECT_EQ(ffn_->num_layers(), kLayers);
  EXPECT_EQ(ffn_->num_slots(), kSlots);
}

TEST_P(GroupedFfnTest, ForwardMatchesReferenceWithUnevenSlots) {
  // Uneven counts, one empty slot; both layers (different weights per layer).
  const double worst0 = check_forward(0, {5, 0, 17, 1});
  const double worst1 = check_forward(1, {2, 9, 0, 33});
  // CPU backends keep h in fp32: the error is dominated by bf16 output rounding (~2^-9).
  EXPECT_LT(std::max(worst0, worst1), 5e-3);
}

TEST_P(GroupedFfnTest, ForwardWithOffsetRowsAndGrowingThenShrinkingBatches) {
  check_forward(0, {1, 1, 1, 1}, /*first_row=*/3);
  check_forward(1, {70, 3, 0, 129});  // workspaces grow
  check_forward(0, {0, 2, 0, 0});     // and are reused
}

TEST_P(GroupedFfnTest, ForwardWithNoTokensLeavesOutputAlone) {
  std::vector<int64_t> offsets(kSlots + 1, 0);
  ek::bf16_t y = 0x1234;
  ffn_->forward(0, nullptr, offsets, &y);
  EXPECT_EQ(y, 0x1234);
}

TEST_P(GroupedFfnTest, SetGetRoundTripIsExact) {
  for (int layer = 0; layer < kLayers; ++layer) {
    for (int slot = 0; slot < kSlots; ++slot) {
      std::vector<ek::bf16_t> out(kShape.weight_elems(), 0);
      ffn_->get_slot_weights(layer, slot, out.data());
      EXPECT_EQ(out, experts_[layer][slot]) << "layer " << layer << " slot " << slot;
    }
  }
  // Migration: overwriting a slot with another expert is visible in get and in forward.
  std::vector<ek::bf16_t> moved(kShape.weight_elems()), out(kShape.weight_elems());
  ek::make_expert_weights(kSeed, 1, 99, kShape, moved.data());
  ffn_->set_slot_weights(1, 2, moved.data());
  ffn_->get_slot_weights(1, 2, out.data());
  EXPECT_EQ(out, moved);
  experts_[1][2] = moved;
  check_forward(1, {1, 1, 8, 1});
}

TEST_P(GroupedFfnTest, ValidatesArguments) {
  std::vector<ek::bf16_t> w(kShape.weight_elems());
  EXPECT_THROW(ffn_->set_slot_weights(kLayers, 0, w.data()), std::out_of_range);
  EXPECT_THROW(ffn_->set_slot_weights(0, -1, w.data()), std::out_of_range);
  EXPECT_THROW(ffn_->get_slot_weights(0, kSlots, w.data()), std::out_of_range);
  EXPECT_THROW(ffn_->set_slot_weights(0, 0, nullptr), std::invalid_argument);

  std::vector<ek::bf16_t> x(4 * kShape.hidden, ek::float_to_bf16(0.5f)), y(x.size());
  const std::vector<int64_t> too_short{0, 1, 2, 4};
  EXPECT_THROW(ffn_->forward(0, x.data(), too_short, y.data()), std::invalid_argument);
  const std::vector<int64_t> decreasing{0, 2, 1, 3, 4};
  EXPECT_THROW(ffn_->forward(0, x.data(), decreasing, y.data()), std::invalid_argument);
  const std::vector<int64_t> ok{0, 1, 2, 3, 4};
  EXPECT_THROW(ffn_->forward(-1, x.data(), ok, y.data()), std::out_of_range);
  EXPECT_THROW(ffn_->forward(kLayers, x.data(), ok, y.data()), std::out_of_range);
}

INSTANTIATE_TEST_SUITE_P(CpuBackends, GroupedFfnTest, testing::ValuesIn(cpu_backends()),
                         [](const auto& info) { return info.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(GroupedFfnTest);

}  // namespace
