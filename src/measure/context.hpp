// The "context" block of a results file: what ran where, with which software.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "comm/mpi_comm.hpp"

namespace epbench {

struct BuildInfo {
  std::string version, git_hash;
};

// Collective: ranks per real host against the cores each rank may use there.
struct HostLoad {
  bool oversubscribed = false;
  int max_ranks_per_host = 0, cores_of_that_host = 0;
};
HostLoad host_load(const comm::Topology& topo);

// Collective (gathers cores per rank, and GPU models per rank when the CUDA backend is used).
nlohmann::json make_context(const std::vector<std::string>& argv, const BuildInfo& build,
                            const comm::Topology& topo, const std::string& backend,
                            const std::string& comm, int device);

std::string utc_timestamp(const char* format);  // e.g. "%Y%m%dT%H%M%SZ"

}  // namespace epbench
