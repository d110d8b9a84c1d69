// Router kernels: scores (softmax | sigmoid), group-limited top-k and normalized weights.
// Semantics match src/gating/topk.cpp (the CPU router) up to float rounding of exp and sums.
// One warp per token; the token's scores and choice values live in shared memory. The logits
// GEMM is in cuda_blas.cpp (cuBLAS). Semantics: cuda_kernels.hpp, matching src/gating/router.hpp.
#include <cuda_runtime.h>

#include <cfloat>
#include <climits>
#include <stdexcept>
#include <string>

#include "cuda_check.hpp"
#include "cuda_kernels.hpp"

namespace epbench::kernels::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;
constexpr int kRouterThreads = kWarpsPerBlock * 32;
constexpr unsigned kFullMask = 0xffffffffu;

// Warp-wide argmax of (value, index): larger value wins, the lower index on equal values.
__device__ inline void warp_argmax(float& value, int& index) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float other_value = __shfl_xor_sync(kFullMask, value, offset);
    const int other_index = __shfl_xor_sync(kFullMask, index, offset);
    if (other_value > value || (other_value == value && other_index < index)) {
      value = other_value;
      index = other_index;
    }
  }
}

__device__ inline float warp_max(float value) {
  for (int offset = 16; offset > 0; offset >>= 1)
    value = fmaxf(value, __shfl_xor_sync(kFullMask, value, offset));
  return value;
}

__device__ inline float warp_sum(float value) {
  for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_xor_sync(kFullMask, value, offset);
  return value;
}

__global__ void __launch_bounds__(kRouterThreads)
router_topk_kernel(RouterShape shape, const float* __restrict__ logits,
                                   const float* __restrict__ bias, int32_t* __restrict__ topk_ids,
                                   float* __restrict__ topk_weights) {
  extern __shared__ float shared[];
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int token = blockIdx.x * kWarpsPerBlock + warp;
  if (token >= shape.num_tokens) return;  // whole warps leave together

  const int num_experts = shape.num_experts;
  float* scores = shared + static_cast<size_t>(warp) * 2 * num_experts;
  float* choice = scores + num_experts;
  const float* row = logits + static_cast<size_t>(token) * num_experts;

  // Scores (the bias is a logit bias, added before the score function).
  for (int e = lane; e < num_experts; e += 32) scores[e] = row[e] + (bias ? bias[e] : 0.0f);
  __syncwarp();
  if (shape.score == RouterScore::kSoftmax) {
    float local_max = -INFINITY;
    for (int e = lane; e < num_experts; e += 32) local_max = fmaxf(local_max, scores[e]);
    const float row_max = warp_max(local_max);
    float local_sum = 0.0f;
    for (int e = lane; e < num_experts; e += 32) {
      const float value = expf(scores[e] - row_max);
      scores[e] = value;
      local_sum += value;
    }
    const float inv_sum = 1.0f / warp_sum(local_sum);
    for (int e = lane; e < num_experts; e += 32) scores[e] *= inv_sum;
  } else {
    for (int e = lane; e < num_experts; e += 32) scores[e] = 1.0f / (1.0f + expf(-scores[e]));
  }
  // `choice` is the selection copy: experts already picked are marked NaN there.
  for (int e = lane; e < num_experts; e += 32) choice[e] = scores[e];
  __syncwarp();

  // Group scores: lane g owns group g (n_group <= 32).
  const int experts_per_group = num_experts / shape.n_group;
  float group_score = -INFINITY;
  if (lane < shape.n_group) {
    const float* group = choice + lane * experts_per_group;
    if (shape.score == RouterScore::kSoftmax) {
      for (int i = 0; i < experts_per_group; ++i) group_score = fmaxf(group_score, group[i]);
    } else {  // sum of the two largest (the only one when the group has one expert)
      float first = -INFINITY, second = -INFINITY;
      for (int i = 0; i < experts_per_group; ++i) {
        const float v = group[i];
        if (v > first) {
          second = first;
          first = v;
        } else if (v > second) {
          second = v;
        }
      }
      group_score = experts_per_group >= 2 ? first + second : first;
    }
  }

  // Keep the topk_group best groups.
  unsigned kept_groups = 0;
  if (shape.n_group == 1) {
    kept_groups = 1u;
  } else {
    bool taken = lane >= shape.n_group;
    for (int g = 0; g < shape.topk_group; ++g) {
      float value = taken ? -INFINITY : group_score;
      int index = taken ? INT_MAX : lane;
      warp_argmax(value, index);
      if (index == INT_MAX) break;  // cannot happen after validation
      kept_groups |= 1u << index;
      if (lane == index) taken = true;
    }
  }

  // Top-k experts by score within the kept groups; taken experts are marked NaN in `choice`.
  float weight_sum = 0.0f;
  float my_weight = 0.0f;  // lane j keeps slot j's weight
  int my_expert = -1;
  for (int k = 0; k < shape.top_k; ++k) {
    float value = -INFINITY;
    int index = INT_MAX;
    for (int e = lane; e < num_experts; e += 32) {
      if (!(kept_groups >> (e / experts_per_group) & 1u)) continue;
      const float v = choice[e];
      if (v != v) continue;  // already selected
      if (v > value || (v == value && e < index)) {
        value = v;
        index = e;
      }
    }
    warp_argmax(value, index);
    if (index == INT_MAX) break;  // fewer candidates than top_k: cannot happen after validation
    const float weight = scores[index];
    weight_sum += weight;
    if (lane == k) {
      my_expert = index;
      my_weight = weight;
    }
    if (lane == (index % 32)) choice[index] = __int_as_float(0x7fc00000);  // NaN: taken
    __syncwarp();
  }
  if (lane < shape.top_k) {
    const size_t out = static_cast<size_t>(token) * shape.top_k + lane;
    topk_ids[out] = my_expert;
    topk_weights[out] =
        shape.normalize_topk && weight_sum > 0.0f ? my_weight / weight_sum : my_weight;
  }
}

}  // namespace

void validate_router_shape(const RouterShape& s) {
  auto fail = [&](const std::string& what) {
    throw std::invalid_argument("CUDA router shape (tokens=" + std::to_string(s.num_tokens) +
                                " hidden=" + std::to_string(s.hidden) + " experts=" +
                                std::to_string(s.num_experts) + " top_k=" +
                                std::to_string(s.top_k) + " groups=" +
                                std::to_string(s.topk_group) + "/" + std::to_string(s.n_group) +
                                "): " + what);
  };
  if (s.num_tokens < 0) fail("num_tokens must be >= 0");
  if (s.hidden <= 0) fail("hidden must be positive");
  if (s.num_experts <= 0 || s.num_experts > kMaxRouterExperts)
    fail("num_experts must be in 1.." + std::to_string(kMaxRouterExperts));
  if (s.top_k <= 0 || s.top_k > kMaxRouterTopK)
    fail("top_k must be in 1.." + std::to_string(kMaxRouterTopK));
  if (s.n_group <= 0 || s.n_group > 32) fail("n_group must be in 1..32");
  if (s.num_experts % s.n_group != 0) fail("num_experts must be divisible by n_group");
  if (s.topk_group <= 0 || s.topk_group > s.n_group) fail("topk_group must be in 1..n_group");
  if (s.top_k > s.topk_group * (s.num_experts / s.n_group))
    fail("top_k exceeds the experts in the kept groups");
}

void router_topk(const RouterShape& shape, const float* logits, const float* bias,
                 int32_t* topk_ids, float* topk_weights, void* stream) {
  validate_router_shape(shape);
  if (shape.num_tokens == 0) return;
  const int blocks = (shape.num_tokens + kWarpsPerBlock - 1) / kWarpsPerBlock;
  const size_t shared_bytes = sizeof(float) * 2 * shape.num_experts * kWarpsPerBlock;
  router_topk_kernel<<<blocks, kRouterThreads, shared_bytes,
                       static_cast<cudaStream_t>(stream)>>>(shape, logits, bias, topk_ids,
                                                            topk_weights);
  CHECK_CUDA_LAUNCH();
}

}  // namespace epbench::kernels::cuda
