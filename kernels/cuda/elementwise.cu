// Elementwise kernels: the fused SwiGLU activation (SiLU(G1) · G3, one read of G, one write of H)
// and the bf16 conversions / deterministic fills used by tests and benchmarks.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda_check.hpp"
#include "cuda_kernels.hpp"

namespace epbench::kernels::cuda {
namespace {

constexpr int kThreads = 256;

cudaStream_t as_stream(void* stream) { return static_cast<cudaStream_t>(stream); }

int grid_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<int>(blocks < 1 ? 1 : (blocks > 65536 ? 65536 : blocks));
}

__device__ inline float silu(float v) { return v / (1.0f + __expf(-v)); }

// Vector path: 8 bf16 of G1 and of G3 per thread and step (ffn % 8 == 0).
__global__ void __launch_bounds__(kThreads)
silu_mul_vector_kernel(const __nv_bfloat16* __restrict__ g, int64_t rows, int ffn,
                                       __nv_bfloat16* __restrict__ h) {
  const int vectors_per_row = ffn / 8;
  const int64_t total = rows * vectors_per_row;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t row = i / vectors_per_row;
    const int v = static_cast<int>(i % vectors_per_row);
    const __nv_bfloat16* g_row = g + row * 2 * ffn;
    const uint4 gate = reinterpret_cast<const uint4*>(g_row)[v];
    const uint4 up = reinterpret_cast<const uint4*>(g_row + ffn)[v];
    const auto* gate_pairs = reinterpret_cast<const __nv_bfloat162*>(&gate);
    const auto* up_pairs = reinterpret_cast<const __nv_bfloat162*>(&up);
    uint4 result;
    auto* out_pairs = reinterpret_cast<__nv_bfloat162*>(&result);
#pragma unroll
    for (int p = 0; p < 4; ++p) {
      const float2 a = __bfloat1622float2(gate_pairs[p]);
      const float2 b = __bfloat1622float2(up_pairs[p]);
      out_pairs[p] = __floats2bfloat162_rn(silu(a.x) * b.x, silu(a.y) * b.y);
    }
    reinterpret_cast<uint4*>(h + row * ffn)[v] = result;
  }
}

__global__ void __launch_bounds__(kThreads)
silu_mul_scalar_kernel(const __nv_bfloat16* __restrict__ g, int64_t rows, int ffn,
                                       __nv_bfloat16* __restrict__ h) {
  const int64_t total = rows * ffn;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t row = i / ffn;
    const int f = static_cast<int>(i % ffn);
    const float a = __bfloat162float(g[row * 2 * ffn + f]);
    const float b = __bfloat162float(g[row * 2 * ffn + ffn + f]);
    h[i] = __float2bfloat16_rn(silu(a) * b);
  }
}

__global__ void __launch_bounds__(kThreads)
float_to_bf16_kernel(const float* __restrict__ in, int64_t n,
                                     __nv_bfloat16* __restrict__ out) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x)
    out[i] = __float2bfloat16_rn(in[i]);
}

__global__ void __launch_bounds__(kThreads)
bf16_to_float_kernel(const __nv_bfloat16* __restrict__ in, int64_t n,
                                     float* __restrict__ out) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x)
    out[i] = __bfloat162float(in[i]);
}

__device__ inline uint64_t splitmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

__global__ void __launch_bounds__(kThreads)
fill_random_bf16_kernel(__nv_bfloat16* __restrict__ out, int64_t n, uint64_t seed,
                                        float scale) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const uint64_t bits = splitmix64(seed * 0x2545f4914f6cdd1dull + static_cast<uint64_t>(i));
    const float unit = static_cast<float>(bits >> 40) * (1.0f / 16777216.0f);  // [0, 1)
    out[i] = __float2bfloat16_rn((2.0f * unit - 1.0f) * scale);
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

}  // namespace

void silu_mul(const bf16_t* g, int64_t rows, int ffn, bf16_t* h, void* stream) {
  if (rows <= 0 || ffn <= 0) return;
  const auto* in = reinterpret_cast<const __nv_bfloat16*>(g);
  auto* out = reinterpret_cast<__nv_bfloat16*>(h);
  if (ffn % 8 == 0 && aligned16(g) && aligned16(h))
    silu_mul_vector_kernel<<<grid_for(rows * (ffn / 8)), kThreads, 0, as_stream(stream)>>>(
        in, rows, ffn, out);
  else
    silu_mul_scalar_kernel<<<grid_for(rows * ffn), kThreads, 0, as_stream(stream)>>>(in, rows,
                                                                                   ffn, out);
  CHECK_CUDA_LAUNCH();
}

void float_to_bf16_device(const float* in, int64_t n, bf16_t* out, void* stream) {
  if (n <= 0) return;
  float_to_bf16_kernel<<<grid_for(n), kThreads, 0, as_stream(stream)>>>(
      in, n, reinterpret_cast<__nv_bfloat16*>(out));
  CHECK_CUDA_LAUNCH();
}

void bf16_to_float_device(const bf16_t* in, int64_t n, float* out, void* stream) {
  if (n <= 0) return;
  bf16_to_float_kernel<<<grid_for(n), kThreads, 0, as_stream(stream)>>>(
      reinterpret_cast<const __nv_bfloat16*>(in), n, out);
  CHECK_CUDA_LAUNCH();
}

void fill_random_bf16(bf16_t* out, int64_t n, uint64_t seed, float scale, void* stream) {
  if (n <= 0) return;
  fill_random_bf16_kernel<<<grid_for(n), kThreads, 0, as_stream(stream)>>>(
      reinterpret_cast<__nv_bfloat16*>(out), n, seed, scale);
  CHECK_CUDA_LAUNCH();
}

}  // namespace epbench::kernels::cuda
