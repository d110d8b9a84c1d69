// The GPU router's shape (kernels/cuda/cuda_kernels.hpp, plain fields: kernels do not know the
// core library) for one layer's gating::RouterConfig. Header-only, no CUDA header; used by
// TokenSource on --backend cuda and by the GPU router tests.
#pragma once

#include "cuda/cuda_kernels.hpp"
#include "gating/router_config.hpp"

namespace epbench {

inline kernels::cuda::RouterShape device_router_shape(const gating::RouterConfig& c,
                                                      int num_tokens = 0) {
  kernels::cuda::RouterShape s;
  s.num_tokens = num_tokens;
  s.hidden = c.hidden;
  s.num_experts = c.num_experts;
  s.top_k = c.top_k;
  s.n_group = c.n_group;
  s.topk_group = c.topk_group;
  s.score = c.score == gating::ScoreFunction::kSigmoid ? kernels::cuda::RouterScore::kSigmoid
                                                        : kernels::cuda::RouterScore::kSoftmax;
  s.normalize_topk = c.normalize_topk;
  return s;
}

}  // namespace epbench
