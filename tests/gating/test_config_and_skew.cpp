// RouterConfig validation, score-function parsing and skew-spec parsing: good specs round-trip,
// bad ones raise InputError whose message names the spec.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <string>

#include "common/error.hpp"
#include "gating/router.hpp"

namespace epbench::gating {
namespace {

RouterConfig valid_config() {
  RouterConfig c;
  c.hidden = 64;
  c.num_experts = 32;
  c.top_k = 4;
  c.n_group = 4;
  c.topk_group = 2;
  return c;
}

// Runs `fn`, expects InputError, returns its message.
template <typename Fn>
std::string input_error_message(Fn fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected InputError";
  return "";
}

TEST(GatingConfig, ValidConfigPasses) { EXPECT_NO_THROW(valid_config().validate()); }

TEST(GatingConfig, RejectsInconsistentShapes) {
  struct Case {
    const char* what;
    void (*mutate)(RouterConfig&);
    const char* expected_text;
  };
  const Case cases[] = {
      {"hidden 0", [](RouterConfig& c) { c.hidden = 0; }, "hidden"},
      {"no experts", [](RouterConfig& c) { c.num_experts = 0; }, "num_experts"},
      {"top_k 0", [](RouterConfig& c) { c.top_k = 0; }, "top_k"},
      {"top_k > experts", [](RouterConfig& c) { c.top_k = 33; }, "exceeds num_experts"},
      {"topk_group > n_group", [](RouterConfig& c) { c.topk_group = 5; }, "exceeds n_group"},
      {"experts % n_group", [](RouterConfig& c) { c.n_group = 5; c.topk_group = 1; },
       "not divisible"},
      {"top_k > kept experts", [](RouterConfig& c) { c.topk_group = 1; c.top_k = 9; },
       "kept groups"},
      {"n_group 0", [](RouterConfig& c) { c.n_group = 0; }, "n_group"},
  };
  for (const Case& k : cases) {
    RouterConfig c = valid_config();
    k.mutate(c);
    const std::string msg = input_error_message([&] { c.validate(); });
    EXPECT_NE(msg.find(k.expected_text), std::string::npos) << k.what << ": " << msg;
  }
}

TEST(GatingConfig, ParsesScoreFunctions) {
  EXPECT_EQ(parse_score_function("softmax"), ScoreFunction::kSoftmax);
  EXPECT_EQ(parse_score_function("sigmoid"), ScoreFunction::kSigmoid);
  const std::string msg = input_error_message([] { parse_score_function("relu"); });
  EXPECT_NE(msg.find("relu"), std::string::npos);
}

TEST(GatingSkewSpec, ParsesAndRoundTrips) {
  for (const char* text :
       {"uniform", "zipf:1.2", "hot:4:8", "group:0.8", "group:1.5:4", "lognormal:1.5"}) {
    const SkewSpec spec = SkewSpec::parse(text);
    EXPECT_EQ(spec.str(), text);
    EXPECT_EQ(SkewSpec::parse(spec.str()), spec);
  }
  EXPECT_EQ(SkewSpec::parse("zipf:1.2").params, (std::vector<double>{1.2}));
  EXPECT_EQ(SkewSpec::parse("hot:2:3.5").params, (std::vector<double>{2, 3.5}));
}

TEST(GatingSkewSpec, BadSpecsNameTheSpec) {
  for (const char* text : {"pareto:1", "zipf:-1", "zipf:0", "zipf", "zipf:abc", "zipf:1:2",
                           "hot:0:2", "hot:1.5:2", "hot:3:0.5", "hot:3", "uniform:1", "",
                           "garbage!!", "zipf:nan", "group:1:0", "lognormal", "lognormal:0",
                           "lognormal:-1", "lognormal:1:2",
                           // Parameters beyond the parse-time bounds (a huge G or K would not
                           // convert to int; huge exponents leave experts with no share).
                           "group:1:1e300", "group:1:65537", "group:65:4", "group:1e300",
                           "hot:1e300:2", "hot:65537:2", "hot:2:1e13", "hot:2:1e308",
                           "zipf:64.5", "zipf:1e300", "lognormal:65", "lognormal:1e300"}) {
    const std::string msg = input_error_message([&] { SkewSpec::parse(text); });
    EXPECT_NE(msg.find(std::string("\"") + text + "\""), std::string::npos)
        << text << " -> " << msg;
  }
}

TEST(GatingSkewSpec, BoundsNameTheLimit) {
  auto msg = input_error_message([] { SkewSpec::parse("group:1:1e300"); });
  EXPECT_NE(msg.find("G must be an integer in [1, 65536]"), std::string::npos) << msg;
  msg = input_error_message([] { SkewSpec::parse("hot:1e300:2"); });
  EXPECT_NE(msg.find("K must be an integer in [1, 65536]"), std::string::npos) << msg;
  msg = input_error_message([] { SkewSpec::parse("hot:2:1e308"); });
  EXPECT_NE(msg.find("X must be in [1, 1e12]"), std::string::npos) << msg;
  msg = input_error_message([] { SkewSpec::parse("zipf:1e300"); });
  EXPECT_NE(msg.find("S must be in (0, 64]"), std::string::npos) << msg;
  msg = input_error_message([] { SkewSpec::parse("lognormal:1e300"); });
  EXPECT_NE(msg.find("SIGMA must be in (0, 64]"), std::string::npos) << msg;
  // The bounds themselves are accepted.
  for (const char* text : {"zipf:64", "group:64:65536", "hot:65536:1e12", "lognormal:64"})
    EXPECT_NO_THROW(SkewSpec::parse(text)) << text;
}

// A spec built by hand (not parsed) gets the same checks before any conversion to int.
TEST(GatingSkewSpec, HandBuiltSpecsAreCheckedToo) {
  const SkewSpec group{"group", {1.0, 1e300}};
  auto msg = input_error_message([&] { group.num_groups(4); });
  EXPECT_NE(msg.find("G must be an integer in [1, 65536]"), std::string::npos) << msg;
  msg = input_error_message([&] { group.validate_for(32, 4); });
  EXPECT_NE(msg.find("G must be an integer"), std::string::npos) << msg;
  const SkewSpec no_params{"zipf", {}};
  msg = input_error_message([&] { no_params.rank_popularity(32, 1); });
  EXPECT_NE(msg.find("wrong number of parameters"), std::string::npos) << msg;
}

// The parse-time bounds are where every rank of the largest model a run accepts (65,536
// experts) still has a finite, positive share: the router takes its logarithm.
TEST(GatingSkewSpec, BoundsKeepEveryShareFiniteAndPositive) {
  constexpr int kExperts = 65536;
  for (const char* text : {"zipf:64", "group:64", "group:64:65536", "group:64:2",
                           "hot:1:1e12", "hot:65535:1e12", "lognormal:64"}) {
    const auto p = SkewSpec::parse(text).rank_popularity(kExperts, 8);
    for (size_t r = 0; r < p.size(); ++r)
      ASSERT_TRUE(std::isfinite(p[r]) && p[r] > 0) << text << " rank " << r << ": " << p[r];
  }
}

TEST(GatingSkewSpec, ShapeDependentChecks) {
  const SkewSpec hot = SkewSpec::parse("hot:40:2");
  std::string msg = input_error_message([&] { hot.validate_for(32, 1); });
  EXPECT_NE(msg.find("hot:40:2"), std::string::npos) << msg;
  msg = input_error_message(
      [&] { Router(valid_config(), hot, 0.0, 1, 0); });  // router construction checks it too
  EXPECT_NE(msg.find("hot:40:2"), std::string::npos) << msg;
  // group skew needs groups: from the router or explicit, dividing the experts.
  msg = input_error_message([] { SkewSpec::parse("group:1").validate_for(32, 1); });
  EXPECT_NE(msg.find("group:1"), std::string::npos) << msg;
  msg = input_error_message([] { SkewSpec::parse("group:1:5").validate_for(32, 1); });
  EXPECT_NE(msg.find("group:1:5"), std::string::npos) << msg;
  EXPECT_NO_THROW(SkewSpec::parse("group:1:4").validate_for(32, 1));
}

TEST(GatingSkewSpec, RankPopularityShapes) {
  const auto zipf = SkewSpec::parse("zipf:1").rank_popularity(4, 1);
  const double h = 1 + 1 / 2.0 + 1 / 3.0 + 1 / 4.0;
  EXPECT_NEAR(zipf[0], 1 / h, 1e-12);
  EXPECT_NEAR(zipf[3], 0.25 / h, 1e-12);
  const auto hot = SkewSpec::parse("hot:2:4").rank_popularity(6, 1);  // 4,4,1,1,1,1 / 12
  EXPECT_NEAR(hot[1], 4 / 12.0, 1e-12);
  EXPECT_NEAR(hot[2], 1 / 12.0, 1e-12);
  const auto group = SkewSpec::parse("group:1").rank_popularity(8, 4);  // groups 1, 1/2, 1/3, 1/4
  EXPECT_DOUBLE_EQ(group[0], group[1]);
  EXPECT_NEAR(group[0] / group[2], 2.0, 1e-12);
  EXPECT_NEAR(group[0] / group[7], 4.0, 1e-12);
  for (const auto& p : {zipf, hot, group})
    EXPECT_NEAR(std::accumulate(p.begin(), p.end(), 0.0), 1.0, 1e-12);
}

TEST(GatingSkewSpec, RegistryListsEveryDistributionOnce) {
  const std::string usage = skew_distribution_usage();
  for (const char* name : {"uniform", "zipf:S", "hot:K:X", "group:S[:G]", "lognormal:SIGMA"}) {
    const size_t at = usage.find(name);
    EXPECT_NE(at, std::string::npos) << name << " missing from: " << usage;
    EXPECT_EQ(usage.find(name, at + 1), std::string::npos) << name << " listed twice: " << usage;
  }
  const std::string msg = input_error_message([] { SkewSpec::parse("pareto:1"); });
  EXPECT_NE(msg.find("lognormal:SIGMA"), std::string::npos) << msg;
}

TEST(GatingSkewSpec, LognormalUsesSymmetricNormalQuantiles) {
  // E = 4: z = quantiles at 7/8, 5/8, 3/8, 1/8 = +-1.1503494, +-0.3186394.
  const double sigma = 0.7;
  const auto p = SkewSpec::parse("lognormal:0.7").rank_popularity(4, 1);
  EXPECT_NEAR(std::log(p[0] / p[3]), sigma * 2 * 1.1503493803760079, 1e-9);
  EXPECT_NEAR(std::log(p[1] / p[2]), sigma * 2 * 0.31863936396437514, 1e-9);
  EXPECT_NEAR(p[0] * p[3], p[1] * p[2], 1e-12);  // log-shares symmetric around their mean
  // Many experts: the log-shares have standard deviation close to sigma.
  const auto q = SkewSpec::parse("lognormal:1.3").rank_popularity(1024, 1);
  double mean = 0, sq = 0;
  for (double v : q) mean += std::log(v) / q.size();
  for (double v : q) sq += (std::log(v) - mean) * (std::log(v) - mean) / q.size();
  EXPECT_NEAR(std::sqrt(sq), 1.3, 0.03);
  for (size_t r = 1; r < q.size(); ++r) EXPECT_LT(q[r], q[r - 1]);
}

TEST(GatingSkewSpec, TargetSharesAreTheNamedDistributionUnderTheCap) {
  // zipf:1.2 on 32 experts, top-2: the hottest (10.3x the mean) stays below the cap 1/2.
  const auto zipf = SkewSpec::parse("zipf:1.2");
  EXPECT_EQ(zipf.rank_target_shares(32, 1, 2), zipf.rank_popularity(32, 1));
  // On 128 experts with top-8 (qwen3) zipf names 0.27 for the hottest, over the cap 1/8; its
  // excess lifts rank 1 over the cap too (cascade); ranks 2.. keep their zipf ratios.
  const auto capped = zipf.rank_target_shares(128, 1, 8);
  EXPECT_NEAR(zipf.rank_popularity(128, 1)[0], 0.2704, 1e-4);
  EXPECT_DOUBLE_EQ(capped[0], 1.0 / 8);
  EXPECT_DOUBLE_EQ(capped[1], 1.0 / 8);
  EXPECT_LT(capped[2], 1.0 / 8);
  for (int r = 3; r < 128; ++r)
    EXPECT_NEAR(capped[2] / capped[r], std::pow((r + 1.0) / 3.0, 1.2), 1e-9) << "rank " << r;
  EXPECT_NEAR(std::accumulate(capped.begin(), capped.end(), 0.0), 1.0, 1e-12);
  // hot:4:10: 4 experts 10x the rest.
  const auto hot = SkewSpec::parse("hot:4:10").rank_target_shares(32, 1, 2);
  EXPECT_NEAR(hot[3] / hot[4], 10.0, 1e-12);
  EXPECT_THROW(zipf.rank_target_shares(32, 1, 33), InputError);
}

TEST(GatingRouter, RejectsBadDriftAndLayer) {
  const SkewSpec uniform = SkewSpec::parse("uniform");
  EXPECT_THROW(Router(valid_config(), uniform, -1.0, 1, 0), InputError);
  EXPECT_THROW(Router(valid_config(), uniform, NAN, 1, 0), InputError);
  // At most a full rotation (E experts) per step: 1e300 * step would overflow to infinity.
  EXPECT_THROW(Router(valid_config(), uniform, 1e300, 1, 0), InputError);
  EXPECT_THROW(Router(valid_config(), uniform, 32.5, 1, 0), InputError);
  EXPECT_NO_THROW(Router(valid_config(), uniform, 32.0, 1, 0));
  EXPECT_THROW(Router(valid_config(), uniform, 0.0, 1, -1), InputError);
  RouterConfig bad = valid_config();
  bad.top_k = 100;
  EXPECT_THROW(Router(bad, uniform, 0.0, 1, 0), InputError);
}

}  // namespace
}  // namespace epbench::gating
