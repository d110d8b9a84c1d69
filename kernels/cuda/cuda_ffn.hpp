// CUDA GroupedFfn: per-(layer, slot) bf16 weights resident on one device; SwiGLU over all local
// slots with two grouped GEMMs (cublasGemmGroupedBatchedEx, bf16 in/out, fp32 compute) around a
// fused SiLU·mul kernel. forward() follows the host-buffer API of expert_ffn.hpp (pinned staging
// inside); forward_device() is the suite's path for data already on the GPU.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "../expert_ffn.hpp"

namespace epbench::kernels {

// The factory kernels/backend.hpp calls (declared there too under EPBENCH_HAVE_CUDA).
// `device` < 0: the current device.
std::unique_ptr<GroupedFfn> make_cuda_ffn(FfnShape shape, int num_layers, int num_slots,
                                          int device);

namespace cuda {

// How the per-slot GEMMs are issued. kGrouped: one cublasGemmGroupedBatchedEx per GEMM stage;
// kPerSlot: one cublasGemmEx per non-empty slot on the same stream; kAuto: grouped, falling back
// to per-slot for good if cuBLAS answers CUBLAS_STATUS_NOT_SUPPORTED.
enum class GemmMode { kAuto, kGrouped, kPerSlot };
const char* gemm_mode_name(GemmMode mode);

class CudaGroupedFfn final : public GroupedFfn {
 public:
  CudaGroupedFfn(FfnShape shape, int num_layers, int num_slots, int device,
                 GemmMode mode = GemmMode::kAuto);
  ~CudaGroupedFfn() override;
  CudaGroupedFfn(const CudaGroupedFfn&) = delete;
  CudaGroupedFfn& operator=(const CudaGroupedFfn&) = delete;

  std::string backend() const override { return "cuda"; }
  FfnShape shape() const override;
  int num_layers() const override;
  int num_slots() const override;
  int device() const;
  // The mode actually used by the last forward ("grouped" or "per-slot").
  GemmMode gemm_mode() const;

  // Complete when they return; ordered after any forward enqueued before (on any stream).
  void set_slot_weights(int layer, int slot, const bf16_t* weights) override;
  void get_slot_weights(int layer, int slot, bf16_t* out) const override;
  // Device pointer to one slot's weights (3·H·F bf16, layout of expert_ffn.hpp).
  const bf16_t* slot_weights_device(int layer, int slot) const;

  // Allocates the GEMM workspaces (G, H), the host-path staging buffers and the reference GEMM's
  // buffers for up to `max_total_rows` rows (capped at half the free device memory); grow-only.
  // Call before timing.
  void reserve_rows(int64_t max_total_rows) override;

  // Host buffers; synchronous (see GroupedFfn::forward).
  void forward(int layer, const bf16_t* x, std::span<const int64_t> slot_offsets,
               bf16_t* y) override;

  // Device buffers x, y: [slot_offsets_host[num_slots]][H] bf16, grouped by slot as in
  // forward(). Enqueued on `stream` (a cudaStream_t; nullptr = default stream); returns without
  // waiting. slot_offsets_host is read before returning. Not thread-safe per object.
  // = prepare_device + run_prepared.
  void forward_device(int layer, const void* x_dev, const int64_t* slot_offsets_host, void* y_dev,
                      void* stream);
  // The host half of forward_device: checks the offsets, builds the GEMM groups and enqueues the
  // upload of the per-slot pointer arrays on `stream` (from a pinned mirror). Allocates only if
  // reserve_rows() did not cover the rows.
  void prepare_device(int layer, const void* x_dev, const int64_t* slot_offsets_host, void* y_dev,
                      void* stream);
  // The device half: enqueues the two GEMM stages and SiLU·mul of the last prepare_device on
  // `stream` (the same stream, or one ordered after it). No allocation, copy or host wait.
  void run_prepared(void* stream);

  // cuBLAS bf16 GEMMs (fp32 accumulate) of the same per-slot shapes on separate weights, timed
  // with CUDA events on the FFN's own stream after it waited for the last forward; buffers are
  // allocated (and filled with random values) before the timed region. Seconds.
  double reference_gemm_seconds(std::span<const int64_t> slot_offsets) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cuda
}  // namespace epbench::kernels
