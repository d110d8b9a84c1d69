// `epbench place` end to end: the bundled example, JSON/CSV inputs, and every kind of bad input
// giving a one-line error and exit code 2.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../common/run_process.hpp"

namespace fs = std::filesystem;
using epbench::testing::run_process;

namespace {

const std::string kBinary = EPBENCH_BINARY;
const std::string kExample = std::string(EPBENCH_EXAMPLES_DIR) + "/deepseek-v3-zipf.json";

class PlaceCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("epbench_place_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  // Expects exit code 2 and a single stderr line containing `text`.
  void expect_input_error(const std::string& args, const std::string& text) {
    auto r = run_process(kBinary + " place " + args);
    EXPECT_EQ(r.exit_code, 2) << args << "\nstderr: " << r.err;
    EXPECT_NE(r.err.find(text), std::string::npos) << "stderr: " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr: " << r.err;
  }
  std::string problem(const std::string& weight, int replicas, int groups, int nodes, int gpus) {
    return write("p.json", "{\"weight\": " + weight + ", \"num_replicas\": " +
                               std::to_string(replicas) + ", \"num_groups\": " +
                               std::to_string(groups) + ", \"num_nodes\": " +
                               std::to_string(nodes) + ", \"num_gpus\": " +
                               std::to_string(gpus) + "}");
  }
  fs::path dir_;
};

TEST_F(PlaceCli, ExamplePrintsTable) {
  auto r = run_process(kBinary + " place --input " + kExample);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("balancedness_after"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("hierarchical"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("algorithm time"), std::string::npos) << r.out;
}

TEST_F(PlaceCli, OutputJsonHasAllFields) {
  const std::string out = (dir_ / "sub" / "placement.json").string();
  auto r = run_process(kBinary + " place --input " + kExample + " --output " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(out);
  auto doc = nlohmann::json::parse(in);
  for (const char* key : {"phy2log", "log2phy", "logcnt", "policy_used", "balancedness",
                          "gpu_loads", "algorithm_seconds"})
    EXPECT_TRUE(doc.contains(key)) << key;
  EXPECT_EQ(doc["policy_used"], "hierarchical");
  const int layers = static_cast<int>(doc["phy2log"].size());
  EXPECT_GT(layers, 0);
  EXPECT_EQ(doc["phy2log"][0].size(), 288u);
  EXPECT_EQ(doc["gpu_loads"][0].size(), 32u);
  for (const auto& b : doc["balancedness"]) {
    EXPECT_GT(b.get<double>(), 1.0 / 32);
    EXPECT_LE(b.get<double>(), 1.0);
  }
  EXPECT_GE(doc["algorithm_seconds"].get<double>(), 0.0);
  // No temporary file left beside the output.
  int files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_ / "sub")) ++files;
  EXPECT_EQ(files, 1);
}

TEST_F(PlaceCli, CsvMatchesJson) {
  const std::string csv = write("loads.csv", "# two layers\n5,1,1,1,2,2,9,3\n1,1,1,1,1,1,1,8\n");
  const std::string json = problem("[[5,1,1,1,2,2,9,3],[1,1,1,1,1,1,1,8]]", 12, 2, 2, 4);
  auto a = run_process(kBinary + " place --loads " + csv +
                       " --replicas 12 --groups 2 --nodes 2 --gpus 4 --output " +
                       (dir_ / "a.json").string());
  auto b = run_process(kBinary + " place --input " + json + " --output " +
                       (dir_ / "b.json").string());
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  auto ja = nlohmann::json::parse(std::ifstream(dir_ / "a.json"));
  auto jb = nlohmann::json::parse(std::ifstream(dir_ / "b.json"));
  EXPECT_EQ(ja["phy2log"], jb["phy2log"]);
  EXPECT_EQ(ja["logcnt"], jb["logcnt"]);
}

TEST_F(PlaceCli, PolicyNoneIsTheBaseline) {
  const std::string json = problem("[[5,1,1,1,2,2,9,3]]", 8, 2, 1, 4);
  auto r = run_process(kBinary + " place --policy none --input " + json + " --output " +
                       (dir_ / "n.json").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = nlohmann::json::parse(std::ifstream(dir_ / "n.json"));
  EXPECT_EQ(doc["phy2log"][0], nlohmann::json({0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST_F(PlaceCli, MissingFile) {
  expect_input_error("--input " + (dir_ / "nope.json").string(), "cannot read");
}
TEST_F(PlaceCli, UnreadableFile) {
  expect_input_error("--input " + dir_.string(), "is a directory");
}
TEST_F(PlaceCli, MalformedJson) {
  expect_input_error("--input " + write("bad.json", "{\"weight\": [[1,2,"), "malformed JSON");
}
TEST_F(PlaceCli, MissingField) {
  expect_input_error("--input " + write("m.json", "{\"weight\": [[1,2]], \"num_replicas\": 2}"),
                     "missing field \"num_groups\"");
}
TEST_F(PlaceCli, MalformedCsv) {
  expect_input_error("--loads " + write("bad.csv", "1,2,x,4\n") + " --replicas 4 --gpus 2",
                     "is not a number");
}
TEST_F(PlaceCli, RaggedCsv) {
  expect_input_error("--loads " + write("r.csv", "1,2,3,4\n1,2,3\n") + " --replicas 4 --gpus 2",
                     "ragged rows");
}
TEST_F(PlaceCli, RaggedJson) {
  expect_input_error("--input " + problem("[[1,2,3,4],[1,2]]", 4, 1, 1, 2), "ragged");
}
TEST_F(PlaceCli, NanLoad) {
  expect_input_error("--loads " + write("n.csv", "1,nan,3,4\n") + " --replicas 4 --gpus 2",
                     "NaN");
}
TEST_F(PlaceCli, NegativeLoad) {
  expect_input_error("--input " + problem("[[1,-2,3,4]]", 4, 1, 1, 2), "negative");
}
TEST_F(PlaceCli, InfiniteLoad) {
  expect_input_error("--loads " + write("i.csv", "1,inf,3,4\n") + " --replicas 4 --gpus 2",
                     "infinite");
}
TEST_F(PlaceCli, ZeroExperts) {
  expect_input_error("--input " + problem("[[]]", 4, 1, 1, 2), "zero experts");
}
TEST_F(PlaceCli, ExpertsNotDivisibleByGroups) {
  expect_input_error("--input " + problem("[[1,2,3,4,5,6]]", 8, 4, 1, 2),
                     "not divisible by 4 groups");
}
TEST_F(PlaceCli, ReplicasNotMultipleOfGpus) {
  expect_input_error("--input " + problem("[[1,2,3,4]]", 6, 1, 1, 4), "not a multiple of GPUs");
}
TEST_F(PlaceCli, FewerReplicasThanExperts) {
  expect_input_error("--input " + problem("[[1,2,3,4]]", 2, 1, 1, 2), "fewer replicas");
}
TEST_F(PlaceCli, GpusNotMultipleOfNodes) {
  expect_input_error("--input " + problem("[[1,2,3,4]]", 6, 1, 2, 3), "not a multiple of nodes");
}
TEST_F(PlaceCli, UnknownPolicy) {
  expect_input_error("--policy magic --input " + problem("[[1,2,3,4]]", 4, 1, 1, 2),
                     "unknown placement policy \"magic\"");
}
TEST_F(PlaceCli, UnknownFlag) {
  expect_input_error("--frobnicate 3", "frobnicate");
}

}  // namespace
