// `epbench validate` and `epbench compare` end to end: output, formats and exit codes.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "../common/run_process.hpp"

namespace fs = std::filesystem;
using epbench::testing::run_process;

namespace {

const std::string kBinary = EPBENCH_BINARY;
const std::string kData = EPBENCH_RESULTS_DATA;
const std::string kBad = EPBENCH_RESULTS_BAD;
const std::string kH100 = kData + "/dgx-h100/ds-mini_np4.json";
const std::string kA100 = kData + "/a100-cluster/ds-mini_np4.json";

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

TEST(ResultsCli, ValidateOk) {
  auto r = run_process(kBinary + " validate " + kH100 + " " + kA100);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ok " + kH100 + "\nok " + kA100 + "\n");
}

TEST(ResultsCli, ValidateFolder) {
  auto r = run_process(kBinary + " validate " + kData);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines(r.out), 7) << r.out;
}

TEST(ResultsCli, ValidateStopsAtTheFirstInvalidFile) {
  auto r = run_process(kBinary + " validate " + kH100 + " " + kBad + "/schema_v3.json " + kA100);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "ok " + kH100 + "\n");
  EXPECT_NE(r.err.find("schema_v3.json: schema_version: version 3 is not supported"),
            std::string::npos) << r.err;
  EXPECT_EQ(lines(r.err), 1) << r.err;
}

TEST(ResultsCli, ValidateMissingAndMalformed) {
  auto r = run_process(kBinary + " validate /nonexistent.json");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no such file"), std::string::npos) << r.err;
  const fs::path bad = fs::temp_directory_path() / ("epbench_bad_" + std::to_string(::getpid()) + ".json");
  std::ofstream(bad) << "{\"schema\": ";
  r = run_process(kBinary + " validate " + bad.string());
  fs::remove(bad);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("malformed JSON"), std::string::npos) << r.err;
}

TEST(ResultsCli, CompareTable) {
  auto r = run_process(kBinary + " compare " + kH100 + " " + kA100);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("[NVIDIA H100 80GB HBM3, 1x4, NVLink4 (NVSwitch)]"), std::string::npos);
  EXPECT_NE(r.out.find("[NVIDIA A100-SXM4-40GB, 2x2, InfiniBand HDR 200 Gb/s]"), std::string::npos);
  EXPECT_NE(r.out.find("dispatch_busbw_GBps"), std::string::npos);
  EXPECT_NE(r.out.find("slower"), std::string::npos);
}

TEST(ResultsCli, CompareFolderCsvListsUnmatched) {
  auto r = run_process(kBinary + " compare " + kData + " --format csv --metric total_us,tokens_per_s");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\nsection,metric,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(",total_us,"), std::string::npos);
  EXPECT_EQ(r.out.find(",ffn_us,"), std::string::npos);
  EXPECT_NE(r.out.find("# only in workstation/tiny_weak_np4.json: policy=none"), std::string::npos)
      << r.out;
}

TEST(ResultsCli, CompareMarkdown) {
  auto r = run_process(kBinary + " compare " + kH100 + " " + kA100 + " --format markdown");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| :--- |"), std::string::npos) << r.out;
}

TEST(ResultsCli, CompareErrors) {
  auto r = run_process(kBinary + " compare " + kH100 + " " + kBad);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("version 3 is not supported"), std::string::npos) << r.err;
  r = run_process(kBinary + " compare " + kH100);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("at least two"), std::string::npos) << r.err;
  r = run_process(kBinary + " compare " + kH100 + " " + kA100 + " --format xml");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown output format"), std::string::npos) << r.err;
  r = run_process(kBinary + " compare " + kH100 + " " + kA100 + " --metric speed");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown metric \"speed\""), std::string::npos) << r.err;
}

}  // namespace
