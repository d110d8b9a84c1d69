// CUDA backend: devices, streams, buffers, cuBLAS handles, event timing and L2 flushing, as
// small RAII types over opaque handles so that host code (the suite driver, tests, benchmarks)
// can use them without including cuda_runtime.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace epbench::kernels::cuda {

// ---- Devices ------------------------------------------------------------------------------------
// Number of visible devices; 0 (never an exception) when the runtime cannot talk to a driver,
// as on build machines ("CUDA driver version is insufficient for CUDA runtime version").
int cuda_device_count() noexcept;
bool cuda_device_available() noexcept;
// One line: why no device is usable ("" when one is), for skip messages.
std::string cuda_unavailable_reason();

// Local rank from an explicit value (>= 0) or else SLURM_LOCALID, OMPI_COMM_WORLD_LOCAL_RANK,
// MPI_LOCALRANKID (first one set); 0 when none is set.
int local_rank_from_environment(int explicit_local_rank = -1);
// Picks device local_rank % device_count, makes it current (cudaSetDevice) and returns it.
// Throws std::runtime_error when no device is available.
int select_device_for_local_rank(int explicit_local_rank = -1);
void set_device(int device);
int current_device();
// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)".
std::string device_description(int device);
// "cudart 13000, driver 13000, cuBLAS 130100"; driver part omitted when there is no driver.
std::string cuda_versions();
size_t l2_cache_bytes(int device);
// The device's UUID as 32 hex digits (cudaDeviceProp::uuid): tells whether two ranks share a GPU
// whatever CUDA_VISIBLE_DEVICES each sees.
std::string device_uuid(int device);
// Free bytes on the current device (cudaMemGetInfo).
size_t device_free_bytes();
void device_synchronize();

// ---- RAII handles (move-only) -------------------------------------------------------------------
class CudaStream {
 public:
  CudaStream();  // non-blocking stream on the current device
  ~CudaStream();
  CudaStream(CudaStream&& other) noexcept;
  CudaStream& operator=(CudaStream&& other) noexcept;
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  void* get() const { return stream_; }  // cudaStream_t
  void synchronize() const;

 private:
  void* stream_ = nullptr;
};

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);  // cudaMalloc; contents undefined
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return ptr_; }
  template <class T>
  T* as() const { return static_cast<T*>(ptr_); }
  size_t bytes() const { return bytes_; }
  // Synchronous copies (whole-buffer prefix of `bytes`): complete when they return, so work on
  // any stream, non-blocking ones included, sees the bytes. Not for timed regions.
  void upload(const void* host, size_t bytes);
  void download(void* host, size_t bytes) const;
  void zero();

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Page-locked host memory for asynchronous copies.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(size_t bytes);
  ~PinnedBuffer();
  PinnedBuffer(PinnedBuffer&& other) noexcept;
  PinnedBuffer& operator=(PinnedBuffer&& other) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  void* data() const { return ptr_; }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

class CublasHandle {
 public:
  CublasHandle();  // on the current device
  ~CublasHandle();
  CublasHandle(CublasHandle&& other) noexcept;
  CublasHandle& operator=(CublasHandle&& other) noexcept;
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  void* get() const { return handle_; }  // cublasHandle_t

 private:
  void* handle_ = nullptr;
};

// Asynchronous copies on a stream (pinned host memory for true asynchrony).
void copy_async(void* dst, const void* src, size_t bytes, void* stream);  // cudaMemcpyDefault
void memset_async(void* dst, int value, size_t bytes, void* stream);

// ---- Timing -------------------------------------------------------------------------------------
// A pair of CUDA events: start(stream) ... stop(stream); elapsed_ms() waits for the stop event.
class EventTimer {
 public:
  EventTimer();
  ~EventTimer();
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;
  void start(void* stream);
  void stop(void* stream);
  double elapsed_ms() const;

 private:
  void* start_ = nullptr;
  void* stop_ = nullptr;
};

// Evicts the L2 between benchmark samples by writing a buffer twice the L2 size.
class L2Flusher {
 public:
  explicit L2Flusher(int device);
  void flush(void* stream);

 private:
  DeviceBuffer buffer_;
};

}  // namespace epbench::kernels::cuda
