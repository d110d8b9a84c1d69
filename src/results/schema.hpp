// The "epbench.results" file format (results/SCHEMA.md): its name and version, a validator that
// names the first bad field, and loaders that read, parse and validate results files. `epbench
// run` calls validate_results on what it writes; `epbench validate` and `compare` on what they read.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace epbench {

inline constexpr const char* kResultsSchemaName = "epbench.results";
// Version 2: phase times are spans over ranks and "total" is the step (docs/suite.md); adds the
// imbalance tax and the balanced reference. Version 1 files (total = max over ranks of a rank's
// sum of phases) are still read.
inline constexpr int kResultsSchemaVersion = 2;
inline constexpr int kResultsSchemaOldestVersion = 1;

// The phases every timing block carries, in pipeline order ("total" = the whole MoE layer).
inline constexpr const char* kResultsPhases[] = {"gate", "layout", "dispatch",
                                                 "ffn",  "combine", "total"};

// Throws InputError("SOURCE: PATH: problem") for the first field that is missing, of the wrong
// type, out of range or inconsistent with the others, e.g.
//   "out.json: runs[0].summary.phases_us.ffn.median: missing".
// Extra fields are allowed and ignored.
void validate_results(const nlohmann::json& doc, const std::string& source);

// True when `doc` says it is an epbench.results file (any version): has "schema" equal to the
// schema name. Used to skip unrelated JSON files when scanning folders.
bool claims_results_schema(const nlohmann::json& doc);

// Reads, parses and validates one file; InputError on unreadable, malformed or invalid files.
nlohmann::json load_results_file(const std::filesystem::path& path);

struct ResultsPath {
  std::filesystem::path path;
  bool from_folder = false;  // found by scanning a folder (rather than named on the command line)
  std::string skip_reason;   // non-empty: found in a folder but not readable as a file (a FIFO,
                             // a looping or dangling link): listed as skipped, never opened
};

// Expands the command-line arguments: files are kept as given (the reader refuses non-regular
// ones), folders are scanned recursively for *.json (sorted by path; symlinked folders not
// followed). InputError for a path that does not exist or a folder with no *.json file in it.
std::vector<ResultsPath> expand_results_paths(const std::vector<std::string>& args);

// Loads the files to read: a named file must be a valid results file; a file found in a folder
// that does not claim the schema (a config, a placement) or cannot be opened as a regular file
// is skipped and reported in `skipped` as "PATH (reason)".
struct LoadedResults {
  std::filesystem::path path;
  nlohmann::json doc;
};
std::vector<LoadedResults> load_results_paths(const std::vector<ResultsPath>& paths,
                                              std::vector<std::string>* skipped);

}  // namespace epbench
