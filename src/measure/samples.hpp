// Measurements of one policy run and their reduction into the results JSON (schema v2).
//
// Per rank, RunSamples records for every measured (step, layer) sample each phase's start
// stamp and duration, for the measured step and for the balanced reference step interleaved
// with it (same engine, buffers and total rows, every slot receiving the same rows), plus rows,
// bytes and the FFN's reference GEMM time. gather_run() brings all ranks' samples to rank 0 on
// rank 0's clock; summarize_runs() (pure, rank 0) reduces one or more repetitions:
//   phase span  = latest end - earliest start over ranks          (what a user waits for)
//   total       = the step: latest combine end - earliest gate start
//                 (>= the sum of spans; equal up to the barriers' exit skew)
//   rank phases = each rank's own durations (their spread is the compute imbalance)
//   tax         = measured span / balanced-reference span, per sample, then median + 95 % CI
// Formulas: docs/suite.md "Reductions and reported numbers".
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

inline constexpr int kNumPhases = PhaseSeconds::kCount;
inline constexpr std::array<const char*, kNumPhases> kPhaseNames = {"gate", "layout", "dispatch",
                                                                     "ffn", "combine"};

// One rank's samples of one policy run (one repetition).
struct RunSamples {
  int num_layers = 0;
  std::vector<int> layer, step;                              // per sample
  std::array<std::vector<double>, kNumPhases> start, seconds;  // measured step, this rank's clock
  std::array<std::vector<double>, kNumPhases> ref_start, ref_seconds;  // balanced reference
  std::vector<double> reference_gemm_seconds;                // per sample (0: no rows)
  std::vector<int64_t> rows_received;                        // per sample
  std::vector<int64_t> send_rows;                            // per sample x destination rank
  std::vector<int64_t> inter_dedup_rows;                     // per sample
  // Per sample, payload bytes this rank sent to other ranks, by phase and link
  // (LayerStepOutput): dispatch intra, dispatch inter, combine intra, combine inter, metadata.
  std::array<std::vector<int64_t>, 5> direction_bytes;
  // Replica rule (per sample): count exchange and solve of batch rules, avoidable off-node rows.
  std::vector<double> count_exchange_us, solve_us;
  std::vector<int64_t> avoidable_inter_node_rows;
  int64_t total_rows_sent = 0, total_rows_received = 0;      // every step, warm-up included
  VerifyCounts verify;
  MigrationStats migration;                                  // summed over events
  std::vector<double> placement_seconds;                     // per re-placement (this rank)
  std::vector<double> migration_seconds;                     // per re-placement (max over ranks)
  std::vector<int64_t> migration_experts;                    // per re-placement, experts moved
  // Per re-placement: mean over layers of the policy model's balancedness on the statistics
  // window's loads, with the placement before and after.
  std::vector<std::array<double, 2>> replacement_balance;

  void add(int layer_index, int step_index, const LayerStepOutput& measured,
           const LayerStepOutput& balanced);
};

// All ranks' samples of one repetition, on rank 0 (stamps on rank 0's clock). Index
// [rank * num_samples + i] for per-rank values, [i * R * R + src * R + dst] for send_rows.
struct GatheredRun {
  int num_ranks = 0, num_samples = 0, num_layers = 0;
  std::vector<int> layer, step;
  std::array<std::vector<double>, kNumPhases> start, end, ref_start, ref_end;
  std::vector<double> reference_gemm_seconds;
  std::vector<int64_t> rows_received, inter_dedup_rows, send_rows;
  std::array<int64_t, 5> direction_bytes{};  // summed over ranks and samples
  nlohmann::json verify;  // verify_summary_json() of this repetition
  std::vector<double> count_exchange_us, solve_us;
  std::vector<int64_t> avoidable_inter_node_rows;
  bool tokens_conserved = false;
  MigrationStats migration;
  std::vector<double> placement_seconds, migration_seconds;  // per event (max over ranks)
  std::vector<int64_t> migration_experts;                    // per event
  std::vector<std::array<double, 2>> replacement_balance;    // per event: before, after
};

// Collective; complete on rank 0 only. clock_offsets from comm::clock_offsets().
GatheredRun gather_run(const RunSamples& samples, const comm::Topology& topo,
                       const std::vector<double>& clock_offsets, int64_t expected_rows);

struct RunShape {
  int64_t tokens_per_rank = 0;
  int top_k = 0;
  int hidden = 0;
  double flops_per_row = 0;   // 6 * hidden * ffn
  bool phase_barriers = true;
  std::vector<int> node_of_rank;
};

// Pure (rank 0): the results "runs[]" entry's summary, layers and per_rank blocks, from one or
// more repetitions of the same policy (samples pooled; per-repetition medians kept).
nlohmann::json summarize_runs(const std::vector<GatheredRun>& reps, const RunShape& shape);

// Per re-placement series of a policy run (summary.migration's per-event lists).
struct MigrationEvents {
  std::vector<double> ms;                       // migration time
  std::vector<int64_t> experts_moved;
  std::vector<double> balance_before, balance_after;  // window balancedness (policy model)
  std::vector<double> placement_compute_us;
};
// The results' summary.migration block: totals and the per-event series.
nlohmann::json migration_json(const MigrationStats& total, const MigrationEvents& events);

// {"median", "min", "max", "ci95": [lo, hi], "count"} (+ "p99" with >= 100 samples), in the
// unit of `values` scaled by `scale`.
nlohmann::json stats_json(std::span<const double> values, double scale = 1.0);

}  // namespace epbench
