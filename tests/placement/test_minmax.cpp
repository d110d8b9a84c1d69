// The minmax policy and the lower bounds: never worse than EPLB on every golden layer, the
// exhaustive optimum on small instances (independent brute force below), bounds never above
// an achieved max, hierarchical constraint, migration limit, determinism.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>

#include "common/error.hpp"
#include "placement/bounds.hpp"
#include "placement/minmax.hpp"
#include "placement/policy.hpp"
#include "zipf_problem.hpp"
#include "placement/problem_io.hpp"

namespace fs = std::filesystem;
using epbench::EplbProblem;
using epbench::Placement;

namespace {

double max_load(const Placement& p, const EplbProblem& problem, int l) {
  const size_t E = problem.num_experts;
  auto loads = p.gpu_loads(l, {problem.weight.data() + l * E, E});
  return *std::max_element(loads.begin(), loads.end());
}

// Every copy of a group's experts on one node, the same number of groups on every node.
void expect_hierarchical(const Placement& p, const EplbProblem& problem) {
  const int group_size = problem.num_experts / problem.num_groups;
  for (int l = 0; l < p.num_layers(); ++l) {
    std::vector<int> node_of_group(problem.num_groups, -1), groups_on_node(problem.num_nodes, 0);
    for (int s = 0; s < p.num_slots(); ++s) {
      const int g = p.phy2log(l, s) / group_size, node = p.node_of_gpu(p.gpu_of_slot(s));
      if (node_of_group[g] < 0) {
        node_of_group[g] = node;
        ++groups_on_node[node];
      }
      EXPECT_EQ(node_of_group[g], node) << "layer " << l << " group " << g;
    }
    for (int n = 0; n < problem.num_nodes; ++n)
      EXPECT_EQ(groups_on_node[n], problem.num_groups / problem.num_nodes) << "layer " << l;
  }
}

std::vector<fs::path> golden_files() {
  fs::path dir = std::getenv("EPBENCH_GOLDEN_DIR") ? fs::path(std::getenv("EPBENCH_GOLDEN_DIR"))
                                                   : fs::path(EPBENCH_GOLDEN_DIR);
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir / "eplb", ec))
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

TEST(Minmax, NeverWorseThanEplbOnGoldenLayers) {
  const auto files = golden_files();
  if (files.empty()) GTEST_SKIP() << "no golden cases";
  int layers = 0, improved = 0;
  for (const auto& file : files) {
    const EplbProblem problem =
        epbench::problem_from_json(nlohmann::json::parse(std::ifstream(file)), file.string());
    const auto eplb = epbench::find_policy("eplb").compute(problem);
    const auto minmax = epbench::find_policy("minmax").compute(problem);
    minmax.placement.validate();
    EXPECT_EQ(minmax.policy_used, eplb.policy_used) << file;
    if (problem.hierarchical()) expect_hierarchical(minmax.placement, problem);
    const auto bounds = epbench::lower_bounds(problem);
    for (int l = 0; l < problem.num_layers; ++l, ++layers) {
      const double e = max_load(eplb.placement, problem, l);
      const double m = max_load(minmax.placement, problem, l);
      EXPECT_LE(m, e) << file << " layer " << l;
      EXPECT_LE(bounds[l], m * (1 + 1e-12)) << file << " layer " << l;
      improved += m < e * (1 - 1e-9);
    }
  }
  EXPECT_GT(improved, layers / 4) << "minmax should beat EPLB on many golden layers";
}

// Brute force: every assignment of experts to the block's slots (each expert at least once);
// the smallest max GPU load. Independent of the branch and bound in exact.cpp.
double brute_force_block(const std::vector<double>& w, int gpus, int slots) {
  const int E = static_cast<int>(w.size()), S = slots / gpus;
  std::vector<int> a(slots, 0), cnt(E);
  double best = std::numeric_limits<double>::infinity();
  while (true) {
    std::fill(cnt.begin(), cnt.end(), 0);
    for (int x : a) ++cnt[x];
    if (std::all_of(cnt.begin(), cnt.end(), [](int c) { return c > 0; })) {
      double worst = 0;
      for (int g = 0; g < gpus; ++g) {
        double load = 0;
        for (int s = 0; s < S; ++s) load += w[a[g * S + s]] / cnt[a[g * S + s]];
        worst = std::max(worst, load);
      }
      best = std::min(best, worst);
    }
    int i = 0;  // next assignment (odometer)
    while (i < slots && ++a[i] == E) a[i++] = 0;
    if (i == slots) return best;
  }
}

// Hierarchical brute force: every split of the groups into nodes (equal counts), each node by
// brute force; the best split's largest node optimum.
double brute_force_hierarchical(const std::vector<double>& w, int groups, int nodes, int gpus,
                                int slots) {
  const int group_size = static_cast<int>(w.size()) / groups, per_node = groups / nodes;
  std::vector<int> node_of(groups);
  double best = std::numeric_limits<double>::infinity();
  // Every assignment of groups to nodes with per_node groups each.
  std::vector<int> a(groups, 0);
  while (true) {
    std::vector<int> count(nodes, 0);
    for (int x : a) ++count[x];
    if (std::all_of(count.begin(), count.end(), [&](int c) { return c == per_node; })) {
      double worst = 0;
      for (int n = 0; n < nodes; ++n) {
        std::vector<double> node_w;
        for (int g = 0; g < groups; ++g)
          if (a[g] == n) node_w.insert(node_w.end(), w.begin() + g * group_size,
                                       w.begin() + (g + 1) * group_size);
        worst = std::max(worst, brute_force_block(node_w, gpus / nodes, slots / nodes));
      }
      best = std::min(best, worst);
    }
    int i = 0;
    while (i < groups && ++a[i] == nodes) a[i++] = 0;
    if (i == groups) return best;
  }
}

struct SmallCase {
  int experts, replicas, groups, nodes, gpus;
};

class MinmaxExhaustive : public ::testing::TestWithParam<SmallCase> {};

TEST_P(MinmaxExhaustive, ReachesTheOptimum) {
  const SmallCase c = GetParam();
  std::mt19937 rng(1234 + c.experts * 100 + c.replicas);
  std::lognormal_distribution<double> dist(0.0, 1.0);
  int eplb_suboptimal = 0;
  for (int trial = 0; trial < 6; ++trial) {
    EplbProblem p{1, c.experts, {}, c.replicas, c.groups, c.nodes, c.gpus};
    for (int e = 0; e < c.experts; ++e) p.weight.push_back(std::round(dist(rng) * 100) + 1);
    const bool hier = p.hierarchical();
    const double optimum =
        hier && c.nodes > 1
            ? brute_force_hierarchical(p.weight, c.groups, c.nodes, c.gpus, c.replicas)
            : brute_force_block(p.weight, c.gpus, c.replicas);
    const auto r = epbench::find_policy("minmax").compute(p);
    r.placement.validate();
    if (hier) expect_hierarchical(r.placement, p);
    EXPECT_NEAR(max_load(r.placement, p, 0), optimum, 1e-9 * optimum) << "trial " << trial;
    ASSERT_EQ(r.proven_optimal.size(), 1u);
    EXPECT_TRUE(r.proven_optimal[0]) << "trial " << trial;
    EXPECT_LE(epbench::lower_bounds(p)[0], optimum * (1 + 1e-12)) << "trial " << trial;
    const auto eplb = epbench::rebalance_experts(p);
    eplb_suboptimal += max_load(eplb.placement, p, 0) > optimum * (1 + 1e-9);
  }
  RecordProperty("eplb_suboptimal_trials", eplb_suboptimal);
}

INSTANTIATE_TEST_SUITE_P(
    Small, MinmaxExhaustive,
    ::testing::Values(SmallCase{4, 6, 1, 1, 2}, SmallCase{4, 8, 2, 1, 4},
                      SmallCase{5, 8, 1, 1, 2}, SmallCase{3, 6, 1, 1, 3},
                      SmallCase{6, 8, 2, 2, 4}, SmallCase{8, 12, 4, 2, 4},
                      SmallCase{8, 10, 4, 2, 2}, SmallCase{6, 9, 3, 3, 3}),
    [](const auto& info) {
      const SmallCase& c = info.param;
      return "e" + std::to_string(c.experts) + "_r" + std::to_string(c.replicas) + "_g" +
             std::to_string(c.groups) + "_n" + std::to_string(c.nodes) + "_p" +
             std::to_string(c.gpus);
    });

using epbench::testing::zipf_problem;

TEST(Minmax, DeterministicForAnyThreadCount) {
  EplbProblem p = zipf_problem(6, 64, 80, 8, 2, 8, 11);
  p.num_threads = 1;
  const auto one = epbench::minmax_placement(p);
  p.num_threads = 3;
  const auto three = epbench::minmax_placement(p);
  EXPECT_EQ(one.placement, three.placement);
  EXPECT_EQ(one.proven_optimal, three.proven_optimal);
}

TEST(Minmax, MigrationLimitIsRespected) {
  // The cluster holds EPLB's placement for yesterday's loads; today's loads differ.
  EplbProblem old_loads = zipf_problem(4, 64, 80, 8, 2, 8, 21);
  EplbProblem p = zipf_problem(4, 64, 80, 8, 2, 8, 22);
  const Placement current = epbench::rebalance_experts(old_loads).placement;
  p.current = current;
  double current_sum = 0;
  for (int l = 0; l < p.num_layers; ++l) current_sum += max_load(current, p, l);
  for (int limit : {0, 2, 8, 32}) {
    p.max_moved_experts = limit;
    const auto r = epbench::minmax_placement(p);
    r.placement.validate();
    expect_hierarchical(r.placement, p);
    double sum = 0;
    for (int l = 0; l < p.num_layers; ++l) {
      EXPECT_LE(epbench::count_moved_experts(current, r.placement, l), limit) << "layer " << l;
      EXPECT_LE(max_load(r.placement, p, l), max_load(current, p, l)) << "layer " << l;
      sum += max_load(r.placement, p, l);
    }
    // Even with no transfer a GPU may drop a copy in favour of an expert it already holds.
    if (limit >= 8) EXPECT_LT(sum, current_sum * 0.95) << "limit " << limit;
  }
}

TEST(Minmax, CurrentWithoutLimitOnlyRelabels) {
  EplbProblem p = zipf_problem(3, 32, 48, 4, 2, 8, 5);
  const auto fresh = epbench::minmax_placement(p);
  EplbProblem q = p;
  q.current = epbench::rebalance_experts(zipf_problem(3, 32, 48, 4, 2, 8, 6)).placement;
  const auto kept = epbench::minmax_placement(q);
  for (int l = 0; l < 3; ++l) {
    EXPECT_DOUBLE_EQ(max_load(kept.placement, p, l), max_load(fresh.placement, p, l));
    EXPECT_LE(epbench::count_moved_experts(*q.current, kept.placement, l),
              epbench::count_moved_experts(*q.current, fresh.placement, l));
  }
}

TEST(Minmax, RejectsLimitWithoutCurrentAndMismatchedCurrent) {
  EplbProblem p = zipf_problem(1, 16, 24, 4, 2, 8, 1);
  p.max_moved_experts = 3;
  EXPECT_THROW(epbench::minmax_placement(p), epbench::InputError);
  p.current = Placement(1, 16, 4, 2, std::vector<int32_t>(24, 0));  // 4 GPUs, not 8
  EXPECT_THROW(epbench::minmax_placement(p), epbench::InputError);
}

TEST(LowerBound, HandComputedCases) {
  // Mean: 4 equal experts, 8 slots, 4 GPUs: every GPU carries 1/4 of the total.
  EXPECT_DOUBLE_EQ(epbench::flat_lower_bound(std::vector<double>{5, 5, 5, 5}, 8, 4), 5.0);
  // Replication: one expert of 90 and two of 1 in 4 slots: at most 2 copies of it -> 45.
  EXPECT_NEAR(epbench::flat_lower_bound(std::vector<double>{90, 1, 1}, 4, 4), 45.0, 1e-6);
  // Pigeonhole: three experts of 10 in 4 slots on 2 GPUs, no expert may take 2 copies unless
  // another shares: counts (2,1,1) give copies 5,5,10,10 -> a GPU has 10 + 5 = 15.
  const double b = epbench::flat_lower_bound(std::vector<double>{10, 10, 10}, 4, 2);
  EXPECT_GT(b, 15.0 * (1 - 1e-6));
  EXPECT_LE(b, 15.0);
}

TEST(LowerBound, GapIsZeroAtTheBound) {
  EXPECT_DOUBLE_EQ(epbench::gap_to_bound(10, 10), 0.0);
  EXPECT_DOUBLE_EQ(epbench::gap_to_bound(9, 10), 0.1);
  EXPECT_DOUBLE_EQ(epbench::gap_to_bound(0, 0), 0.0);
}

}  // namespace
