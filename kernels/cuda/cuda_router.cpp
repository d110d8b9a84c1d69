// DeviceRouter; see cuda_router.hpp.
#include "cuda_router.hpp"

#include <cuda_runtime.h>

#include <algorithm>
#include <vector>

#include "../bf16.hpp"
#include "cuda_check.hpp"
#include "cuda_device.hpp"

namespace epbench::kernels::cuda {

struct DeviceRouter::Impl {
  RouterShape shape;
  CudaStream stream;
  CublasHandle cublas;
  EventTimer timer;
  DeviceBuffer gate_weight, bias, hidden_f32, hidden_bf16, logits, ids, weights;
  int capacity = 0;  // tokens the per-token buffers hold

  void reserve(int tokens) {
    if (tokens <= capacity) return;
    const size_t t = static_cast<size_t>(tokens);
    hidden_f32 = DeviceBuffer(sizeof(float) * t * shape.hidden);
    hidden_bf16 = DeviceBuffer(sizeof(bf16_t) * t * shape.hidden);
    logits = DeviceBuffer(sizeof(float) * t * shape.num_experts);
    ids = DeviceBuffer(sizeof(int32_t) * t * shape.top_k);
    weights = DeviceBuffer(sizeof(float) * t * shape.top_k);
    capacity = tokens;
  }
};

DeviceRouter::DeviceRouter(const RouterShape& shape, const float* gate_weight)
    : impl_(std::make_unique<Impl>()) {
  RouterShape checked = shape;
  checked.num_tokens = 0;
  validate_router_shape(checked);
  impl_->shape = checked;
  const size_t n = static_cast<size_t>(shape.hidden) * shape.num_experts;
  std::vector<bf16_t> bits(n);
  for (size_t i = 0; i < n; ++i) bits[i] = float_to_bf16(gate_weight[i]);
  impl_->gate_weight = DeviceBuffer(sizeof(bf16_t) * n);
  impl_->gate_weight.upload(bits.data(), sizeof(bf16_t) * n);
  impl_->bias = DeviceBuffer(sizeof(float) * shape.num_experts);
}

DeviceRouter::~DeviceRouter() = default;

double DeviceRouter::route(const float* hidden, int num_tokens, const float* bias,
                           int32_t* topk_ids, float* topk_weights) {
  Impl& im = *impl_;
  if (num_tokens <= 0) return 0.0;
  im.reserve(num_tokens);
  RouterShape shape = im.shape;
  shape.num_tokens = num_tokens;
  void* s = im.stream.get();
  const size_t t = static_cast<size_t>(num_tokens);
  // Staging (untimed): tokens as bf16 and the step's logit bias onto the device.
  copy_async(im.hidden_f32.data(), hidden, sizeof(float) * t * shape.hidden, s);
  float_to_bf16_device(im.hidden_f32.as<float>(), static_cast<int64_t>(t) * shape.hidden,
                       im.hidden_bf16.as<bf16_t>(), s);
  if (bias) copy_async(im.bias.data(), bias, sizeof(float) * shape.num_experts, s);
  im.timer.start(s);
  router_forward(shape, im.hidden_bf16.as<bf16_t>(), im.gate_weight.as<bf16_t>(),
                 bias ? im.bias.as<float>() : nullptr, im.logits.as<float>(),
                 im.ids.as<int32_t>(), im.weights.as<float>(), im.cublas.get(), s);
  im.timer.stop(s);
  copy_async(topk_ids, im.ids.data(), sizeof(int32_t) * t * shape.top_k, s);
  copy_async(topk_weights, im.weights.data(), sizeof(float) * t * shape.top_k, s);
  im.stream.synchronize();
  return im.timer.elapsed_ms() * 1e-3;
}

}  // namespace epbench::kernels::cuda
