// End to end under a real mpirun: a fault on a late measured step must make `epbench run` fail
// verification (exit 1, #wrong > 0), with every token checked or with a sample; with the fault
// injector loaded but idle the same run passes. The injector is tests/fault/pmpi_corrupt.cpp.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "../common/run_process.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// np 2, 2 layers, 2 warm-up + 6 measured steps: each rank makes two payload MPI_Alltoallv calls
// (dispatch, combine) per layer step, so calls 1-8 are warm-up and 9-32 measured (more if
// unverified reference steps are interleaved). Six calls from call 30 on (rank 1 receives)
// reach at least one measured layer step late in the run, in any interleaving of up to four
// reference calls, and leave the first measured steps clean.
constexpr int kLateCall = 30, kCorruptedCalls = 6;
const std::string kScenario =
    " --hidden 64 --ffn 128 --tokens-per-rank 64 --layers 2 --warmup 2 --steps 6 --policies none";

struct RunResult {
  int exit_code = -1;
  std::string err;
  json verify;
};

RunResult run_with_injector(const std::string& name, int from_call, const std::string& verify) {
  const fs::path out = fs::temp_directory_path() /
                       ("epbench_fault_" + std::to_string(::getpid()) + "_" + name + ".json");
  fs::remove(out);
  const std::string env = " -x LD_PRELOAD=" EPBENCH_FAULT_LIBRARY
                          " -x EPBENCH_FAULT_FROM_CALL=" + std::to_string(from_call) +
                          " -x EPBENCH_FAULT_CALLS=" + std::to_string(kCorruptedCalls) +
                          " -x EPBENCH_FAULT_RANK=1";
  auto r = epbench::testing::run_process(
      "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1 "
      "OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo "
      "OMPI_MCA_rmaps_base_oversubscribe=1 timeout 120 " MPIEXEC " " MPIEXEC_FLAGS +
      env + " -np 2 " EPBENCH_BINARY " run" + kScenario + " --verify " + verify +
      " --output " + out.string());
  RunResult run{r.exit_code, r.err, json::object()};
  std::ifstream in(out);
  if (in) run.verify = json::parse(in)["runs"][0]["summary"]["verify"];
  fs::remove(out);
  return run;
}

TEST(FaultInjection, IdleInjectorChangesNothing) {
  const RunResult r = run_with_injector("idle", 0, "all");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("pmpi_corrupt"), std::string::npos) << r.err;
  ASSERT_FALSE(r.verify.empty());
  EXPECT_EQ(r.verify["checked_tokens"], 6 * 2 * 2 * 64);  // every token of every measured step
  EXPECT_EQ(r.verify["wrong"], 0);
  EXPECT_TRUE(r.verify["topk_rederived"].get<bool>());
}

TEST(FaultInjection, LateFaultFailsTheRun) {
  const RunResult r = run_with_injector("late", kLateCall, "all");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("pmpi_corrupt: rank 1 corrupted payload call " +
                       std::to_string(kLateCall)),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("verification found"), std::string::npos) << r.err;
  ASSERT_FALSE(r.verify.empty());
  const int64_t wrong = r.verify["wrong"].get<int64_t>();
  const int64_t checked = r.verify["checked_tokens"].get<int64_t>();
  EXPECT_GT(wrong, 0);
  EXPECT_LT(wrong, checked / 2) << "only late steps were corrupted";
  EXPECT_EQ(r.verify["topk_mismatches"], 0) << "the routing itself was not touched";
}

TEST(FaultInjection, LateFaultIsCaughtBySampledVerification) {
  const RunResult r = run_with_injector("sampled", kLateCall, "sample:16");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  ASSERT_FALSE(r.verify.empty());
  EXPECT_EQ(r.verify["checked_tokens"], 6 * 2 * 2 * 16);
  EXPECT_GT(r.verify["wrong"].get<int64_t>(), 0);
}

}  // namespace
