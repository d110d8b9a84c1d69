// Layer-parallel helper; see parallel.hpp.
#include "placement/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <pthread.h>
#include <thread>
#include <vector>

namespace epbench {
namespace {

// Workers started on first use and kept between calls. A call publishes its function and
// worker count, bumps the generation, runs worker 0 itself and waits until the others are done.
// Waking a blocked thread costs tens of microseconds in a VM (as much as a whole EPLB call on a
// 58-layer model), so after a job a worker spins for kSpin before it blocks on the condition
// variable, and the caller spins as long for the others to finish: back-to-back calls (EPLB's
// layers, then its Placement's tables) find the workers awake. Idle beyond that, workers block
// and use no core.
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

class WorkerPool {
 public:
  // Runs fn(w) for w in [0, n): w = 0 on the caller, the rest on pool threads.
  void run(int n, const std::function<void(int)>& fn) {
    std::vector<std::exception_ptr> errors(n);
    {
      std::lock_guard lock(mutex_);
      while (static_cast<int>(threads_.size()) < n - 1) {
        const int w = static_cast<int>(threads_.size()) + 1;
        threads_.emplace_back([this, w] { loop(w); });
      }
      job_ = &fn;
      errors_ = &errors;
      active_.store(n, std::memory_order_relaxed);
      pending_.store(n - 1, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);  // publishes the fields above
    }
    wake_.notify_all();
    try {
      fn(0);
    } catch (...) {
      errors[0] = std::current_exception();
    }
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
    uint64_t seen = 0;
    for (;;) {
      auto posted = [&] { return generation_.load(std::memory_order_acquire) != seen; };
      if (!spin_until(posted)) {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, posted);
      }
      seen = generation_.load(std::memory_order_acquire);
      if (w >= active_.load(std::memory_order_relaxed)) continue;  // this call needs fewer workers
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
  // Written by run() before the generation is bumped, read by workers after they see it.
  const std::function<void(int)>* job_ = nullptr;
  std::vector<std::exception_ptr>* errors_ = nullptr;
  std::atomic<int> active_{0};
  std::atomic<int> pending_{0};
  std::atomic<uint64_t> generation_{0};
};

// One pool per process, never destroyed: its threads block forever and end with the process
// (destroying a condition variable with waiters is undefined). Concurrent callers take turns.
// A forked child has none of the parent's threads: it starts its own pool.
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
  // One range on the caller when one is asked for, or when another thread (or this one, from
  // inside fn) is using the pool.
  std::unique_lock user(pool_user(), std::defer_lock);
  if (num_threads == 1 || !user.try_lock()) {
    fn(0, 0, num_layers);
    return;
  }
  pool().run(num_threads, [&](int w) {
    auto [first, end] = range(w);
    fn(w, first, end);
  });
}

}  // namespace epbench
