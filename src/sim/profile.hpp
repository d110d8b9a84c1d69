// Machine profiles for `epbench simulate`: the parameters of the cost model (cost_model.hpp) for
// one kind of node: FFN grouped-GEMM rate, tile and per-slot overheads, gate and layout costs,
// and per-link alpha-beta parameters (self copy, intra-node, inter-node). Built-in profiles
// (h100, h200: NVLink + 400 Gb/s NICs from public measurements; cpu-debian12-2core: fitted
// here by `epbench calibrate`) or a JSON file of the same fields (docs/simulate.md).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace epbench::sim {

// One class of link: a fixed latency per peer exchanged with and a bandwidth per direction.
struct LinkCost {
  double alpha_us = 0.0;  // per peer with non-zero traffic
  double GBps = 1.0;      // bytes per direction (send and receive are counted separately)
};

struct Profile {
  std::string name;
  std::string description;
  std::vector<std::string> sources;  // where each number comes from (citations or fit inputs)
  std::string backend = "cuda";      // what the profile models: "cuda" (GPU) or "kokkos" (CPU)

  // gate: router logits GEMM (2 x hidden x experts FLOPs per token) plus a fixed cost.
  double gate_fixed_us = 0.0, gate_gflops = 1.0;
  // layout: replica choice, packing and the count exchange.
  double layout_fixed_us = 0.0, layout_us_per_row = 0.0, layout_us_per_rank = 0.0;
  // FFN (grouped SwiGLU): fixed + per non-empty slot (below). ffn_gflops is per rank for GPU
  // profiles and per core for CPU (kokkos) ones (times the simulated --cores-per-rank).
  // A non-empty slot costs ffn_slot_us + max(tile-padded rows x FLOPs per row / ffn_gflops,
  // expert weight bytes / ffn_weight_GBps): compute- or weight-read-bound (0 = no weight term).
  double ffn_fixed_us = 0.0, ffn_slot_us = 0.0, ffn_gflops = 1.0, ffn_weight_GBps = 0.0;
  int ffn_tile_rows = 1;  // rows are padded to a multiple of this per slot (GPU tiles: 64/128)
  // dispatch and combine: fixed + per-link alpha-beta; links_overlap: intra- and inter-node
  // transfers proceed concurrently (NVLink and NIC), else they add up (one memory bus).
  double comm_fixed_us = 0.0;
  LinkCost self, intra, inter;
  bool links_overlap = true;
  double combine_us_per_row = 0.0;  // gate-weighted sum at the home rank, per (token, k) row
  // migration: expert weights between ranks, per event: fixed + per-link alpha-beta.
  double migration_fixed_us = 0.0;

  nlohmann::json to_json() const;
  // Unknown keys and missing required ones are an InputError naming `source`.
  static Profile from_json(const nlohmann::json& doc, const std::string& source);
  // Checks ranges (positive rates, non-negative costs); InputError naming the field.
  void validate() const;
};

std::vector<std::string> builtin_profile_names();
// A built-in name, else a JSON file path; InputError when neither.
Profile load_profile(const std::string& name_or_file);

}  // namespace epbench::sim
