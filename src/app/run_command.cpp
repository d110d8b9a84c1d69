// `epbench run`; see run_command.hpp. Flow: flags -> scenario (preset, file, flags) -> MPI ->
// agreed validation -> one run per policy -> rank 0 prints the tables and writes the results.
#include "app/run_command.hpp"
#include "app/scenario_flags.hpp"
#include "app/version.hpp"

#include <cblas.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "backend.hpp"
#include "comm/mpi_comm.hpp"
#include "common/error.hpp"
#include "common/files.hpp"
#include "dispatch/replica_rule.hpp"
#include "comm/step_sync.hpp"
#include "gating/skew.hpp"
#include "measure/context.hpp"
#include "measure/report.hpp"
#include "measure/traffic_matrix.hpp"
#include "placement/policy.hpp"
#include "results/schema.hpp"
#include "suite/policy_run.hpp"
#include "suite/memory_estimate.hpp"
#include "suite/scenario.hpp"
#include "suite/token_source.hpp"

namespace epbench {
namespace {

struct RunOptions {
  std::string output, output_dir = "results/local";
  std::string traffic_matrix;  // nccl-tests alltoallv matrix file of the dispatch (per policy)
  int ranks_per_node = 0, device = -1;
  bool no_phase_barriers = false;
  bool progress = false;  // --progress: rank 0 shows step i/N and an ETA on stderr
  std::vector<std::string> argv;
  ScenarioFlags scenario;
};

// Memory every buffer of one rank needs (suite/memory_estimate.hpp), against what its node has.
void check_memory(const Scenario& s, const comm::Topology& topo) {
  const double available = available_memory_bytes();
  if (available <= 0) return;  // unknown (no /proc/meminfo)
  require_rank_memory(s, topo.num_ranks, topo.ranks_per_node, available,
                      /*weights_on_host=*/s.backend == "kokkos");
}

// A job id as a file-name part: only [A-Za-z0-9._-], anything else becomes '_', so
// SLURM_JOB_ID=x/../../y cannot move the file out of the output folder.
std::string file_name_part(const std::string& text) {
  std::string out = text.substr(0, 64);
  for (char& ch : out)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '-' && ch != '_')
      ch = '_';
  return out.empty() || out == "." || out == ".." ? "_" : out;
}

std::filesystem::path results_path(const RunOptions& opt, const Scenario& s, int num_ranks) {
  if (!opt.output.empty()) return opt.output;
  const char* job = std::getenv("SLURM_JOB_ID");
  const std::string id = job ? file_name_part(job) : std::to_string(::getpid());
  return std::filesystem::path(opt.output_dir) /
         ("epbench-" + s.name + "-np" + std::to_string(num_ranks) + "-" +
          utc_timestamp("%Y%m%dT%H%M%SZ") + "-" + id + ".json");
}

// --traffic-matrix FILE: FILE for one policy, else FILE with ".POLICY" before its extension.
std::filesystem::path traffic_matrix_path(const RunOptions& opt, const Scenario& s,
                                          const std::string& policy) {
  std::filesystem::path path = opt.traffic_matrix;
  if (s.policies.size() > 1)
    path.replace_filename(path.stem().string() + "." + policy + path.extension().string());
  return path;
}

// Rank 0: the measured dispatch byte matrix whose bottleneck is the median, as nccl-tests'
// alltoallv reads it (docs/suite.md, "Replaying the traffic in nccl-tests").
void write_traffic_matrix(const RunOptions& opt, const Scenario& s, const std::string& policy,
                          const GatheredRun& run) {
  const int R = run.num_ranks;
  std::vector<ByteMatrix> matrices;
  for (int i = 0; i < run.num_samples; ++i)
    matrices.push_back(byte_matrix_from_rows(
        std::span<const int64_t>(run.send_rows.data() + size_t(i) * R * R, size_t(R) * R), R,
        int64_t(s.model.hidden) * 2));
  const ByteMatrix m = choose_byte_matrix(matrices, R, MatrixChoice::kMedianSample);
  const auto path = traffic_matrix_path(opt, s, policy);
  write_nccl_tests_alltoallv_matrix(path, m, R);
  const int64_t bytes = nccl_tests_alltoallv_buffer_bytes(m, R);
  std::cout << "# traffic matrix (" << policy << ", median-bottleneck dispatch): " << path.string()
            << "  replay: NCCL_TESTS_ALLTOALLV_MATRIX_FILE=" << path.string() << " alltoallv_perf -b "
            << bytes << " -e " << bytes << " -a 3 (np " << R << ")\n";
}

// Runs `check` on every rank and agrees; on failure rank 0 prints and every rank exits 2.
template <typename Check>
void agreed(Check&& check) {
  std::string message;
  bool ok = true;
  try {
    check();
  } catch (const InputError& e) {
    ok = false;
    message = e.what();
  } catch (const std::invalid_argument& e) {
    ok = false;
    message = e.what();
  }
  std::string first;
  if (!comm::all_ok(ok, message, &first)) {
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0) std::cerr << "epbench: error: " << first << std::endl;
    throw ExitRequest{kExitInputError};
  }
}

void run_suite(RunOptions& opt);

void run(RunOptions& opt) {
  comm::MpiSession mpi(nullptr, nullptr);
  try {
    run_suite(opt);
  } catch (const ExitRequest&) {
    throw;
  } catch (const std::exception& e) {
    // A failure after validation may leave other ranks inside a collective: abort them all.
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    std::cerr << "epbench: failure on rank " << rank << ": " << e.what() << std::endl;
    if (size > 1) MPI_Abort(MPI_COMM_WORLD, kExitFailure);
    throw ExitRequest{kExitFailure};
  }
}

void run_suite(RunOptions& opt) {
  Scenario s;
  comm::Topology topo;
  std::unique_ptr<TokenSource> source;
  std::filesystem::path path;
  agreed([&] {
    s = build_scenario(opt.scenario);
    if (opt.no_phase_barriers) {
      s.phase_barriers = false;
      s.validate();
    }
  });
  agreed([&] {
    const std::string err = comm::detect_topology(opt.ranks_per_node, &topo);
    require_input(err.empty(), err);
  });
  agreed([&] {
    s.validate_for(topo.num_ranks, topo.num_nodes);
    // Before any step: a run must not be lost to an output path found bad at the end.
    if (topo.rank == 0) {
      path = results_path(opt, s, topo.num_ranks);
      check_output_path(path);
    }
    const std::string unusable = kernels::backend_unusable_reason(s.backend);
    require_input(unusable.empty(), unusable);
    check_memory(s, topo);
    source = std::make_unique<TokenSource>(s, topo.num_ranks);
    if (topo.rank == 0) {
      for (const std::string& policy : s.policies)
        if (!opt.traffic_matrix.empty())
          check_output_path(traffic_matrix_path(opt, s, policy));
    }
  });
  if (!std::getenv("OPENBLAS_NUM_THREADS")) openblas_set_num_threads(1);
  kernels::RuntimeScope runtime;
  const int device = kernels::resolve_device(s.backend, opt.device, topo.local_rank);

  nlohmann::json doc = {{"schema", "epbench.results"}, {"schema_version", kResultsSchemaVersion}};
  if (topo.rank == 0) doc["runs"] = nlohmann::json::array();
  const comm::StepSync sync(s.phase_barriers, s.step_timeout_s);
  // Under mpirun a rank's stderr is never a terminal: jobs/mpirun.sh passes --progress when its
  // own is.
  RunControl control{&sync, comm::clock_offsets(), device, 0,
                     topo.rank == 0 && (opt.progress || ::isatty(STDERR_FILENO) == 1)};
  // Every policy runs `repeat` times, interleaved (A B A B ...), so drift hits all alike.
  std::vector<std::vector<PolicyRun>> runs(s.policies.size());
  for (int rep = 0; rep < s.repeat; ++rep)
    for (size_t p = 0; p < s.policies.size(); ++p) {
      control.repetition = rep;
      runs[p].push_back(run_policy(s, topo, *source, s.policies[p], control));
    }
  if (topo.rank == 0)
    for (const auto& reps : runs) doc["runs"].push_back(summarize_policy(reps, s, topo));
  nlohmann::json context =
      make_context(opt.argv, {version_string(), git_hash()}, topo, s.backend, s.comm, device);
  if (topo.rank != 0) return;
  doc["context"] = std::move(context);
  doc["scenario"] = s.to_json();
  if (!s.label.empty()) doc["label"] = s.label;
  print_run_report(doc, std::cout);
  try {  // never write a file our own validator (and so compare) would refuse
    validate_results(doc, path.string());
  } catch (const InputError& e) {
    std::filesystem::path invalid = path;
    invalid += ".invalid";
    write_file_atomic(invalid, doc.dump(1) + "\n", /*overwrite=*/false);
    std::cerr << "epbench: failure: the results do not pass validation (a bug): " << e.what()
              << "; kept as " << invalid.string() << std::endl;
    throw ExitRequest{kExitFailure};
  }
  if (!opt.traffic_matrix.empty())
    for (size_t p = 0; p < s.policies.size(); ++p)
      write_traffic_matrix(opt, s, s.policies[p], runs[p].front().gathered);
  write_file_atomic(path, doc.dump(1) + "\n", /*overwrite=*/false);
  std::cout << "# results: " << path.string() << std::endl;
  int64_t wrong = 0;
  for (const auto& r : doc["runs"]) {
    const auto& v = r["summary"]["verify"];
    wrong += v["wrong"].get<int64_t>() + v["migrated_experts_wrong"].get<int64_t>() +
             (v["tokens_conserved"].get<bool>() ? 0 : 1);
  }
  if (wrong > 0) {
    std::cerr << "epbench: failure: verification found " << wrong << " wrong results\n";
    throw ExitRequest{kExitFailure};
  }
}

}  // namespace

int launcher_rank() {
  for (const char* var : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"})
    if (const char* v = std::getenv(var)) return std::atoi(v);
  return 0;
}

void add_run_command(CLI::App& app, std::vector<std::string> argv) {
  auto opt = std::make_shared<RunOptions>();
  opt->argv = std::move(argv);
  CLI::App* cmd = app.add_subcommand(
      "run", "Run the MoE expert-parallel suite under mpirun/srun (gate, dispatch, FFN, combine)");
  RunOptions& o = *opt;
  add_scenario_flags(cmd, o.scenario);
  cmd->add_flag("--progress", o.progress,
                "Show policy, step i/N and an ETA on rank 0's stderr (default: when it is a "
                "terminal, which it never is under mpirun; jobs/mpirun.sh adds this flag then)");
  cmd->add_flag("--no-phase-barriers", o.no_phase_barriers,
                "Pipelined step: no barriers between phases (only the step total is reported)");
  cmd->add_option("--ranks-per-node", o.ranks_per_node,
                  "Emulate nodes of this many ranks (default: SLURM_NODEID, else host names)")
      ->check(kNonNegative);
  cmd->add_option("--device", o.device, "GPU ordinal (default: local rank)");
  cmd->add_option("--output-dir", o.output_dir, "Folder for the results file")->capture_default_str();
  cmd->add_option("--output", o.output, "Exact results file path (never overwritten)");
  cmd->add_option("--traffic-matrix", o.traffic_matrix,
                  "Write the dispatch byte matrix (the median-bottleneck sample) for nccl-tests' "
                  "alltoallv (NCCL_TESTS_ALLTOALLV_MATRIX_FILE); FILE.POLICY.ext per policy when "
                  "several run");
  cmd->callback([opt] { run(*opt); });
}

}  // namespace epbench
