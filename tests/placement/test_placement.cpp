// Placement value type, policies and EPLB properties beyond the golden cases.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <set>

#include "common/error.hpp"
#include "metrics/balance.hpp"
#include "placement/policy.hpp"
#include "zipf_problem.hpp"

namespace {

using epbench::EplbProblem;
using epbench::Placement;

TEST(Placement, DerivesCountsAndHelpers) {
  // 2 layers, 4 experts, 6 slots on 3 GPUs (2 slots each), 1 node.
  Placement p(2, 4, 3, 1, {0, 1, 2, 3, 0, 0, 3, 3, 2, 1, 0, 3});
  p.validate();
  EXPECT_EQ(p.num_slots(), 6);
  EXPECT_EQ(p.slots_per_gpu(), 2);
  EXPECT_EQ(p.logcnt(0, 0), 3);
  EXPECT_EQ(p.logcnt(1, 3), 3);
  EXPECT_EQ(p.max_replicas(), 3);
  EXPECT_EQ(p.gpu_of_slot(5), 2);
  EXPECT_EQ(p.node_of_gpu(2), 0);
  auto reps = p.replicas(0, 0);
  EXPECT_EQ(std::vector<int32_t>(reps.begin(), reps.end()), (std::vector<int32_t>{0, 4, 5}));
  EXPECT_EQ(p.log2phy(0, 1, 1), -1);
  EXPECT_EQ(p.experts_of_gpu(1, 1), (std::vector<int32_t>{2, 1}));
  std::vector<double> load = {30, 10, 20, 40};
  auto gpu = p.gpu_loads(0, load);
  EXPECT_DOUBLE_EQ(gpu[0], 30.0 / 3 + 10);
  EXPECT_DOUBLE_EQ(gpu[1], 20 + 40);
  EXPECT_DOUBLE_EQ(gpu[2], 20.0);
}

// One hot expert holding every extra slot: the padded [experts][max_replicas] view is read
// through log2phy(), while what is stored stays linear in the slots (place --replicas huge).
TEST(Placement, HotExpertKeepsEveryReplicaInSlotOrder) {
  constexpr int kExperts = 1000, kSlots = 3000;
  std::vector<int32_t> phy2log(kSlots, 0);
  for (int e = 0; e < kExperts; ++e) phy2log[kSlots - kExperts + e] = e;  // expert e last
  Placement p(1, kExperts, 1, 1, phy2log);
  p.validate();
  EXPECT_EQ(p.max_replicas(), kSlots - kExperts + 1);
  auto hot = p.replicas(0, 0);
  ASSERT_EQ(hot.size(), size_t(kSlots - kExperts + 1));
  for (int r = 0; r + 1 < int(hot.size()); ++r) EXPECT_EQ(hot[r], r);
  EXPECT_EQ(hot.back(), kSlots - kExperts);
  EXPECT_EQ(p.log2phy(0, 0, p.max_replicas() - 1), kSlots - kExperts);
  EXPECT_EQ(p.log2phy(0, 7, 0), kSlots - kExperts + 7);
  EXPECT_EQ(p.log2phy(0, 7, 1), -1);
  EXPECT_EQ(p.log2phy(0, 7, p.max_replicas() - 1), -1);
}

TEST(Placement, ValidateRejectsMissingExpert) {
  Placement p(1, 4, 2, 1, {0, 1, 2, 2});  // expert 3 has no replica
  EXPECT_THROW(p.validate(), std::logic_error);
  EXPECT_THROW(Placement(1, 4, 2, 1, {0, 1, 2, 7}), std::logic_error);
}

TEST(Placement, ValidateRejectsUnevenSlots) {
  Placement p(1, 3, 2, 1, {0, 1, 2});  // 3 slots over 2 GPUs
  EXPECT_THROW(p.validate(), std::logic_error);
}

using epbench::testing::zipf_problem;

TEST(Eplb, ImprovesBalanceOverBaselineUnderSkew) {
  EplbProblem p = zipf_problem(4, 64, 80, 8, 2, 8, 7);
  auto eplb = epbench::find_policy("eplb").compute(p);
  EXPECT_EQ(eplb.policy_used, "hierarchical");
  eplb.placement.validate();
  EplbProblem base = p;
  base.num_replicas = 64;
  auto none = epbench::find_policy("none").compute(base);
  for (int l = 0; l < 4; ++l) {
    std::span<const double> w(p.weight.data() + l * 64, 64);
    EXPECT_GT(epbench::balancedness(eplb.placement.gpu_loads(l, w)),
              epbench::balancedness(none.placement.gpu_loads(l, w)) + 0.1);
  }
}

TEST(Eplb, HierarchicalKeepsGroupsOnOneNode) {
  EplbProblem p = zipf_problem(3, 32, 48, 4, 2, 4, 3);
  auto r = epbench::rebalance_experts(p);
  const int group_size = 8;
  for (int l = 0; l < 3; ++l)
    for (int s = 0; s < r.placement.num_slots(); ++s) {
      int e = r.placement.phy2log(l, s);
      int node = r.placement.node_of_gpu(r.placement.gpu_of_slot(s));
      for (int32_t other : r.placement.replicas(l, e))
        EXPECT_EQ(r.placement.node_of_gpu(r.placement.gpu_of_slot(other)), node);
      (void)group_size;
    }
}

TEST(Eplb, ForcedGlobalMatchesOneGroupOneNode) {
  EplbProblem p = zipf_problem(2, 32, 48, 4, 2, 8, 9);
  auto forced = epbench::find_policy("eplb-global").compute(p);
  EXPECT_EQ(forced.policy_used, "global");
  EplbProblem q = p;
  q.num_groups = 1;
  q.num_nodes = 1;
  auto one = epbench::rebalance_experts(q);
  for (int l = 0; l < 2; ++l)
    for (int s = 0; s < 48; ++s)
      EXPECT_EQ(forced.placement.phy2log(l, s), one.placement.phy2log(l, s));
  EXPECT_EQ(forced.placement.num_nodes(), 2);
}

TEST(Eplb, GlobalWhenGroupsDoNotDivideNodes) {
  EplbProblem p = zipf_problem(2, 24, 36, 4, 3, 6, 5);
  EXPECT_EQ(epbench::rebalance_experts(p).policy_used, "global");
}

TEST(Eplb, RejectsBadShapes) {
  EplbProblem p = zipf_problem(1, 16, 24, 4, 2, 8, 1);
  auto expect_error = [](EplbProblem q, const std::string& text) {
    try {
      epbench::rebalance_experts(q);
      FAIL() << "expected an error containing " << text;
    } catch (const epbench::InputError& e) {
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
  };
  EplbProblem q = p;
  q.num_groups = 3;
  expect_error(q, "not divisible by 3 groups");
  q = p;
  q.num_replicas = 12;
  expect_error(q, "fewer replicas");
  q = p;
  q.num_replicas = 20;
  expect_error(q, "not a multiple of GPUs");
  q = p;
  q.num_nodes = 3;
  expect_error(q, "not a multiple of nodes");
  q = p;
  q.weight[5] = -1;
  expect_error(q, "negative");
  q = p;
  q.weight[5] = std::numeric_limits<double>::quiet_NaN();
  expect_error(q, "NaN");
  q.weight[5] = -std::numeric_limits<double>::quiet_NaN();
  expect_error(q, "NaN");
  q.weight[5] = std::numeric_limits<double>::infinity();
  expect_error(q, "infinite");
  q.weight[5] = -std::numeric_limits<double>::infinity();
  expect_error(q, "infinite");
  q.weight[5] = std::nextafter(double{std::numeric_limits<float>::max()}, 1e300);
  expect_error(q, "overflows float32");
  q.weight[5] = -std::numeric_limits<double>::denorm_min();
  expect_error(q, "negative");
  // The edges of what is accepted: -0.0 (a zero load), the largest float, the smallest double.
  for (double ok : {-0.0, double{std::numeric_limits<float>::max()},
                    std::numeric_limits<double>::denorm_min()}) {
    q.weight[5] = ok;
    EXPECT_NO_THROW(epbench::rebalance_experts(q)) << ok;
  }
}

TEST(Policy, UnknownPolicyListsKnownOnes) {
  try {
    epbench::find_policy("magic");
    FAIL();
  } catch (const epbench::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("none, eplb, eplb-global"), std::string::npos);
  }
}

TEST(Policy, RegistryListsEveryPolicyOnceAndEachComputes) {
  const auto& policies = epbench::placement_policies();
  std::set<std::string> names;
  for (const auto& p : policies) {
    EXPECT_TRUE(names.insert(p.name).second) << "duplicate policy " << p.name;
    EXPECT_EQ(&epbench::find_policy(p.name), &p);
    EXPECT_FALSE(p.description.empty()) << p.name;
    EplbProblem problem = zipf_problem(2, 16, 16, 4, 2, 4, 3);  // replicas = experts: `none` too
    if (p.name == "lplb") problem = zipf_problem(2, 16, 32, 4, 2, 8, 3);  // its cube: 8 GPUs
    const auto r = p.compute(problem);
    r.placement.validate();
    EXPECT_EQ(r.placement.num_layers(), 2) << p.name;
  }
  for (const char* name : {"none", "eplb", "eplb-global", "minmax"}) EXPECT_TRUE(names.count(name));
}

}  // namespace
