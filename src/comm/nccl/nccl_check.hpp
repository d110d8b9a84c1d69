// CHECK_NCCL: captures the call text and file:line and throws std::runtime_error with NCCL's
// error string; CHECK_NCCL_NOEXCEPT prints instead (destructors). ncclInProgress (only a
// non-blocking communicator answers it; NcclComm's is blocking) is not treated as an error.
// Internal to src/comm/nccl (includes nccl.h).
#pragma once

#include <nccl.h>

#include <string>

namespace epbench::comm::nccl_detail {

[[noreturn]] void throw_nccl_error(ncclResult_t status, const char* call, const char* file,
                                   int line);
void report_nccl_error(ncclResult_t status, const char* call, const char* file, int line) noexcept;

}  // namespace epbench::comm::nccl_detail

#define CHECK_NCCL(call)                                                                      \
  do {                                                                                        \
    const ncclResult_t epbench_nccl_status_ = (call);                                         \
    if (epbench_nccl_status_ != ncclSuccess && epbench_nccl_status_ != ncclInProgress)        \
      ::epbench::comm::nccl_detail::throw_nccl_error(epbench_nccl_status_, #call, __FILE__,   \
                                                     __LINE__);                               \
  } while (0)

#define CHECK_NCCL_NOEXCEPT(call)                                                             \
  do {                                                                                        \
    const ncclResult_t epbench_nccl_status_ = (call);                                         \
    if (epbench_nccl_status_ != ncclSuccess && epbench_nccl_status_ != ncclInProgress)        \
      ::epbench::comm::nccl_detail::report_nccl_error(epbench_nccl_status_, #call, __FILE__,  \
                                                      __LINE__);                              \
  } while (0)
