// `epbench simulate` and `calibrate` end to end: a results file that validates and reads back
// through compare, and every bad input giving one line on stderr and exit code 2.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../common/run_process.hpp"

namespace fs = std::filesystem;
using epbench::testing::run_process;

namespace {

const std::string kBinary = EPBENCH_BINARY;

class SimulateCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("epbench_sim_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void expect_input_error(const std::string& args, const std::string& text) {
    auto r = run_process(kBinary + " " + args);
    EXPECT_EQ(r.exit_code, 2) << args << "\nstderr: " << r.err;
    EXPECT_NE(r.err.find(text), std::string::npos) << "stderr: " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr: " << r.err;
  }
  fs::path dir_;
};

}  // namespace

TEST_F(SimulateCli, WritesAValidSimulatedResultsFileThatCompareReads) {
  const std::string out = (dir_ / "sim.json").string();
  auto r = run_process(kBinary + " simulate --preset small --gpus 8 --gpus-per-node 4 --profile h100 --output " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("SIMULATED"), std::string::npos);
  EXPECT_NE(r.out.find("eplb"), std::string::npos);
  auto doc = nlohmann::json::parse(epbench::testing::slurp(out));
  EXPECT_TRUE(doc["simulated"].get<bool>());
  EXPECT_EQ(doc["profile"]["name"], "h100");
  EXPECT_EQ(doc["context"]["num_nodes"], 2);
  EXPECT_EQ(run_process(kBinary + " validate " + out).exit_code, 0);
  EXPECT_EQ(run_process(kBinary + " compare " + out + " " + out).exit_code, 0);
  expect_input_error("simulate --preset small --gpus 8 --gpus-per-node 4 --output " + out,
                     "never overwritten");
}

TEST_F(SimulateCli, BadInputIsOneLineAndExitCode2) {
  const std::string out = " --output " + (dir_ / "x.json").string();
  expect_input_error("simulate --gpus 6 --gpus-per-node 4" + out, "not a multiple");
  expect_input_error("simulate --gpus 8 --profile nosuch" + out, "unknown profile");
  expect_input_error("simulate --gpus 8 --routing magic" + out, "unknown --routing");
  expect_input_error("simulate --gpus 3 --gpus-per-node 1" + out, "not divisible");
  expect_input_error("simulate --gpus 8 --skew zipf:x" + out, "zipf");
  {
    std::ofstream(dir_ / "bad.json") << "{\"name\": \"b\"}";
    expect_input_error("simulate --gpus 8 --profile " + (dir_ / "bad.json").string() + out,
                       "missing profile field");
  }
  expect_input_error("calibrate", "give results files");
  expect_input_error("calibrate " + (dir_ / "none.json").string(), "none.json");
}
