// What `epbench run` reports about time, under a real mpirun: the step total against the raw
// per-rank samples, tokens/s from it, the balanced reference and its tax, repetitions, the
// pipelined step without phase barriers, a no-move re-placement's cost, oversubscription, and
// the step watchdog naming a stopped rank (exit 3).
#include <gtest/gtest.h>

#include <thread>

#include <nlohmann/json.hpp>

#include "run_mpi_fixture.hpp"

namespace {

const std::vector<std::string> kPhases = {"gate", "layout", "dispatch", "ffn", "combine"};

TEST_F(RunMpi, TotalIsTheStepNotASumOfRankDurations) {
  json doc = run_ok(4, kTinyShape + " --steps 6 --policies none,eplb --skew zipf:1.2");
  expect_verified(doc);
  for (const auto& run : doc["runs"]) {
    const auto& raw = run["per_rank"]["phase_us_samples"];
    const auto& totals = run["samples"]["total_us"];
    const size_t n = totals.size();
    ASSERT_EQ(n, size_t(6 * 2));
    for (size_t i = 0; i < n; ++i) {
      // The step is never shorter than the slowest rank's phases one after the other.
      double slowest_sum = 0;
      for (const auto& p : kPhases) {
        double slowest = 0;
        for (const auto& rank : raw[p]) slowest = std::max(slowest, rank[i].get<double>());
        slowest_sum += slowest;
      }
      EXPECT_GE(totals[i].get<double>() * (1 + 1e-9), slowest_sum) << run["policy"] << " " << i;
    }
    const auto& sum = run["summary"];
    const double total_us = sum["phases_us"]["total"]["median"].get<double>();
    EXPECT_NEAR(sum["tokens_per_s"].get<double>(), 4 * 64 / (total_us * 1e-6),
                1e-6 * sum["tokens_per_s"].get<double>());
    // The step spans the sum of its phase spans (barriers in between).
    EXPECT_GE(total_us * (1 + 1e-9), sum["sum_of_phase_spans_us"]["median"].get<double>());
    // Interleaved balanced reference and efficiency baseline: one per measured sample.
    EXPECT_EQ(sum["tax"]["total"]["count"], n);
    EXPECT_EQ(sum["balanced_phases_us"]["ffn"]["count"], n);
    EXPECT_GT(sum["ffn_vs_gemm"]["count"].get<size_t>(), n);  // ranks x samples with rows
    EXPECT_FALSE(sum.contains("baselines"));  // the null test and the cold sgemm are gone
    // Few samples: no p99, the max is reported instead.
    EXPECT_FALSE(sum["phases_us"]["total"].contains("p99"));
  }
  EXPECT_EQ(doc["context"]["oversubscribed"].get<bool>(),
            4 > static_cast<int>(std::thread::hardware_concurrency()));
}

TEST_F(RunMpi, RepeatInterleavesAndPoolsRepetitions) {
  json doc = run_ok(2, kTiny + " --policies none,eplb --repeat 2");
  expect_verified(doc);
  for (const auto& run : doc["runs"]) {
    EXPECT_EQ(run["summary"]["repetitions"], 2);
    EXPECT_EQ(run["summary"]["repetition_total_us_median"].size(), 2u);
    EXPECT_EQ(run["samples"]["total_us"].size(), 2u * 3 * 2);  // reps x steps x layers
  }
  EXPECT_EQ(doc["scenario"]["repeat"], 2);
}

TEST_F(RunMpi, NoPhaseBarriersReportsTheStep) {
  json doc = run_ok(2, kTiny + " --policies none --no-phase-barriers");
  expect_verified(doc);
  EXPECT_FALSE(doc["scenario"]["phase_barriers"].get<bool>());
  EXPECT_FALSE(doc["runs"][0]["summary"]["phase_barriers"].get<bool>());
  EXPECT_GT(doc["runs"][0]["summary"]["phases_us"]["total"]["median"].get<double>(), 0.0);
}

TEST_F(RunMpi, ReplacementThatMovesNothingIsCheap) {
  // A trace with the same counts every step: every re-placement after the first finds the
  // placement it already has, moves nothing and must cost (almost) nothing.
  std::string trace = "step,layer";
  for (int e = 0; e < 16; ++e) trace += ",e" + std::to_string(e);
  trace += "\n";
  for (int step = 0; step < 20; ++step)
    trace += std::to_string(step) + ",*,90,10,5,5,5,5,5,5,5,5,5,5,5,5,5,5\n";
  json doc = run_ok(2, kTinyShape + " --steps 6 --policies eplb --experts 16 --groups 4"
                       " --topk-groups 2 --rebalance-every 2 --window 2 --trace " +
                           write("t.csv", trace));
  expect_verified(doc);
  const auto& mig = doc["runs"][0]["summary"]["migration"];
  ASSERT_EQ(mig["per_event_ms"].size(), 3u);  // after warm-up, then at steps 2 and 4
  ASSERT_EQ(mig["per_event_experts_moved"].size(), 3u);
  for (size_t e = 1; e < 3; ++e) {
    EXPECT_EQ(mig["per_event_experts_moved"][e], 0);
    EXPECT_LT(mig["per_event_ms"][e].get<double>(), 10.0);
  }
  EXPECT_EQ(mig["placement_compute_us"].size(), 3u);
  const auto& sum = doc["runs"][0]["summary"];
  EXPECT_LE(sum["amortized_tokens_per_s"].get<double>(), sum["tokens_per_s"].get<double>() * 2);
}

TEST_F(RunMpi, StoppedRankIsNamedAndTheJobExitsThree) {
  // Rank 1 is stopped (SIGSTOP) once the run is under way; the watchdog must name it.
  const std::string out = (dir_ / "stall.json").string();
  const std::string cmd =
      "( for i in $(seq 60); do sleep 0.5; for p in $(pgrep -f 'epbench run.*" + out + "'); do "
      "if grep -qz '^OMPI_COMM_WORLD_RANK=1$' /proc/$p/environ 2>/dev/null; then "
      "sleep 8; kill -STOP $p; exit 0; fi; done; done ) & ";
  auto r = run_process(
      cmd + "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
            "OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo "
            "OMPI_MCA_rmaps_base_oversubscribe=1 timeout 60 " MPIEXEC " " MPIEXEC_FLAGS
            " -np 2 " EPBENCH_BINARY " run" + kTinyShape +
      " --steps 100000 --policies none --step-timeout 2 --output " + out);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  // Stopped outside a collective: rank 0 names it at the next barrier. Stopped inside one (a
  // narrow window): rank 0's watchdog thread says where it is stuck.
  EXPECT_TRUE(r.err.find("rank 1 did not reach") != std::string::npos ||
              r.err.find("rank 0 has been stuck") != std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(RunMpi, BadInputRepeatAndTimeout) {
  expect_bad_input(2, kTiny + " --repeat 0", "--repeat must be between 1 and 1000");
  expect_bad_input(2, kTiny + " --step-timeout 0", "--step-timeout must be");
}

}  // namespace

namespace {

TEST_F(RunMpi, TrafficMatrixForNcclTestsPerPolicy) {
  const std::string prefix = (dir_ / "dispatch.matrix").string();
  json doc = run_ok(2, kTiny + " --policies none,eplb --traffic-matrix " + prefix);
  expect_verified(doc);
  for (const char* policy : {"none", "eplb"}) {
    std::ifstream in(dir_ / (std::string("dispatch.") + policy + ".matrix"));
    ASSERT_TRUE(in) << policy;
    int64_t total = 0, v = 0, cells = 0;
    while (in >> v) {
      EXPECT_EQ(v % 16, 0);  // nccl-tests rounds cells down to 16 bytes
      total += v;
      ++cells;
    }
    EXPECT_EQ(cells, 4);
    // Every (token, k) row of one layer step, 128 bytes each (64 bf16), rounded down per cell.
    EXPECT_NEAR(double(total), 2.0 * 64 * 2 * 128, 4 * 16.0);
  }
  // Never overwritten: a second run naming the same files is refused up front.
  expect_bad_input(2, kTiny + " --policies none,eplb --traffic-matrix " + prefix, "exists");
}

}  // namespace

namespace {

TEST_F(RunMpi, ProgressOnRankZeroOnly) {
  const std::string out = (dir_ / "p.json").string();
  auto r = mpirun(2, kTiny + " --policies none --progress --output " + out);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("none  step 5/5  ETA"), std::string::npos) << r.err;
  size_t count = 0;
  for (size_t pos = 0; (pos = r.err.find("step 1/5", pos)) != std::string::npos; ++pos) ++count;
  EXPECT_EQ(count, 1u) << r.err;
}

}  // namespace
