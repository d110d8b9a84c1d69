// EPLB port. Per layer, on float32 copies of the loads: the groups are packed to nodes, then
// all experts are sorted once (decreasing load, the reference's node-major order on ties); per
// node, replication runs over the only experts that can receive a replica, the replicas'
// visiting order comes from merging that sorted list with the few replicated experts, and the
// greedy packing keeps the packs in a tournament tree. Packings of several nodes or layers run
// interleaved (each alone is one long chain of dependent steps). Every step reproduces the
// reference's choices exactly, ties included (see the comment at each step);
// tests/placement/test_eplb_reference.cpp checks that against a literal transcription of
// eplb.py. Buffers are reused across layers and calls.
#include "placement/eplb.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "common/error.hpp"
#include "placement/parallel.hpp"

namespace epbench {
namespace {

// Bit pattern of a non-negative float (every load and ratio here: inputs are checked to be
// >= 0, so -0.0 is the only one with the sign bit) whose unsigned order is the value's order;
// clearing the sign bit maps -0.0 to +0.0, so equal values have equal bits.
inline uint32_t order_bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits & 0x7FFFFFFFu;
}

inline float from_bits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

// Visiting-order key of an item: ascending keys are decreasing values, ties by increasing
// index, the order of the reference's stable descending sort.
inline uint64_t descending_key(float value, uint32_t index) {
  return (uint64_t{~order_bits(value)} << 32) | index;
}
inline float value_of(uint64_t key) { return from_bits(~static_cast<uint32_t>(key >> 32)); }
inline uint32_t index_of(uint64_t key) { return static_cast<uint32_t>(key); }

// Sorts keys ascending by the full 64-bit key. Large inputs: an LSD radix sort on
// d = (high word >> 8) - its minimum, cut to its top 16 bits (shifted right by `shift` when the
// keys span more than 2^16 values of it): two passes of 8-bit digits, a pass whose digit is the
// same for all keys skipped. d is monotone in the key, so the keys end up ordered by d; each run
// of keys with equal d (rare for continuous loads) is then sorted by the full key. Each pass
// scatters the first half of the keys forward from the bucket starts and the second half
// backward from the bucket ends: two independent chains where keys in a row share a bucket.
void sort_keys(std::vector<uint64_t>& keys, std::vector<uint64_t>& tmp) {
  const size_t n = keys.size();
  if (n <= 64) {
    std::sort(keys.begin(), keys.end());
    return;
  }
  tmp.resize(n);
  uint64_t* k = keys.data();
  uint32_t lo = ~0u, hi = 0;
  for (size_t i = 0; i < n; ++i) {
    const auto top = static_cast<uint32_t>(k[i] >> 40);
    lo = std::min(lo, top);
    hi = std::max(hi, top);
  }
  const int shift = std::max(0, static_cast<int>(std::bit_width(hi - lo)) - 16);
  auto digits = [lo, shift](uint64_t key) {
    return (static_cast<uint32_t>(key >> 40) - lo) >> shift;  // < 2^16
  };
  uint32_t count[2][257] = {};
  for (size_t i = 0; i < n; ++i) {
    const uint32_t d = digits(k[i]);
    ++count[0][d & 0xFF];
    ++count[1][d >> 8];
  }
  const uint32_t d0 = digits(k[0]);
  const bool skip[2] = {count[0][d0 & 0xFF] == n, count[1][d0 >> 8] == n};
  uint32_t sum[2] = {0, 0};
  for (int b = 0; b < 256; ++b)
    for (int pass = 0; pass < 2; ++pass) {
      const uint32_t here = count[pass][b];
      count[pass][b] = sum[pass];
      sum[pass] += here;
    }
  for (int pass = 0; pass < 2; ++pass) {
    if (skip[pass]) continue;
    const int bits = 8 * pass;
    count[pass][256] = static_cast<uint32_t>(n);
    uint32_t front[256], back[256];  // next free slot from the start / one past it from the end
    std::memcpy(front, count[pass], sizeof front);
    std::memcpy(back, count[pass] + 1, sizeof back);
    const uint64_t* in = keys.data();
    uint64_t* out = tmp.data();
    for (size_t i = 0, j = n - 1; i < n / 2; ++i, --j) {
      const uint64_t x = in[i], y = in[j];
      out[front[(digits(x) >> bits) & 0xFF]++] = x;
      out[--back[(digits(y) >> bits) & 0xFF]] = y;
    }
    if (n % 2 == 1) out[front[(digits(in[n / 2]) >> bits) & 0xFF]] = in[n / 2];
    keys.swap(tmp);
  }
  k = keys.data();
  for (size_t first = 0; first < n;) {
    const uint32_t d = digits(k[first]);
    size_t end = first + 1;
    while (end < n && digits(k[end]) == d) ++end;
    if (end - first > 1) std::sort(k + first, k + end);  // insertion sort when short
    first = end;
  }
}

// Pack state key: (weight bits, next free slot), where pack p owns the output slots
// [p * per_pack, (p + 1) * per_pack) and fills them in order. Among equal weights the smaller
// next slot is the lower pack, so the smallest key is the lightest pack, lowest index on ties;
// a full pack holds the largest key. Pack weights are sums of non-negative floats starting at
// +0.0, never -0.0 (+0.0 + -0.0 is +0.0), so their raw bits order them and the weight is
// recovered exactly from the key.
constexpr uint64_t kFullPack = ~uint64_t{0};
inline uint64_t pack_key(float weight, uint32_t next_slot) {
  uint32_t bits;
  std::memcpy(&bits, &weight, sizeof bits);
  return (uint64_t{bits} << 32) | next_slot;
}
inline float weight_of_pack(uint64_t key) { return from_bits(static_cast<uint32_t>(key >> 32)); }

// min as a conditional move (which pack is lightest is close to random: a branch would
// mispredict often). The empty asm keeps the optimiser from turning the select into a branch.
inline uint64_t select_min(uint64_t a, uint64_t b) {
  uint64_t m = b < a ? b : a;
#if defined(__GNUC__)
  asm("" : "+r"(m));
#endif
  return m;
}

// One balanced_packing: items in the reference's visiting order (ascending descending_key),
// whose low words are already their labels (the order among them is settled); the packing
// writes out[pack * per_pack + rank in pack] = label.
struct PackJob {
  std::vector<uint64_t> items;
  int32_t* out = nullptr;
};

// Pack state per job: a tournament tree over the pack keys, leaves at [width, 2 width) (width
// a power of two; leaves past the last pack full), node j = min(node 2j, node 2j + 1), so node
// 1 is the lightest pack with room. Changing one leaf recomputes its path only; the sibling
// loads do not wait on stores of the same step. slot_info[slot] = its pack, with kLastSlot set
// on a pack's last slot (shared by all jobs of one shape).
struct PackScratch {
  std::vector<uint64_t> trees;
  std::vector<uint32_t> slot_info;
  size_t info_items = 0;
  int info_packs = 0;
};
constexpr uint32_t kLastSlot = 0x80000000u;

// balanced_packing for K jobs of the same shape at once: each item goes to the lightest pack
// that still has room, the lowest index among equally light ones (Python's min over
// range(num_packs)); all packs get n / num_packs items. One job is a chain of dependent steps
// (an item's pack depends on the previous item's); interleaving K lets the core overlap them.
// kDepth = log2(tree width) when known at compile time (the climb is then unrolled), else 0.
template <int K, int kDepth>
void pack_interleaved(const PackJob* jobs, int num_packs, PackScratch& s) {
  const auto n = jobs[0].items.size();
  const auto per_pack = static_cast<uint32_t>(n / num_packs);
  int depth = 0;
  while ((1 << depth) < num_packs) ++depth;
  if constexpr (kDepth > 0) depth = kDepth;
  const uint32_t width = 1u << depth;
  if (s.info_items != n || s.info_packs != num_packs) {
    s.slot_info.resize(n);
    for (uint32_t slot = 0; slot < n; ++slot)
      s.slot_info[slot] = slot / per_pack | ((slot + 1) % per_pack == 0 ? kLastSlot : 0);
    s.info_items = n;
    s.info_packs = num_packs;
  }
  const uint32_t* slot_info = s.slot_info.data();
  s.trees.assign(size_t(K) * 2 * width, kFullPack);
  uint64_t* const trees = s.trees.data();
  const uint64_t* items[K];
  int32_t* out[K];
  uint64_t best[K];
  for (int c = 0; c < K; ++c) {
    items[c] = jobs[c].items.data();
    out[c] = jobs[c].out;
    uint64_t* tree = trees + size_t(c) * 2 * width;
    for (int p = 0; p < num_packs; ++p) tree[width + p] = pack_key(0.0f, p * per_pack);
    for (uint32_t j = width - 1; j >= 1; --j) tree[j] = std::min(tree[2 * j], tree[2 * j + 1]);
    best[c] = tree[1];
  }
  for (size_t i = 0; i < n; ++i) {
#pragma GCC unroll 4
    for (int c = 0; c < K; ++c) {
      uint64_t* tree = trees + size_t(c) * 2 * width;
      const uint64_t item = items[c][i];
      const uint32_t slot = index_of(best[c]);
      out[c][slot] = static_cast<int32_t>(index_of(item));
      const uint32_t info = slot_info[slot];
      uint64_t key = info & kLastSlot
                         ? kFullPack
                         : pack_key(weight_of_pack(best[c]) + value_of(item), slot + 1);
      uint32_t node = width + (info & ~kLastSlot);
      tree[node] = key;
#pragma GCC unroll 8
      for (int level = 0; level < depth; ++level, node /= 2) {
        key = select_min(key, tree[node ^ 1]);
        tree[node / 2] = key;
      }
      best[c] = key;
    }
  }
}

constexpr int kMaxInterleaved = 4;

template <int K>
void pack_interleaved_any_depth(const PackJob* jobs, int num_packs, PackScratch& s) {
  if (num_packs <= 2) return pack_interleaved<K, 1>(jobs, num_packs, s);
  if (num_packs <= 4) return pack_interleaved<K, 2>(jobs, num_packs, s);
  if (num_packs <= 8) return pack_interleaved<K, 3>(jobs, num_packs, s);
  if (num_packs <= 16) return pack_interleaved<K, 4>(jobs, num_packs, s);
  if (num_packs <= 32) return pack_interleaved<K, 5>(jobs, num_packs, s);
  return pack_interleaved<K, 0>(jobs, num_packs, s);
}

// Runs jobs (all with the same number of items) in groups of up to kMaxInterleaved.
void pack_jobs(std::span<const PackJob> jobs, int num_packs, PackScratch& s) {
  for (size_t j = 0; j < jobs.size(); j += kMaxInterleaved) {
    const PackJob* group = jobs.data() + j;
    switch (std::min<size_t>(kMaxInterleaved, jobs.size() - j)) {
      case 1:
        pack_interleaved_any_depth<1>(group, num_packs, s);
        break;
      case 2:
        pack_interleaved_any_depth<2>(group, num_packs, s);
        break;
      case 3:
        pack_interleaved_any_depth<3>(group, num_packs, s);
        break;
      default:
        pack_interleaved_any_depth<4>(group, num_packs, s);
        break;
    }
  }
}

// Scratch buffers of one worker, reused across layers.
struct Scratch {
  std::vector<float> row, mlog_load;
  std::vector<double> group_sum;
  std::vector<int32_t> mlog2log, pgroup2group, node_fill, count, extra, position;
  std::vector<uint32_t> node_of_mlog;  // mlog index -> node, fixed by the shape:
  int node_of_mlog_nodes = 0;          // for this many nodes
  std::vector<uint64_t> keys, tmp, node_sorted, heap, next_key, singles, replicated;
  PackJob group_job;
  std::vector<PackJob> node_jobs;  // replicas-to-GPU packings; the first num_pending wait to run
  size_t num_pending = 0;
  PackScratch packs, group_packs;  // for the node jobs / the groups-to-nodes packing
};

// Key of a replication candidate: larger ratio first, then the lower expert index (the
// inverted index), so the largest key is torch's argmax (the first maximum). Zero is below
// every key (an empty leaf).
inline uint64_t ratio_key(float ratio, uint32_t e) {
  return (uint64_t{order_bits(ratio)} << 32) | ~e;
}

// max as a conditional move; see select_min.
inline uint64_t select_max(uint64_t a, uint64_t b) {
  uint64_t m = b > a ? b : a;
#if defined(__GNUC__)
  asm("" : "+r"(m));
#endif
  return m;
}

// replicate_experts on one node: `sorted` holds the node's experts (local indices) in visiting
// order, load[e] their loads. Adds num_extra replicas one at a time, each to the expert with
// the largest load / count (float32), the first index on ties (torch's argmax); sets count[e]
// and extra[t], the expert of replica sorted.size() + t.
// Only the first num_extra experts in `sorted` can receive a replica: when replica t is made,
// any expert ranked below the first t has t experts ranked above it, at most t - 1 of which hold
// an extra copy; one still has its full load as its ratio, which is larger than the lower
// expert's ratio (at most its load), or equal with a lower index. So the argmax runs over those
// candidates, kept in a tournament tree (as in pack_interleaved, with max); each candidate's
// key for one more copy is computed ahead, so the division is off the chain of choices.
void replicate(std::span<const uint64_t> sorted, std::span<const float> load, int num_extra,
               Scratch& s) {
  const int n = static_cast<int>(sorted.size());
  s.count.assign(n, 1);
  s.extra.resize(num_extra);
  if (num_extra == 0) return;
  const int candidates = std::min(num_extra, n);
  uint32_t width = 1;
  while (width < static_cast<uint32_t>(candidates)) width *= 2;
  s.heap.assign(2 * width, 0);  // the tree
  s.next_key.resize(candidates);
  s.position.resize(n);
  uint64_t* tree = s.heap.data();
  for (int c = 0; c < candidates; ++c) {
    const uint32_t e = index_of(sorted[c]);
    s.position[e] = c;
    tree[width + c] = ratio_key(load[e], e);
    s.next_key[c] = ratio_key(load[e] / 2.0f, e);
  }
  for (uint32_t j = width - 1; j >= 1; --j) tree[j] = std::max(tree[2 * j], tree[2 * j + 1]);
  for (int t = 0; t < num_extra; ++t) {
    const uint32_t e = ~index_of(tree[1]);
    s.extra[t] = static_cast<int32_t>(e);
    const int c = s.position[e];
    uint64_t key = s.next_key[c];
    s.next_key[c] = ratio_key(load[e] / static_cast<float>(++s.count[e] + 1), e);
    uint32_t node = width + c;
    tree[node] = key;
    for (; node > 1; node /= 2) {
      key = select_max(key, tree[node ^ 1]);
      tree[node / 2] = key;
    }
  }
}

// The node's replicas (physical index q: expert q for q < n, else expert extra[q - n]) in the
// reference's visiting order for packing, by (load / count descending, q ascending), into
// items [n + num_extra], each with its logical expert log_of[expert] as the low word (for
// pack_interleaved). Experts with one copy keep their order from `sorted` (same key:
// load / 1 == load, index q == e); the copies of replicated experts (all among the
// candidates) are few: sort them and merge the two lists.
void replicas_in_order(std::span<const uint64_t> sorted, std::span<const float> load,
                       const int32_t* log_of, Scratch& s, uint64_t* items) {
  const auto n = static_cast<uint32_t>(sorted.size());
  const int num_extra = static_cast<int>(s.extra.size());
  const int candidates = std::min<int>(num_extra, n);
  s.singles.resize(n);
  s.replicated.clear();
  uint64_t* single = s.singles.data();
  for (int c = 0; c < candidates; ++c) {
    const uint32_t e = index_of(sorted[c]);
    if (s.count[e] == 1)
      *single++ = sorted[c];
    else
      s.replicated.push_back(descending_key(load[e] / static_cast<float>(s.count[e]), e));
  }
  single = std::copy(sorted.begin() + candidates, sorted.end(), single);
  for (int t = 0; t < num_extra; ++t) {
    const int32_t e = s.extra[t];
    s.replicated.push_back(descending_key(load[e] / static_cast<float>(s.count[e]), n + t));
  }
  std::sort(s.replicated.begin(), s.replicated.end());
  // Merge on the physical indices, then write the labels. The replicated copies are few, so
  // the inner loop's branch is well predicted. An all-ones sentinel (larger than any key)
  // ends the replicated list.
  constexpr uint64_t kHigh = ~uint64_t{0xFFFFFFFFu};
  auto label = [&](uint64_t key) {
    const uint32_t q = index_of(key);
    return (key & kHigh) | static_cast<uint32_t>(log_of[q < n ? q : s.extra[q - n]]);
  };
  s.replicated.push_back(~uint64_t{0});
  const uint64_t* b = s.replicated.data();
  for (const uint64_t* a = s.singles.data(); a != single; ++a) {
    while (*b < *a) *items++ = label(*b++);
    *items++ = (*a & kHigh) | static_cast<uint32_t>(log_of[index_of(*a)]);
  }
  for (const uint64_t* end = &s.replicated.back(); b != end; ++b) *items++ = label(*b);
}

// rebalance_experts_hierarchical for one layer: writes pphy2log [num_phy] (logcnt and log2phy
// follow from phy2log and are derived by Placement). The replicas-to-GPU packings are queued
// in s.node_jobs (their outputs point into out_phy2log) for pack_jobs.
void rebalance_layer(std::span<const double> weight, int num_phy, int num_groups, int num_nodes,
                     int num_gpus, std::span<int32_t> out_phy2log, Scratch& s) {
  const int num_log = static_cast<int>(weight.size());
  const int group_size = num_log / num_groups;
  const int groups_per_node = num_groups / num_nodes;
  const int log_per_node = num_log / num_nodes;
  const int phy_per_node = num_phy / num_nodes;
  const int phy_per_gpu = num_phy / num_gpus;

  s.row.resize(num_log);
  for (int e = 0; e < num_log; ++e) s.row[e] = static_cast<float>(weight[e]);

  // Step 1: pack groups to nodes; pgroup2group[node * groups_per_node + rank] = group. Group
  // sums are rounded once to float32 (the reference sums float32 values; a correctly rounded
  // sum is what torch's pairwise sum gives for these sizes).
  s.pgroup2group.resize(num_groups);
  if (groups_per_node == 1) {
    std::iota(s.pgroup2group.begin(), s.pgroup2group.end(), 0);
  } else {
    PackJob& job = s.group_job;
    job.items.resize(num_groups);
    // All groups' sums advance together (independent chains for the core to overlap); each
    // still adds its experts in index order.
    s.group_sum.assign(num_groups, 0.0);
    for (int j = 0; j < group_size; ++j)
      for (int g = 0; g < num_groups; ++g) s.group_sum[g] += s.row[g * group_size + j];
    for (int g = 0; g < num_groups; ++g) {
      job.items[g] = descending_key(static_cast<float>(s.group_sum[g]), g);
    }
    sort_keys(job.items, s.tmp);
    job.out = s.pgroup2group.data();
    pack_jobs({&job, 1}, num_nodes, s.group_packs);
  }
  s.mlog2log.resize(num_log);
  for (int q = 0; q < num_groups; ++q)
    std::iota(s.mlog2log.begin() + q * group_size, s.mlog2log.begin() + (q + 1) * group_size,
              s.pgroup2group[q] * group_size);

  // All experts in visiting order by (load descending, mlog ascending), then split by node
  // (stable, so each node's list keeps that order) with local indices.
  s.mlog_load.resize(num_log);
  s.keys.resize(num_log);
  for (int k = 0; k < num_log; ++k) {
    s.mlog_load[k] = s.row[s.mlog2log[k]];
    s.keys[k] = descending_key(s.mlog_load[k], k);
  }
  sort_keys(s.keys, s.tmp);
  if (num_nodes == 1) {
    s.node_sorted.swap(s.keys);
  } else {
    if (s.node_of_mlog.size() != static_cast<size_t>(num_log) ||
        s.node_of_mlog_nodes != num_nodes) {
      s.node_of_mlog_nodes = num_nodes;
      s.node_of_mlog.resize(num_log);
      for (int k = 0; k < num_log; ++k) s.node_of_mlog[k] = k / log_per_node;
    }
    s.node_sorted.resize(num_log);
    s.node_fill.resize(num_nodes);
    for (int node = 0; node < num_nodes; ++node) s.node_fill[node] = node * log_per_node;
    for (uint64_t key : s.keys) {
      const uint32_t k = index_of(key), node = s.node_of_mlog[k];
      s.node_sorted[s.node_fill[node]++] = key - node * log_per_node;  // local index below
    }
  }

  // Steps 2 and 3 per node: replicate within the node, then pack its replicas to its GPUs.
  for (int node = 0; node < num_nodes; ++node) {
    const std::span<const uint64_t> sorted(s.node_sorted.data() + node * log_per_node,
                                           log_per_node);
    const std::span<const float> load(s.mlog_load.data() + node * log_per_node, log_per_node);
    replicate(sorted, load, phy_per_node - log_per_node, s);
    int32_t* out = out_phy2log.data() + node * phy_per_node;
    const int32_t* mlog2log = s.mlog2log.data() + node * log_per_node;
    if (phy_per_gpu == 1) {  // the reference's identity packing
      std::copy(mlog2log, mlog2log + log_per_node, out);
      for (int t = 0; t < phy_per_node - log_per_node; ++t)
        out[log_per_node + t] = mlog2log[s.extra[t]];
      continue;
    }
    if (s.num_pending == s.node_jobs.size()) s.node_jobs.emplace_back();
    PackJob& job = s.node_jobs[s.num_pending++];
    job.items.resize(phy_per_node);
    replicas_in_order(sorted, load, mlog2log, s, job.items.data());
    job.out = out;
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
  require_input(
      num_replicas % num_gpus == 0,
      "replicas (" + str(num_replicas) + ") are not a multiple of GPUs (" + str(num_gpus) + ")");
  require_input(
      num_gpus % num_nodes == 0,
      "GPUs (" + str(num_gpus) + ") are not a multiple of nodes (" + str(num_nodes) + ")");
  // One branch-free pass for the common case, on the bit patterns: a double in
  // [0, FLT_MAX] has a pattern at most FLT_MAX's (sign clear, IEEE order is integer order);
  // +inf and NaNs are above it, and so is every pattern with the sign set, but -0.0 (which
  // counts as 0, mapped to 0 here).
  constexpr auto kLargest = std::bit_cast<uint64_t>(double{std::numeric_limits<float>::max()});
  constexpr auto kMinusZero = std::bit_cast<uint64_t>(-0.0);
  // Four running maxima: one would be a chain of dependent steps.
  auto pattern = [&](size_t i) {
    const auto bits = std::bit_cast<uint64_t>(weight[i]);
    return bits == kMinusZero ? 0 : bits;
  };
  uint64_t largest[4] = {0, 0, 0, 0};
  size_t i = 0;
  for (; i + 4 <= weight.size(); i += 4)
    for (int j = 0; j < 4; ++j) largest[j] = std::max(largest[j], pattern(i + j));
  for (; i < weight.size(); ++i) largest[0] = std::max(largest[0], pattern(i));
  if (std::max({largest[0], largest[1], largest[2], largest[3]}) <= kLargest) return;
  for (size_t i = 0; i < weight.size(); ++i) {
    const double x = weight[i];
    if (x >= 0.0 && x <= std::numeric_limits<float>::max()) continue;
    const std::string where =
        "load of layer " + str(i / num_experts) + ", expert " + str(i % num_experts);
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
    // Kept by each thread across calls (run and the simulator re-place every few steps).
    thread_local Scratch scratch;
    scratch.num_pending = 0;
    for (int l = first; l < end; ++l) {
      rebalance_layer({problem.weight.data() + size_t(l) * E, size_t(E)}, R, groups, nodes,
                      problem.num_gpus, {phy2log.data() + size_t(l) * R, size_t(R)}, scratch);
      // Queued packings (one per node) run in groups, across layers where a layer has fewer.
      if (scratch.num_pending >= kMaxInterleaved || l + 1 == end) {
        pack_jobs({scratch.node_jobs.data(), scratch.num_pending}, problem.num_gpus / nodes,
                  scratch.packs);
        scratch.num_pending = 0;
      }
    }
  });
  EplbResult result{Placement(L, E, problem.num_gpus, problem.num_nodes, std::move(phy2log),
                              problem.num_threads),
                    hier ? "hierarchical" : "global"};
  return result;
}

}  // namespace epbench
