// `epbench plot`: a thin wrapper that runs `PYTHON results/plot.py DIR -o OUTDIR` (no shell, so
// paths need no quoting). The script's location is fixed at build time (EPBENCH_PLOT_SCRIPT) and
// can be overridden with --script; the interpreter defaults to /usr/bin/python3, which has
// matplotlib on the team's machines. Exit code 2 from the script (bad input) maps to InputError.
#include "app/plot_command.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>

#include "common/error.hpp"

#ifndef EPBENCH_PLOT_SCRIPT
#define EPBENCH_PLOT_SCRIPT "results/plot.py"
#endif

namespace epbench {
namespace {

struct PlotOptions {
  std::string results_dir, output_dir = "plots", python = "/usr/bin/python3",
                           script = EPBENCH_PLOT_SCRIPT;
};

void run_plot(const PlotOptions& opt) {
  namespace fs = std::filesystem;
  std::error_code ec;
  require_input(fs::exists(opt.results_dir, ec),
                "cannot read " + opt.results_dir + ": no such file or folder");
  require_input(!fs::exists(opt.output_dir, ec) || fs::is_directory(opt.output_dir, ec),
                "cannot write plots to " + opt.output_dir + ": it is a file, not a folder");
  require_input(fs::exists(opt.script, ec),
                "plot script " + opt.script + " not found (give --script PATH)");
  std::vector<std::string> args = {opt.python, opt.script, opt.results_dir, "-o", opt.output_dir};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw std::runtime_error("waitpid failed: " + std::string(std::strerror(errno)));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (code == 127) throw InputError("cannot run " + opt.python + " (give --python PATH)");
  if (code == kExitInputError) throw InputError(opt.script + " rejected its input (see above)");
  throw std::runtime_error(opt.script + " failed with exit code " + std::to_string(code));
}

}  // namespace

void add_plot_command(CLI::App& app) {
  auto opt = std::make_shared<PlotOptions>();
  CLI::App* cmd = app.add_subcommand("plot", "Plot a folder of results files as PNGs (matplotlib)");
  cmd->add_option("results_dir", opt->results_dir, "Folder of results files (scanned recursively)")
      ->required();
  cmd->add_option("-o,--output", opt->output_dir, "Folder for the PNGs")->capture_default_str();
  cmd->add_option("--python", opt->python, "Python interpreter with matplotlib")
      ->capture_default_str();
  cmd->add_option("--script", opt->script, "Path of plot.py")->capture_default_str();
  cmd->callback([opt] { run_plot(*opt); });
}

}  // namespace epbench
