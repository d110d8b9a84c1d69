// cuBLAS-backed launchers: the router's logits GEMM and the dense bf16 GEMM used as the
// benchmark's reference. Row-major "C = A · Bᵀ" maps to column-major "Cᵀ = B · Aᵀ" with
// op(B) = T, op(A) = N, so no data is ever transposed.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "cuda_check.hpp"
#include "cuda_kernels.hpp"

namespace epbench::kernels::cuda {
namespace {

cublasHandle_t as_handle(void* cublas) { return static_cast<cublasHandle_t>(cublas); }

}  // namespace

void router_logits(const RouterShape& shape, const bf16_t* x, const bf16_t* gate_weight,
                   float* logits, void* cublas, void* stream) {
  validate_router_shape(shape);
  if (shape.num_tokens == 0) return;
  CHECK_CUBLAS(cublasSetStream(as_handle(cublas), static_cast<cudaStream_t>(stream)));
  const float alpha = 1.0f, beta = 0.0f;
  // logitsᵀ [E x T] = gate_weight (col-major E x H) · xᵀ (col-major H x T).
  CHECK_CUBLAS(cublasGemmEx(as_handle(cublas), CUBLAS_OP_N, CUBLAS_OP_N, shape.num_experts,
                            shape.num_tokens, shape.hidden, &alpha, gate_weight, CUDA_R_16BF,
                            shape.num_experts, x, CUDA_R_16BF, shape.hidden, &beta, logits, CUDA_R_32F,
                            shape.num_experts, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void router_forward(const RouterShape& shape, const bf16_t* x, const bf16_t* gate_weight,
                    const float* bias, float* logits, int32_t* topk_ids, float* topk_weights,
                    void* cublas, void* stream) {
  router_logits(shape, x, gate_weight, logits, cublas, stream);
  router_topk(shape, logits, bias, topk_ids, topk_weights, stream);
}

void gemm_bf16_nt(const bf16_t* a, const bf16_t* b, bf16_t* c, int m, int n, int k, void* cublas,
                  void* stream) {
  if (m <= 0 || n <= 0) return;
  CHECK_CUBLAS(cublasSetStream(as_handle(cublas), static_cast<cudaStream_t>(stream)));
  const float alpha = 1.0f, beta = 0.0f;
  // cᵀ [n x m] = b (col-major k x n)ᵀ · aᵀ (col-major k x m).
  CHECK_CUBLAS(cublasGemmEx(as_handle(cublas), CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &alpha, b,
                            CUDA_R_16BF, k, a, CUDA_R_16BF, k, &beta, c, CUDA_R_16BF, n,
                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

}  // namespace epbench::kernels::cuda
