// Shared pieces of the GPU tests: the skip-without-GPU fixture, host bf16 helpers and typed
// device buffers built on the backend's RAII wrappers (no CUDA header needed here).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "bf16.hpp"
#include "cuda/cuda_device.hpp"

namespace epbench::gpu_test {

namespace kc = epbench::kernels::cuda;
using epbench::kernels::bf16_t;

// EPBENCH_REQUIRE_GPU=1 (any value but "" and "0"): a GPU the runtime cannot use (no driver,
// driver too old, library missing) is a failure, not a skip. Set it on GPU nodes.
inline bool gpu_required() {
  const char* value = std::getenv("EPBENCH_REQUIRE_GPU");
  return value != nullptr && *value != '\0' && std::string(value) != "0";
}

// Every GPU test derives from this: no usable device means GTEST_SKIP with the runtime's reason,
// or a failure under EPBENCH_REQUIRE_GPU=1.
class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!kc::cuda_device_available()) {
      if (gpu_required())
        FAIL() << "EPBENCH_REQUIRE_GPU is set but " << kc::cuda_unavailable_reason();
      GTEST_SKIP() << kc::cuda_unavailable_reason() << " -- GPU test skipped";
    }
    kc::set_device(0);
  }
};

inline std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> out(n);
  for (auto& v : out) v = kernels::round_to_bf16(dist(rng));
  return out;
}

inline std::vector<bf16_t> to_bf16(const std::vector<float>& in) {
  std::vector<bf16_t> out(in.size());
  for (size_t i = 0; i < in.size(); ++i) out[i] = kernels::float_to_bf16(in[i]);
  return out;
}

inline std::vector<float> to_float(const std::vector<bf16_t>& in) {
  std::vector<float> out(in.size());
  for (size_t i = 0; i < in.size(); ++i) out[i] = kernels::bf16_to_float(in[i]);
  return out;
}

// A device copy of a host vector, and back.
template <class T>
kc::DeviceBuffer upload(const std::vector<T>& host) {
  kc::DeviceBuffer buffer(sizeof(T) * (host.empty() ? 1 : host.size()));
  buffer.upload(host.data(), sizeof(T) * host.size());
  return buffer;
}

template <class T>
std::vector<T> download(const kc::DeviceBuffer& buffer, size_t n) {
  std::vector<T> host(n);
  kc::device_synchronize();
  buffer.download(host.data(), sizeof(T) * n);
  return host;
}

}  // namespace epbench::gpu_test
