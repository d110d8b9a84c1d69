// `epbench validate`: prints "ok FILE" for each valid results file and stops at the first invalid
// one with an InputError naming the file and field (exit code 2). Folders are scanned for *.json
// recursively; JSON files there that are not results files are listed as "skip FILE".
#include "app/validate_command.hpp"

#include <iostream>
#include <memory>

#include "results/schema.hpp"

namespace epbench {

void add_validate_command(CLI::App& app) {
  auto files = std::make_shared<std::vector<std::string>>();
  CLI::App* cmd = app.add_subcommand(
      "validate", "Check results files against the epbench.results schema (results/SCHEMA.md)");
  cmd->add_option("files", *files, "Results files, or folders to scan for *.json")->required();
  cmd->callback([files] {
    for (const ResultsPath& p : expand_results_paths(*files)) {
      std::vector<std::string> skipped;
      load_results_paths({p}, &skipped);
      std::cout << (skipped.empty() ? "ok " + p.path.string() : "skip " + skipped.front())
                << "\n";
    }
  });
}

}  // namespace epbench
