// Error checking for the CUDA backend: CHECK_CUDA / CHECK_CUBLAS capture the call text,
// file:line, host and current device, and throw std::runtime_error. The *_NOEXCEPT variants
// print to stderr instead, for destructors. Internal to the backend and its tests/benchmarks:
// it includes cuda_runtime.h and cublas_api.h, which the public launcher headers never do.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

namespace epbench::kernels::cuda_detail {

// "what (file:line on host, device d): message"; never throws while formatting.
std::string error_context(const char* call, const char* file, int line);
[[noreturn]] void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* call, const char* file,
                                     int line);
void report_cuda_error(cudaError_t status, const char* call, const char* file, int line) noexcept;
void report_cublas_error(cublasStatus_t status, const char* call, const char* file,
                         int line) noexcept;

}  // namespace epbench::kernels::cuda_detail

#define CHECK_CUDA(call)                                                                      \
  do {                                                                                        \
    const cudaError_t epbench_status_ = (call);                                               \
    if (epbench_status_ != cudaSuccess)                                                       \
      ::epbench::kernels::cuda_detail::throw_cuda_error(epbench_status_, #call, __FILE__,     \
                                                        __LINE__);                            \
  } while (0)

#define CHECK_CUDA_NOEXCEPT(call)                                                             \
  do {                                                                                        \
    const cudaError_t epbench_status_ = (call);                                               \
    if (epbench_status_ != cudaSuccess)                                                       \
      ::epbench::kernels::cuda_detail::report_cuda_error(epbench_status_, #call, __FILE__,    \
                                                         __LINE__);                           \
  } while (0)

// After a kernel launch: catches bad launch configurations (not asynchronous faults).
#define CHECK_CUDA_LAUNCH() CHECK_CUDA(cudaGetLastError())

#define CHECK_CUBLAS(call)                                                                    \
  do {                                                                                        \
    const cublasStatus_t epbench_status_ = (call);                                            \
    if (epbench_status_ != CUBLAS_STATUS_SUCCESS)                                             \
      ::epbench::kernels::cuda_detail::throw_cublas_error(epbench_status_, #call, __FILE__,   \
                                                          __LINE__);                          \
  } while (0)

#define CHECK_CUBLAS_NOEXCEPT(call)                                                           \
  do {                                                                                        \
    const cublasStatus_t epbench_status_ = (call);                                            \
    if (epbench_status_ != CUBLAS_STATUS_SUCCESS)                                             \
      ::epbench::kernels::cuda_detail::report_cublas_error(epbench_status_, #call, __FILE__,  \
                                                           __LINE__);                         \
  } while (0)
