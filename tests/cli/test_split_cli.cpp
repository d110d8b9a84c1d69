// `epbench split` end to end on a placement written by `epbench place --policy lplb`: table and
// JSON output, rows conserved per batch, lp never worse than round-robin and equal to its
// certified bound; every kind of bad input gives one line on stderr and exit code 2. Also the
// --lplb-topology flag of `place`.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../common/run_process.hpp"

namespace fs = std::filesystem;
using epbench::testing::run_process;

namespace {

const std::string kBinary = EPBENCH_BINARY;

class SplitCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("epbench_split_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    // 16 experts, 2 layers -> lplb cube on 8 GPUs (2 per GPU + 2 copies = 32 slots).
    std::string loads;
    for (int l = 0; l < 2; ++l) {
      for (int e = 0; e < 16; ++e) loads += (e ? "," : "") + std::to_string((e * 7 + l) % 11 + 1);
      loads += "\n";
    }
    write("loads.csv", loads);
    placement_ = (dir_ / "p.json").string();
    auto r = run_process(kBinary + " place --loads " + path("loads.csv") +
                         " --replicas 32 --gpus 8 --policy lplb --output " + placement_);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    // Batches: header, then layer + 16 counts.
    std::string batches = "layer";
    for (int e = 0; e < 16; ++e) batches += ",e" + std::to_string(e);
    batches += "\n0,90,3,4,0,5,60,7,8,1,2,3,4,5,6,7,8\n1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,100\n";
    write("b.csv", batches);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  nlohmann::json split_json(const std::string& rule) {
    const std::string out = path(rule + ".json");
    auto r = run_process(kBinary + " split --placement " + placement_ + " --loads " +
                         path("b.csv") + " --rule " + rule + " --output " + out);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::ifstream in(out);
    return nlohmann::json::parse(in);
  }
  void expect_input_error(const std::string& args, const std::string& text) {
    auto r = run_process(kBinary + " " + args);
    EXPECT_EQ(r.exit_code, 2) << args << "\nstderr: " << r.err;
    EXPECT_NE(r.err.find(text), std::string::npos) << args << "\nstderr: " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr: " << r.err;
  }
  std::string split_args(const std::string& placement, const std::string& loads) {
    return "split --placement " + placement + " --loads " + loads;
  }
  fs::path dir_;
  std::string placement_;
};

TEST_F(SplitCli, TableAndJson) {
  auto r = run_process(kBinary + " " + split_args(placement_, path("b.csv")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("max_gpu_load"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("lower_bound"), std::string::npos) << r.out;
  const std::vector<int64_t> totals = {213, 115};
  nlohmann::json lp = split_json("lp"), rr = split_json("round-robin"), lplb = split_json("lplb");
  for (const auto* doc : {&lp, &rr, &lplb}) {
    ASSERT_EQ((*doc)["batches"].size(), 2u);
    EXPECT_EQ((*doc)["num_gpus"], 8);
    for (size_t b = 0; b < 2; ++b) {
      const auto& batch = (*doc)["batches"][b];
      for (const char* key : {"layer", "max_gpu_load", "lower_bound", "balancedness", "solve_us",
                              "slot_tokens"})
        EXPECT_TRUE(batch.contains(key)) << key;
      EXPECT_EQ(batch["slot_tokens"].size(), 32u);
      int64_t sum = 0;
      for (const auto& x : batch["slot_tokens"]) sum += x.get<int64_t>();
      EXPECT_EQ(sum, totals[b]);
      EXPECT_GE(batch["max_gpu_load"].get<int64_t>(), batch["lower_bound"].get<int64_t>());
    }
  }
  for (size_t b = 0; b < 2; ++b) {
    EXPECT_EQ(lp["batches"][b]["max_gpu_load"], lp["batches"][b]["lower_bound"]);
    EXPECT_LE(lp["batches"][b]["max_gpu_load"].get<int64_t>(),
              rr["batches"][b]["max_gpu_load"].get<int64_t>());
    EXPECT_LE(lp["batches"][b]["max_gpu_load"].get<int64_t>(),
              lplb["batches"][b]["max_gpu_load"].get<int64_t>());
  }
  // The hot expert of batch 0 (90 rows) has a copy: lp beats the static equal share.
  EXPECT_LT(lp["batches"][0]["max_gpu_load"].get<int64_t>(),
            rr["batches"][0]["max_gpu_load"].get<int64_t>());
}

TEST_F(SplitCli, ShapeFromFlagsOrGpuLoads) {
  std::ifstream in(placement_);
  auto doc = nlohmann::json::parse(in);
  doc.erase("num_gpus");
  doc.erase("num_nodes");
  const std::string derived = write("derived.json", doc.dump());
  auto r = run_process(kBinary + " " + split_args(derived, path("b.csv")));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("8 GPUs from gpu_loads"), std::string::npos) << r.err;
  doc.erase("gpu_loads");
  const std::string bare = write("bare.json", doc.dump());
  expect_input_error(split_args(bare, path("b.csv")), "no num_gpus: give --gpus");
  r = run_process(kBinary + " " + split_args(bare, path("b.csv")) + " --gpus 8 --nodes 2");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("8 GPUs, 2 nodes"), std::string::npos) << r.out;
}

TEST_F(SplitCli, BadInput) {
  const std::string b = path("b.csv");
  expect_input_error(split_args(path("missing.json"), b), "cannot read");
  expect_input_error(split_args(write("bad.json", "{"), b), "malformed JSON");
  expect_input_error(split_args(write("nophy.json", "{\"num_gpus\": 8}"), b), "no \"phy2log\"");
  expect_input_error(split_args(write("ragged.json",
                                      "{\"num_gpus\": 2, \"phy2log\": [[0, 1], [0]]}"),
                                b),
                     "phy2log layer 1 is not a row of 2 slots");
  expect_input_error(
      split_args(write("neg.json", "{\"num_gpus\": 2, \"phy2log\": [[0, -1]]}"), b),
      "bad expert id -1");
  expect_input_error(
      split_args(write("gaps.json", "{\"num_gpus\": 2, \"num_experts\": 3, \"phy2log\": [[0, 1]]}"),
                 b),
      "2 slots cannot hold 3 experts");
  expect_input_error(split_args(placement_, path("missing.csv")), "cannot read");
  expect_input_error(split_args(placement_, write("empty.csv", "# nothing\n\n")), "no batch rows");
  expect_input_error(split_args(placement_, write("short.csv", "0,1,2\n")),
                     ":1: 3 fields, expected layer + 16 expert counts");
  std::string row = "0";
  for (int e = 0; e < 16; ++e) row += e == 3 ? ",-4" : ",1";
  expect_input_error(split_args(placement_, write("negative.csv", row + "\n")),
                     "count of expert 3 is negative");
  row = "7";
  for (int e = 0; e < 16; ++e) row += ",1";
  expect_input_error(split_args(placement_, write("layer.csv", row + "\n")),
                     "layer 7 outside the placement's 2 layers");
  row = "0";
  for (int e = 0; e < 16; ++e) row += e == 5 ? ",x" : ",1";
  expect_input_error(split_args(placement_, write("text.csv", "layer\n" + row + "\n")),
                     "field 7 is not an integer");
  expect_input_error(split_args(placement_, write("header.csv", "layer,e0\n0,1\n")),
                     "header must be layer,e0,...,e15");
  expect_input_error(split_args(placement_, b) + " --rule closest",
                     "unknown split rule \"closest\" (known: lp, round-robin, lplb)");
  expect_input_error("split --loads " + b, "--placement is required");
}

TEST_F(SplitCli, PlaceLplbTopologyFlag) {
  expect_input_error("place --loads " + path("loads.csv") +
                         " --replicas 32 --gpus 8 --policy lplb --lplb-topology ring",
                     "unknown LPLB topology \"ring\"");
  expect_input_error("place --loads " + path("loads.csv") +
                         " --replicas 32 --gpus 8 --policy lplb --lplb-topology hypercube",
                     "multiple of 16 GPUs, got 8");
  expect_input_error("place --loads " + path("loads.csv") +
                         " --replicas 24 --gpus 8 --policy lplb",
                     "use --redundant-experts 16");
  auto r = run_process(kBinary + " place --loads " + path("loads.csv") +
                       " --replicas 32 --gpus 8 --nodes 2 --policy lplb --lplb-topology torus");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("lplb:torus"), std::string::npos) << r.out;
}

}  // namespace
