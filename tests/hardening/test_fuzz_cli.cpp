// Bounded fuzzing of the epbench command itself: seeded mutations of valid inputs (results files,
// scenario JSON, placement problems, load CSVs, traces) given to validate, compare, place and
// run. Every case must end with exit 0 or 2, an exit 2 with exactly one stderr line, never a
// signal, never a hang (each case runs under `timeout`). The in-process fuzzer
// (test_fuzz_parsers.cpp) covers many more cases per second; this one checks what the user
// sees. Deterministic seeds; EPBENCH_FUZZ_SECONDS (default 20) bounds the wall time.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>

#include "../common/run_process.hpp"

namespace fs = std::filesystem;
using epbench::testing::run_process;
using epbench::testing::slurp;

namespace {

const std::string kBinary = EPBENCH_BINARY;
const std::string kSource = EPBENCH_SOURCE_DIR;

struct Target {
  const char* name;
  std::string seed_text;
  std::string extension;
  std::string command;  // "{}" = the mutated file
};

std::string mutate(std::mt19937_64& rng, std::string text) {
  auto below = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  static const std::string kTokens[] = {"1e400", "-1", "4294967297", "64.9", "[", "{", "\"",
                                        ",", "\n", "null", "*", "18446744073709551616"};
  for (int i = 0, n = 1 + static_cast<int>(below(3)); i < n && !text.empty(); ++i) {
    const size_t pos = below(text.size());
    switch (below(4)) {
      case 0: text[pos] = static_cast<char>(below(256)); break;
      case 1: text.insert(pos, kTokens[below(std::size(kTokens))]); break;
      case 2: text.erase(pos, 1 + below(8)); break;
      default: text.insert(pos, std::string(1, '\0')); break;
    }
  }
  return text;
}

TEST(FuzzCli, ExitZeroOrTwoWithOneLineNeverASignalOrHang) {
  const fs::path dir = fs::temp_directory_path() / ("epbench_fuzz_cli_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string results = kSource + "/tests/results/data/dgx-h100/ds-mini_np4.json";
  // Tiny shapes as flags: they override the scenario's, so no mutation turns into a long run.
  const std::string tiny = " --hidden 8 --ffn 8 --tokens-per-rank 8 --layers 2 --warmup 1"
                           " --steps 1 --output-dir " + (dir / "out").string();
  const std::vector<Target> targets = {
      {"validate", slurp(results), ".json", "validate {}"},
      {"compare", slurp(results), ".json", "compare " + results + " {}"},
      {"place-json",
       R"({"weight": [[10, 20, 30, 40], [5, 5, 5, 80]], "num_replicas": 8, "num_groups": 2,)"
       R"( "num_nodes": 2, "num_gpus": 4})",
       ".json", "place --input {}"},
      {"place-csv", "# loads\n10,20,30,40\n5,5,5,80\n", ".csv",
       "place --loads {} --replicas 8 --gpus 4 --groups 2 --nodes 2"},
      {"run-scenario",
       R"({"model": {"num_experts": 16, "top_k": 2, "n_group": 4, "topk_group": 2},)"
       R"( "skew": "zipf:1.2", "seed": 3, "policies": ["none", "eplb"], "verify": "sample:4"})",
       ".json", "run --scenario {}" + tiny},
      {"run-trace", "step,layer,e0,e1,e2,e3,e4,e5,e6,e7,e8,e9,e10,e11,e12,e13,e14,e15\n"
                    "0,*,9,1,1,1,1,1,1,1,1,1,1,1,1,1,1,7\n1,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16\n"
                    "1,1,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3\n",
       ".csv", "run --trace {}" + tiny},
  };
  const char* env = std::getenv("EPBENCH_FUZZ_SECONDS");
  const double budget = env ? std::atof(env) : 20.0;
  const auto start = std::chrono::steady_clock::now();
  std::mt19937_64 rng(13);
  int cases = 0, refused = 0;
  for (int round = 0; round < 1000; ++round) {
    for (const Target& t : targets) {
      if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > budget)
        goto done;
      const fs::path input = dir / (std::string("case") + t.extension);
      std::ofstream(input, std::ios::binary | std::ios::trunc) << mutate(rng, t.seed_text);
      std::string command = t.command;
      command.replace(command.find("{}"), 2, input.string());
      fs::remove_all(dir / "out");
      auto r = run_process("env OPENBLAS_NUM_THREADS=1 timeout 60 " + kBinary + " " + command);
      ++cases;
      const std::string what = std::string(t.name) + " case " + std::to_string(round) +
                               ", input kept as " + input.string() + ".failed";
      const bool ok = r.exit_code == 0 ||
                      (r.exit_code == 2 && std::count(r.err.begin(), r.err.end(), '\n') == 1);
      if (r.exit_code == 2) ++refused;
      if (!ok) {
        fs::copy_file(input, input.string() + ".failed", fs::copy_options::overwrite_existing);
        ADD_FAILURE() << what << ": exit " << r.exit_code << " (124 = hang, >128 = signal)"
                      << "\nstderr:\n" << r.err.substr(0, 2000);
        return;
      }
    }
  }
done:
  std::cout << cases << " command-line cases, " << refused << " refused with exit 2\n";
  EXPECT_GE(cases, static_cast<int>(targets.size()));
  fs::remove_all(dir);
}

}  // namespace
