// The `epbench` command: subcommands registered here, errors mapped to exit codes
// (2 = bad input or usage, 1 = failure) with a one-line message.
#include <CLI/CLI.hpp>
#include <iostream>

#include "app/compare_command.hpp"
#include "app/place_command.hpp"
#include "app/plot_command.hpp"
#include "app/run_command.hpp"
#include "app/simulate_command.hpp"
#include "app/split_command.hpp"
#include "app/validate_command.hpp"
#include "app/version.hpp"
#include "common/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"epbench: Mixture-of-Experts expert-parallelism benchmark suite", "epbench"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("epbench ") + epbench::version_string() + " (" +
                                        epbench::git_hash() + ")");
  epbench::add_place_command(app);
  epbench::add_run_command(app, std::vector<std::string>(argv, argv + argc));
  epbench::add_validate_command(app);
  epbench::add_compare_command(app);
  epbench::add_plot_command(app);
  epbench::add_simulate_command(app, std::vector<std::string>(argv, argv + argc));
  epbench::add_calibrate_command(app);
  epbench::add_split_command(app);
  // Under mpirun/srun every rank parses the same flags: only the first rank prints errors.
  const bool prints = epbench::launcher_rank() == 0;
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --help-all, --version
    return prints ? app.exit(e) : 0;
  } catch (const CLI::ParseError& e) {
    if (prints) std::cerr << "epbench: error: " << e.what() << " (see epbench --help)\n";
    return epbench::kExitInputError;
  } catch (const epbench::ExitRequest& e) {  // already reported by rank 0
    return e.code;
  } catch (const epbench::InputError& e) {
    if (prints) std::cerr << "epbench: error: " << e.what() << "\n";
    return epbench::kExitInputError;
  } catch (const std::exception& e) {
    std::cerr << "epbench: failure: " << e.what() << "\n";
    return epbench::kExitFailure;
  }
  return 0;
}
