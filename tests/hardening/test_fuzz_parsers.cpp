// In-process fuzzing of every parser: results files (validate, then compare what validate
// accepts), scenario JSON, placement problem JSON, load CSVs and trace CSVs. Inputs are seeded
// mutations of valid files: byte edits (flips, inserts, deletions, duplicated spans) and JSON-aware
// edits (a random value replaced by a hostile one: 1e308, -1, 2^32+1, 64.9, "", [], {}, null,
// deep nesting). Every parser must accept or throw InputError; anything else (another exception,
// and under the asan preset any memory error or undefined behaviour) fails. Deterministic per
// seed; bounded by EPBENCH_FUZZ_SECONDS (default 20) of wall time per parser group.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>

#include "common/error.hpp"
#include "common/files.hpp"
#include "gating/trace_replay.hpp"
#include "placement/problem_io.hpp"
#include "results/compare.hpp"
#include "results/schema.hpp"
#include "suite/scenario.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kSource = EPBENCH_SOURCE_DIR;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

double budget_seconds() {
  const char* v = std::getenv("EPBENCH_FUZZ_SECONDS");
  return v ? std::atof(v) : 20.0;
}

class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}
  size_t below(size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }

  std::string bytes(std::string text) {
    static const std::string kTokens[] = {
        "\0", "\xEF\xBB\xBF", ",", "\n", "\"", "[", "]", "{", "}", "-", "1e400", "-1",
        "4294967297", "9223372036854775808", "18446744073709551616", "64.9", "NaN", "null",
        "*", "\r\n", "0", "1e-400", "\xff\xfe", ":", "e"};
    const int edits = 1 + static_cast<int>(below(4));
    for (int i = 0; i < edits && !text.empty(); ++i) {
      const size_t pos = below(text.size());
      switch (below(5)) {
        case 0: text[pos] = static_cast<char>(below(256)); break;
        case 1: {
          const std::string& t = kTokens[below(std::size(kTokens))];
          text.insert(pos, t.empty() ? std::string(1, '\0') : t);
          break;
        }
        case 2: text.erase(pos, 1 + below(16)); break;
        case 3: text.insert(pos, text.substr(pos, 1 + below(64))); break;
        default: text.insert(pos, std::string(1 + below(3), "0123456789,-.\n"[below(14)])); break;
      }
    }
    return text;
  }

  json hostile_value() {
    switch (below(14)) {
      case 0: return 1e308;
      case 1: return -1;
      case 2: return 4294967297LL;
      case 3: return 64.9;
      case 4: return "";
      case 5: return json::array();
      case 6: return json::object();
      case 7: return nullptr;
      case 8: return true;
      case 9: return 18446744073709551615ULL;
      case 10: return INT64_MIN;
      case 11: return 0;
      case 12: return std::string(50000, 'x');
      default: {
        json deep = json::array();
        json* inner = &deep;
        for (int i = 0; i < 400; ++i) inner = &inner->emplace_back(json::array());
        return deep;
      }
    }
  }

  // Replaces, removes or adds one value somewhere in the document.
  json structured(json doc) {
    json* node = &doc;
    for (int depth = 0; depth < 8 && (node->is_object() || node->is_array()) && !node->empty();
         ++depth) {
      if (below(4) == 0 && depth > 0) break;
      const size_t pick = below(node->size());
      if (node->is_array()) {
        node = &(*node)[pick];
      } else {
        size_t k = 0;
        for (auto& [key, value] : node->items())
          if (k++ == pick) {
            node = &value;
            break;
          }
      }
    }
    switch (below(4)) {
      case 0:
        if (node->is_object() && !node->empty()) node->erase(node->begin());
        else *node = hostile_value();
        break;
      case 1:
        if (node->is_object()) (*node)["fuzz_extra"] = hostile_value();
        else *node = hostile_value();
        break;
      case 2:
        if (node->is_number()) *node = node->get<double>() * -3.0 + 1;
        else *node = hostile_value();
        break;
      default:
        *node = hostile_value();
    }
    return doc;
  }

 private:
  std::mt19937_64 rng_;
};

// Runs `check` on mutations of `seed_text` until the budget ends; counts the outcomes.
void fuzz(const std::string& name, const std::string& seed_text, bool is_json,
          const std::function<void(const std::string&)>& check) {
  const auto start = std::chrono::steady_clock::now();
  const double budget = budget_seconds() / 5;  // five parser groups share the budget
  Mutator m(std::hash<std::string>{}(name));
  json seed_doc = is_json ? json::parse(seed_text) : json();
  int accepted = 0, refused = 0, cases = 0;
  for (; cases < 20000; ++cases) {
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > budget)
      break;
    std::string text;
    if (is_json && m.below(2) == 0) {
      json doc = seed_doc;
      for (size_t k = 0, n = 1 + m.below(3); k < n; ++k) doc = m.structured(std::move(doc));
      text = doc.dump();
    } else {
      text = m.bytes(seed_text);
    }
    try {
      check(text);
      ++accepted;
    } catch (const epbench::InputError&) {
      ++refused;
    } catch (const std::exception& e) {
      ADD_FAILURE() << name << " case " << cases << ": " << typeid(e).name() << ": " << e.what()
                    << "\ninput (first 300 bytes): " << text.substr(0, 300);
      return;
    }
  }
  std::cout << name << ": " << cases << " cases, " << accepted << " accepted, " << refused
            << " refused\n";
  EXPECT_GT(cases, 50) << "fuzzing budget too small to mean anything";
  EXPECT_GT(refused, 0);
}

TEST(FuzzParsers, ResultsValidateThenCompare) {
  const std::string base_path = kSource + "/tests/results/data/dgx-h100/ds-mini_np4.json";
  const json base = json::parse(slurp(base_path));
  fuzz("results", slurp(base_path), true, [&](const std::string& text) {
    json doc = epbench::parse_json_text(text, "fuzz.json");
    epbench::validate_results(doc, "fuzz.json");
    // compare must accept exactly what validate accepts.
    epbench::Comparison cmp = epbench::compare_results({{"base", base}, {"fuzz", doc}}, {});
    epbench::comparison_report(cmp);
  });
}

TEST(FuzzParsers, Scenario) {
  const std::string seed = R"({"preset": "small", "name": "fuzz", "model": {"hidden": 64,
    "ffn": 128, "num_experts": 16, "top_k": 2, "n_group": 4, "topk_group": 2, "score": "softmax"},
    "tokens_per_rank": 64, "num_layers": 2, "warmup_steps": 1, "measured_steps": 2,
    "skew": "hot:2:4", "drift": 0.5, "trace": null, "seed": 7, "policies": ["none", "eplb"],
    "num_redundant_experts": 4, "replica_rule": "round-robin", "window_steps": 1,
    "rebalance_every": 0, "verify": "sample:8", "label": "x", "dispatch": "flat"})";
  fuzz("scenario", seed, true, [](const std::string& text) {
    epbench::Scenario s = epbench::preset("small");
    epbench::apply_scenario_json(epbench::parse_json_text(text, "fuzz.json"), "fuzz.json", s);
    s.trace.clear();
    s.validate_for(4);
    s.to_json().dump();
  });
}

TEST(FuzzParsers, PlacementProblemJson) {
  const std::string seed = R"({"weight": [[10, 20, 30, 40, 1, 2, 3, 4], [5, 5, 5, 80, 0, 0, 1, 9]],
    "num_replicas": 12, "num_groups": 2, "num_nodes": 2, "num_gpus": 4})";
  fuzz("problem", seed, true,
       [](const std::string& text) {
         epbench::EplbProblem p =
             epbench::problem_from_json(epbench::parse_json_text(text, "p.json"), "p.json");
         p.validate();
       });
}

class FuzzFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("epbench_fuzz_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& text) {
    const fs::path p = dir_ / "input";
    std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
    return p;
  }
  fs::path dir_;
};

TEST_F(FuzzFiles, LoadsCsv) {
  fuzz("loads_csv", "# loads\n10,20,30,40\n5,5,5,80\n1e3,0,2.5,7\n", false,
       [&](const std::string& text) {
         epbench::EplbProblem p;
         epbench::read_loads_csv(write(text), p);
         p.num_replicas = 8;
         p.num_gpus = 4;
         p.validate();
       });
}

TEST_F(FuzzFiles, TraceCsv) {
  const std::string seed = "step,layer,e0,e1,e2,e3\n0,*,10,20,30,40\n1,0,5,5,5,80\n1,1,1,0,0,0\n";
  fuzz("trace_csv", seed, false, [&](const std::string& text) {
    const auto trace = epbench::gating::TraceReplay::load(write(text), 4);
    trace.check_covers(2);
    std::vector<int32_t> ids(8 * 2);
    std::vector<float> weights(ids.size());
    for (int step = 0; step < 3; ++step)
      for (int layer = 0; layer < 2; ++layer)
        trace.route(step, layer, 0, 2, 8, 2, ids, weights, 1);
  });
}

}  // namespace
