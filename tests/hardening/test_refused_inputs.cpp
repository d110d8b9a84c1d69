// The catalogue of refused inputs (docs/inputs.md) run as a test: every row's arguments are given
// to the epbench binary, which must exit 2 with exactly one stderr line containing the row's
// message. The document is the single list: a row added there is tested here, a refusal whose
// message changes fails here until the document says what the user now sees.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "../common/run_process.hpp"

namespace fs = std::filesystem;
using epbench::testing::run_process;
using epbench::testing::slurp;

namespace {

// EPBENCH_TEST_BINARY runs the catalogue against another build (e.g. an older one).
const std::string kBinary =
    std::getenv("EPBENCH_TEST_BINARY") ? std::getenv("EPBENCH_TEST_BINARY") : EPBENCH_BINARY;
const std::string kSource = EPBENCH_SOURCE_DIR;
const std::string kInputs = kSource + "/tests/hardening/inputs";
const std::string kData = kSource + "/tests/results/data";

struct CatalogueRow {
  int line = 0;
  std::string input, args, message;
};

std::string between_backticks(const std::string& cell) {
  const size_t a = cell.find('`'), b = cell.rfind('`');
  return a == std::string::npos || b <= a ? std::string() : cell.substr(a + 1, b - a - 1);
}

// Rows of the "## Catalogue" table: | input | `arguments` | `message` |.
std::vector<CatalogueRow> read_catalogue() {
  std::ifstream in(kSource + "/docs/inputs.md");
  std::vector<CatalogueRow> rows;
  std::string line;
  bool in_catalogue = false;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.rfind("## ", 0) == 0) in_catalogue = line == "## Catalogue";
    if (!in_catalogue || line.rfind("| ", 0) != 0) continue;
    std::vector<std::string> cells;
    for (size_t start = 1, bar; (bar = line.find(" |", start)) != std::string::npos;
         start = bar + 2)
      cells.push_back(line.substr(start, bar - start));
    if (cells.size() != 3 || cells[1].find('`') == std::string::npos) continue;  // header
    rows.push_back({n, cells[0], between_backticks(cells[1]), between_backticks(cells[2])});
  }
  return rows;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = text.find(from, pos)) != std::string::npos; pos += to.size())
    text.replace(pos, from.size(), to);
  return text;
}

class RefusedInputs : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = fs::temp_directory_path() / ("epbench_refused_" + std::to_string(::getpid()));
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
    std::ofstream(tmp_ / "afile") << "a regular file\n";
    ::mkfifo((tmp_ / "fifo.json").c_str(), 0600);
    fs::create_symlink("loop.json", tmp_ / "loop.json");
    std::ofstream(tmp_ / "deep.json") << std::string(60000, '[') << std::string(60000, ']');
    std::ofstream(tmp_ / "nul.csv") << "1,2,3,4\n1,2" << '\0' << "3,4\n";
    nlohmann::json doc = nlohmann::json::parse(slurp(kData + "/dgx-h100/ds-mini_np4.json"));
    nlohmann::json long_date = doc;
    long_date["context"]["date_utc"] = "2026-11-20T14:03:11Z" + std::string(29980, '1');
    std::ofstream(tmp_ / "long_date.json") << long_date.dump();
    doc["scenario"]["dispatch"] = 5;
    std::ofstream(tmp_ / "dispatch_number.json") << doc.dump();
  }
  static void TearDownTestSuite() { fs::remove_all(tmp_); }
  static fs::path tmp_;
};
fs::path RefusedInputs::tmp_;

TEST_F(RefusedInputs, EveryCatalogueRowExitsTwoWithOneLine) {
  const auto rows = read_catalogue();
  ASSERT_GE(rows.size(), 30u) << "docs/inputs.md catalogue not found or shrunk";
  for (const CatalogueRow& row : rows) {
    std::string args = replace_all(row.args, "$IN", kInputs);
    args = replace_all(args, "$DATA", kData);
    args = replace_all(args, "$TMP", tmp_.string());
    std::string quoted;
    for (size_t start = 0; start < args.size();) {
      size_t end = args.find(' ', start);
      if (end == std::string::npos) end = args.size();
      quoted += " '" + args.substr(start, end - start) + "'";
      start = end + 1;
    }
    // `timeout`: a hang fails the row (exit 124) instead of the whole test run.
    auto r = run_process("env OPENBLAS_NUM_THREADS=1 timeout 120 " + kBinary + quoted);
    SCOPED_TRACE("docs/inputs.md:" + std::to_string(row.line) + " (" + row.input +
                 "): epbench " + row.args);
    EXPECT_EQ(r.exit_code, 2) << "stderr:\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr:\n" << r.err;
    EXPECT_EQ(r.err.rfind("epbench: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(row.message), std::string::npos)
        << "expected \"" << row.message << "\" in:\n" << r.err;
    EXPECT_TRUE(r.out.empty()) << "a refused input must print no results:\n" << r.out;
  }
}

TEST_F(RefusedInputs, EveryFixtureIsCatalogued) {
  std::string all_args;
  for (const auto& row : read_catalogue()) all_args += row.args + "\n";
  for (const auto& entry : fs::directory_iterator(kInputs))
    EXPECT_NE(all_args.find("$IN/" + entry.path().filename().string()), std::string::npos)
        << entry.path() << " is not used by any row of docs/inputs.md";
}

}  // namespace
