// Policy lplb: EPLB's order without replication, then each GPU's i-th extra slot holding the
// i-th heaviest expert of GPU r2o[gpu][i], for the built-in topologies and r2o files; every
// requirement violated gives an InputError that says what is needed.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>

#include "common/error.hpp"
#include "dispatch/batch_split.hpp"
#include "placement/policies/lplb.hpp"

namespace {

using epbench::EplbProblem;
using epbench::InputError;

EplbProblem problem(int experts, int gpus, int nodes, int copies, uint32_t seed = 1) {
  EplbProblem p{2, experts, {}, experts + copies * gpus, 1, nodes, gpus};
  std::mt19937 rng(seed);
  for (int i = 0; i < 2 * experts; ++i) p.weight.push_back(double(rng() % 1000));
  return p;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

// Checks the layout against r2o: originals are a permutation, sorted heaviest first per GPU,
// copies the i-th heaviest of the source GPU.
void check_layout(const EplbProblem& p, const epbench::Placement& pl,
                  const std::vector<std::vector<int32_t>>& r2o) {
  const int G = p.num_gpus, per_gpu = p.num_experts / G, copies = int(r2o[0].size());
  ASSERT_EQ(pl.slots_per_gpu(), per_gpu + copies);
  EXPECT_NO_THROW(pl.validate());
  for (int l = 0; l < p.num_layers; ++l) {
    const double* w = p.weight.data() + size_t(l) * p.num_experts;
    std::vector<int32_t> originals;
    for (int g = 0; g < G; ++g)
      for (int i = 0; i < per_gpu; ++i) {
        originals.push_back(pl.phy2log(l, g * pl.slots_per_gpu() + i));
        if (i > 0)
          EXPECT_GE(w[pl.phy2log(l, g * pl.slots_per_gpu() + i - 1)],
                    w[pl.phy2log(l, g * pl.slots_per_gpu() + i)]);
      }
    std::sort(originals.begin(), originals.end());
    std::vector<int32_t> all(p.num_experts);
    std::iota(all.begin(), all.end(), 0);
    EXPECT_EQ(originals, all);
    for (int g = 0; g < G; ++g)
      for (int i = 0; i < copies; ++i)
        EXPECT_EQ(pl.phy2log(l, g * pl.slots_per_gpu() + per_gpu + i),
                  pl.phy2log(l, r2o[g][i] * pl.slots_per_gpu() + i));
  }
}

TEST(LplbPolicy, CubeHypercubeTorus) {
  struct Case {
    const char* topology;
    int experts, gpus, nodes, copies;
  };
  for (const Case c : {Case{"cube", 32, 8, 1, 2}, Case{"cube", 64, 16, 2, 2},
                       Case{"hypercube", 64, 16, 2, 4}, Case{"torus", 16, 8, 2, 2}}) {
    SCOPED_TRACE(c.topology);
    const EplbProblem p = problem(c.experts, c.gpus, c.nodes, c.copies);
    const auto r2o = epbench::lplb_r2o(c.topology, c.gpus, c.nodes);
    ASSERT_EQ(int(r2o[0].size()), c.copies);
    for (int g = 0; g < c.gpus; ++g)
      for (int32_t src : r2o[g]) EXPECT_NE(src, g);
    auto result = epbench::configured_policy("lplb", c.topology).compute(p);
    EXPECT_EQ(result.policy_used, std::string("lplb:") + c.topology);
    check_layout(p, result.placement, r2o);
    EXPECT_EQ(epbench::lplb_num_slots(c.topology, c.experts, c.gpus, c.nodes), p.num_replicas);
  }
  EXPECT_EQ(epbench::find_policy("lplb").compute(problem(32, 8, 1, 2)).policy_used, "lplb:cube");
  // Hypercube: GPU 5 copies from 4, 7, 1, 13; torus (2 nodes x 4): GPU 3 from 0 and 7.
  EXPECT_EQ(epbench::lplb_r2o("hypercube", 16, 1)[5], (std::vector<int32_t>{4, 7, 1, 13}));
  EXPECT_EQ(epbench::lplb_r2o("torus", 8, 2)[3], (std::vector<int32_t>{0, 7}));
}

TEST(LplbPolicy, R2oFile) {
  const auto dir = std::filesystem::temp_directory_path() / ("epbench_r2o_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto file = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return "r2o:" + (dir / name).string();
  };
  const std::string good = file("good.csv", "# ring\n1\n2\n3\n0\n");
  const EplbProblem p = problem(8, 4, 1, 1);
  auto result = epbench::lplb_placement(p, good);
  check_layout(p, result.placement, {{1}, {2}, {3}, {0}});
  EXPECT_NE(error_of([&] { epbench::lplb_r2o(file("short.csv", "1\n2\n3\n"), 4, 1); })
                .find("3 rows, expected one per GPU (4)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { epbench::lplb_r2o(file("self.csv", "1\n1\n3\n0\n"), 4, 1); })
                .find("GPU 1 copies from itself"),
            std::string::npos);
  EXPECT_NE(error_of([&] { epbench::lplb_r2o(file("range.csv", "1\n2\n4\n0\n"), 4, 1); })
                .find(":3: GPU 4 out of range [0, 4)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { epbench::lplb_r2o(file("ragged.csv", "1,2\n2\n3,0\n0,1\n"), 4, 1); })
                .find("ragged r2o rows"),
            std::string::npos);
  EXPECT_NE(error_of([&] { epbench::lplb_r2o(file("text.csv", "1\nx\n3\n0\n"), 4, 1); })
                .find("not an integer"),
            std::string::npos);
  EXPECT_NE(error_of([&] { epbench::lplb_r2o("r2o:" + (dir / "missing.csv").string(), 4, 1); })
                .find("cannot read"),
            std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(LplbPolicy, RequirementsAreInputErrors) {
  EXPECT_NE(error_of([] { epbench::lplb_r2o("ring", 8, 1); })
                .find("unknown LPLB topology \"ring\" (known: cube, hypercube, torus, r2o:FILE)"),
            std::string::npos);
  EXPECT_NE(error_of([] { epbench::lplb_r2o("cube", 12, 1); }).find("multiple of 8 GPUs, got 12"),
            std::string::npos);
  EXPECT_NE(error_of([] { epbench::lplb_r2o("hypercube", 8, 1); }).find("multiple of 16 GPUs"),
            std::string::npos);
  EXPECT_NE(error_of([] { epbench::lplb_r2o("torus", 8, 1); }).find(">= 2 nodes of >= 2 GPUs"),
            std::string::npos);
  // One expert per GPU cannot give two copies.
  EXPECT_NE(error_of([] { epbench::lplb_placement(problem(8, 8, 1, 2), "cube"); })
                .find("needs >= 2 experts per GPU, got 1"),
            std::string::npos);
  // Wrong slot count: says which --redundant-experts fits.
  EplbProblem p = problem(32, 8, 1, 1);
  EXPECT_NE(error_of([&] { epbench::lplb_placement(p, "cube"); })
                .find("use --redundant-experts 16"),
            std::string::npos);
  EXPECT_NE(error_of([] { epbench::lplb_placement(problem(36, 8, 1, 2), "cube"); })
                .find("not divisible by 8 GPUs"),
            std::string::npos);
}

TEST(LplbPolicy, PerBatchSplitBeatsTheStaticShareOnSkewedBatches) {
  // LPLB = policy lplb + a per-batch split: on batches that differ from the statistics the
  // placement was made for, the exact split is never worse than the equal split, and better
  // on most batches.
  const EplbProblem p = problem(32, 8, 1, 2, 3);
  const auto placement = epbench::lplb_placement(p, "cube").placement;
  std::mt19937 rng(9);
  epbench::BatchSplitSolver solver;
  int better = 0;
  for (int b = 0; b < 50; ++b) {
    std::vector<int64_t> rows(32);
    for (auto& r : rows) r = int64_t(rng() % 200) * (rng() % 4 == 0 ? 5 : 1);
    epbench::BatchSplit lp, even;
    solver.split_exact(placement, 0, rows, lp);
    solver.split_even(placement, 0, rows, even);
    EXPECT_LE(lp.max_gpu_rows, even.max_gpu_rows);
    better += lp.max_gpu_rows < even.max_gpu_rows;
  }
  EXPECT_GT(better, 25);
}

}  // namespace
