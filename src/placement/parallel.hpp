// Layers of a placement problem are independent: this runs a per-layer function over layer
// ranges on a pool of threads kept between calls: after a job they spin for 200 us (the next
// call is often right behind), then block and use no core. `run` and `simulate` place on one
// thread (the ranks share the cores) and never start the pool. Each worker gets one contiguous
// range of layers, so per-worker scratch buffers need no locking, and the result is the same
// for any thread count when each layer's output depends only on that layer.
#pragma once

#include <functional>

namespace epbench {

// Threads to use for `num_layers` layers of `work_per_layer` (rough operation count) each when
// the caller asked for `requested` (0 = one per hardware thread). Small problems get 1: a
// thread start costs tens of microseconds.
int placement_threads(int requested, int num_layers, double work_per_layer);

// Calls fn(worker, first_layer, end_layer) for num_threads disjoint ranges covering
// [0, num_layers); worker 0 runs on the calling thread. An exception thrown by any worker is
// rethrown here after all have finished. One call at a time uses the pool: a call made while
// another thread's is running, or from inside fn, runs all its layers on its own thread
// (worker 0). Ranges whose thread the system will not start run on the caller.
void for_layer_ranges(int num_layers, int num_threads,
                      const std::function<void(int worker, int first, int end)>& fn);

}  // namespace epbench
