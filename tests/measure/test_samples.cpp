// summarize_runs on hand-made samples of 2 ranks: phase spans over ranks, the step total, the
// tax against the balanced reference, tokens/s and its amortized form, balancedness and the
// bandwidth forms, against numbers worked out by hand.
#include <gtest/gtest.h>

#include "measure/samples.hpp"

namespace {

using epbench::GatheredRun;
using epbench::RunShape;

// Two ranks, one (step, layer) sample. Stamps in seconds on one clock.
GatheredRun two_rank_sample() {
  GatheredRun g;
  g.num_ranks = 2;
  g.num_samples = 1;
  g.num_layers = 1;
  g.layer = {0};
  g.step = {0};
  // [phase] -> {rank 0, rank 1}
  const double start[5][2] = {{0, 0.5}, {2, 2.1}, {4, 4}, {6, 6.5}, {11, 11}};
  const double end[5][2] = {{1, 1.2}, {3, 3.5}, {5, 6}, {10, 8}, {12, 13}};
  const double ref_start[5][2] = {{0, 0}, {20, 20}, {22, 22}, {24, 24}, {27, 27}};
  const double ref_end[5][2] = {{0, 0}, {21, 21}, {23, 23}, {26, 26}, {28, 28}};
  for (int p = 0; p < 5; ++p) {
    g.start[p] = {start[p][0], start[p][1]};
    g.end[p] = {end[p][0], end[p][1]};
    g.ref_start[p] = {ref_start[p][0], ref_start[p][1]};
    g.ref_end[p] = {ref_end[p][0], ref_end[p][1]};
  }
  g.reference_gemm_seconds = {2, 1.5};
  g.rows_received = {60, 40};
  g.inter_dedup_rows = {0, 0};
  g.send_rows = {10, 30, 50, 10};  // [src][dst]: rank 0 sends 30 to rank 1, rank 1 sends 50
  g.verify = {{"checked_tokens", 4}, {"wrong", 0}, {"max_rel_err", 1e-3}};
  g.tokens_conserved = true;
  g.placement_seconds = {1.0};
  g.migration_seconds = {0.5};
  g.migration_experts = {3};
  return g;
}

RunShape shape() { return RunShape{5, 2, 4, 6.0 * 4 * 8, true, {0, 0}}; }

TEST(SummarizeRuns, SpansStepAndTaxByHand) {
  const auto run = epbench::summarize_runs({two_rank_sample()}, shape());
  const auto& sum = run["summary"];
  const auto& ph = sum["phases_us"];
  EXPECT_DOUBLE_EQ(ph["gate"]["median"].get<double>(), 1.2e6);
  EXPECT_DOUBLE_EQ(ph["layout"]["median"].get<double>(), 1.5e6);
  EXPECT_DOUBLE_EQ(ph["dispatch"]["median"].get<double>(), 2e6);
  EXPECT_DOUBLE_EQ(ph["ffn"]["median"].get<double>(), 4e6);
  EXPECT_DOUBLE_EQ(ph["combine"]["median"].get<double>(), 2e6);
  EXPECT_DOUBLE_EQ(ph["total"]["median"].get<double>(), 13e6);  // 0 .. 13, not a rank's sum
  EXPECT_DOUBLE_EQ(sum["sum_of_phase_spans_us"]["median"].get<double>(), 10.7e6);
  // The slowest rank's own duration per phase (the old "max over ranks").
  EXPECT_DOUBLE_EQ(sum["slowest_rank_phases_us"]["ffn"]["median"].get<double>(), 4e6);
  EXPECT_DOUBLE_EQ(sum["tax"]["ffn"]["median"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(sum["tax"]["dispatch"]["median"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(sum["tax"]["total"]["median"].get<double>(), 13.0 / 9.2);
  EXPECT_DOUBLE_EQ(sum["balanced_phases_us"]["total"]["median"].get<double>(), 9.2e6);
  EXPECT_DOUBLE_EQ(sum["tokens_per_s"].get<double>(), 10.0 / 13.0);
  EXPECT_DOUBLE_EQ(sum["amortized_tokens_per_s"].get<double>(), 10.0 / 14.5);
  EXPECT_NEAR(sum["balancedness"].get<double>(), 50.0 / 60.0, 1e-12);
  // Bottleneck: rank 0 receives 50 rows from rank 1 (8 bytes each) in the 2 s dispatch span.
  EXPECT_NEAR(sum["dispatch_bottleneck_GBps"]["median"].get<double>(), 400.0 / 2 / 1e9, 1e-18);
  // nccl-tests form: the max over ranks of all bytes sent (own rows included) / dispatch span.
  EXPECT_EQ(sum["dispatch_bytes"], 480);
  EXPECT_NEAR(sum["dispatch_algbw_GBps"].get<double>(), 480.0 / 2 / 1e9, 1e-18);
  EXPECT_NEAR(sum["dispatch_busbw_nccl_tests_GBps"].get<double>(), 240.0 / 2 / 1e9, 1e-18);
  EXPECT_EQ(sum["intra_node_bytes"], 640);  // 30 + 50 off-rank rows, one node
  EXPECT_EQ(run["per_rank"]["send_bytes"], nlohmann::json({240, 400}));
  // FFN vs its reference GEMM, per rank: 2/4 and 1.5/1.5.
  EXPECT_DOUBLE_EQ(sum["ffn_vs_gemm"]["min"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(sum["ffn_vs_gemm"]["max"].get<double>(), 1.0);
  EXPECT_EQ(sum["migration"]["per_event_experts_moved"], nlohmann::json({3}));
  EXPECT_DOUBLE_EQ(sum["migration"]["placement_compute_us"][0].get<double>(), 1e6);
}

TEST(SummarizeRuns, RepetitionsArePooledAndKeptApart) {
  GatheredRun a = two_rank_sample(), b = two_rank_sample();
  for (auto& v : b.end[4]) v += 2;  // the second repetition's step ends 2 s later
  const auto run = epbench::summarize_runs({a, b}, shape());
  EXPECT_EQ(run["summary"]["repetitions"], 2);
  EXPECT_EQ(run["summary"]["repetition_total_us_median"], nlohmann::json({13e6, 15e6}));
  EXPECT_EQ(run["samples"]["total_us"].size(), 2u);
  EXPECT_EQ(run["summary"]["phases_us"]["total"]["count"], 2);
}

}  // namespace
