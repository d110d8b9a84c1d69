// CudaGroupedFfn against swiglu_reference (bf16 tolerance of reference.hpp), through the host
// API, the device entry point and the backend factory, in grouped and per-slot GEMM modes.
#include <gtest/gtest.h>

#include <cstring>
#include <stdexcept>
#include <vector>

#include "backend.hpp"
#include "cuda/cuda_ffn.hpp"
#include "expert_ffn.hpp"
#include "gpu_test_util.hpp"
#include "reference.hpp"

namespace epbench::gpu_test {
namespace {

using kernels::FfnShape;

class CudaFfn : public GpuTest {};

constexpr uint64_t kSeed = 1234;

// Slot s of layer l holds expert (3 * s + l) % 11: any rank can rebuild it for the reference.
int expert_of(int layer, int slot) { return (3 * slot + layer) % 11; }

void install_weights(kernels::GroupedFfn& ffn) {
  const FfnShape shape = ffn.shape();
  std::vector<bf16_t> w(shape.weight_elems());
  for (int layer = 0; layer < ffn.num_layers(); ++layer)
    for (int slot = 0; slot < ffn.num_slots(); ++slot) {
      kernels::make_expert_weights(kSeed, layer, expert_of(layer, slot), shape, w.data());
      ffn.set_slot_weights(layer, slot, w.data());
    }
}

// Reference output for rows grouped by slot.
std::vector<float> reference(FfnShape shape, int layer, const std::vector<float>& x,
                             const std::vector<int64_t>& offsets) {
  std::vector<float> y(x.size(), 0.0f);
  std::vector<bf16_t> w(shape.weight_elems());
  for (size_t s = 0; s + 1 < offsets.size(); ++s) {
    const int64_t n = offsets[s + 1] - offsets[s];
    if (n == 0) continue;
    kernels::make_expert_weights(kSeed, layer, expert_of(layer, int(s)), shape, w.data());
    kernels::swiglu_reference(w.data(), shape, x.data() + offsets[s] * shape.hidden, int(n),
                              y.data() + offsets[s] * shape.hidden);
  }
  return y;
}

void check_forward(kernels::GroupedFfn& ffn, int layer, const std::vector<int64_t>& offsets) {
  const FfnShape shape = ffn.shape();
  const int64_t rows = offsets.back();
  const auto x = random_floats(size_t(rows) * shape.hidden, 100 + layer, 1.0f);
  const auto x_bits = to_bf16(x);
  std::vector<bf16_t> y(x.size(), 0xFFFF);  // NaN-filled: every row must be written
  ffn.forward(layer, x_bits.data(), offsets, y.data());
  const auto y_ref = reference(shape, layer, x, offsets);
  EXPECT_EQ(kernels::count_wrong_tokens(y.data(), y_ref.data(), rows, shape.hidden), 0)
      << ffn.backend() << " layer " << layer;
}

TEST_F(CudaFfn, GroupedMatchesReference) {
  const FfnShape shape{256, 128};
  kernels::cuda::CudaGroupedFfn ffn(shape, 2, 5, 0, kernels::cuda::GemmMode::kAuto);
  install_weights(ffn);
  // Unequal counts, an empty slot and two equal counts (one GEMM group of two).
  check_forward(ffn, 0, {0, 17, 17, 81, 145, 150});
  check_forward(ffn, 1, {0, 1, 2, 3, 4, 5});
  EXPECT_NE(ffn.gemm_mode(), kernels::cuda::GemmMode::kAuto);
}

TEST_F(CudaFfn, PerSlotMatchesReference) {
  const FfnShape shape{192, 96};
  kernels::cuda::CudaGroupedFfn ffn(shape, 1, 3, 0, kernels::cuda::GemmMode::kPerSlot);
  install_weights(ffn);
  check_forward(ffn, 0, {0, 40, 41, 100});
  EXPECT_EQ(ffn.gemm_mode(), kernels::cuda::GemmMode::kPerSlot);
}

TEST_F(CudaFfn, DeviceEntryPointEqualsHostPath) {
  const FfnShape shape{128, 64};
  kernels::cuda::CudaGroupedFfn ffn(shape, 1, 4, 0);
  install_weights(ffn);
  const std::vector<int64_t> offsets{0, 30, 30, 62, 90};
  const auto x_bits = to_bf16(random_floats(size_t(offsets.back()) * shape.hidden, 9));
  std::vector<bf16_t> y_host(x_bits.size());
  ffn.forward(0, x_bits.data(), offsets, y_host.data());

  auto x_dev = upload(x_bits);
  kc::DeviceBuffer y_dev(sizeof(bf16_t) * x_bits.size());
  kc::CudaStream stream;
  ffn.forward_device(0, x_dev.data(), offsets.data(), y_dev.data(), stream.get());
  stream.synchronize();
  EXPECT_EQ(download<bf16_t>(y_dev, x_bits.size()), y_host);
}

// The suite's split path (prepare in the layout phase, run in the FFN phase) computes exactly
// what forward_device does; weights installed after a forward reach the next one; the
// reference GEMM baseline times real work.
TEST_F(CudaFfn, PreparedRunEqualsForwardAndReferenceGemmTimes) {
  const FfnShape shape{256, 128};
  kernels::cuda::CudaGroupedFfn ffn(shape, 1, 4, 0);
  install_weights(ffn);
  const std::vector<int64_t> offsets{0, 50, 50, 120, 300};
  ffn.reserve_rows(offsets.back());
  const auto x_bits = to_bf16(random_floats(size_t(offsets.back()) * shape.hidden, 19));
  auto x_dev = upload(x_bits);
  kc::DeviceBuffer y1(sizeof(bf16_t) * x_bits.size()), y2(sizeof(bf16_t) * x_bits.size());
  kc::CudaStream stream;
  ffn.forward_device(0, x_dev.data(), offsets.data(), y1.data(), stream.get());
  ffn.prepare_device(0, x_dev.data(), offsets.data(), y2.data(), stream.get());
  ffn.run_prepared(stream.get());
  stream.synchronize();
  const auto first = download<bf16_t>(y1, x_bits.size());
  EXPECT_EQ(download<bf16_t>(y2, x_bits.size()), first);

  // New weights for slot 3 right after an enqueued forward: the next forward must use them.
  std::vector<bf16_t> w(shape.weight_elems());
  kernels::make_expert_weights(kSeed, 0, 5, shape, w.data());
  ffn.forward_device(0, x_dev.data(), offsets.data(), y1.data(), stream.get());
  ffn.set_slot_weights(0, 3, w.data());
  ffn.forward_device(0, x_dev.data(), offsets.data(), y2.data(), stream.get());
  stream.synchronize();
  const auto y = to_float(download<bf16_t>(y2, x_bits.size()));
  std::vector<float> ref(size_t(offsets[4] - offsets[3]) * shape.hidden);
  const auto x = to_float(x_bits);
  kernels::swiglu_reference(w.data(), shape, x.data() + offsets[3] * shape.hidden,
                            int(offsets[4] - offsets[3]), ref.data());
  EXPECT_EQ(kernels::count_wrong_tokens(download<bf16_t>(y2, x_bits.size()).data() +
                                            offsets[3] * shape.hidden,
                                        ref.data(), offsets[4] - offsets[3], shape.hidden),
            0);

  const double seconds = ffn.reference_gemm_seconds(offsets);
  EXPECT_GT(seconds, 0.0);
  EXPECT_LT(seconds, 1.0);
  EXPECT_THROW(ffn.reference_gemm_seconds(std::vector<int64_t>{0, 1}), std::invalid_argument);
}

TEST_F(CudaFfn, WeightsRoundTripAndFactory) {
  const FfnShape shape{64, 32};
  auto ffn = kernels::make_grouped_ffn("cuda", shape, 2, 3, 0);
  ASSERT_NE(ffn, nullptr);
  EXPECT_EQ(ffn->backend(), "cuda");
  std::vector<bf16_t> w(shape.weight_elems()), back(shape.weight_elems());
  kernels::make_expert_weights(kSeed, 1, 7, shape, w.data());
  ffn->set_slot_weights(1, 2, w.data());
  ffn->get_slot_weights(1, 2, back.data());
  EXPECT_EQ(w, back);
  EXPECT_THROW(ffn->set_slot_weights(2, 0, w.data()), std::out_of_range);
  std::vector<bf16_t> x(4 * shape.hidden), y(x.size());
  const std::vector<int64_t> decreasing{0, 3, 2, 4};
  EXPECT_THROW(ffn->forward(0, x.data(), decreasing, y.data()), std::invalid_argument);
  const std::vector<int64_t> too_short{0, 4};
  EXPECT_THROW(ffn->forward(0, x.data(), too_short, y.data()), std::invalid_argument);
}

}  // namespace
}  // namespace epbench::gpu_test
