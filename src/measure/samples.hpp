// Per-rank measurements of one policy run (one entry per measured (step, layer) sample) and
// their reduction across ranks into the results JSON. Times per sample are reduced as the max
// over ranks (a step is as slow as its slowest rank); medians and p99 are then taken over the
// measured samples (steps x layers).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "comm/mpi_comm.hpp"
#include "engines/layer_step.hpp"
#include "measure/migration_stats.hpp"
#include "measure/verify.hpp"

namespace epbench {

inline constexpr std::array<const char*, 6> kPhaseNames = {"gate",    "layout",  "dispatch",
                                                           "ffn",     "combine", "total"};

struct RunSamples {
  int num_layers = 0;
  std::vector<int> layer;                       // per sample
  std::array<std::vector<double>, 6> seconds;  // per phase (kPhaseNames), per sample
  std::vector<int64_t> rows_received;           // per sample
  std::vector<int64_t> bytes_sent_all;          // per sample, self included
  std::vector<int64_t> intra_bytes, inter_bytes;  // per sample
  std::vector<int64_t> inter_dedup_bytes;          // per sample, node-deduplicated
  std::vector<std::vector<int64_t>> send_rows;  // per sample, per destination rank
  int64_t total_rows_sent = 0, total_rows_received = 0;  // every step, warm-up included
  VerifyCounts verify;
  MigrationStats migration;
  int migration_events = 0;

  void add(int layer_index, const LayerStepOutput& out, const comm::Topology& topo, int hidden);
};

struct Baselines {
  double raw_alltoallv_us_median = 0;  // same byte matrices as the measured dispatches
  double sgemm_gflops_per_rank = 0;    // plain sgemm of the FFN's FLOPs, median over ranks
  double ffn_gflops_per_rank = 0;
};

// Collective; the JSON is complete on rank 0 only (schema "runs[]" entry).
nlohmann::json summarize_run(const RunSamples& samples, const comm::Topology& topo,
                             int64_t tokens_per_rank, int top_k, double flops_per_row,
                             int64_t expected_rows, const Baselines& baselines);

}  // namespace epbench
