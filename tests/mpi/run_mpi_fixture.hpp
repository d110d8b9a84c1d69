// The `epbench run` test fixture shared by the MPI test files: runs epbench under a real mpirun
// (root allowed, one BLAS thread, loopback only, oversubscription allowed, a 120 s timeout),
// parses and validates the results file, and checks bad input fails once with exit 2.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "../common/run_process.hpp"
#include "results/schema.hpp"

namespace fs = std::filesystem;
using epbench::testing::run_process;
using nlohmann::json;


const std::string kTinyShape = " --hidden 64 --ffn 128 --tokens-per-rank 64 --layers 2 --warmup 2";
const std::string kTiny = kTinyShape + " --steps 3";

class RunMpi : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("epbench_mpi_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs epbench under mpirun; a hang is turned into a failure by `timeout`. Root needs the
  // two OMPI_ALLOW variables; more ranks than cores need oversubscription; Open MPI's TCP
  // traffic stays on the loopback interface.
  epbench::testing::ProcessResult mpirun(int np, const std::string& args) {
    return run_process(
        "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1 "
        "OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo "
        "OMPI_MCA_rmaps_base_oversubscribe=1 "
        "timeout 120 " MPIEXEC " " MPIEXEC_FLAGS " -np " + std::to_string(np) +
        " " EPBENCH_BINARY " run " + args);
  }
  json run_ok(int np, const std::string& args, const std::string& name = "out.json") {
    const std::string out = (dir_ / name).string();
    auto r = mpirun(np, args + " --output " + out);
    EXPECT_EQ(r.exit_code, 0) << args << "\nstdout:\n" << r.out << "\nstderr:\n" << r.err;
    std::ifstream in(out);
    if (!in) return json::object();
    json doc = json::parse(in);
    EXPECT_NO_THROW(epbench::validate_results(doc, out));
    return doc;
  }
  void expect_bad_input(int np, const std::string& args, const std::string& text) {
    auto r = mpirun(np, args + " --output " + (dir_ / "bad.json").string());
    EXPECT_EQ(r.exit_code, 2) << args << "\nstderr:\n" << r.err;
    EXPECT_NE(r.err.find(text), std::string::npos) << "stderr:\n" << r.err;
    // Printed once, by rank 0, not by every rank.
    size_t count = 0;
    for (size_t pos = 0; (pos = r.err.find("epbench: error", pos)) != std::string::npos; ++pos)
      ++count;
    EXPECT_EQ(count, 1u) << r.err;
    EXPECT_FALSE(fs::exists(dir_ / "bad.json"));
  }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  fs::path dir_;
};

inline void expect_verified(const json& doc) {
  ASSERT_TRUE(doc.contains("runs"));
  for (const auto& run : doc["runs"]) {
    const auto& v = run["summary"]["verify"];
    EXPECT_GT(v["checked_tokens"].get<int64_t>(), 0);
    EXPECT_EQ(v["wrong"].get<int64_t>(), 0) << run["policy"];
    EXPECT_TRUE(v["tokens_conserved"].get<bool>()) << run["policy"];
    EXPECT_EQ(v["migrated_experts_wrong"].get<int64_t>(), 0);
    EXPECT_LT(v["max_rel_err"].get<double>(), 2e-2);
  }
}
