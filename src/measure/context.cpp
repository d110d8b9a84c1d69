// Results context; see context.hpp.
#include "measure/context.hpp"

#include <cblas.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
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

// CPUs this process may run on (its affinity mask: what Slurm or mpirun bound it to), as a
// comma-separated list of CPU ids; all online CPUs when the mask cannot be read.
std::string usable_cpus() {
  std::string list;
  auto add = [&](int cpu) {
    if (!list.empty()) list += ',';
    list += std::to_string(cpu);
  };
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
      if (CPU_ISSET(cpu, &set)) add(cpu);
  } else {
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    for (long cpu = 0; cpu < std::max(n, 1L); ++cpu) add(static_cast<int>(cpu));
  }
  return list;
}

}  // namespace

HostLoad host_load(const comm::Topology& topo) {
  // Ranks per real host (by host name, whatever the emulated nodes) against the CPUs those ranks
  // may use together, the union of their affinity masks (two ranks bound to one core each have
  // two cores; two ranks both bound to all of a 2-core host's CPUs also have two): more ranks
  // than those CPUs is oversubscription.
  const std::vector<std::string> cpus = comm::allgather_strings(usable_cpus());
  std::map<std::string, int> ranks_on_host;
  std::map<std::string, std::set<int>> cpus_on_host;
  for (int r = 0; r < topo.num_ranks; ++r) {
    ++ranks_on_host[topo.rank_hosts[r]];
    std::set<int>& host_cpus = cpus_on_host[topo.rank_hosts[r]];
    size_t begin = 0;
    while (begin < cpus[r].size()) {
      const size_t end = std::min(cpus[r].find(',', begin), cpus[r].size());
      host_cpus.insert(std::stoi(cpus[r].substr(begin, end - begin)));
      begin = end + 1;
    }
  }
  HostLoad load;
  for (const auto& [host, ranks] : ranks_on_host) {
    const int cores = std::max<int>(1, static_cast<int>(cpus_on_host[host].size()));
    if (ranks > load.max_ranks_per_host) {
      load.max_ranks_per_host = ranks;
      load.cores_of_that_host = cores;
    }
    if (ranks > cores) load.oversubscribed = true;
  }
  return load;
}

nlohmann::json make_context(const std::vector<std::string>& argv, const BuildInfo& build,
                            const comm::Topology& topo, const std::string& backend,
                            const std::string& comm, [[maybe_unused]] int device) {
  const HostLoad load = host_load(topo);
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
      {"oversubscribed", load.oversubscribed},
      {"max_ranks_per_host", load.max_ranks_per_host},
      {"cores_per_host", load.cores_of_that_host},
      {"time_reduction",
       "per (step, layer) sample: each phase's span = latest end - earliest start over ranks "
       "(clocks aligned to rank 0), total = the step from the earliest gate start to the latest "
       "combine end; then median (95% CI), min, max over the measured samples (steps x layers "
       "x repetitions); p99 only with >= 100 samples"}};
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
