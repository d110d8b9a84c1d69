// Lower bounds on the max GPU load; see bounds.hpp and docs/placement.md.
#include "placement/bounds.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>

#include "placement/exact.hpp"
#include "placement/local_search.hpp"
#include "placement/parallel.hpp"

namespace epbench {
namespace {

constexpr int64_t kExactBoundNodes = 200000;  // exhaustive search budget per small block

// Smallest count c >= 1 with w / c <= cap (cap > 0).
int64_t min_copies(double w, double cap) {
  auto c = static_cast<int64_t>(std::max(1.0, std::ceil(w / cap)));
  while (w / static_cast<double>(c) > cap) ++c;
  while (c > 1 && w / static_cast<double>(c - 1) <= cap) --c;
  return c;
}

// Proves (returns true) that no placement of `w` on G GPUs with S copies each (R = G * S in
// total) has max load <= T. See docs/placement.md for the argument of each test.
class FlatBoundTest {
 public:
  FlatBoundTest(std::span<const double> w, int num_slots, int num_gpus)
      : w_(w), R_(num_slots), G_(num_gpus), S_(num_slots / num_gpus) {
    total_ = std::accumulate(w.begin(), w.end(), 0.0);
    m_.resize(w.size());
  }
  double total() const { return total_; }

  bool infeasible(double T) {
    if (T * G_ < total_) return true;  // mean GPU load
    // Replication with cardinality: every GPU holds S copies, so a GPU with a copy of e also
    // holds S-1 other copies, together at least `others` (the S-1 lightest copies possible);
    // hence every copy <= T - others. Tightening the cap raises the minimum counts m_e, which
    // shrinks the spare slots and raises `others`: iterate a few times.
    double cap = T;
    int64_t spare = 0;
    for (int iter = 0; iter < 4; ++iter) {
      int64_t sum_m = 0;
      for (size_t e = 0; e < w_.size(); ++e) sum_m += m_[e] = min_copies(w_[e], cap);
      if (sum_m > R_) return true;
      spare = R_ - sum_m;
      lightest_copies(spare);
      const double new_cap = T - light_sum_[S_ - 1];
      if (new_cap <= 0) return true;
      if (new_cap >= cap * (1 - 1e-15)) break;
      cap = new_cap;
    }
    // Pigeonhole at level k: a GPU holding k+1 copies heavier than t_k, plus S-k-1 others,
    // exceeds T when t_k = (T - lightest S-k-1 copies) / (k+1); so at most k*G copies may be
    // that heavy. Expert e either keeps m_e copies (all heavy if w_e/m_e > t_k) or pays d_e
    // extra copies to make them light. The cheapest way to shed the excess, relaxed to a
    // fractional knapsack, must fit in the spare slots.
    for (int k = 1; k < S_; ++k) {
      const double t = (T - light_sum_[S_ - k - 1]) / (k + 1);
      if (t <= 0) return true;
      int64_t heavy = 0;
      items_.clear();
      for (size_t e = 0; e < w_.size(); ++e) {
        if (w_[e] / static_cast<double>(m_[e]) <= t) continue;
        heavy += m_[e];
        const int64_t d = min_copies(w_[e], t) - m_[e];
        items_.push_back({static_cast<double>(d) / static_cast<double>(m_[e]), m_[e], d});
      }
      int64_t excess = heavy - int64_t{k} * G_;
      if (excess <= 0) continue;
      std::sort(items_.begin(), items_.end(),
                [](const Item& a, const Item& b) { return a.ratio < b.ratio; });
      double cost = 0;
      for (const Item& it : items_) {
        if (it.heavy >= excess) {
          cost += it.ratio * static_cast<double>(excess);
          excess = 0;
          break;
        }
        cost += static_cast<double>(it.extra);
        excess -= it.heavy;
      }
      // Integer counts: the true extra is an integer >= the relaxed cost.
      if (excess > 0 || std::ceil(cost - 1e-9) > static_cast<double>(spare)) return true;
    }
    return false;
  }

 private:
  struct Item {
    double ratio;
    int64_t heavy, extra;
  };
  std::span<const double> w_;
  int R_, G_, S_;
  double total_ = 0;
  // light_sum_[n]: smallest possible total of n copies (n < S), as expert e has at most
  // m_e + spare copies (the others need their minimum counts), each >= w_e / (m_e + spare).
  void lightest_copies(int64_t spare) {
    light_.clear();
    for (size_t e = 0; e < w_.size(); ++e)
      light_.push_back({w_[e] / static_cast<double>(m_[e] + spare), m_[e] + spare});
    std::sort(light_.begin(), light_.end());
    light_sum_.assign(S_, 0.0);
    size_t i = 0;
    int64_t used = 0;  // copies of light_[i] taken
    for (int n = 1; n < S_ && i < light_.size(); ++n) {
      light_sum_[n] = light_sum_[n - 1] + light_[i].first;
      if (++used == light_[i].second) {
        ++i;
        used = 0;
      }
    }
  }

  std::vector<int64_t> m_;
  std::vector<Item> items_;
  std::vector<std::pair<double, int64_t>> light_;
  std::vector<double> light_sum_;
};

// max(group sum of the heaviest group + the k-1 lightest others) / GPUs per node: the node
// holding the heaviest group carries at least that much.
double node_sum_bound(std::vector<double> group_sums, int groups_per_node, int gpus_per_node) {
  std::sort(group_sums.begin(), group_sums.end());
  double node = group_sums.back();
  for (int i = 0; i < groups_per_node - 1; ++i) node += group_sums[i];
  return node / gpus_per_node;
}

// Minimum over partitions of the groups into nodes (groups_per_node each) of the largest node
// bound, by depth-first enumeration with pruning. Returns -1 when the enumeration is too large.
class PartitionBound {
 public:
  PartitionBound(std::span<const double> w, int num_groups, int num_nodes, int slots_per_node,
                 int gpus_per_node)
      : w_(w), groups_(num_groups), per_node_(num_groups / num_nodes),
        group_size_(static_cast<int>(w.size()) / num_groups), slots_(slots_per_node),
        gpus_(gpus_per_node) {}

  double compute() {
    if (groups_ > 62) return -1;
    double subsets = 1;  // C(groups, per_node)
    for (int i = 0; i < per_node_; ++i) subsets = subsets * (groups_ - i) / (i + 1);
    if (subsets > 20000) return -1;
    best_ = std::numeric_limits<double>::infinity();
    visits_ = 0;
    search((uint64_t{1} << groups_) - 1, 0.0);
    return visits_ > kMaxVisits ? -1 : best_;
  }

 private:
  static constexpr int64_t kMaxVisits = 200000;

  double node_bound(uint64_t mask) {
    auto it = memo_.find(mask);
    if (it != memo_.end()) return it->second;
    std::vector<double> loads;
    for (int g = 0; g < groups_; ++g)
      if (mask >> g & 1) loads.insert(loads.end(), w_.begin() + g * group_size_,
                                      w_.begin() + (g + 1) * group_size_);
    return memo_[mask] = flat_lower_bound(loads, slots_, gpus_);
  }

  void search(uint64_t remaining, double current_max) {
    if (++visits_ > kMaxVisits) return;
    if (remaining == 0) {
      best_ = std::min(best_, current_max);
      return;
    }
    const int first = std::countr_zero(remaining);
    choose(remaining & (remaining - 1), uint64_t{1} << first, per_node_ - 1, first + 1,
           remaining, current_max);
  }

  // Adds `left` more groups (index >= from, in `pool`) to `block`, then recurses.
  void choose(uint64_t pool, uint64_t block, int left, int from, uint64_t remaining,
              double current_max) {
    if (visits_ > kMaxVisits) return;
    if (left == 0) {
      const double b = std::max(current_max, node_bound(block));
      if (b < best_) search(remaining & ~block, b);
      return;
    }
    for (int g = from; g < groups_; ++g)
      if (pool >> g & 1) choose(pool, block | uint64_t{1} << g, left - 1, g + 1, remaining,
                                current_max);
  }

  std::span<const double> w_;
  int groups_, per_node_, group_size_, slots_, gpus_;
  double best_ = 0;
  int64_t visits_ = 0;
  std::unordered_map<uint64_t, double> memo_;
};

}  // namespace

double flat_lower_bound(std::span<const double> loads, int num_slots, int num_gpus) {
  if (loads.empty()) return 0.0;
  FlatBoundTest test(loads, num_slots, num_gpus);
  if (test.total() <= 0) return 0.0;
  const int E = static_cast<int>(loads.size());
  const double heaviest = *std::max_element(loads.begin(), loads.end());
  // Always valid: the mean, and the heaviest expert with every spare slot.
  double lo = std::max(test.total() / num_gpus, heaviest / (num_slots - E + 1));
  double hi = lo * 1.0625;
  while (test.infeasible(hi)) {
    lo = hi;
    hi *= 1.5;
  }
  // lo is a valid bound throughout (a trivial one or a proven-infeasible T).
  for (int i = 0; i < 60 && hi - lo > 1e-7 * hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    (test.infeasible(mid) ? lo : hi) = mid;
  }
  // Small blocks: an exhaustive search that finishes proves the optimum itself.
  if (exact_block_is_small(E, num_slots) && lo < hi) {
    const auto start = greedy_block_placement(loads, num_gpus, num_slots / num_gpus);
    const double incumbent = BlockSearch(loads, num_gpus, start).max_load();
    const ExactResult r = exact_block(loads, num_gpus, num_slots / num_gpus, incumbent,
                                      kExactBoundNodes);
    // Not improved: nothing below incumbent * (1 - 1e-12) exists.
    if (r.finished) lo = std::max(lo, (r.improved ? r.max_load : incumbent) * (1 - 1e-12));
  }
  return lo;
}

double layer_lower_bound(std::span<const double> loads, int num_slots, int num_groups,
                         int num_nodes, int num_gpus, bool hierarchical) {
  double bound = flat_lower_bound(loads, num_slots, num_gpus);
  if (!hierarchical || num_nodes == 1) return bound;
  const int group_size = static_cast<int>(loads.size()) / num_groups;
  std::vector<double> group_sums(num_groups, 0.0);
  for (int g = 0; g < num_groups; ++g)
    for (int j = 0; j < group_size; ++j) group_sums[g] += loads[g * group_size + j];
  const int gpus_per_node = num_gpus / num_nodes;
  bound = std::max(bound, node_sum_bound(group_sums, num_groups / num_nodes, gpus_per_node));
  const double partition = PartitionBound(loads, num_groups, num_nodes, num_slots / num_nodes,
                                          gpus_per_node)
                               .compute();
  return std::max(bound, partition);
}

std::vector<double> lower_bounds(const EplbProblem& p, bool hierarchical) {
  p.validate();
  std::vector<double> bounds(p.num_layers);
  const size_t E = p.num_experts;
  const int threads = placement_threads(p.num_threads, p.num_layers, 200.0 * p.num_replicas);
  for_layer_ranges(p.num_layers, threads, [&](int, int first, int end) {
    for (int l = first; l < end; ++l)
      bounds[l] = layer_lower_bound({p.weight.data() + l * E, E}, p.num_replicas, p.num_groups,
                                    p.num_nodes, p.num_gpus, hierarchical);
  });
  return bounds;
}

double gap_to_bound(double bound, double max_load) {
  return max_load > 0 ? 1.0 - bound / max_load : 0.0;
}

}  // namespace epbench
