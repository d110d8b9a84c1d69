// GPU gate for the suite (`--backend cuda`): one layer's router with its gate weights resident on
// the device. Host tokens in, host top-k out (the dispatch plan is built on the host); the time
// it reports is the device work alone (logits GEMM + group-limited top-k, CUDA events), since
// in a GPU-resident model the hidden states are on the device already. No CUDA header here.
#pragma once

#include <cstdint>
#include <memory>

#include "cuda_kernels.hpp"

namespace epbench::kernels::cuda {

class DeviceRouter {
 public:
  // `shape.num_tokens` is ignored; gate_weight: host [hidden][experts] (rounded to bf16 once).
  // On the current device. Throws std::invalid_argument on an unsupported shape.
  DeviceRouter(const RouterShape& shape, const float* gate_weight);
  ~DeviceRouter();
  DeviceRouter(const DeviceRouter&) = delete;
  DeviceRouter& operator=(const DeviceRouter&) = delete;

  // hidden: host [num_tokens][hidden]; bias: host [experts] logit bias or null. Writes
  // topk_ids / topk_weights (host [num_tokens][top_k]). Complete on return. Returns the seconds
  // of the device work (logits GEMM + top-k), staging copies excluded.
  double route(const float* hidden, int num_tokens, const float* bias, int32_t* topk_ids,
               float* topk_weights);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace epbench::kernels::cuda
