// NCCL communicator (RAII) and the byte all-to-allv of expert dispatch/combine.
// No MPI here: one rank creates the unique id (nccl_unique_id()), the caller broadcasts its bytes
// over MPI (or anything else) and every rank constructs NcclComm from them. No CUDA or NCCL header
// is included: streams are cudaStream_t passed as void*.
//
// Never hang, without paying for it on every call: the communicator is *blocking* (each
// ncclGroupEnd returns ncclSuccess once the operations are enqueued, no in-progress polling), and
// a watchdog thread bounds every blocking NCCL call (init, the group end of all_to_allv,
// finalize). When a call outlives the timeout, the watchdog calls ncclCommAbort (which makes the
// blocked call return an error, thrown as std::runtime_error naming the rank and the call);
// where there is no communicator to abort yet (a peer that never joins init) or the abort does
// not free the call within a grace period, it prints one line and ends the process with status 1,
// so the launcher tears the job down. wait() polls cudaStreamQuery and ncclCommGetAsyncError
// against the same timeout, as nccl-tests does.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>

struct ncclComm;  // ncclComm_t is `struct ncclComm*` (nccl.h)

namespace epbench::comm {

inline constexpr size_t kNcclUniqueIdBytes = 128;  // NCCL_UNIQUE_ID_BYTES
using NcclUniqueIdBytes = std::array<std::byte, kNcclUniqueIdBytes>;

// ncclGetUniqueId on the calling rank (typically rank 0); broadcast the bytes to all ranks.
NcclUniqueIdBytes nccl_unique_id();

// The loaded library's version, "2.28.9" (ncclGetVersion), and the header's.
std::string nccl_version_string();
std::string nccl_header_version_string();

class NcclComm {
 public:
  static constexpr std::chrono::milliseconds kDefaultTimeout{std::chrono::minutes(5)};

  // Collective over `nranks` processes: each calls it with the same id bytes and its own rank.
  // Makes `device` current (cudaSetDevice) and binds the communicator to it. `timeout` bounds
  // every blocking call and wait (see above).
  NcclComm(std::span<const std::byte> unique_id, int nranks, int rank, int device,
           std::chrono::milliseconds timeout = kDefaultTimeout);
  // Finalizes (bounded by the timeout) and destroys; aborts instead if the communicator failed.
  ~NcclComm();
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  int rank() const { return rank_; }
  int size() const { return nranks_; }
  int device() const { return device_; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  bool aborted() const { return aborted_.load(); }
  ncclComm* handle() const { return comm_; }

  // All-to-allv of bytes on `stream`: to each peer p, send_counts[p] bytes from
  // send + send_offsets[p]; from each peer p, recv_counts[p] bytes into recv + recv_offsets[p].
  // All spans have size() entries; send/recv are device buffers. One ncclGroupStart/End of
  // ncclSend/ncclRecv (the self part is a device-to-device copy on the same stream).
  // Enqueues and returns; call wait(stream) (or synchronize the stream) to complete.
  // Throws std::invalid_argument on mismatched sizes (send_counts[rank] != recv_counts[rank]).
  void all_to_allv(const void* send, std::span<const size_t> send_counts,
                   std::span<const size_t> send_offsets, void* recv,
                   std::span<const size_t> recv_counts, std::span<const size_t> recv_offsets,
                   void* stream);

  // Returns when all work on `stream` finished. Polls cudaStreamQuery and ncclCommGetAsyncError;
  // on an asynchronous NCCL error, a CUDA error or after timeout(), aborts the communicator and
  // throws std::runtime_error.
  void wait(void* stream);

  // ncclCommAbort; later calls throw. Safe to call twice, and from the watchdog thread.
  void abort() noexcept;

 private:
  class Watchdog;
  [[noreturn]] void fail(const std::string& message);

  ncclComm* comm_ = nullptr;
  int nranks_ = 0;
  int rank_ = 0;
  int device_ = 0;
  std::chrono::milliseconds timeout_;
  std::atomic<bool> aborted_{false};
  std::unique_ptr<Watchdog> watchdog_;  // declared last: stopped first
};

}  // namespace epbench::comm
