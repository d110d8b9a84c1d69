// The measured samples of one simulated policy run, and their reduction into the results' "run"
// object: the fields measure/samples.cpp writes for `run`, from the cost model's times instead
// of clocks. simulator.cpp records the samples step by step; this is the bookkeeping after.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "measure/migration_stats.hpp"
#include "measure/samples.hpp"
#include "sim/cost_model.hpp"

namespace epbench::sim {

constexpr int kPhases = 6;  // gate, layout, dispatch, ffn, combine, total (schema order)

struct PhaseTimes {
  double us[kPhases] = {0, 0, 0, 0, 0, 0};
};

// Per measured sample (step x layer, in `run`'s order) unless said otherwise.
struct SimSamples {
  std::vector<int> layer;
  std::vector<PhaseTimes> spans;      // max over ranks; total = sum of the phase spans
  std::vector<int64_t> rows;          // [sample][rank] rows received
  std::vector<double> rank_us;        // [sample][rank][phase]
  std::vector<double> max_bytes;      // the most one rank sends, itself included
  std::vector<double> intra_bytes, inter_bytes, dedup_bytes, bottleneck_GBps;
  std::vector<double> solve_us, count_exchange_us;  // batch replica rules only
  std::vector<double> avoidable_rows;
  std::vector<double> send_bytes_rank;  // [rank], summed over the samples
  std::vector<int64_t> expert_counts;   // [layer][expert] routed rows, summed over measured steps
  MigrationStats migrated;              // summed over re-placements
  MigrationEvents events;
  int64_t rows_conserved = 0, rows_expected = 0;  // every step, warm-up included
};

// What the reduction needs to know about the run beyond its samples.
struct SimRunInfo {
  std::string policy, policy_used, routing, backend;
  int num_slots = 0, num_layers = 0, measured_steps = 0;
  bool node_dedup = false;
  LayerShape shape;
  PhaseTimes balanced;  // the balanced reference step's spans
};

// The "run" object of the results (policy, summary, layers, per_rank, samples).
nlohmann::json simulated_run_json(const SimSamples& samples, const SimRunInfo& info);

}  // namespace epbench::sim
