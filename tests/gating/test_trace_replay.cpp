// Trace replay: a small CSV written by the test is loaded, replayed across ranks, and the
// realized per-expert counts match the scaled trace; malformed traces raise InputError with
// file:line.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "gating/router.hpp"
#include "gating/trace_replay.hpp"

namespace epbench::gating {
namespace {

namespace fs = std::filesystem;

class GatingTrace : public ::testing::Test {
 protected:
  fs::path write(const std::string& name, const std::string& text) {
    const fs::path dir = fs::temp_directory_path() /
                         ("epbench_gating_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const fs::path path = dir / name;
    std::ofstream(path) << text;
    paths_.push_back(path);
    return path;
  }
  void TearDown() override {
    for (const auto& p : paths_) fs::remove(p);
  }
  std::vector<fs::path> paths_;
};

const char* kTrace =
    "# recorded from a 4-expert toy model\n"
    "step,layer,e0,e1,e2,e3\n"
    "0,*,40,30,20,10\n"
    "1,*,0,0,5,15\n"
    "1,2,1,1,1,1\n";

// Routes all ranks and sums the per-expert counts; checks per-token distinctness on the way.
std::vector<int64_t> replay_counts(const TraceReplay& trace, int step, int layer, int ranks,
                                   int tokens, int top_k) {
  std::vector<int64_t> total(trace.num_experts(), 0);
  for (int rank = 0; rank < ranks; ++rank) {
    std::vector<int32_t> ids(size_t(tokens) * top_k);
    std::vector<float> weights(ids.size());
    trace.route(step, layer, rank, ranks, tokens, top_k, ids, weights);
    for (int t = 0; t < tokens; ++t) {
      std::set<int32_t> unique(ids.begin() + t * top_k, ids.begin() + (t + 1) * top_k);
      EXPECT_EQ(int(unique.size()), top_k) << "rank " << rank << " token " << t;
      for (int i = 0; i < top_k; ++i) EXPECT_FLOAT_EQ(weights[t * top_k + i], 1.0f / top_k);
    }
    const auto counts = count_tokens_per_expert(ids, trace.num_experts());
    for (int e = 0; e < trace.num_experts(); ++e) total[e] += counts[e];
  }
  return total;
}

TEST_F(GatingTrace, LoadsAndReplaysScaledCounts) {
  const TraceReplay trace = TraceReplay::load(write("ok.csv", kTrace), 4);
  EXPECT_EQ(trace.num_steps(), 2);
  // Step 0, any layer: 40/30/20/10 of 4 ranks x 250 tokens x top-1 = 1000 slots.
  EXPECT_EQ(replay_counts(trace, 0, 0, 4, 250, 1), (std::vector<int64_t>{400, 300, 200, 100}));
  // Steps wrap: run step 2 replays recorded step 0. Top-2 of 1000 tokens: 2000 slots scaled
  // 800/600/400/200, all <= 1000 tokens.
  EXPECT_EQ(replay_counts(trace, 2, 5, 2, 500, 2), (std::vector<int64_t>{800, 600, 400, 200}));
  // Step 1: layer 2 has its own (uniform) row, other layers use the "*" row.
  EXPECT_EQ(replay_counts(trace, 1, 2, 2, 50, 1), (std::vector<int64_t>{25, 25, 25, 25}));
  EXPECT_EQ(replay_counts(trace, 1, 0, 2, 50, 1), (std::vector<int64_t>{0, 0, 25, 75}));
}

TEST_F(GatingTrace, CapsExpertsAtOneSlotPerToken) {
  const TraceReplay trace = TraceReplay::load(write("cap.csv", kTrace), 4);
  // Step 1 "*" (0,0,5,15) with top-2 over 100 tokens: 200 slots want 0/0/50/150, but e3 can
  // take at most 100; its excess goes to the uncapped experts.
  const auto target = trace.target_counts(1, 0, 100, 2);
  EXPECT_EQ(std::accumulate(target.begin(), target.end(), int64_t{0}), 200);
  EXPECT_EQ(target[3], 100);
  EXPECT_EQ(target[2], 100);
  EXPECT_EQ(replay_counts(trace, 1, 0, 1, 100, 2), target);
}

TEST_F(GatingTrace, LargestRemainderRoundingAndDeterminism) {
  const TraceReplay trace = TraceReplay::load(write("round.csv", kTrace), 4);
  const auto target = trace.target_counts(0, 0, 7, 1);  // 7 * (.4 .3 .2 .1) = 2.8 2.1 1.4 .7
  EXPECT_EQ(target, (std::vector<int64_t>{3, 2, 1, 1}));
  std::vector<int32_t> a(30), b(30), c(30);
  std::vector<float> w(30);
  trace.route(0, 0, 1, 3, 15, 2, a, w);
  trace.route(0, 0, 1, 3, 15, 2, b, w);
  trace.route(0, 0, 1, 3, 15, 2, c, w, /*seed=*/99);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST_F(GatingTrace, MalformedTracesNameFileAndLine) {
  struct Case {
    const char* name;
    std::string text;
    std::string expected;  // substring of the message
  };
  const std::vector<Case> cases = {
      {"empty.csv", "", "empty"},
      {"header_only.csv", "step,layer,e0,e1,e2,e3\n", "no data rows"},
      {"bad_header.csv", "time,layer,e0,e1,e2,e3\n0,*,1,1,1,1\n", ":1:"},
      {"mismatch.csv", "step,layer,e0,e1,e2\n0,*,1,1,1\n", "expected 4"},
      {"ragged.csv", "step,layer,e0,e1,e2,e3\n0,*,1,1,1,1\n1,*,1,1,1\n", ":3:"},
      {"negative.csv", "step,layer,e0,e1,e2,e3\n0,*,1,-1,1,1\n", ":2:"},
      {"fraction.csv", "step,layer,e0,e1,e2,e3\n0,*,1,1.5,1,1\n", "e1"},
      {"word.csv", "step,layer,e0,e1,e2,e3\n0,*,1,x,1,1\n", ":2:"},
      {"zeros.csv", "step,layer,e0,e1,e2,e3\n0,*,0,0,0,0\n", "all counts are zero"},
      {"dup.csv", "step,layer,e0,e1,e2,e3\n0,*,1,1,1,1\n\n0,*,2,2,2,2\n", ":4:"},
      {"bad_layer.csv", "step,layer,e0,e1,e2,e3\n0,all,1,1,1,1\n", "layer"},
  };
  for (const Case& c : cases) {
    const fs::path path = write(c.name, c.text);
    try {
      TraceReplay::load(path, 4);
      ADD_FAILURE() << c.name << ": expected InputError";
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(path.string()), std::string::npos) << c.name << ": " << msg;
      EXPECT_NE(msg.find(c.expected), std::string::npos) << c.name << ": " << msg;
    }
  }
  EXPECT_THROW(TraceReplay::load(fs::path("/nonexistent/trace.csv"), 4), InputError);
}

TEST_F(GatingTrace, MissingLayerRowIsAnInputError) {
  const TraceReplay trace = TraceReplay::load(
      write("layers.csv", "step,layer,e0,e1,e2,e3\n0,0,1,2,3,4\n0,1,4,3,2,1\n"), 4);
  EXPECT_EQ(trace.recorded_counts(0, 1), (std::vector<int64_t>{4, 3, 2, 1}));
  EXPECT_THROW(trace.recorded_counts(0, 2), InputError);
}

}  // namespace
}  // namespace epbench::gating
