// Layer-parallel helper; see parallel.hpp.
#include "placement/parallel.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace epbench {
namespace {

// Workers started on first use and kept between calls. A call publishes its function, then
// one ticket word (generation << 32 | number of workers taking part), runs worker 0 itself and
// waits until the others are done. Waking a blocked thread costs tens of microseconds in a VM
// (as much as a whole EPLB call on a 58-layer model), so after a job a worker spins for kSpin
// before it blocks on the condition variable, and the caller spins as long for the others to
// finish: back-to-back calls (EPLB's layers, then its Placement's tables) find the workers
// awake. A worker a call does not need goes straight back to blocking. Idle, workers use no
// core.
constexpr auto kSpin = std::chrono::microseconds(200);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins until ready() or kSpin has passed; returns ready().
template <class Ready>
bool spin_until(Ready ready) {
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  for (int i = 1;; ++i) {
    if (ready()) return true;
    cpu_relax();
    if (i % 64 == 0 && std::chrono::steady_clock::now() > deadline) return ready();
  }
}

// Set on the pool's threads, and on a caller while it runs a call: a call from there (from
// inside fn) runs on its own thread instead of waiting for the pool it is part of.
thread_local bool in_pool = false;

class WorkerPool {
 public:
  // Runs fn(w) for w in [0, n): w = 0 on the caller, the rest on pool threads (on the caller
  // too, after its own, for any the system would not start).
  void run(int n, const std::function<void(int)>& fn) {
    std::vector<std::exception_ptr> errors(n);
    int helpers = 0;  // pool threads taking part: workers 1..helpers
    {
      std::lock_guard lock(mutex_);
      try {
        while (static_cast<int>(threads_.size()) < n - 1) {
          const int w = static_cast<int>(threads_.size()) + 1;
          threads_.emplace_back([this, w] { loop(w); });
        }
      } catch (const std::system_error&) {
        // no more threads: the caller runs the rest
      }
      helpers = std::min(n - 1, static_cast<int>(threads_.size()));
      job_ = &fn;
      errors_ = &errors;
      pending_.store(helpers, std::memory_order_relaxed);
      // One word, so a worker reads the generation and who takes part together; the release
      // publishes job_, errors_ and pending_ with it. Only run() stores it, under the mutex.
      const uint64_t generation = (ticket_.load(std::memory_order_relaxed) >> 32) + 1;
      ticket_.store((generation << 32) | uint32_t(helpers + 1), std::memory_order_release);
    }
    wake_.notify_all();
    in_pool = true;
    for (int w = 0; w < n; w = (w == 0 ? helpers + 1 : w + 1)) {
      try {
        fn(w);
      } catch (...) {
        errors[w] = std::current_exception();
      }
    }
    in_pool = false;
    auto finished = [this] { return pending_.load(std::memory_order_acquire) == 0; };
    if (!spin_until(finished)) {
      std::unique_lock lock(mutex_);
      done_.wait(lock, finished);
    }
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
  }

 private:
  [[noreturn]] void loop(int w) {
    in_pool = true;
    uint64_t seen = 0;
    bool spin = false;  // only right after a job: the next call is likely close behind
    for (;;) {
      uint64_t ticket = 0;
      auto posted = [&] {
        ticket = ticket_.load(std::memory_order_acquire);
        return ticket != seen;
      };
      if (!(spin && spin_until(posted))) {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, posted);
      }
      seen = ticket;
      spin = w < static_cast<int>(ticket & 0xFFFFFFFFu);
      if (!spin) continue;  // this call needs fewer workers
      try {
        (*job_)(w);
      } catch (...) {
        (*errors_)[w] = std::current_exception();
      }
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard lock(mutex_);  // the caller is spinning, or waiting under the mutex
        done_.notify_one();
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> threads_;
  // Written by run() before the ticket is published, read by the workers a ticket names.
  const std::function<void(int)>* job_ = nullptr;
  std::vector<std::exception_ptr>* errors_ = nullptr;
  std::atomic<uint64_t> ticket_{0};
  std::atomic<int> pending_{0};
};

// One pool per process, never destroyed: its threads block forever and end with the process
// (destroying a condition variable with waiters is undefined). A forked child has none of the
// parent's threads: it starts its own pool.
WorkerPool* the_pool = nullptr;
WorkerPool& pool() {
  static const bool registered = [] {
    pthread_atfork(nullptr, nullptr, [] { the_pool = nullptr; });
    return true;
  }();
  (void)registered;
  if (!the_pool) the_pool = new WorkerPool;
  return *the_pool;
}
// One call at a time uses the pool; another thread's concurrent call runs on its own thread.
std::mutex& pool_user() {
  static auto* m = new std::mutex;
  return *m;
}

}  // namespace

int placement_threads(int requested, int num_layers, double work_per_layer) {
  // Below ~20k operations per worker waking a worker (a few microseconds) outweighs the gain.
  constexpr double kMinWorkPerThread = 20000.0;
  int threads = requested > 0 ? requested
                              : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const double total = work_per_layer * std::max(num_layers, 1);
  if (requested <= 0)
    threads = std::min<double>(threads, std::max(1.0, total / kMinWorkPerThread));
  return std::clamp(threads, 1, std::max(num_layers, 1));
}

void for_layer_ranges(int num_layers, int num_threads,
                      const std::function<void(int worker, int first, int end)>& fn) {
  num_threads = std::clamp(num_threads, 1, std::max(num_layers, 1));
  auto range = [&](int w) {
    return std::pair{int(int64_t(num_layers) * w / num_threads),
                     int(int64_t(num_layers) * (w + 1) / num_threads)};
  };
  // One range on the caller when one is asked for, when the call comes from inside the pool
  // (fn calling this again), or when another thread is using the pool.
  std::unique_lock user(pool_user(), std::defer_lock);
  if (num_threads == 1 || in_pool || !user.try_lock()) {
    fn(0, 0, num_layers);
    return;
  }
  pool().run(num_threads, [&](int w) {
    auto [first, end] = range(w);
    fn(w, first, end);
  });
}

}  // namespace epbench
