// Results context; see context.hpp.
#include "measure/context.hpp"

#include <cblas.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <set>

#include "backend.hpp"
#ifdef EPBENCH_SUITE_HAVE_GPU
#include "measure/gpu/gpu_context.hpp"
#endif

namespace epbench {

std::string utc_timestamp(const char* format) {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  return "unknown";
}

nlohmann::json env_or_null(const char* name) {
  const char* v = std::getenv(name);
  return v ? nlohmann::json(v) : nlohmann::json(nullptr);
}

nlohmann::json slurm_context() {
  const char* job = std::getenv("SLURM_JOB_ID");
  if (!job) return nullptr;
  const char* nodes = std::getenv("SLURM_JOB_NUM_NODES");
  if (!nodes) nodes = std::getenv("SLURM_NNODES");
  const char* tpn = std::getenv("SLURM_TASKS_PER_NODE");
  return {{"job_id", job},
          {"job_name", env_or_null("SLURM_JOB_NAME")},
          {"num_nodes", nodes ? std::atoi(nodes) : 0},
          {"tasks_per_node", tpn ? tpn : ""},
          {"partition", env_or_null("SLURM_JOB_PARTITION")},
          {"cluster", env_or_null("SLURM_CLUSTER_NAME")}};
}

}  // namespace

nlohmann::json make_context(const std::vector<std::string>& argv, const BuildInfo& build,
                            const comm::Topology& topo, const std::string& backend,
                            const std::string& comm, [[maybe_unused]] int device) {
  std::set<std::string> hosts(topo.rank_hosts.begin(), topo.rank_hosts.end());
  const std::string kokkos = kernels::kokkos_version_string();
  nlohmann::json ctx = {
      {"argv", argv},
      {"epbench_version", build.version},
      {"git_hash", build.git_hash},
      {"date_utc", utc_timestamp("%Y-%m-%dT%H:%M:%SZ")},
      {"num_ranks", topo.num_ranks},
      {"num_nodes", topo.num_nodes},
      {"ranks_per_node", topo.ranks_per_node},
      {"node_source", topo.node_source},
      {"rank_nodes", topo.node_of_rank},
      {"rank_hosts", topo.rank_hosts},
      {"hosts", std::vector<std::string>(hosts.begin(), hosts.end())},
      {"cpu_model", cpu_model()},
      {"gpu_models", nlohmann::json::array()},
      {"backend", backend},
      {"comm", comm},
      {"mpi_version", comm::mpi_library_version()},
      {"cuda_version", nullptr},
      {"nccl_version", nullptr},
      {"kokkos_version", kokkos.empty() ? nlohmann::json(nullptr) : nlohmann::json(kokkos)},
      {"kokkos_execution_space", kernels::kokkos_execution_space_name()},
      {"blas", std::string("OpenBLAS ") + openblas_get_config()},
      {"interconnect", env_or_null("EPBENCH_INTERCONNECT")},
      {"slurm", slurm_context()},
      {"time_reduction",
       "per (step, layer) sample: max over ranks of each phase; then median and p99 over the "
       "measured samples (steps x layers)"}};
#ifdef EPBENCH_SUITE_HAVE_GPU
  if (backend == "cuda") {
    const nlohmann::json gpu = gpu_context_json(device);
    const std::string model = gpu.value("gpu_model", nlohmann::json()).is_string()
                                  ? gpu["gpu_model"].get<std::string>()
                                  : std::string("unknown");
    ctx["gpu_models"] = comm::allgather_strings(model);  // one per rank
    ctx["cuda_version"] = gpu.value("cuda_version", nlohmann::json());
    ctx["nccl_version"] = gpu.value("nccl_version", nlohmann::json());
  }
#endif
  return ctx;
}

}  // namespace epbench
