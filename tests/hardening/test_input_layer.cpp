// The input validation layer, unit by unit: file limits (common/files), the typed JSON reader
// (common/json_check), scenario fields, the results schema on hostile documents, placement
// loads near float32's limit, trace parsing scale and coverage, and the run's memory estimate.
// Each test names the finding of issue 13 it guards.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cfloat>
#include <fstream>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/json_check.hpp"
#include "gating/trace_replay.hpp"
#include "placement/memory_estimate.hpp"
#include "placement/problem_io.hpp"
#include "results/schema.hpp"
#include "suite/memory_estimate.hpp"
#include "suite/scenario.hpp"

namespace fs = std::filesystem;
using epbench::InputError;
using nlohmann::json;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("epbench_inputs_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return dir_ / name;
  }
  fs::path dir_;
};

// --- files ---------------------------------------------------------------------------------

using Files = TempDir;

TEST_F(Files, NonRegularFilesAreRefusedWithoutReading) {
  EXPECT_NE(error_of([] { epbench::read_text_file("/dev/zero"); }).find("not a regular file"),
            std::string::npos);
  ASSERT_EQ(::mkfifo((dir_ / "fifo").c_str(), 0600), 0);
  // Would block forever in open() or read() without a writer.
  EXPECT_NE(error_of([&] { epbench::read_text_file(dir_ / "fifo"); }).find("not a regular file"),
            std::string::npos);
  EXPECT_NE(error_of([&] { epbench::read_text_file(dir_); }).find("it is a directory"),
            std::string::npos);
  fs::create_symlink("loop", dir_ / "loop");
  EXPECT_NE(error_of([&] { epbench::read_text_file(dir_ / "loop"); }).find("symbolic links"),
            std::string::npos);
}

TEST_F(Files, SizeCapNulAndByteOrderMark) {
  const fs::path big = write("big", std::string(1000, 'x'));
  EXPECT_NE(error_of([&] { epbench::read_text_file(big, 999); }).find("larger than the input limit"),
            std::string::npos);
  EXPECT_EQ(epbench::read_text_file(big, 1000).size(), 1000u);
  const fs::path nul = write("nul.csv", std::string("1,2\n3,4") + '\0' + "5\n");
  EXPECT_NE(error_of([&] { epbench::read_text_file(nul); }).find("line 2 holds a NUL byte"),
            std::string::npos);
  EXPECT_EQ(epbench::read_text_file(write("bom.csv", "\xEF\xBB\xBF" "1,2\n")), "1,2\n");
}

TEST_F(Files, JsonDepthAndNumberRangeAreInputErrorsNamingTheSource) {
  const std::string deep = std::string(60000, '[') + std::string(60000, ']');
  EXPECT_NE(error_of([&] { epbench::parse_json_text(deep, "d.json"); })
                .find("d.json: malformed JSON: nested 60000 levels deep"),
            std::string::npos);
  // Brackets inside strings do not count.
  EXPECT_NO_THROW(epbench::parse_json_text("[\"" + std::string(1000, '[') + "\"]", "s"));
  EXPECT_NO_THROW(epbench::parse_json_text(std::string(512, '[') + std::string(512, ']'), "s"));
  EXPECT_EQ(error_of([] { epbench::parse_json_text("{\"a\": 1e400}", "n.json"); }),
            "n.json: malformed JSON: number overflow parsing '1e400'");
}

TEST_F(Files, OutputPathIsCheckedBeforeAnyWork) {
  const fs::path file = write("afile", "x");
  EXPECT_NE(error_of([&] { epbench::check_output_path(file); }).find("the file exists"),
            std::string::npos);
  EXPECT_NO_THROW(epbench::check_output_path(file, /*overwrite=*/true));
  EXPECT_NE(error_of([&] { epbench::check_output_path(file / "x.json"); }).find("is not a folder"),
            std::string::npos);
  EXPECT_NE(error_of([&] { epbench::check_output_path(file / "a" / "b" / "x.json"); })
                .find("is not a folder"),
            std::string::npos);
  EXPECT_NE(error_of([&] { epbench::check_output_path(dir_); }).find("it is a folder"),
            std::string::npos);
  EXPECT_NE(error_of([] { epbench::check_output_path("/proc/epbench-x/r.json"); })
                .find("cannot create folder"),
            std::string::npos);
  // A missing folder is created; nothing else is left behind.
  EXPECT_NO_THROW(epbench::check_output_path(dir_ / "new" / "r.json"));
  EXPECT_TRUE(fs::is_directory(dir_ / "new"));
  EXPECT_TRUE(fs::is_empty(dir_ / "new"));
}

// --- typed JSON reader -----------------------------------------------------------------------

TEST(JsonChecker, IntegersAreRangeAndTypeChecked) {
  const epbench::JsonChecker c("f.json");
  EXPECT_EQ(c.int32(json(7), "x", 1), 7);
  EXPECT_EQ(error_of([&] { c.int32(json(4294967297LL), "x", 1); }),
            "f.json: x: must be in [1, 2147483647], got 4294967297");
  EXPECT_EQ(error_of([&] { c.int32(json(64.9), "x", 1); }),
            "f.json: x: expected an integer, got number 64.9");
  EXPECT_NE(error_of([&] { c.integer(json(18446744073709551615ULL), "x", 0); }).find("must be >= 0"),
            std::string::npos);
  EXPECT_EQ(c.unsigned_integer(json(18446744073709551615ULL), "seed"), 18446744073709551615ULL);
  EXPECT_NE(error_of([&] { c.unsigned_integer(json(-1), "seed"); }).find("got number -1"),
            std::string::npos);
  EXPECT_NE(error_of([&] { c.number(json(-0.5), "d", 0.0); }).find("finite number >= 0"),
            std::string::npos);
}

TEST(JsonChecker, DescriptionsAreBoundedAndNonRecursive) {
  json deep = json::array();
  json* inner = &deep;
  for (int i = 0; i < 100000; ++i) inner = &inner->emplace_back(json::array());
  EXPECT_EQ(epbench::describe_json(deep), "array of 1 entries");
  const std::string long_text(30000, 'a');
  EXPECT_LT(epbench::describe_json(json(long_text)).size(), 100u);
  EXPECT_NE(epbench::quote_for_message(long_text).find("(30000 characters)"), std::string::npos);
  const epbench::JsonChecker c("f");
  EXPECT_NE(error_of([&] { c.known_keys(json{{"zz", 1}}, "model", {"a", "b"}); })
                .find("model.\"zz\": unknown field (known: a, b)"),
            std::string::npos);
}

// --- scenario --------------------------------------------------------------------------------

std::string scenario_error(const std::string& text) {
  epbench::Scenario s = epbench::preset("small");
  return error_of([&] { epbench::apply_scenario_json(json::parse(text), "s.json", s); });
}

TEST(ScenarioFields, IntegersAreNeverTruncatedOrWrapped) {
  EXPECT_NE(scenario_error(R"({"tokens_per_rank": 4294967297})").find("must be in [1, 2147483647]"),
            std::string::npos);
  EXPECT_NE(scenario_error(R"({"tokens_per_rank": 64.9})").find("expected an integer, got number 64.9"),
            std::string::npos);
  EXPECT_NE(scenario_error(R"({"seed": -1})").find("seed: expected an integer"), std::string::npos);
  EXPECT_NE(scenario_error(R"({"model": {"hiden": 3}})").find("model.\"hiden\": unknown model field"),
            std::string::npos);
  EXPECT_NE(scenario_error(R"({"preset": 5})").find("preset: expected a string, got number 5"),
            std::string::npos);
  EXPECT_NE(scenario_error(R"({"num_redundant_experts": -2})").find("must be in [-1,"),
            std::string::npos);
  EXPECT_NE(scenario_error(R"({"policies": ["eplb", 3]})").find("policies[1]: expected a string"),
            std::string::npos);
  epbench::Scenario s = epbench::preset("small");
  epbench::apply_scenario_json(json::parse(R"({"seed": 18446744073709551615, "drift": 0.5})"),
                               "s", s);
  EXPECT_EQ(s.seed, 18446744073709551615ULL);
  EXPECT_EQ(s.drift, 0.5);
}

TEST(ScenarioFields, RangeChecksThatNeedTheWholeScenario) {
  epbench::Scenario s = epbench::preset("small");
  s.num_redundant_experts = -5;
  EXPECT_NE(error_of([&] { s.validate_for(2); }).find("redundant experts must be >= 0"),
            std::string::npos);
  s.num_redundant_experts = 2147483646;
  EXPECT_NE(error_of([&] { s.validate_for(2); }).find("replicas, more than 2147483647"),
            std::string::npos);
  s = epbench::preset("small");
  // Skew parameters are bounded where they are parsed: hot:2:1e308 summed to infinity (NaN
  // routing), zipf:2000 underflowed to a zero share, group:S:1e300 and hot:1e300:X did not
  // convert to int (undefined behaviour).
  s.skew = "hot:2:1e308";
  EXPECT_NE(error_of([&] { s.validate(); }).find("X must be in [1, 1e12]"), std::string::npos);
  s.skew = "zipf:2000";
  EXPECT_NE(error_of([&] { s.validate(); }).find("S must be in (0, 64]"), std::string::npos);
  s.skew = "group:1:1e300";
  EXPECT_NE(error_of([&] { s.validate(); }).find("G must be an integer in [1, 65536]"),
            std::string::npos);
  s.skew = "hot:1e300:2";
  EXPECT_NE(error_of([&] { s.validate(); }).find("K must be an integer in [1, 65536]"),
            std::string::npos);
  s = epbench::preset("small");
  s.drift = 1e300;  // drift * step overflowed to infinity: NaN ranks
  EXPECT_NE(error_of([&] { s.validate(); }).find("drift must be a number in [0, "),
            std::string::npos);
  s.drift = s.model.num_experts;  // a full rotation per step: allowed
  EXPECT_NO_THROW(s.validate());
  s = epbench::preset("small");
  s.skew = "bogus";
  s.trace = "some.csv";  // a trace replaces the router, but the recorded skew must still be valid
  EXPECT_NE(error_of([&] { s.validate(); }).find("unknown distribution"), std::string::npos);
  s = epbench::preset("small");
  s.model.num_experts = 10000000;
  s.model.n_group = 1;
  s.model.topk_group = 1;
  EXPECT_NE(error_of([&] { s.validate(); }).find("more than the supported"), std::string::npos);
}

// --- memory estimate -------------------------------------------------------------------------

TEST(MemoryEstimate, CountsBuffersThatGrowWithExpertsSlotsAndLayers) {
  epbench::Scenario s = epbench::preset("small");
  const double base = epbench::rank_memory_bytes(s, 2, true);
  epbench::Scenario more = s;
  more.model.num_experts *= 64;
  // The old estimate counted only weights and token buffers: with hidden = ffn = 1 it saw
  // nothing of 10M experts' router logits.
  EXPECT_GT(epbench::rank_memory_bytes(more, 2, true), base);
  more = s;
  more.model.hidden = more.model.ffn = 1;
  more.model.num_experts = 65536;
  more.model.n_group = more.model.topk_group = 1;
  more.tokens_per_rank = 20000;
  EXPECT_GT(epbench::rank_memory_bytes(more, 1, true), 20000.0 * 65536 * 4);  // logits
  more = s;
  more.num_redundant_experts = 1 << 28;
  EXPECT_GT(epbench::rank_memory_bytes(more, 2, true), double(1 << 28) * 16);
  EXPECT_NE(error_of([&] {
              epbench::require_rank_memory(more, 2, 2, 8.0 * (1 << 30), true);
            }).find("scenario needs about"),
            std::string::npos);
  EXPECT_NO_THROW(epbench::require_rank_memory(s, 2, 2, 8.0 * (1 << 30), true));
}

// `place --replicas 1073741824` allocated until bad_alloc: EPLB bounds no size (its golden
// data has more slots than experts per GPU), so the bound is the host's memory.
TEST(MemoryEstimate, PlaceCountsBuffersThatGrowWithSlotsAndLayers) {
  epbench::EplbProblem p;
  p.num_layers = 2;
  p.num_experts = 4;
  p.weight = {10, 20, 30, 40, 5, 5, 5, 80};
  p.num_replicas = 8;
  p.num_gpus = 4;
  p.num_threads = 1;
  const double base = epbench::total_bytes(epbench::place_memory_terms(p, true));
  epbench::EplbProblem more = p;
  more.num_replicas = 1 << 30;
  more.num_gpus = 1;
  // At least phy2log and log2phy (int32 each) per slot and layer.
  EXPECT_GT(epbench::total_bytes(epbench::place_memory_terms(more, false)),
            8.0 * more.num_layers * more.num_replicas);
  more = p;
  more.num_layers = 2000;
  more.weight.resize(size_t(2000) * 4, 1.0);
  EXPECT_GT(epbench::total_bytes(epbench::place_memory_terms(more, true)), 500 * base);
  // The JSON output's log2phy is as wide as the hottest expert's replicas (known afterwards).
  EXPECT_GT(epbench::total_bytes(epbench::place_memory_terms(p, true, 1000)),
            p.num_layers * p.num_experts * 1000.0 * 16);
  EXPECT_EQ(epbench::total_bytes(epbench::place_memory_terms(p, false, 1000)), 0.0);

  more = p;
  more.num_replicas = 1 << 30;
  more.num_gpus = 1;
  EXPECT_NE(error_of([&] { epbench::require_place_memory(more, false, 0, 16.0 * (1 << 30)); })
                .find("2 layers x 4 experts -> 1073741824 replicas on 1 GPUs needs about"),
            std::string::npos);
  EXPECT_NO_THROW(epbench::require_place_memory(p, true, 0, 16.0 * (1 << 30)));
  EXPECT_NO_THROW(epbench::require_place_memory(more, false, 0, 0.0));  // unknown: no check
}

// --- results schema ---------------------------------------------------------------------------

json example_results(const std::string& name = "dgx-h100/ds-mini_np4.json") {
  std::ifstream in(std::string(EPBENCH_SOURCE_DIR) + "/tests/results/data/" + name);
  return json::parse(in);
}

TEST(ResultsSchema, LongDateIsRefusedWithoutRegexRecursion) {
  json doc = example_results();
  doc["context"]["date_utc"] = "2026-11-20T14:03:11Z" + std::string(29980, '1');
  EXPECT_NE(error_of([&] { epbench::validate_results(doc, "x.json"); })
                .find("context.date_utc: \"2026-11-20T14:03:11Z111"),
            std::string::npos);
  for (const char* ok : {"2026-11-20T14:03:11Z", "2026-11-20T14:03", "2026-11-20T14:03:11.123+01:00",
                         "2026-11-20T14:03:11-0500"}) {
    doc["context"]["date_utc"] = ok;
    EXPECT_NO_THROW(epbench::validate_results(doc, "x.json")) << ok;
  }
  for (const char* bad : {"2026-11-20", "2026-11-20T14:03:11.Z", "2026-11-20T14:03:11+1", "x"}) {
    doc["context"]["date_utc"] = bad;
    EXPECT_THROW(epbench::validate_results(doc, "x.json"), InputError) << bad;
  }
}

TEST(ResultsSchema, DeepExtraFieldsCostNothingToCheck) {
  json doc = example_results();
  json deep = json::array();
  json* inner = &deep;
  for (int i = 0; i < 100000; ++i) inner = &inner->emplace_back(json::array());
  doc["extra"] = std::move(deep);  // extra fields are allowed; the old check dumped them
  EXPECT_NO_THROW(epbench::validate_results(doc, "x.json"));
  doc["runs"][0] = json::array({json::array()});  // a describe() of a nested value
  EXPECT_NE(error_of([&] { epbench::validate_results(doc, "x.json"); })
                .find("runs[0]: expected an object, got array of 1 entries"),
            std::string::npos);
}

TEST(ResultsSchema, OptionalDispatchMustBeAString) {
  json doc = example_results();
  doc["scenario"]["dispatch"] = 5;
  EXPECT_NE(error_of([&] { epbench::validate_results(doc, "x.json"); })
                .find("scenario.dispatch: expected a string, got number 5"),
            std::string::npos);
}

TEST(ResultsSchema, HugeIntegersDoNotOverflowTheChecks) {
  json doc = example_results("a100-cluster/ds-mini_np4.json");  // 2 nodes
  doc["context"]["ranks_per_node"] = INT64_MAX;  // nodes x ranks per node must not wrap
  EXPECT_NO_THROW(epbench::validate_results(doc, "x.json"));
  doc = example_results();
  for (auto& b : doc["runs"][0]["per_rank"]["send_bytes"]) b = INT64_MAX;  // sums must not wrap
  EXPECT_NE(error_of([&] { epbench::validate_results(doc, "x.json"); }).find("does not match"),
            std::string::npos);
}

// --- placement inputs -------------------------------------------------------------------------

TEST(PlacementInputs, Float32OverflowOfLayerSumsIsRefused) {
  int rows = 0, cols = 0;
  const json near_max = json::array({json::array({3e38, 3e38, 3e38, 3e38})});
  EXPECT_NE(error_of([&] { epbench::parse_load_matrix(near_max, "p.json", rows, cols); })
                .find("beyond float32's range"),
            std::string::npos);
  const json fits = json::array({json::array({FLT_MAX / 8, FLT_MAX / 8, 1.0})});
  EXPECT_NO_THROW(epbench::parse_load_matrix(fits, "p.json", rows, cols));
}

using CsvLoads = TempDir;

TEST_F(CsvLoads, NulAndByteOrderMark) {
  epbench::EplbProblem p;
  // Old behaviour: "1,2<NUL>9" was read as 1,2 (the bytes after NUL dropped).
  EXPECT_NE(error_of([&] { epbench::read_loads_csv(write("n.csv", std::string("1,2") + '\0' + "9\n"), p); })
                .find("NUL byte"),
            std::string::npos);
  // Old behaviour: the BOM made field 1 "not a number".
  epbench::read_loads_csv(write("b.csv", "\xEF\xBB\xBF" "1,2,3\n"), p);
  EXPECT_EQ(p.num_experts, 3);
  EXPECT_EQ(p.weight[0], 1.0);
}

// --- trace replay -----------------------------------------------------------------------------

std::string trace_text(int steps, int layers, int experts) {
  std::string text = "step,layer";
  for (int e = 0; e < experts; ++e) text += ",e" + std::to_string(e);
  text += "\n";
  for (int s = 0; s < steps; ++s)
    for (int l = 0; l < layers; ++l) {
      text += std::to_string(s) + "," + std::to_string(l);
      for (int e = 0; e < experts; ++e) text += "," + std::to_string(1 + (s + l + e) % 7);
      text += "\n";
    }
  return text;
}

TEST(TraceReplay, ParsingScalesLinearly) {
  // 2000 steps x 60 layers = 120k rows. The old duplicate check compared each row with every
  // earlier one (86 s for 60k rows); this test's ctest TIMEOUT (see CMakeLists) fails that.
  const auto trace = epbench::gating::TraceReplay::parse(trace_text(2000, 60, 8), "t.csv", 8);
  EXPECT_EQ(trace.num_steps(), 2000);
  EXPECT_EQ(trace.recorded_counts(1999, 59)[0], 1 + (1999 + 59) % 7);
  EXPECT_NE(error_of([] {
              epbench::gating::TraceReplay::parse(trace_text(2, 1, 4) + "1,0,1,1,1,1\n", "t", 4);
            }).find("t:4: duplicate row for step 1 layer 0"),
            std::string::npos);
}

TEST(TraceReplay, CoverageIsCheckedBeforeTheRun) {
  const auto trace = epbench::gating::TraceReplay::parse(trace_text(3, 1, 4), "t.csv", 4);
  EXPECT_NO_THROW(trace.check_covers(1));
  EXPECT_EQ(error_of([&] { trace.check_covers(2); }),
            "t.csv: recorded step 0 has no row for layer 1 (nor a \"*\" row); the run has 2 layers");
  const auto star = epbench::gating::TraceReplay::parse(
      "step,layer,e0,e1\n0,*,1,2\n1,0,3,4\n1,1,1,1\n", "s.csv", 2);
  EXPECT_NO_THROW(star.check_covers(2));
  EXPECT_NE(error_of([&] { star.check_covers(3); }).find("recorded step 1 has no row for layer 2"),
            std::string::npos);
}

}  // namespace
