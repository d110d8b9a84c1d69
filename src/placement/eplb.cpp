// EPLB port. The per-layer work is done on float32 copies of the loads with scratch buffers
// reused across layers; greedy steps use heaps whose ordering reproduces the reference's
// linear scans exactly (see the comments at each heap).
#include "placement/eplb.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "common/error.hpp"
#include "placement/parallel.hpp"

namespace epbench {
namespace {

// Order-preserving key of a non-negative float (bit patterns of non-negative IEEE floats sort
// like their values; -0.0 is mapped to +0.0), packed with an index below it so that one integer
// comparison orders by (value, index).
inline uint64_t key_of(float value, uint32_t index) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if (value == 0.0f) bits = 0;
  return (uint64_t{bits} << 32) | index;
}

// Buffers reused by the packing of every layer (no allocation per call).
struct PackScratch {
  std::vector<uint32_t> keys, order, tmp;
  std::vector<float> pack_weight;
  std::vector<int32_t> pack_items;
  std::vector<uint64_t> heap;
};

// Fills `order` with 0..n-1 sorted by decreasing w, ties in increasing index (what torch's
// stable sort gives): an LSD radix sort on the inverted order-preserving float bits, which is
// stable, so equal keys keep their initial increasing-index order.
void sort_descending_stable(std::span<const float> w, PackScratch& s) {
  const size_t n = w.size();
  s.keys.resize(n);
  s.order.resize(n);
  s.tmp.resize(n);
  for (size_t i = 0; i < n; ++i) {
    s.keys[i] = ~static_cast<uint32_t>(key_of(w[i], 0) >> 32);
    s.order[i] = static_cast<uint32_t>(i);
  }
  if (n <= 32) {  // a few groups: stable insertion sort beats four 256-bucket passes
    for (size_t i = 1; i < n; ++i) {
      const uint32_t item = s.order[i];
      size_t j = i;
      for (; j > 0 && s.keys[s.order[j - 1]] > s.keys[item]; --j) s.order[j] = s.order[j - 1];
      s.order[j] = item;
    }
    return;
  }
  for (int shift = 0; shift < 32; shift += 8) {
    uint32_t count[257] = {0};
    for (size_t i = 0; i < n; ++i) ++count[((s.keys[s.order[i]] >> shift) & 0xFF) + 1];
    if (count[((s.keys[0] >> shift) & 0xFF) + 1] == n) continue;  // one digit value: no-op pass
    for (int d = 0; d < 256; ++d) count[d + 1] += count[d];
    for (size_t i = 0; i < n; ++i) s.tmp[count[(s.keys[s.order[i]] >> shift) & 0xFF]++] = s.order[i];
    s.order.swap(s.tmp);
  }
}

// balanced_packing: assigns n items with weights w to num_packs packs of n / num_packs items
// each. Items are visited by decreasing weight (ties in index order, as torch's stable sort on
// CPU); each goes to the lightest pack that still has room, lowest index on ties.
void balanced_packing(std::span<const float> w, int num_packs, std::span<int32_t> pack_index,
                      std::span<int32_t> rank_in_pack, PackScratch& s) {
  const int n = static_cast<int>(w.size());
  const int per_pack = n / num_packs;
  if (per_pack == 1) {
    for (int i = 0; i < n; ++i) {
      pack_index[i] = i;
      rank_in_pack[i] = 0;
    }
    return;
  }
  sort_descending_stable(w, s);
  // Min-heap of (pack weight, pack index) keys: the top is min(range(num_packs),
  // key=pack_weights) over packs with room; full packs are not pushed back.
  s.pack_weight.assign(num_packs, 0.0f);
  s.pack_items.assign(num_packs, 0);
  s.heap.resize(num_packs);
  for (int p = 0; p < num_packs; ++p) s.heap[p] = key_of(0.0f, p);
  auto greater = std::greater<uint64_t>();
  for (uint32_t item : s.order) {
    std::pop_heap(s.heap.begin(), s.heap.end(), greater);
    const auto pack = static_cast<int32_t>(s.heap.back() & 0xFFFFFFFFu);
    pack_index[item] = pack;
    rank_in_pack[item] = s.pack_items[pack];
    s.pack_weight[pack] += w[item];
    if (++s.pack_items[pack] < per_pack) {
      s.heap.back() = key_of(s.pack_weight[pack], pack);
      std::push_heap(s.heap.begin(), s.heap.end(), greater);
    } else {
      s.heap.pop_back();
    }
  }
}

// replicate_experts: adds num_phy - n replicas one at a time, each to the expert with the
// largest weight / count (float32), first index on ties. Max-heap of integer keys
// (ratio bits, inverted index): the top is the reference's argmax.
void replicate_experts(std::span<const float> w, int num_phy, std::span<int32_t> phy2log,
                       std::span<int32_t> logcnt, std::vector<uint64_t>& heap) {
  const int n = static_cast<int>(w.size());
  for (int i = 0; i < n; ++i) {
    phy2log[i] = i;
    logcnt[i] = 1;
  }
  if (num_phy == n) return;
  heap.resize(n);
  for (int i = 0; i < n; ++i) heap[i] = key_of(w[i], ~static_cast<uint32_t>(i));
  std::make_heap(heap.begin(), heap.end());
  for (int i = n; i < num_phy; ++i) {
    std::pop_heap(heap.begin(), heap.end());
    const auto e = static_cast<int32_t>(~static_cast<uint32_t>(heap.back() & 0xFFFFFFFFu));
    phy2log[i] = e;
    ++logcnt[e];
    heap.back() = key_of(w[e] / static_cast<float>(logcnt[e]), ~static_cast<uint32_t>(e));
    std::push_heap(heap.begin(), heap.end());
  }
}

// Scratch buffers for one layer, reused across layers.
struct Scratch {
  std::vector<float> group_tokens, mlog_tokens, phy_tokens;
  std::vector<int32_t> group_pack, group_rank, log2mlog, mlog2log;
  std::vector<int32_t> phy2mlog, mlogcnt, pack, rank_in_pack, pphy2phy;
  std::vector<uint64_t> replicate_heap;
  PackScratch packing;
};

// rebalance_experts_hierarchical for one layer: writes pphy2log [num_phy] (logcnt and log2phy
// follow from phy2log and are derived by Placement).
void rebalance_layer(std::span<const float> w, int num_phy, int num_groups, int num_nodes,
                     int num_gpus, std::span<int32_t> out_phy2log, Scratch& s) {
  const int num_log = static_cast<int>(w.size());
  const int group_size = num_log / num_groups;
  const int groups_per_node = num_groups / num_nodes;
  const int log_per_node = num_log / num_nodes;
  const int phy_per_node = num_phy / num_nodes;
  const int phy_per_gpu = num_phy / num_gpus;
  const int gpus_per_node = num_gpus / num_nodes;

  // Step 1: pack groups to nodes. Group sums are rounded once to float32 (the reference sums
  // float32 values; a correctly rounded sum is what torch's pairwise sum gives for these sizes).
  s.group_tokens.resize(num_groups);
  for (int g = 0; g < num_groups; ++g) {
    double sum = 0.0;
    for (int j = 0; j < group_size; ++j) sum += w[g * group_size + j];
    s.group_tokens[g] = static_cast<float>(sum);
  }
  s.group_pack.resize(num_groups);
  s.group_rank.resize(num_groups);
  balanced_packing(s.group_tokens, num_nodes, s.group_pack, s.group_rank, s.packing);
  s.log2mlog.resize(num_log);
  s.mlog2log.resize(num_log);
  for (int g = 0; g < num_groups; ++g)
    for (int j = 0; j < group_size; ++j) {
      int32_t mlog = (s.group_pack[g] * groups_per_node + s.group_rank[g]) * group_size + j;
      s.log2mlog[g * group_size + j] = mlog;
      s.mlog2log[mlog] = g * group_size + j;
    }

  // Steps 2 and 3 per node: replicate within the node, then pack its replicas to its GPUs.
  s.mlog_tokens.resize(log_per_node);
  s.phy_tokens.resize(phy_per_node);
  s.phy2mlog.resize(phy_per_node);
  s.mlogcnt.resize(num_log);
  s.pack.resize(phy_per_node);
  s.rank_in_pack.resize(phy_per_node);
  s.pphy2phy.resize(phy_per_node);
  for (int node = 0; node < num_nodes; ++node) {
    const int mlog_base = node * log_per_node;
    for (int k = 0; k < log_per_node; ++k) s.mlog_tokens[k] = w[s.mlog2log[mlog_base + k]];
    std::span<int32_t> cnt(s.mlogcnt.data() + mlog_base, log_per_node);
    replicate_experts(s.mlog_tokens, phy_per_node, s.phy2mlog, cnt, s.replicate_heap);
    for (int p = 0; p < phy_per_node; ++p)
      s.phy_tokens[p] = s.mlog_tokens[s.phy2mlog[p]] / static_cast<float>(cnt[s.phy2mlog[p]]);
    balanced_packing(s.phy_tokens, gpus_per_node, s.pack, s.rank_in_pack, s.packing);
    for (int p = 0; p < phy_per_node; ++p)
      s.pphy2phy[s.pack[p] * phy_per_gpu + s.rank_in_pack[p]] = p;
    for (int q = 0; q < phy_per_node; ++q)
      out_phy2log[node * phy_per_node + q] = s.mlog2log[mlog_base + s.phy2mlog[s.pphy2phy[q]]];
  }
}

}  // namespace

void EplbProblem::validate() const {
  auto str = [](auto v) { return std::to_string(v); };
  require_input(num_layers > 0, "the load matrix has no layers");
  require_input(num_experts > 0, "the load matrix has zero experts");
  require_input(weight.size() == static_cast<size_t>(num_layers) * num_experts,
                "the load matrix is not [layers][experts]");
  require_input(num_groups > 0, "num_groups must be positive, got " + str(num_groups));
  require_input(num_nodes > 0, "num_nodes must be positive, got " + str(num_nodes));
  require_input(num_gpus > 0, "num_gpus must be positive, got " + str(num_gpus));
  require_input(num_experts % num_groups == 0,
                str(num_experts) + " experts are not divisible by " + str(num_groups) + " groups");
  require_input(num_replicas >= num_experts, "fewer replicas (" + str(num_replicas) +
                                                 ") than experts (" + str(num_experts) + ")");
  require_input(num_replicas % num_gpus == 0, "replicas (" + str(num_replicas) +
                                                  ") are not a multiple of GPUs (" +
                                                  str(num_gpus) + ")");
  require_input(num_gpus % num_nodes == 0, "GPUs (" + str(num_gpus) +
                                               ") are not a multiple of nodes (" +
                                               str(num_nodes) + ")");
  for (size_t i = 0; i < weight.size(); ++i) {
    const double x = weight[i];
    if (x >= 0.0 && x <= std::numeric_limits<float>::max()) continue;  // the common case
    const std::string where = "load of layer " + str(i / num_experts) + ", expert " +
                              str(i % num_experts);
    require_input(!std::isnan(x), where + " is NaN");
    require_input(std::isfinite(x), where + " is infinite");
    require_input(x >= 0.0, where + " is negative (" + std::to_string(x) + ")");
    throw InputError(where + " overflows float32");
  }
}

EplbResult rebalance_experts(const EplbProblem& problem, bool force_global) {
  problem.validate();
  const bool hier = problem.hierarchical() && !force_global;
  const int groups = hier ? problem.num_groups : 1;
  const int nodes = hier ? problem.num_nodes : 1;
  const int L = problem.num_layers, E = problem.num_experts, R = problem.num_replicas;

  std::vector<int32_t> phy2log(static_cast<size_t>(L) * R);
  // Layers are independent: contiguous ranges of them on a few threads, one scratch each.
  const int threads = placement_threads(problem.num_threads, L, 40.0 * (E + R));
  for_layer_ranges(L, threads, [&](int, int first, int end) {
    std::vector<float> row(E);
    Scratch scratch;
    for (int l = first; l < end; ++l) {
      for (int e = 0; e < E; ++e) row[e] = static_cast<float>(problem.weight[size_t(l) * E + e]);
      rebalance_layer(row, R, groups, nodes, problem.num_gpus,
                      {phy2log.data() + size_t(l) * R, size_t(R)}, scratch);
    }
  });
  EplbResult result{Placement(L, E, problem.num_gpus, problem.num_nodes, std::move(phy2log)),
                    hier ? "hierarchical" : "global"};
  return result;
}

}  // namespace epbench
