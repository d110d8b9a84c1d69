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
    if (!fs::exists(fs::symlink_status(path, ec)))
      throw InputError("cannot read " + arg + ": no such file or folder");
    const fs::file_status st = fs::status(path, ec);
    if (!fs::is_directory(st)) {  // files (and a FIFO, a looping link) are refused by the reader
      out.push_back({path, false, ""});
      continue;
    }
    // Symlinked folders are not followed (no loops); entries that are not regular files (a
    // FIFO, a dangling or looping link) are listed as skipped, never opened.
    std::vector<ResultsPath> found;
    auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied,
                                               ec);
    if (ec) throw InputError("cannot read " + arg + ": " + ec.message());
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) throw InputError("cannot read " + arg + ": " + ec.message());
      if (it->path().extension() != ".json") continue;
      std::error_code entry_ec;
      const fs::file_status est = it->status(entry_ec);
      ResultsPath p{it->path(), true, ""};
      if (entry_ec)
        p.skip_reason = entry_ec.message();
      else if (fs::is_directory(est))
        continue;
      else if (!fs::is_regular_file(est))
        p.skip_reason = "not a regular file";
      found.push_back(std::move(p));
    }
    if (ec) throw InputError("cannot read " + arg + ": " + ec.message());
    require_input(!found.empty(), arg + ": no *.json file in this folder");
    std::sort(found.begin(), found.end(),
              [](const ResultsPath& a, const ResultsPath& b) { return a.path < b.path; });
    for (auto& f : found) out.push_back(std::move(f));
  }
  return out;
}

std::vector<LoadedResults> load_results_paths(const std::vector<ResultsPath>& paths,
                                              std::vector<std::string>* skipped) {
  std::vector<LoadedResults> out;
  for (const ResultsPath& p : paths) {
    if (!p.skip_reason.empty()) {
      if (skipped) skipped->push_back(p.path.string() + " (" + p.skip_reason + ")");
      continue;
    }
    nlohmann::json doc = read_json_file(p.path);
    if (p.from_folder && !claims_results_schema(doc)) {
      if (skipped) skipped->push_back(p.path.string() + " (not an epbench.results file)");
      continue;
    }
    validate_results(doc, p.path.string());
    out.push_back({p.path, std::move(doc)});
  }
  return out;
}

}  // namespace epbench
