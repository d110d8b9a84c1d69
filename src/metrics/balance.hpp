// Load-balance metrics. The definitions used across the MoE ecosystem, in one place.
//
// For one layer with per-GPU (or per-rank) loads x_1..x_G, mean = (1/G) sum x_g, max = max x_g:
//   balancedness            = mean / max             (DeepSeek EPLB; 1 = perfect, 1/G = worst)
//   imbalance ratio         = max / mean             (the inverse; 1 = perfect)
//   TensorRT-LLM imbalance  = (max - mean) / mean    (0 = perfect)
// Over layers l = 1..L, vLLM's EPLB logs
//   vLLM balancedness       = (sum_l mean_l) / (sum_l max_l)
// which weights each layer by its load, unlike the mean of per-layer balancedness.
// A layer with no load at all (max = 0) is reported as perfectly balanced.
#pragma once

#include <span>
#include <vector>

namespace epbench {

struct LoadStats {
  double mean = 0.0;
  double max = 0.0;
  double min = 0.0;
  double total = 0.0;
};

LoadStats load_stats(std::span<const double> loads);

double balancedness(std::span<const double> loads);             // mean / max
double imbalance_ratio(std::span<const double> loads);          // max / mean
double trtllm_imbalance(std::span<const double> loads);         // (max - mean) / mean
// loads_per_layer[l] holds the per-GPU loads of layer l.
double vllm_balancedness(const std::vector<std::vector<double>>& loads_per_layer);

}  // namespace epbench
