// Test helper: a literal, slow transcription of DeepSeek's eplb.py (rebalance_experts) for one
// problem, written to read like the Python: linear scans where the reference scans (argmax over
// all experts per replica, min over all packs per item), std::stable_sort where it sorts. The
// optimised port (src/placement/eplb.cpp) must give the same phy2log on any input, ties included.
// Arithmetic as the port documents it: float32 loads, ratios and pack sums; group sums added in
// double and rounded once to float32.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "placement/eplb.hpp"

namespace epbench::testing {

// balanced_packing for one row: pack_index and rank_in_pack per item.
inline void reference_balanced_packing(const std::vector<float>& weight, int num_packs,
                                       std::vector<int>& pack_index,
                                       std::vector<int>& rank_in_pack) {
  const int n = static_cast<int>(weight.size());
  const int per_pack = n / num_packs;
  pack_index.assign(n, -1);
  rank_in_pack.assign(n, -1);
  if (per_pack == 1) {
    std::iota(pack_index.begin(), pack_index.end(), 0);
    std::fill(rank_in_pack.begin(), rank_in_pack.end(), 0);
    return;
  }
  std::vector<int> indices(n);
  std::iota(indices.begin(), indices.end(), 0);
  std::stable_sort(indices.begin(), indices.end(),
                   [&](int a, int b) { return weight[a] > weight[b]; });
  std::vector<float> pack_weights(num_packs, 0.0f);
  std::vector<int> pack_items(num_packs, 0);
  for (int item : indices) {
    int pack = -1;  // min(packs with room, key=pack_weights): the first minimum
    for (int p = 0; p < num_packs; ++p)
      if (pack_items[p] < per_pack && (pack < 0 || pack_weights[p] < pack_weights[pack])) pack = p;
    pack_index[item] = pack;
    rank_in_pack[item] = pack_items[pack];
    pack_weights[pack] += weight[item];
    ++pack_items[pack];
  }
}

// replicate_experts for one row: phy2log [num_phy] and logcnt [n].
inline void reference_replicate(const std::vector<float>& weight, int num_phy,
                                std::vector<int>& phy2log, std::vector<int>& logcnt) {
  const int n = static_cast<int>(weight.size());
  phy2log.resize(num_phy);
  std::iota(phy2log.begin(), phy2log.begin() + n, 0);
  logcnt.assign(n, 1);
  for (int i = n; i < num_phy; ++i) {
    int best = 0;  // (weight / logcnt).max(dim=-1).indices: the first maximum
    for (int e = 1; e < n; ++e)
      if (weight[e] / static_cast<float>(logcnt[e]) >
          weight[best] / static_cast<float>(logcnt[best]))
        best = e;
    phy2log[i] = best;
    ++logcnt[best];
  }
}

// rebalance_experts_hierarchical on one layer (the global policy is groups = nodes = 1).
inline std::vector<int32_t> reference_layer(const std::vector<float>& w, int num_phy,
                                            int num_groups, int num_nodes, int num_gpus) {
  const int num_log = static_cast<int>(w.size());
  const int group_size = num_log / num_groups, groups_per_node = num_groups / num_nodes;
  const int log_per_node = num_log / num_nodes, phy_per_node = num_phy / num_nodes;
  const int phy_per_gpu = num_phy / num_gpus;

  std::vector<float> tokens_per_group(num_groups);
  for (int g = 0; g < num_groups; ++g) {
    double sum = 0.0;
    for (int j = 0; j < group_size; ++j) sum += w[g * group_size + j];
    tokens_per_group[g] = static_cast<float>(sum);
  }
  std::vector<int> group_pack, group_rank;
  reference_balanced_packing(tokens_per_group, num_nodes, group_pack, group_rank);
  std::vector<int> mlog2log(num_log);
  for (int g = 0; g < num_groups; ++g)
    for (int j = 0; j < group_size; ++j)
      mlog2log[(group_pack[g] * groups_per_node + group_rank[g]) * group_size + j] =
          g * group_size + j;

  std::vector<int32_t> pphy2log(num_phy);
  for (int node = 0; node < num_nodes; ++node) {
    std::vector<float> tokens_per_mlog(log_per_node);
    for (int k = 0; k < log_per_node; ++k)
      tokens_per_mlog[k] = w[mlog2log[node * log_per_node + k]];
    std::vector<int> phy2mlog, mlogcnt;
    reference_replicate(tokens_per_mlog, phy_per_node, phy2mlog, mlogcnt);
    std::vector<float> tokens_per_phy(phy_per_node);
    for (int p = 0; p < phy_per_node; ++p)
      tokens_per_phy[p] = tokens_per_mlog[phy2mlog[p]] / static_cast<float>(mlogcnt[phy2mlog[p]]);
    std::vector<int> pack, rank;
    reference_balanced_packing(tokens_per_phy, num_gpus / num_nodes, pack, rank);
    for (int p = 0; p < phy_per_node; ++p)
      pphy2log[node * phy_per_node + pack[p] * phy_per_gpu + rank[p]] =
          mlog2log[node * log_per_node + phy2mlog[p]];
  }
  return pphy2log;
}

// phy2log [layers * replicas] of rebalance_experts(problem) (force_global as in the port).
inline std::vector<int32_t> reference_rebalance(const EplbProblem& p, bool force_global = false) {
  const bool hier = p.hierarchical() && !force_global;
  std::vector<int32_t> out;
  for (int l = 0; l < p.num_layers; ++l) {
    std::vector<float> w(p.num_experts);
    for (int e = 0; e < p.num_experts; ++e)
      w[e] = static_cast<float>(p.weight[size_t(l) * p.num_experts + e]);
    auto row = reference_layer(w, p.num_replicas, hier ? p.num_groups : 1, hier ? p.num_nodes : 1,
                               p.num_gpus);
    out.insert(out.end(), row.begin(), row.end());
  }
  return out;
}

}  // namespace epbench::testing
