// MPI wrappers: RAII session, checked calls, the agreement step that makes every rank exit
// together when any rank fails validation, and the rank/node topology.
//
// Node identity, in order of precedence: an explicit ranks-per-node (emulated nodes: rank r on
// node r / ranks_per_node), SLURM_NODEID (emulated Slurm nodes on one host count as distinct),
// else the host name. Ranks of a node must form one contiguous block of equal size, since
// placement maps GPU g to node g / gpus_per_node.
#pragma once

#include <mpi.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace epbench::comm {

// Throws std::runtime_error with the call text, file:line, host and rank on MPI errors.
void mpi_check_failed(int code, const char* call, const char* file, int line);
#define CHECK_MPI(call)                                                   \
  do {                                                                    \
    int epbench_mpi_rc_ = (call);                                         \
    if (epbench_mpi_rc_ != MPI_SUCCESS)                                   \
      ::epbench::comm::mpi_check_failed(epbench_mpi_rc_, #call, __FILE__, __LINE__); \
  } while (0)

class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  int rank() const { return rank_; }
  int size() const { return size_; }

 private:
  int rank_ = 0, size_ = 1;
};

// Collective: true on every rank when `ok` holds on every rank. Otherwise rank 0 gets the
// message of the lowest failing rank in *first_error (prefixed with "rank N: " when N != 0).
bool all_ok(bool ok, const std::string& message, std::string* first_error);

std::vector<std::string> allgather_strings(const std::string& mine);

struct Topology {
  int rank = 0;
  int num_ranks = 1;
  int num_nodes = 1;
  int ranks_per_node = 1;
  int local_rank = 0;
  std::string node_source;             // "emulated", "slurm" or "hostname"
  std::vector<int> node_of_rank;       // dense node index per rank
  std::vector<std::string> rank_hosts;  // host name per rank
};

// Collective. Returns an empty error on success; else a one-line message (same on all ranks).
std::string detect_topology(int ranks_per_node_flag, Topology* out);

std::string mpi_library_version();

}  // namespace epbench::comm
