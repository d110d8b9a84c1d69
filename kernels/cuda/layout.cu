// Layout kernels: histograms, exclusive scans, stable row assignment, token permutation into
// per-destination contiguous buffers and the inverse unpermute + weighted combine.
// Rows of bf16 move as 16-byte vectors (8 values) when hidden % 8 == 0 and pointers are aligned.
#include <cub/block/block_scan.cuh>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda_check.hpp"
#include "cuda_kernels.hpp"

namespace epbench::kernels::cuda {
namespace {

constexpr int kHistogramThreads = 256;
constexpr int kScanThreads = 256;  // one block; 1024 threads needed 91 registers (> 64 per thread)
constexpr int kAssignThreads = 256;
constexpr int kRowThreads = 256;
constexpr int kMaxSharedBins = 8192;  // 32 KiB of shared counters per block

cudaStream_t as_stream(void* stream) { return static_cast<cudaStream_t>(stream); }

int grid_for(int64_t n, int threads, int max_blocks = 4096) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<int>(blocks < 1 ? 1 : (blocks > max_blocks ? max_blocks : blocks));
}

__global__ void __launch_bounds__(kHistogramThreads)
histogram_shared_kernel(const int32_t* __restrict__ keys, int64_t n, int num_bins,
                                        int32_t* __restrict__ counts) {
  extern __shared__ int32_t local[];
  for (int b = threadIdx.x; b < num_bins; b += blockDim.x) local[b] = 0;
  __syncthreads();
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int32_t key = keys[i];
    if (key >= 0 && key < num_bins) atomicAdd(&local[key], 1);
  }
  __syncthreads();
  for (int b = threadIdx.x; b < num_bins; b += blockDim.x)
    if (local[b] != 0) atomicAdd(&counts[b], local[b]);
}

__global__ void __launch_bounds__(kHistogramThreads)
histogram_global_kernel(const int32_t* __restrict__ keys, int64_t n, int num_bins,
                                        int32_t* __restrict__ counts) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int32_t key = keys[i];
    if (key >= 0 && key < num_bins) atomicAdd(&counts[key], 1);
  }
}

// One block; chunks of kScanThreads carried forward.
__global__ void __launch_bounds__(kScanThreads)
exclusive_scan_kernel(const int32_t* __restrict__ counts, int num_bins,
                                      int64_t* __restrict__ offsets) {
  using BlockScan = cub::BlockScan<int64_t, kScanThreads>;
  __shared__ typename BlockScan::TempStorage temp;
  int64_t carry = 0;
  for (int base = 0; base < num_bins; base += kScanThreads) {
    const int b = base + threadIdx.x;
    const int64_t value = b < num_bins ? counts[b] : 0;
    int64_t prefix = 0, total = 0;
    BlockScan(temp).ExclusiveSum(value, prefix, total);
    if (b < num_bins) offsets[b] = carry + prefix;
    carry += total;
    __syncthreads();  // temp reused by the next chunk
  }
  if (threadIdx.x == 0) offsets[num_bins] = carry;
}

// Block b walks all keys in order and numbers those equal to b: stable by construction.
__global__ void __launch_bounds__(kAssignThreads)
assign_rows_kernel(const int32_t* __restrict__ keys, int64_t n, int num_bins,
                                   const int64_t* __restrict__ offsets, int32_t* __restrict__ rows) {
  using BlockScan = cub::BlockScan<int, kAssignThreads>;
  __shared__ typename BlockScan::TempStorage temp;
  const int bin = blockIdx.x;
  int64_t next_row = offsets[bin];
  for (int64_t base = 0; base < n; base += kAssignThreads) {
    const int64_t i = base + threadIdx.x;
    const int32_t key = i < n ? keys[i] : -1;
    const int flag = key == bin ? 1 : 0;
    int prefix = 0, total = 0;
    BlockScan(temp).ExclusiveSum(flag, prefix, total);
    if (flag) rows[i] = static_cast<int32_t>(next_row + prefix);
    // Block 0 also marks keys outside every bin.
    if (bin == 0 && i < n && (key < 0 || key >= num_bins)) rows[i] = -1;
    next_row += total;
    __syncthreads();
  }
}

template <bool kVector>
__global__ void __launch_bounds__(kRowThreads)
permute_kernel(const __nv_bfloat16* __restrict__ x, int hidden, int top_k,
                               const int32_t* __restrict__ rows, __nv_bfloat16* __restrict__ out) {
  const int64_t token = blockIdx.x;
  const int32_t* token_rows = rows + token * top_k;
  if constexpr (kVector) {
    const int vectors = hidden / 8;
    const uint4* src = reinterpret_cast<const uint4*>(x + token * hidden);
    for (int v = threadIdx.x; v < vectors; v += blockDim.x) {
      const uint4 value = src[v];
      for (int j = 0; j < top_k; ++j) {
        const int32_t row = token_rows[j];
        if (row >= 0) reinterpret_cast<uint4*>(out + int64_t{row} * hidden)[v] = value;
      }
    }
  } else {
    const __nv_bfloat16* src = x + token * hidden;
    for (int h = threadIdx.x; h < hidden; h += blockDim.x) {
      const __nv_bfloat16 value = src[h];
      for (int j = 0; j < top_k; ++j) {
        const int32_t row = token_rows[j];
        if (row >= 0) out[int64_t{row} * hidden + h] = value;
      }
    }
  }
}

template <bool kVector>
__global__ void __launch_bounds__(kRowThreads)
unpermute_combine_kernel(const __nv_bfloat16* __restrict__ y, int hidden, int top_k,
                                         const int32_t* __restrict__ rows,
                                         const float* __restrict__ weights,
                                         __nv_bfloat16* __restrict__ out) {
  const int64_t token = blockIdx.x;
  const int32_t* token_rows = rows + token * top_k;
  const float* token_weights = weights ? weights + token * top_k : nullptr;
  if constexpr (kVector) {
    const int vectors = hidden / 8;
    for (int v = threadIdx.x; v < vectors; v += blockDim.x) {
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int j = 0; j < top_k; ++j) {
        const int32_t row = token_rows[j];
        if (row < 0) continue;
        const float w = token_weights ? token_weights[j] : 1.0f;
        const uint4 packed = reinterpret_cast<const uint4*>(y + int64_t{row} * hidden)[v];
        const __nv_bfloat162* pairs = reinterpret_cast<const __nv_bfloat162*>(&packed);
#pragma unroll
        for (int p = 0; p < 4; ++p) {
          const float2 f = __bfloat1622float2(pairs[p]);
          acc[2 * p] += w * f.x;
          acc[2 * p + 1] += w * f.y;
        }
      }
      uint4 result;
      __nv_bfloat162* out_pairs = reinterpret_cast<__nv_bfloat162*>(&result);
#pragma unroll
      for (int p = 0; p < 4; ++p) out_pairs[p] = __floats2bfloat162_rn(acc[2 * p], acc[2 * p + 1]);
      reinterpret_cast<uint4*>(out + token * hidden)[v] = result;
    }
  } else {
    for (int h = threadIdx.x; h < hidden; h += blockDim.x) {
      float acc = 0.0f;
      for (int j = 0; j < top_k; ++j) {
        const int32_t row = token_rows[j];
        if (row < 0) continue;
        const float w = token_weights ? token_weights[j] : 1.0f;
        acc += w * __bfloat162float(y[int64_t{row} * hidden + h]);
      }
      out[token * hidden + h] = __float2bfloat16_rn(acc);
    }
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

}  // namespace

void histogram(const int32_t* keys, int64_t n, int num_bins, int32_t* counts, void* stream) {
  if (num_bins <= 0) return;
  CHECK_CUDA(cudaMemsetAsync(counts, 0, sizeof(int32_t) * num_bins, as_stream(stream)));
  if (n <= 0) return;
  const int blocks = grid_for(n, kHistogramThreads, 1024);
  if (num_bins <= kMaxSharedBins) {
    histogram_shared_kernel<<<blocks, kHistogramThreads, sizeof(int32_t) * num_bins,
                              as_stream(stream)>>>(keys, n, num_bins, counts);
  } else {
    histogram_global_kernel<<<blocks, kHistogramThreads, 0, as_stream(stream)>>>(keys, n, num_bins,
                                                                                counts);
  }
  CHECK_CUDA_LAUNCH();
}

void exclusive_scan(const int32_t* counts, int num_bins, int64_t* offsets, void* stream) {
  if (num_bins < 0) return;
  exclusive_scan_kernel<<<1, kScanThreads, 0, as_stream(stream)>>>(counts, num_bins, offsets);
  CHECK_CUDA_LAUNCH();
}

void assign_rows(const int32_t* keys, int64_t n, int num_bins, const int64_t* offsets,
                 int32_t* rows, void* stream) {
  if (n <= 0 || num_bins <= 0) return;
  assign_rows_kernel<<<num_bins, kAssignThreads, 0, as_stream(stream)>>>(keys, n, num_bins,
                                                                         offsets, rows);
  CHECK_CUDA_LAUNCH();
}

void permute_tokens(const bf16_t* x, int num_tokens, int hidden, int top_k, const int32_t* rows,
                    bf16_t* out, void* stream) {
  if (num_tokens <= 0 || hidden <= 0 || top_k <= 0) return;
  const auto* in = reinterpret_cast<const __nv_bfloat16*>(x);
  auto* dst = reinterpret_cast<__nv_bfloat16*>(out);
  if (hidden % 8 == 0 && aligned16(x) && aligned16(out))
    permute_kernel<true><<<num_tokens, kRowThreads, 0, as_stream(stream)>>>(in, hidden, top_k,
                                                                            rows, dst);
  else
    permute_kernel<false><<<num_tokens, kRowThreads, 0, as_stream(stream)>>>(in, hidden, top_k,
                                                                             rows, dst);
  CHECK_CUDA_LAUNCH();
}

void unpermute_combine(const bf16_t* y, int num_tokens, int hidden, int top_k,
                       const int32_t* rows, const float* weights, bf16_t* out, void* stream) {
  if (num_tokens <= 0 || hidden <= 0) return;
  const auto* in = reinterpret_cast<const __nv_bfloat16*>(y);
  auto* dst = reinterpret_cast<__nv_bfloat16*>(out);
  if (hidden % 8 == 0 && aligned16(y) && aligned16(out))
    unpermute_combine_kernel<true><<<num_tokens, kRowThreads, 0, as_stream(stream)>>>(
        in, hidden, top_k, rows, weights, dst);
  else
    unpermute_combine_kernel<false><<<num_tokens, kRowThreads, 0, as_stream(stream)>>>(
        in, hidden, top_k, rows, weights, dst);
  CHECK_CUDA_LAUNCH();
}

}  // namespace epbench::kernels::cuda
