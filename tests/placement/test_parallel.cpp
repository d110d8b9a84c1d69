// The layer-parallel helper (a persistent worker pool) and the tables Placement derives on it.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "placement/parallel.hpp"
#include "placement/placement.hpp"

namespace {

using epbench::for_layer_ranges;

// Every layer is visited exactly once, by the worker that owns its range, for any thread count
// and over many calls (the pool's threads are reused).
TEST(LayerRanges, EveryLayerOnceForAnyThreadCount) {
  for (int round = 0; round < 50; ++round)
    for (int layers : {1, 3, 58})
      for (int threads : {1, 2, 3, 5}) {
        std::vector<std::atomic<int>> visits(layers);
        std::vector<int> owner(layers, -1);
        for_layer_ranges(layers, threads, [&](int worker, int first, int end) {
          for (int l = first; l < end; ++l) {
            ++visits[l];
            owner[l] = worker;
          }
        });
        for (int l = 0; l < layers; ++l) {
          ASSERT_EQ(visits[l].load(), 1) << layers << " layers, " << threads << " threads";
          if (l > 0) ASSERT_GE(owner[l], owner[l - 1]);  // contiguous ranges, in worker order
        }
      }
}

// A worker's exception reaches the caller after all workers finish; the pool still works.
TEST(LayerRanges, WorkerExceptionIsRethrownAndPoolStaysUsable) {
  std::atomic<int> finished{0};
  EXPECT_THROW(for_layer_ranges(8, 4,
                                [&](int worker, int, int) {
                                  if (worker == 2) throw std::runtime_error("layer failed");
                                  ++finished;
                                }),
               std::runtime_error);
  EXPECT_EQ(finished.load(), 3);
  std::atomic<int> layers{0};
  for_layer_ranges(8, 4, [&](int, int first, int end) { layers += end - first; });
  EXPECT_EQ(layers.load(), 8);
}

// Two callers at once, and a call from inside a worker, complete (one runs on its caller).
TEST(LayerRanges, ConcurrentAndNestedCallsComplete) {
  auto count_layers = [](int n) {
    std::atomic<int> seen{0};
    for_layer_ranges(n, 2, [&](int, int first, int end) {
      for (int l = first; l < end; ++l) ++seen;
    });
    return seen.load();
  };
  std::atomic<int> bad{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 3; ++c)
    callers.emplace_back([&] {
      for (int i = 0; i < 200; ++i) bad += count_layers(17) != 17;
    });
  for (auto& t : callers) t.join();
  EXPECT_EQ(bad.load(), 0);
  std::atomic<int> inner{0};
  for_layer_ranges(4, 2, [&](int, int first, int end) {
    for (int l = first; l < end; ++l) inner += count_layers(5);
  });
  EXPECT_EQ(inner.load(), 20);
}

// Tables derived on several threads equal those derived on one; a bad entry is reported the
// same way (the first bad layer's message).
TEST(Placement, ThreadCountDoesNotChangeTheTables) {
  const int layers = 41, experts = 24, slots = 40;
  std::mt19937 rng(3);
  std::vector<int32_t> phy2log;
  for (int l = 0; l < layers; ++l) {
    for (int e = 0; e < experts; ++e) phy2log.push_back(e);
    for (int s = experts; s < slots; ++s) phy2log.push_back(int32_t(rng() % experts));
  }
  const epbench::Placement one(layers, experts, 8, 2, phy2log, 1);
  const epbench::Placement four(layers, experts, 8, 2, phy2log, 4);
  EXPECT_EQ(one, four);
  EXPECT_EQ(one.max_replicas(), four.max_replicas());
  one.validate();
  phy2log[size_t(30) * slots + 7] = experts;  // out of range in layers 30 and 35
  phy2log[size_t(35) * slots + 1] = -1;
  auto message = [&](int threads) {
    try {
      epbench::Placement(layers, experts, 8, 2, phy2log, threads);
    } catch (const std::logic_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(1).find("slot 7 of layer 30"), std::string::npos) << message(1);
  EXPECT_EQ(message(4), message(1));
}

}  // namespace
