// `epbench run` and its output location under a real mpirun: a bad output folder is refused
// before any step, once, with exit 2 on every rank; SLURM_JOB_ID cannot move the results file
// out of the output folder.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "../common/run_process.hpp"

namespace fs = std::filesystem;
using epbench::testing::run_process;

namespace {

const std::string kTiny =
    " --hidden 16 --ffn 16 --tokens-per-rank 16 --layers 1 --warmup 1 --steps 1";

class RunOutputs : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("epbench_outputs_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  epbench::testing::ProcessResult mpirun(int np, const std::string& env, const std::string& args) {
    return run_process(
        "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1 "
        "OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo "
        "OMPI_MCA_rmaps_base_oversubscribe=1 " + env + " timeout 120 " MPIEXEC " " MPIEXEC_FLAGS
        " -np " + std::to_string(np) + " " EPBENCH_BINARY " run " + args);
  }
  fs::path dir_;
};

TEST_F(RunOutputs, OutputFolderThatIsAFileIsRefusedBeforeAnyStep) {
  std::ofstream(dir_ / "afile") << "x";
  auto r = mpirun(2, "", kTiny + " --output-dir " + (dir_ / "afile").string());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  // One line from epbench (rank 0 only); mpirun adds its own banner about the exit code.
  size_t lines = 0;
  for (size_t pos = 0; (pos = r.err.find("epbench:", pos)) != std::string::npos; ++pos) ++lines;
  EXPECT_EQ(lines, 1u) << r.err;
  EXPECT_NE(r.err.find("afile is not a folder"), std::string::npos) << r.err;
  // Old behaviour: the whole run, its tables on stdout, then exit 1 and no file.
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST_F(RunOutputs, SlurmJobIdCannotLeaveTheOutputFolder) {
  const fs::path out = dir_ / "a" / "b";
  auto r = mpirun(1, "SLURM_JOB_ID=x/../../y", kTiny + " --output-dir " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir_))
    if (e.is_regular_file()) files.push_back(e.path());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].parent_path(), out);
  EXPECT_NE(files[0].filename().string().find("-x_.._.._y.json"), std::string::npos) << files[0];
}

}  // namespace
