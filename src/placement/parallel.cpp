// Layer-parallel helper; see parallel.hpp.
#include "placement/parallel.hpp"

#include <algorithm>
#include <exception>
#include <thread>
#include <vector>

namespace epbench {

int placement_threads(int requested, int num_layers, double work_per_layer) {
  // Below ~20k operations per worker the thread start (~20-50 us) outweighs the gain.
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
  if (num_threads == 1) {
    fn(0, 0, num_layers);
    return;
  }
  std::vector<std::exception_ptr> errors(num_threads);
  std::vector<std::thread> workers;
  workers.reserve(num_threads - 1);
  for (int w = 1; w < num_threads; ++w)
    workers.emplace_back([&, w] {
      try {
        auto [first, end] = range(w);
        fn(w, first, end);
      } catch (...) {
        errors[w] = std::current_exception();
      }
    });
  try {
    auto [first, end] = range(0);
    fn(0, first, end);
  } catch (...) {
    errors[0] = std::current_exception();
  }
  for (auto& t : workers) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace epbench
