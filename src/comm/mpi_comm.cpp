// MPI wrappers; see mpi_comm.hpp.
#include "comm/mpi_comm.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>

namespace epbench::comm {

static std::string host_name() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

void mpi_check_failed(int code, const char* call, const char* file, int line) {
  char err[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, err, &len);
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  throw std::runtime_error(std::string(call) + " failed: " + std::string(err, len) + " at " +
                           file + ":" + std::to_string(line) + " on " + host_name() +
                           ", rank " + std::to_string(rank));
}

MpiSession::MpiSession(int* argc, char*** argv) {
  CHECK_MPI(MPI_Init(argc, argv));
  // Errors come back as codes so CHECK_MPI can report them, rather than aborting silently.
  CHECK_MPI(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  CHECK_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
  CHECK_MPI(MPI_Comm_size(MPI_COMM_WORLD, &size_));
}

MpiSession::~MpiSession() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

bool all_ok(bool ok, const std::string& message, std::string* first_error) {
  int rank = 0, size = 1;
  CHECK_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
  CHECK_MPI(MPI_Comm_size(MPI_COMM_WORLD, &size));
  // The lowest failing rank (size when none) decides whose message rank 0 prints.
  int failing = ok ? size : rank;
  int lowest = size;
  CHECK_MPI(MPI_Allreduce(&failing, &lowest, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD));
  if (lowest == size) return true;
  std::string text = (lowest == 0 ? "" : "rank " + std::to_string(lowest) + ": ") + message;
  if (lowest != 0) {
    if (rank == lowest) {
      int len = static_cast<int>(text.size());
      CHECK_MPI(MPI_Send(&len, 1, MPI_INT, 0, 7001, MPI_COMM_WORLD));
      CHECK_MPI(MPI_Send(text.data(), len, MPI_CHAR, 0, 7002, MPI_COMM_WORLD));
    } else if (rank == 0) {
      int len = 0;
      CHECK_MPI(MPI_Recv(&len, 1, MPI_INT, lowest, 7001, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
      text.assign(len, '\0');
      CHECK_MPI(MPI_Recv(text.data(), len, MPI_CHAR, lowest, 7002, MPI_COMM_WORLD,
                         MPI_STATUS_IGNORE));
    }
  }
  if (first_error && rank == 0) *first_error = text;
  return false;
}

std::vector<std::string> allgather_strings(const std::string& mine) {
  int size = 1;
  CHECK_MPI(MPI_Comm_size(MPI_COMM_WORLD, &size));
  int len = static_cast<int>(mine.size());
  std::vector<int> lens(size), displs(size);
  CHECK_MPI(MPI_Allgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, MPI_COMM_WORLD));
  int total = 0;
  for (int r = 0; r < size; ++r) {
    displs[r] = total;
    total += lens[r];
  }
  std::string all(total, '\0');
  CHECK_MPI(MPI_Allgatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(),
                           MPI_CHAR, MPI_COMM_WORLD));
  std::vector<std::string> out(size);
  for (int r = 0; r < size; ++r) out[r] = all.substr(displs[r], lens[r]);
  return out;
}

std::string detect_topology(int ranks_per_node_flag, Topology* t) {
  CHECK_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &t->rank));
  CHECK_MPI(MPI_Comm_size(MPI_COMM_WORLD, &t->num_ranks));
  t->rank_hosts = allgather_strings(host_name());
  const char* slurm_node = std::getenv("SLURM_NODEID");
  std::vector<std::string> keys;
  if (ranks_per_node_flag > 0) {
    if (t->num_ranks % ranks_per_node_flag != 0)
      return "--ranks-per-node " + std::to_string(ranks_per_node_flag) + " does not divide " +
             std::to_string(t->num_ranks) + " ranks";
    t->node_source = "emulated";
    for (int r = 0; r < t->num_ranks; ++r) keys.push_back(std::to_string(r / ranks_per_node_flag));
  } else {
    int have_slurm = slurm_node != nullptr, all_slurm = 0;
    CHECK_MPI(MPI_Allreduce(&have_slurm, &all_slurm, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD));
    if (all_slurm) {
      t->node_source = "slurm";
      keys = allgather_strings(slurm_node);
    } else {
      t->node_source = "hostname";
      keys = t->rank_hosts;
    }
  }
  // Dense node indices in order of first appearance.
  std::map<std::string, int> index;
  t->node_of_rank.resize(t->num_ranks);
  for (int r = 0; r < t->num_ranks; ++r) {
    auto it = index.try_emplace(keys[r], static_cast<int>(index.size())).first;
    t->node_of_rank[r] = it->second;
  }
  t->num_nodes = static_cast<int>(index.size());
  if (t->num_ranks % t->num_nodes != 0)
    return std::to_string(t->num_ranks) + " ranks are not spread evenly over " +
           std::to_string(t->num_nodes) + " nodes (" + t->node_source + ")";
  t->ranks_per_node = t->num_ranks / t->num_nodes;
  for (int r = 0; r < t->num_ranks; ++r)
    if (t->node_of_rank[r] != r / t->ranks_per_node)
      return "the ranks of each node must be one contiguous block (rank " + std::to_string(r) +
             " is on node " + std::to_string(t->node_of_rank[r]) +
             "); launch with block rank placement (mpirun --map-by slot, srun -m block) or set --ranks-per-node";
  t->local_rank = t->rank % t->ranks_per_node;
  return {};
}

std::string mpi_library_version() {
  char buf[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(buf, &len);
  std::string v(buf, len);
  auto nl = v.find_first_of("\n,");
  return v.substr(0, nl);
}

}  // namespace epbench::comm
