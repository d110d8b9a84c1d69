// Test-only fault injector (LD_PRELOAD): wraps MPI_Alltoallv through the PMPI profiling
// interface and corrupts what one rank receives in chosen calls, so an end-to-end test can show
// that `epbench run` notices a fault on a late step (tests/fault/test_fault_injection.cpp).
//
// Only payload calls count: those whose receive type is at least 8 bytes (token rows), not the
// count or metadata exchanges. Environment:
//   EPBENCH_FAULT_FROM_CALL  1-based index of the first payload call to corrupt (unset or 0: off)
//   EPBENCH_FAULT_CALLS      how many payload calls to corrupt from there (default 1; -1: all)
//   EPBENCH_FAULT_RANK       the rank whose receive buffer is corrupted (default 0)
// Corruption: every received 16-bit word gets its bit 7 flipped (the lowest exponent bit of a
// bf16 value: it doubles or halves). Each corrupted call is reported on stderr.
#include <mpi.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {

long env_long(const char* name, long fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtol(v, nullptr, 10) : fallback;
}

}  // namespace

extern "C" int MPI_Alltoallv(const void* sendbuf, const int sendcounts[], const int sdispls[],
                  MPI_Datatype sendtype, void* recvbuf, const int recvcounts[],
                  const int rdispls[], MPI_Datatype recvtype, MPI_Comm comm) {
  static long payload_calls = 0;
  const int rc = PMPI_Alltoallv(sendbuf, sendcounts, sdispls, sendtype, recvbuf, recvcounts,
                                rdispls, recvtype, comm);
  int type_bytes = 0, rank = 0, size = 0;
  MPI_Aint lb = 0, extent = 0;
  if (rc != MPI_SUCCESS || PMPI_Type_size(recvtype, &type_bytes) != MPI_SUCCESS ||
      type_bytes < 8)
    return rc;
  const long call = ++payload_calls;
  const long from = env_long("EPBENCH_FAULT_FROM_CALL", 0);
  const long calls = env_long("EPBENCH_FAULT_CALLS", 1);
  if (from <= 0 || call < from || (calls >= 0 && call >= from + calls)) return rc;
  PMPI_Comm_rank(comm, &rank);
  if (rank != env_long("EPBENCH_FAULT_RANK", 0)) return rc;
  PMPI_Comm_size(comm, &size);
  PMPI_Type_get_extent(recvtype, &lb, &extent);
  long words = 0;
  for (int r = 0; r < size; ++r) {
    auto* p = reinterpret_cast<uint16_t*>(static_cast<char*>(recvbuf) +
                                          MPI_Aint(rdispls[r]) * extent);
    const long n = long(recvcounts[r]) * type_bytes / 2;
    for (long i = 0; i < n; ++i) p[i] ^= 0x0080u;
    words += n;
  }
  std::fprintf(stderr, "pmpi_corrupt: rank %d corrupted payload call %ld (%ld words)\n", rank,
               call, words);
  return rc;
}
