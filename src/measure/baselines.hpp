// Baselines measured in the same run as the suite, so ratios compare like with like:
//   raw MPI_Alltoallv replaying the exact byte matrices of the measured dispatches (caches
//   flushed before each sample, as the FFN phase leaves them before a real dispatch), and
//   a plain OpenBLAS sgemm doing the FLOPs of this rank's expert FFN in three large GEMMs.
#pragma once

#include <cstdint>
#include <vector>

#include "comm/mpi_comm.hpp"

namespace epbench {

// Collective. Replays each sample's send_rows (rows of `hidden` bf16 values per destination)
// as one MPI_Alltoallv; returns the median over samples of the max over ranks, in us.
double raw_alltoallv_median_us(const std::vector<std::vector<int64_t>>& send_rows, int hidden);

// Local. GFLOP/s of sgemm doing m x H x F twice and m x F x H once (median of `reps`).
double sgemm_gflops(int64_t m, int hidden, int ffn, int reps);

}  // namespace epbench
