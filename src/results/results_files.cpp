// Finding and loading results files (files or folders searched for *.json), each validated
// with validate_results; see schema.hpp.
#include <algorithm>
#include <filesystem>

#include "common/error.hpp"
#include "common/files.hpp"
#include "results/schema.hpp"

namespace epbench {

bool claims_results_schema(const nlohmann::json& doc) {
  return doc.is_object() && doc.contains("schema") && doc["schema"] == kResultsSchemaName;
}

nlohmann::json load_results_file(const std::filesystem::path& path) {
  nlohmann::json doc = read_json_file(path);
  validate_results(doc, path.string());
  return doc;
}

std::vector<ResultsPath> expand_results_paths(const std::vector<std::string>& args) {
  namespace fs = std::filesystem;
  std::vector<ResultsPath> out;
  for (const std::string& arg : args) {
    const fs::path path(arg);
    std::error_code ec;
    if (!fs::exists(path, ec)) throw InputError("cannot read " + arg + ": no such file or folder");
    if (!fs::is_directory(path, ec)) {
      out.push_back({path, false});
      continue;
    }
    std::vector<fs::path> found;
    for (const auto& entry : fs::recursive_directory_iterator(path)) {
      if (entry.is_regular_file() && entry.path().extension() == ".json")
        found.push_back(entry.path());
    }
    require_input(!found.empty(), arg + ": no *.json file in this folder");
    std::sort(found.begin(), found.end());
    for (auto& f : found) out.push_back({std::move(f), true});
  }
  return out;
}

std::vector<LoadedResults> load_results_paths(const std::vector<ResultsPath>& paths,
                                              std::vector<std::string>* skipped) {
  std::vector<LoadedResults> out;
  for (const ResultsPath& p : paths) {
    nlohmann::json doc = read_json_file(p.path);
    if (p.from_folder && !claims_results_schema(doc)) {
      if (skipped) skipped->push_back(p.path.string());
      continue;
    }
    validate_results(doc, p.path.string());
    out.push_back({p.path, std::move(doc)});
  }
  return out;
}

}  // namespace epbench
