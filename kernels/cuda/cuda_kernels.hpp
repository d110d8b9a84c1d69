// CUDA backend: host launchers for the MoE layer's GPU steps (router, layout, SwiGLU pieces).
// Every launcher takes device pointers, sizes and a stream passed as `void*` (a cudaStream_t;
// nullptr = the legacy default stream), enqueues its work and returns without synchronizing.
// Templates and <<<>>> stay in the .cu files; this header needs no CUDA include.
//
// Data types: activations and weights are bf16 bits (bf16_t), scores/weights fp32, indices int32.
#pragma once

#include <cstdint>

#include "../bf16.hpp"

namespace epbench::kernels::cuda {

// ---- Router -------------------------------------------------------------------------------------
// Same semantics as the CPU router (src/gating/router.hpp, topk.hpp), written with plain
// fields because kernels do not depend on the core library:
//   logits  = x · Wr + bias[e]                      (bias may be null: 0)
//   scores  = softmax(logits) over experts  |  sigmoid(logits)
//   group score = max of the group's scores (softmax)  |  sum of its top-2 scores (sigmoid)
//   keep the topk_group best groups; the top_k experts by score among the kept groups
//   weight[k] = scores[expert_k], divided by their sum when normalize_topk.
// Ties break towards the lower index (group or expert), as on the CPU.
enum class RouterScore { kSoftmax = 0, kSigmoid = 1 };

struct RouterShape {
  int num_tokens = 0;
  int hidden = 0;
  int num_experts = 0;  // <= kMaxRouterExperts
  int top_k = 0;        // <= kMaxRouterTopK
  int n_group = 1;      // <= 32; num_experts % n_group == 0
  int topk_group = 1;
  RouterScore score = RouterScore::kSoftmax;
  bool normalize_topk = true;
};
inline constexpr int kMaxRouterExperts = 1024;
inline constexpr int kMaxRouterTopK = 32;

// Throws std::invalid_argument naming the field when the shape is outside what the kernels do.
void validate_router_shape(const RouterShape& shape);

// logits[t][e] = sum_h x[t][h] * gate_weight[h][e] (fp32 out, fp32 accumulate), via cuBLAS.
// x: [num_tokens][hidden] bf16; gate_weight: [hidden][num_experts] bf16 (the CPU router's Wr).
// `cublas` is a cublasHandle_t (see CublasHandle in cuda_device.hpp); its stream is set to `stream`.
void router_logits(const RouterShape& shape, const bf16_t* x, const bf16_t* gate_weight,
                   float* logits, void* cublas, void* stream);

// From logits [num_tokens][num_experts] (+ optional logit bias [num_experts]) to
// topk_ids [num_tokens][top_k] and topk_weights [num_tokens][top_k], ordered by descending score.
void router_topk(const RouterShape& shape, const float* logits, const float* bias,
                 int32_t* topk_ids, float* topk_weights, void* stream);

// router_logits then router_topk; `logits` is caller workspace [num_tokens][num_experts].
void router_forward(const RouterShape& shape, const bf16_t* x, const bf16_t* gate_weight,
                    const float* bias, float* logits, int32_t* topk_ids, float* topk_weights,
                    void* cublas, void* stream);

// ---- Layout: counts, offsets, permute / unpermute-combine --------------------------------------
// counts[b] = #{ i < n : keys[i] == b } for 0 <= b < num_bins (keys outside are ignored).
// Per-expert counts: keys = topk_ids (n = T*k); per-rank counts: keys = destination rank per
// (token, k). counts is overwritten (zeroed first).
void histogram(const int32_t* keys, int64_t n, int num_bins, int32_t* counts, void* stream);

// offsets[0] = 0, offsets[b+1] = offsets[b] + counts[b]  (num_bins + 1 entries, int64).
void exclusive_scan(const int32_t* counts, int num_bins, int64_t* offsets, void* stream);

// Stable counting-sort positions: rows[i] = offsets[keys[i]] + #{ j < i : keys[j] == keys[i] },
// -1 where keys[i] is outside [0, num_bins). Deterministic (no atomics on the order).
void assign_rows(const int32_t* keys, int64_t n, int num_bins, const int64_t* offsets,
                 int32_t* rows, void* stream);

// out[rows[t*k + j]][:] = x[t][:] for every (t, j) with rows >= 0. x: [num_tokens][hidden].
void permute_tokens(const bf16_t* x, int num_tokens, int hidden, int top_k, const int32_t* rows,
                    bf16_t* out, void* stream);

// out[t][:] = bf16( sum_j weights[t*k + j] * y[rows[t*k + j]][:] ), fp32 accumulation, rows < 0
// skipped (a dropped token contributes 0). weights may be null: all 1.
void unpermute_combine(const bf16_t* y, int num_tokens, int hidden, int top_k,
                       const int32_t* rows, const float* weights, bf16_t* out, void* stream);

// ---- SwiGLU pieces ------------------------------------------------------------------------------
// h[r][f] = bf16( silu(g[r][f]) * g[r][ffn + f] ) for r < rows, f < ffn; g: [rows][2*ffn] bf16
// (the fused W1|W3 GEMM output), h: [rows][ffn] bf16. fp32 math.
void silu_mul(const bf16_t* g, int64_t rows, int ffn, bf16_t* h, void* stream);

// Conversions used by tests and benchmarks: n elements.
void float_to_bf16_device(const float* in, int64_t n, bf16_t* out, void* stream);
void bf16_to_float_device(const bf16_t* in, int64_t n, float* out, void* stream);
// Deterministic pseudo-random bf16 fill in [-scale, scale] (hash of seed and index).
void fill_random_bf16(bf16_t* out, int64_t n, uint64_t seed, float scale, void* stream);

// ---- Dense GEMM (the benchmark's reference and a sanity check) ----------------------------------
// c[m][n] = sum_k a[m][k] * b[n][k]  (row-major, "x · Wᵀ"): bf16 in/out, fp32 accumulate (cuBLAS).
void gemm_bf16_nt(const bf16_t* a, const bf16_t* b, bf16_t* c, int m, int n, int k, void* cublas,
                  void* stream);

}  // namespace epbench::kernels::cuda
