// The EPLB port against a literal transcription of eplb.py (eplb_reference.hpp) on random
// shapes and tie-heavy loads: small integers, equal loads, zeros (also -0.0), powers of two
// (whose ratios tie with other loads after replication), loads whose float32 sums overflow.
// The golden cases have continuous loads, where ties are vanishingly rare; these cover the
// tie-breaking rules the optimised port has to reproduce (first maximum, lowest-index
// minimum, stable sort). The transcription itself is checked on the golden cases.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

#include "eplb_reference.hpp"
#include "placement/problem_io.hpp"

namespace {

using epbench::EplbProblem;
using epbench::testing::reference_rebalance;

enum class Loads { kContinuous, kSmallIntegers, kEqual, kMostlyZero, kPowersOfTwo, kHuge, kCount };

double draw(Loads kind, std::mt19937& rng) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  switch (kind) {
    case Loads::kContinuous:
      return 1000.0 * unit(rng);
    case Loads::kSmallIntegers:
      return std::floor(4.0 * unit(rng));
    case Loads::kEqual:
      return 7.0;
    case Loads::kMostlyZero: {
      const double u = unit(rng);
      return u < 0.4 ? 0.0 : u < 0.8 ? -0.0 : std::floor(10.0 * unit(rng));
    }
    case Loads::kPowersOfTwo:
      return std::ldexp(1.0, static_cast<int>(6.0 * unit(rng)));
    case Loads::kHuge:
      return std::numeric_limits<float>::max() * (0.25 + 0.75 * unit(rng));
    default:
      return 0.0;
  }
}

// A random valid shape: nodes x GPUs per node, groups (dividing the nodes or not), experts and
// replicas; slots per GPU from 1 to 5, so both the identity packing and the greedy one occur,
// and up to 64 GPUs per node for the many-pack path.
EplbProblem random_problem(std::mt19937& rng, Loads kind) {
  auto pick = [&](std::initializer_list<int> values) {
    return *(values.begin() + std::uniform_int_distribution<size_t>(0, values.size() - 1)(rng));
  };
  EplbProblem p;
  p.num_nodes = pick({1, 2, 3, 4});
  const int gpus_per_node = pick({1, 2, 3, 4, 8, 40, 64});
  p.num_gpus = p.num_nodes * gpus_per_node;
  p.num_groups = pick({0, 1}) ? p.num_nodes * pick({1, 2, 3}) : pick({1, 2, 3, 5});
  const int group_size = pick({1, 2, 3, 4, 6, 16});
  p.num_experts = p.num_groups * group_size;
  const int min_slots = (p.num_experts + p.num_gpus - 1) / p.num_gpus;
  p.num_replicas = p.num_gpus * (min_slots + pick({0, 0, 1, 2, 4}));
  p.num_layers = pick({1, 2});
  for (int i = 0; i < p.num_layers * p.num_experts; ++i) p.weight.push_back(draw(kind, rng));
  p.num_threads = 1;
  return p;
}

TEST(EplbReference, PortMatchesTranscriptionOnTiesAndRandomShapes) {
  std::mt19937 rng(20240612);
  int compared = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    const auto kind = static_cast<Loads>(trial % static_cast<int>(Loads::kCount));
    const EplbProblem p = random_problem(rng, kind);
    for (bool force_global : {false, true}) {
      const auto port = epbench::rebalance_experts(p, force_global);
      const auto row = [&](int l) { return port.placement.phy2log_row(l); };
      const std::vector<int32_t> expected = reference_rebalance(p, force_global);
      for (int l = 0; l < p.num_layers; ++l) {
        const std::vector<int32_t> got(row(l).begin(), row(l).end());
        const std::vector<int32_t> want(expected.begin() + size_t(l) * p.num_replicas,
                                        expected.begin() + size_t(l + 1) * p.num_replicas);
        ASSERT_EQ(got, want) << "trial " << trial << " loads " << static_cast<int>(kind)
                             << " layer " << l << ": " << p.num_experts << " experts, "
                             << p.num_replicas << " replicas, " << p.num_groups << " groups, "
                             << p.num_nodes << " nodes, " << p.num_gpus << " GPUs"
                             << (force_global ? ", forced global" : "");
        ++compared;
      }
    }
  }
  EXPECT_GT(compared, 6000);
}

// Layers on several threads give the same answer as on one.
TEST(EplbReference, ThreadCountDoesNotChangeTheAnswer) {
  std::mt19937 rng(7);
  EplbProblem p{37, 64, {}, 80, 8, 2, 16};
  for (int i = 0; i < p.num_layers * p.num_experts; ++i)
    p.weight.push_back(draw(Loads::kSmallIntegers, rng));
  p.num_threads = 1;
  const auto one = epbench::rebalance_experts(p);
  p.num_threads = 3;
  EXPECT_EQ(epbench::rebalance_experts(p).placement, one.placement);
  EXPECT_EQ(one.placement.phy2log_row(5).size(), 80u);
}

// The transcription reproduces the reference's own outputs (so agreeing with it means
// agreeing with eplb.py).
TEST(EplbReference, TranscriptionMatchesGoldenCases) {
  namespace fs = std::filesystem;
  const char* env = std::getenv("EPBENCH_GOLDEN_DIR");
  const fs::path dir = fs::path(env ? env : EPBENCH_GOLDEN_DIR) / "eplb";
  int cases = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path());
    const auto doc = nlohmann::json::parse(in);
    const EplbProblem p = epbench::problem_from_json(doc, entry.path().string());
    const auto expected = doc.at("expected").at("phy2log").get<std::vector<std::vector<int32_t>>>();
    const std::vector<int32_t> got = reference_rebalance(p);
    for (int l = 0; l < p.num_layers; ++l)
      EXPECT_EQ(std::vector<int32_t>(got.begin() + size_t(l) * p.num_replicas,
                                     got.begin() + size_t(l + 1) * p.num_replicas),
                expected[l])
          << entry.path().filename() << " layer " << l;
    ++cases;
  }
  if (cases == 0) GTEST_SKIP() << "no golden cases in " << dir;
}

}  // namespace
