// NcclComm: a blocking NCCL communicator whose blocking calls a watchdog thread bounds, and
// whose waits poll against the same timeout (see nccl_comm.hpp).
#include "comm/nccl/nccl_comm.hpp"

#include <cuda_runtime.h>
#include <nccl.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "comm/nccl/nccl_check.hpp"
#include "cuda/cuda_check.hpp"

namespace epbench::comm {
namespace nccl_detail {

void throw_nccl_error(ncclResult_t status, const char* call, const char* file, int line) {
  char host[256] = "?";
  gethostname(host, sizeof host - 1);
  throw std::runtime_error("NCCL error in " + std::string(call) + " (" + file + ":" +
                           std::to_string(line) + " on " + host +
                           "): " + ncclGetErrorString(status));
}

void report_nccl_error(ncclResult_t status, const char* call, const char* file, int line) noexcept {
  std::fprintf(stderr, "epbench: NCCL error in %s at %s:%d: %s\n", call, file, line,
               ncclGetErrorString(status));
}

}  // namespace nccl_detail

namespace {

using Clock = std::chrono::steady_clock;

long long elapsed_ms(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

std::string version_text(int code) {
  // NCCL_VERSION(X,Y,Z) = X*10000 + Y*100 + Z since 2.9 (X*1000 + Y*100 + Z before).
  if (code >= 10000)
    return std::to_string(code / 10000) + "." + std::to_string(code % 10000 / 100) + "." +
           std::to_string(code % 100);
  return std::to_string(code / 1000) + "." + std::to_string(code % 1000 / 100) + "." +
         std::to_string(code % 100);
}

}  // namespace

NcclUniqueIdBytes nccl_unique_id() {
  static_assert(sizeof(ncclUniqueId) == kNcclUniqueIdBytes, "NCCL unique id size changed");
  ncclUniqueId id;
  CHECK_NCCL(ncclGetUniqueId(&id));
  NcclUniqueIdBytes bytes;
  std::memcpy(bytes.data(), &id, sizeof id);
  return bytes;
}

std::string nccl_version_string() {
  int code = 0;
  CHECK_NCCL(ncclGetVersion(&code));
  return version_text(code);
}

std::string nccl_header_version_string() {
  return std::to_string(NCCL_MAJOR) + "." + std::to_string(NCCL_MINOR) + "." +
         std::to_string(NCCL_PATCH);
}

// Bounds one blocking NCCL call at a time: arm() before the call, disarm() after. On expiry it
// aborts the communicator (the blocked call then returns an error); with no communicator yet, or
// when the call is still blocked after a grace period, it ends the process (status 1).
class NcclComm::Watchdog {
 public:
  explicit Watchdog(NcclComm& owner) : owner_(owner), thread_([this] { loop(); }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Scope of one blocking call.
  class Scope {
   public:
    Scope(Watchdog& dog, const char* what) : dog_(dog) { dog_.arm(what); }
    ~Scope() { dog_.disarm(); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
    bool expired() const { return dog_.expired(); }

   private:
    Watchdog& dog_;
  };

 private:
  using Clock = std::chrono::steady_clock;

  void arm(const char* what) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      what_ = what;
      deadline_ = Clock::now() + owner_.timeout_;
      armed_ = true;
      expired_ = false;
    }
    wake_.notify_all();
  }
  void disarm() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      armed_ = false;
    }
    wake_.notify_all();
  }
  bool expired() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return expired_;
  }

  void loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_) {
      if (!armed_) {
        wake_.wait(lock);
        continue;
      }
      wake_.wait_until(lock, deadline_);
      if (stop_ || !armed_ || Clock::now() < deadline_) continue;
      expired_ = true;
      const std::string what = what_;
      lock.unlock();
      const bool has_comm = owner_.comm_ != nullptr;
      std::fprintf(stderr,
                   "epbench: NCCL rank %d/%d (device %d): %s did not finish within %lld ms "
                   "(a peer died or never joined, or ranks share a GPU); %s\n",
                   owner_.rank_, owner_.nranks_, owner_.device_, what.c_str(),
                   static_cast<long long>(owner_.timeout_.count()),
                   has_comm ? "aborting the communicator" : "exiting");
      if (!has_comm) std::_Exit(1);
      owner_.abort();
      lock.lock();
      const auto grace_end =
          Clock::now() + std::min<Clock::duration>(owner_.timeout_, std::chrono::seconds(30));
      while (!stop_ && armed_ && Clock::now() < grace_end) wake_.wait_until(lock, grace_end);
      if (!stop_ && armed_) {
        std::fprintf(stderr, "epbench: NCCL rank %d/%d: %s still blocked after the abort; exiting\n",
                     owner_.rank_, owner_.nranks_, what.c_str());
        std::_Exit(1);
      }
    }
  }

  NcclComm& owner_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false, armed_ = false, expired_ = false;
  std::string what_;
  Clock::time_point deadline_{};
  std::thread thread_;  // last: starts after every member above is initialized
};

NcclComm::NcclComm(std::span<const std::byte> unique_id, int nranks, int rank, int device,
                   std::chrono::milliseconds timeout)
    : nranks_(nranks), rank_(rank), device_(device), timeout_(timeout) {
  if (unique_id.size() != kNcclUniqueIdBytes)
    throw std::invalid_argument("NcclComm: unique id has " + std::to_string(unique_id.size()) +
                                " bytes, expected " + std::to_string(kNcclUniqueIdBytes));
  if (nranks <= 0 || rank < 0 || rank >= nranks)
    throw std::invalid_argument("NcclComm: rank " + std::to_string(rank) + " outside 0.." +
                                std::to_string(nranks - 1));
  if (timeout.count() <= 0) throw std::invalid_argument("NcclComm: timeout must be positive");
  CHECK_CUDA(cudaSetDevice(device));
  ncclUniqueId id;
  std::memcpy(&id, unique_id.data(), sizeof id);
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 1;  // no in-progress polling per call; the watchdog bounds blocking calls
  watchdog_ = std::make_unique<Watchdog>(*this);
  ncclComm_t comm = nullptr;
  ncclResult_t status;
  {
    Watchdog::Scope scope(*watchdog_, "ncclCommInitRankConfig");
    status = ncclCommInitRankConfig(&comm, nranks, id, rank, &config);
  }
  comm_ = comm;
  if (status != ncclSuccess)
    fail(std::string("ncclCommInitRankConfig: ") + ncclGetErrorString(status) + " (" +
         (comm ? ncclGetLastError(comm) : ncclGetLastError(nullptr)) + ")");
}

NcclComm::~NcclComm() {
  if (comm_ != nullptr && !aborted_) {
    // Finalize flushes outstanding operations (blocking, bounded by the watchdog), then destroy.
    ncclResult_t status;
    {
      Watchdog::Scope scope(*watchdog_, "ncclCommFinalize");
      status = ncclCommFinalize(comm_);
    }
    if (status != ncclSuccess || aborted_) {
      std::fprintf(stderr, "epbench: NCCL rank %d: finalize failed (%s); aborting\n", rank_,
                   ncclGetErrorString(status));
      abort();
    } else {
      CHECK_NCCL_NOEXCEPT(ncclCommDestroy(comm_));
    }
  }
  watchdog_.reset();
}

void NcclComm::abort() noexcept {
  if (aborted_.exchange(true)) return;
  if (comm_ != nullptr) CHECK_NCCL_NOEXCEPT(ncclCommAbort(comm_));
}

void NcclComm::fail(const std::string& message) {
  abort();
  throw std::runtime_error("NCCL rank " + std::to_string(rank_) + "/" + std::to_string(nranks_) +
                           " (device " + std::to_string(device_) + "): " + message +
                           "; communicator aborted");
}

void NcclComm::all_to_allv(const void* send, std::span<const size_t> send_counts,
                           std::span<const size_t> send_offsets, void* recv,
                           std::span<const size_t> recv_counts,
                           std::span<const size_t> recv_offsets, void* stream) {
  if (aborted_) throw std::runtime_error("NcclComm::all_to_allv on an aborted communicator");
  const size_t n = static_cast<size_t>(nranks_);
  if (send_counts.size() != n || send_offsets.size() != n || recv_counts.size() != n ||
      recv_offsets.size() != n)
    throw std::invalid_argument("NcclComm::all_to_allv: counts/offsets need " +
                                std::to_string(n) + " entries (one per rank)");
  if (send_counts[rank_] != recv_counts[rank_])
    throw std::invalid_argument("NcclComm::all_to_allv: rank " + std::to_string(rank_) +
                                " sends itself " + std::to_string(send_counts[rank_]) +
                                " bytes but expects " + std::to_string(recv_counts[rank_]));
  const auto* send_bytes = static_cast<const char*>(send);
  auto* recv_bytes = static_cast<char*>(recv);
  cudaStream_t s = static_cast<cudaStream_t>(stream);

  if (recv_counts[rank_] > 0)
    CHECK_CUDA(cudaMemcpyAsync(recv_bytes + recv_offsets[rank_], send_bytes + send_offsets[rank_],
                               recv_counts[rank_], cudaMemcpyDeviceToDevice, s));
  // Every call inside the group is issued even after a failure so the group is always closed;
  // the first failure is reported afterwards.
  std::string first_error;
  auto note = [&](ncclResult_t status, const char* call, int peer) {
    if (status != ncclSuccess && first_error.empty())
      first_error = std::string(call) + " (peer " + std::to_string(peer) +
                    "): " + ncclGetErrorString(status);
  };
  bool expired = false;
  {
    // The group end blocks while connections are set up (first exchange with a peer).
    Watchdog::Scope scope(*watchdog_, "all_to_allv (ncclGroupEnd)");
    note(ncclGroupStart(), "ncclGroupStart", rank_);
    for (int peer = 0; peer < nranks_; ++peer) {
      if (peer == rank_) continue;
      if (send_counts[peer] > 0)
        note(ncclSend(send_bytes + send_offsets[peer], send_counts[peer], ncclUint8, peer, comm_, s),
             "ncclSend", peer);
      if (recv_counts[peer] > 0)
        note(ncclRecv(recv_bytes + recv_offsets[peer], recv_counts[peer], ncclUint8, peer, comm_, s),
             "ncclRecv", peer);
    }
    note(ncclGroupEnd(), "ncclGroupEnd", rank_);
    expired = scope.expired();
  }
  if (expired) fail("all_to_allv timed out after " + std::to_string(timeout_.count()) + " ms");
  if (!first_error.empty()) fail("all_to_allv: " + first_error);
}

void NcclComm::wait(void* stream) {
  if (aborted_) throw std::runtime_error("NcclComm::wait on an aborted communicator");
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  // Fast path: already complete (the common case after a synchronizing step).
  const auto start = Clock::now();
  for (;;) {
    const cudaError_t done = cudaStreamQuery(s);
    if (done == cudaSuccess) return;
    if (done != cudaErrorNotReady) {
      cudaGetLastError();
      fail(std::string("cudaStreamQuery: ") + cudaGetErrorName(done) + ": " +
           cudaGetErrorString(done));
    }
    ncclResult_t state = ncclSuccess;
    const ncclResult_t query = ncclCommGetAsyncError(comm_, &state);
    if (query != ncclSuccess) fail(std::string("ncclCommGetAsyncError: ") + ncclGetErrorString(query));
    if (state != ncclSuccess)
      fail(std::string("asynchronous NCCL error: ") + ncclGetErrorString(state));
    if (elapsed_ms(start) > timeout_.count())
      fail("timed out after " + std::to_string(elapsed_ms(start)) +
           " ms waiting for the stream (a peer may have died or not joined)");
    std::this_thread::yield();
  }
}

}  // namespace epbench::comm
