// Devices, RAII handles, timing, L2 flush and the CHECK_* error reporting of the CUDA backend.
#include "cuda_device.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>

#include "cuda_check.hpp"

namespace epbench::kernels::cuda_detail {

std::string error_context(const char* call, const char* file, int line) {
  char host[256] = "?";
  gethostname(host, sizeof host - 1);
  int device = -1;
  cudaGetDevice(&device);  // best effort; a failure leaves -1
  cudaGetLastError();      // do not let the probe's own error stick
  return std::string(call) + " (" + file + ":" + std::to_string(line) + " on " + host +
         ", device " + std::to_string(device) + ")";
}

void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line) {
  throw std::runtime_error("CUDA error " + std::string(cudaGetErrorName(status)) + " in " +
                           error_context(call, file, line) + ": " + cudaGetErrorString(status));
}

void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line) {
  throw std::runtime_error("cuBLAS error " + std::string(cublasGetStatusName(status)) + " in " +
                           error_context(call, file, line) + ": " +
                           cublasGetStatusString(status));
}

void report_cuda_error(cudaError_t status, const char* call, const char* file, int line) noexcept {
  std::fprintf(stderr, "epbench: CUDA error %s in %s at %s:%d: %s\n", cudaGetErrorName(status),
               call, file, line, cudaGetErrorString(status));
}

void report_cublas_error(cublasStatus_t status, const char* call, const char* file,
                         int line) noexcept {
  std::fprintf(stderr, "epbench: cuBLAS error %s in %s at %s:%d\n", cublasGetStatusName(status),
               call, file, line);
}

}  // namespace epbench::kernels::cuda_detail

namespace epbench::kernels::cuda {

int cuda_device_count() noexcept {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-less error so later calls start clean
    return 0;
  }
  return count;
}

bool cuda_device_available() noexcept { return cuda_device_count() > 0; }

std::string cuda_unavailable_reason() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();
    return std::string("no CUDA device: ") + cudaGetErrorString(status);
  }
  if (count == 0) return "no CUDA device: none visible";
  return "";
}

int local_rank_from_environment(int explicit_local_rank) {
  if (explicit_local_rank >= 0) return explicit_local_rank;
  for (const char* name : {"SLURM_LOCALID", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID"}) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') continue;
    char* end = nullptr;
    const long parsed = std::strtol(value, &end, 10);
    if (end != value && *end == '\0' && parsed >= 0) return static_cast<int>(parsed);
    throw std::runtime_error(std::string("environment variable ") + name + "=\"" + value +
                             "\" is not a non-negative integer local rank");
  }
  return 0;
}

int select_device_for_local_rank(int explicit_local_rank) {
  const int count = cuda_device_count();
  if (count <= 0) throw std::runtime_error("select_device_for_local_rank: " + cuda_unavailable_reason());
  const int device = local_rank_from_environment(explicit_local_rank) % count;
  CHECK_CUDA(cudaSetDevice(device));
  return device;
}

void set_device(int device) { CHECK_CUDA(cudaSetDevice(device)); }

int current_device() {
  int device = 0;
  CHECK_CUDA(cudaGetDevice(&device));
  return device;
}

std::string device_description(int device) {
  cudaDeviceProp prop{};
  CHECK_CUDA(cudaGetDeviceProperties(&prop, device));
  char text[512];
  std::snprintf(text, sizeof text, "%s (sm_%d%d, %d SMs, %.1f GiB)", prop.name, prop.major,
                prop.minor, prop.multiProcessorCount,
                static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
  return text;
}

std::string cuda_versions() {
  int runtime = 0, driver = 0, cublas = 0;
  cudaRuntimeGetVersion(&runtime);
  const bool have_driver = cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0;
  cudaGetLastError();
  int major = 0, minor = 0, patch = 0;
  cublasGetProperty(MAJOR_VERSION, &major);
  cublasGetProperty(MINOR_VERSION, &minor);
  cublasGetProperty(PATCH_LEVEL, &patch);
  cublas = major * 10000 + minor * 100 + patch;
  std::string text = "cudart " + std::to_string(runtime);
  if (have_driver) text += ", driver " + std::to_string(driver);
  return text + ", cuBLAS " + std::to_string(cublas);
}

size_t l2_cache_bytes(int device) {
  int bytes = 0;
  CHECK_CUDA(cudaDeviceGetAttribute(&bytes, cudaDevAttrL2CacheSize, device));
  return static_cast<size_t>(bytes);
}

std::string device_uuid(int device) {
  cudaDeviceProp prop{};
  CHECK_CUDA(cudaGetDeviceProperties(&prop, device));
  std::string hex;
  char digits[3];
  for (unsigned char byte : prop.uuid.bytes) {
    std::snprintf(digits, sizeof digits, "%02x", byte);
    hex += digits;
  }
  return hex;
}

size_t device_free_bytes() {
  size_t free_bytes = 0, total_bytes = 0;
  CHECK_CUDA(cudaMemGetInfo(&free_bytes, &total_bytes));
  return free_bytes;
}

void device_synchronize() { CHECK_CUDA(cudaDeviceSynchronize()); }

// ---- CudaStream ---------------------------------------------------------------------------------
CudaStream::CudaStream() {
  cudaStream_t stream = nullptr;
  CHECK_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  stream_ = stream;
}
CudaStream::~CudaStream() {
  if (stream_) CHECK_CUDA_NOEXCEPT(cudaStreamDestroy(static_cast<cudaStream_t>(stream_)));
}
CudaStream::CudaStream(CudaStream&& other) noexcept : stream_(std::exchange(other.stream_, nullptr)) {}
CudaStream& CudaStream::operator=(CudaStream&& other) noexcept {
  std::swap(stream_, other.stream_);
  return *this;
}
void CudaStream::synchronize() const {
  CHECK_CUDA(cudaStreamSynchronize(static_cast<cudaStream_t>(stream_)));
}

// ---- DeviceBuffer -------------------------------------------------------------------------------
DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes > 0) CHECK_CUDA(cudaMalloc(&ptr_, bytes));
}
DeviceBuffer::~DeviceBuffer() {
  if (ptr_) CHECK_CUDA_NOEXCEPT(cudaFree(ptr_));
}
DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : ptr_(std::exchange(other.ptr_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  std::swap(ptr_, other.ptr_);
  std::swap(bytes_, other.bytes_);
  return *this;
}
// upload/download/zero are complete when they return, for work on *any* stream: a pageable
// cudaMemcpy host-to-device returns once the bytes are staged (the DMA may still run) and
// cudaMemset is asynchronous, both on the legacy stream, which non-blocking streams do not wait
// for. So each synchronizes the legacy stream before returning.
void DeviceBuffer::upload(const void* host, size_t bytes) {
  if (bytes > bytes_) throw std::out_of_range("DeviceBuffer::upload: more bytes than the buffer");
  if (bytes == 0) return;
  CHECK_CUDA(cudaMemcpy(ptr_, host, bytes, cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaStreamSynchronize(cudaStreamLegacy));
}
void DeviceBuffer::download(void* host, size_t bytes) const {
  if (bytes > bytes_) throw std::out_of_range("DeviceBuffer::download: more bytes than the buffer");
  if (bytes > 0) CHECK_CUDA(cudaMemcpy(host, ptr_, bytes, cudaMemcpyDeviceToHost));
}
void DeviceBuffer::zero() {
  if (bytes_ == 0) return;
  CHECK_CUDA(cudaMemset(ptr_, 0, bytes_));
  CHECK_CUDA(cudaStreamSynchronize(cudaStreamLegacy));
}

// ---- PinnedBuffer -------------------------------------------------------------------------------
PinnedBuffer::PinnedBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes > 0) CHECK_CUDA(cudaMallocHost(&ptr_, bytes));
}
PinnedBuffer::~PinnedBuffer() {
  if (ptr_) CHECK_CUDA_NOEXCEPT(cudaFreeHost(ptr_));
}
PinnedBuffer::PinnedBuffer(PinnedBuffer&& other) noexcept
    : ptr_(std::exchange(other.ptr_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& other) noexcept {
  std::swap(ptr_, other.ptr_);
  std::swap(bytes_, other.bytes_);
  return *this;
}

// ---- CublasHandle -------------------------------------------------------------------------------
CublasHandle::CublasHandle() {
  cublasHandle_t handle = nullptr;
  CHECK_CUBLAS(cublasCreate(&handle));
  handle_ = handle;
}
CublasHandle::~CublasHandle() {
  if (handle_) CHECK_CUBLAS_NOEXCEPT(cublasDestroy(static_cast<cublasHandle_t>(handle_)));
}
CublasHandle::CublasHandle(CublasHandle&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)) {}
CublasHandle& CublasHandle::operator=(CublasHandle&& other) noexcept {
  std::swap(handle_, other.handle_);
  return *this;
}

void copy_async(void* dst, const void* src, size_t bytes, void* stream) {
  if (bytes == 0) return;
  CHECK_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, static_cast<cudaStream_t>(stream)));
}

void memset_async(void* dst, int value, size_t bytes, void* stream) {
  if (bytes == 0) return;
  CHECK_CUDA(cudaMemsetAsync(dst, value, bytes, static_cast<cudaStream_t>(stream)));
}

// ---- EventTimer ---------------------------------------------------------------------------------
EventTimer::EventTimer() {
  cudaEvent_t start = nullptr, stop = nullptr;
  CHECK_CUDA(cudaEventCreate(&start));
  const cudaError_t status = cudaEventCreate(&stop);
  if (status != cudaSuccess) {
    cudaEventDestroy(start);
    CHECK_CUDA(status);
  }
  start_ = start;
  stop_ = stop;
}
EventTimer::~EventTimer() {
  if (start_) CHECK_CUDA_NOEXCEPT(cudaEventDestroy(static_cast<cudaEvent_t>(start_)));
  if (stop_) CHECK_CUDA_NOEXCEPT(cudaEventDestroy(static_cast<cudaEvent_t>(stop_)));
}
void EventTimer::start(void* stream) {
  CHECK_CUDA(cudaEventRecord(static_cast<cudaEvent_t>(start_), static_cast<cudaStream_t>(stream)));
}
void EventTimer::stop(void* stream) {
  CHECK_CUDA(cudaEventRecord(static_cast<cudaEvent_t>(stop_), static_cast<cudaStream_t>(stream)));
}
double EventTimer::elapsed_ms() const {
  CHECK_CUDA(cudaEventSynchronize(static_cast<cudaEvent_t>(stop_)));
  float ms = 0.0f;
  CHECK_CUDA(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start_),
                                  static_cast<cudaEvent_t>(stop_)));
  return ms;
}

// ---- L2Flusher ----------------------------------------------------------------------------------
L2Flusher::L2Flusher(int device) {
  size_t bytes = 2 * l2_cache_bytes(device);
  if (bytes == 0) bytes = 256ull << 20;  // unknown L2: larger than any current part
  buffer_ = DeviceBuffer(bytes);
}
void L2Flusher::flush(void* stream) { memset_async(buffer_.data(), 0, buffer_.bytes(), stream); }

}  // namespace epbench::kernels::cuda
