// Min-max load by parametric max-flow: the exact core of the per-batch split (batch_split.hpp).
//
// Problem: GPUs g carry fixed rows fixed[g]; source groups j carry rows[j] that may be split in
// any way among the GPUs in allowed[j]. Find the smallest cap L such that every group can be
// routed with no GPU above L. Network: source -> group j (capacity rows[j]) -> GPU g in
// allowed[j] (unbounded) -> sink (capacity L - fixed[g]).
//
// Method (a Newton iteration on L, the flow kept between steps): start at the trivial lower
// bound L = max(max_g fixed[g], ceil(total / G)); run Dinic's max-flow; if it routes less than
// all rows, the GPUs S reachable from the source in the residual graph form a min cut, and every
// row of a group whose allowed GPUs all lie in S must land in S, so
//     L >= must(S) / |S|,   must(S) = sum_{g in S} fixed[g] + sum_{j: allowed[j] in S} rows[j],
// a bound strictly above the current L. Raise L to it (rounded up for integer rows), raise the
// sink capacities by the difference and augment from the current flow. When all rows are
// routed, L is optimal and the last set S certifies it: L = ceil(must(S) / |S|) (a lower bound
// that any split must respect). Cap = int64_t gives the integer optimum (integral flows);
// Cap = double gives the linear-programming optimum (the LP relaxation LPLB solves).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace epbench {

template <typename Cap>
class MinMaxFlow {
 public:
  // Resets to num_gpus GPUs with the given fixed rows and no groups.
  void reset(std::span<const Cap> fixed) {
    num_gpus_ = static_cast<int>(fixed.size());
    fixed_.assign(fixed.begin(), fixed.end());
    group_rows_.clear();
    allowed_start_.assign(1, 0);
    allowed_.clear();
  }
  // Adds a group of `rows` that may go to any GPU in `gpus` (distinct indices). Returns its id.
  int add_group(Cap rows, std::span<const int32_t> gpus) {
    group_rows_.push_back(rows);
    allowed_.insert(allowed_.end(), gpus.begin(), gpus.end());
    allowed_start_.push_back(static_cast<int32_t>(allowed_.size()));
    return static_cast<int>(group_rows_.size()) - 1;
  }
  int num_groups() const { return static_cast<int>(group_rows_.size()); }

  // Solves for the minimum cap. Afterwards: cap(), for_each_flow(), certificate().
  void solve() {
    build();
    // Trivial lower bounds: the most loaded fixed GPU, and all rows spread over all GPUs.
    Cap total = 0, max_fixed = 0;
    int argmax = 0;
    for (int g = 0; g < num_gpus_; ++g) {
      total += fixed_[g];
      if (fixed_[g] > max_fixed) max_fixed = fixed_[g], argmax = g;
    }
    Cap demand = 0;
    for (Cap r : group_rows_) demand += r;
    total += demand;
    const Cap spread = div_up(total, static_cast<Cap>(num_gpus_));
    cert_.clear();
    if (max_fixed > spread) {
      cap_ = max_fixed;
      cert_.push_back(argmax);
    } else {
      cap_ = spread;
      for (int g = 0; g < num_gpus_; ++g) cert_.push_back(g);
    }
    for (int g = 0; g < num_gpus_; ++g) cap_of(sink_edge(g)) = cap_ - fixed_[g];
    Cap routed = 0;
    for (;;) {
      routed += dinic();
      if (!(routed < demand - tolerance(demand))) break;
      // Residual-reachable GPUs: a min cut. Raise the cap to its bound.
      std::vector<int32_t> cut;
      for (int g = 0; g < num_gpus_; ++g)
        if (level_[gpu_node(g)] >= 0) cut.push_back(g);
      const Cap next = div_up(must(cut), static_cast<Cap>(cut.size()));
      if (!(next > cap_)) break;  // numerical floor (double only): cannot happen for integers
      for (int g = 0; g < num_gpus_; ++g) cap_of(sink_edge(g)) += next - cap_;
      cap_ = next;
      cert_ = std::move(cut);
    }
  }

  Cap cap() const { return cap_; }
  // Calls fn(gpu, rows) for every edge of a group that carries flow (widened edges included).
  template <typename Fn>
  void for_each_flow(int group, Fn&& fn) const {
    const int gpu0 = gpu_node(0);
    for (int e = head_[group_node(group)]; e >= 0; e = next_[e])
      if ((e & 1) == 0 && to_[e] >= gpu0 && to_[e] < gpu0 + num_gpus_ && positive(residual_[e ^ 1]))
        fn(to_[e] - gpu0, residual_[e ^ 1]);  // the reverse residual of a forward edge is its flow
  }
  // Routes as much as possible with every GPU capped at `cap` (no minimisation); returns the
  // rows routed. With widen_group/augment_widened, the restricted-then-relaxed routing.
  Cap route_at(Cap cap) {
    build();
    cap_ = cap;
    cert_.clear();
    for (int g = 0; g < num_gpus_; ++g) cap_of(sink_edge(g)) = std::max<Cap>(cap - fixed_[g], 0);
    return dinic();
  }
  std::span<const int32_t> allowed(int group) const {
    return {allowed_.data() + allowed_start_[group],
            static_cast<size_t>(allowed_start_[group + 1] - allowed_start_[group])};
  }
  // GPU set S with cap() == ceil(must(S) / |S|) (for integers; equal for doubles).
  std::span<const int32_t> certificate() const { return cert_; }
  // Rows that must land on GPUs in S: their fixed rows plus groups allowed only inside S.
  Cap must(std::span<const int32_t> gpus) const {
    in_set_.assign(num_gpus_, 0);
    Cap sum = 0;
    for (int32_t g : gpus) in_set_[g] = 1, sum += fixed_[g];
    for (int j = 0; j < num_groups(); ++j) {
      bool inside = true;
      for (int32_t g : allowed(j)) inside = inside && in_set_[g];
      if (inside) sum += group_rows_[j];
    }
    return sum;
  }

  // Adds edges from group j to more GPUs after a solve (their flow starts at 0); a following
  // augment() routes what the current cap allows. Used to relax a restricted problem.
  void widen_group(int group, std::span<const int32_t> gpus) {
    for (int32_t g : gpus) extra_.push_back({group, g});
  }
  // Max-flow at the current cap with the widened edges; returns the rows routed in total.
  Cap augment_widened() {
    for (auto [j, g] : extra_) add_edge(group_node(j), gpu_node(g), infinite());
    extra_.clear();
    return dinic();
  }
  Cap routed_total() const {
    Cap sum = 0;
    for (int j = 0; j < num_groups(); ++j) sum += group_rows_[j] - cap_of_c(source_edge(j));
    return sum;
  }

 private:
  static Cap infinite() { return std::numeric_limits<Cap>::max() / 4; }
  static Cap div_up(Cap a, Cap b) {
    if constexpr (std::is_integral_v<Cap>) return (a + b - 1) / b;
    else return a / b;
  }
  static Cap tolerance(Cap demand) {
    if constexpr (std::is_integral_v<Cap>) return 0;
    else return demand * 1e-12;
  }
  bool positive(Cap c) const {
    if constexpr (std::is_integral_v<Cap>) return c > 0;
    else return c > eps_;
  }

  int source() const { return 0; }
  int group_node(int j) const { return 1 + j; }
  int gpu_node(int g) const { return 1 + num_groups() + g; }
  int sink() const { return 1 + num_groups() + num_gpus_; }
  int source_edge(int j) const { return 2 * j; }
  int sink_edge(int g) const { return sink_edge_start_ + 2 * g; }
  Cap& cap_of(int e) { return residual_[e]; }
  Cap cap_of_c(int e) const { return residual_[e]; }

  void add_edge(int from, int to, Cap c) {
    to_.push_back(to), residual_.push_back(c), next_.push_back(head_[from]);
    head_[from] = static_cast<int32_t>(to_.size()) - 1;
    to_.push_back(from), residual_.push_back(0), next_.push_back(head_[to]);
    head_[to] = static_cast<int32_t>(to_.size()) - 1;
  }

  void build() {
    const int nodes = sink() + 1;
    head_.assign(nodes, -1);
    to_.clear(), residual_.clear(), next_.clear();
    extra_.clear();
    Cap demand = 0;
    for (int j = 0; j < num_groups(); ++j) add_edge(source(), group_node(j), group_rows_[j]);
    for (Cap r : group_rows_) demand += r;
    if constexpr (!std::is_integral_v<Cap>) eps_ = std::max<Cap>(demand, 1) * 1e-12;
    sink_edge_start_ = static_cast<int>(to_.size());
    for (int g = 0; g < num_gpus_; ++g) add_edge(gpu_node(g), sink(), 0);
    for (int j = 0; j < num_groups(); ++j)
      for (int32_t g : allowed(j)) add_edge(group_node(j), gpu_node(g), infinite());
    level_.resize(nodes);
    iter_.resize(nodes);
    queue_.resize(nodes);
  }

  bool bfs() {
    std::fill(level_.begin(), level_.end(), -1);
    int qh = 0, qt = 0;
    queue_[qt++] = source();
    level_[source()] = 0;
    while (qh < qt) {
      const int v = queue_[qh++];
      for (int e = head_[v]; e >= 0; e = next_[e])
        if (positive(residual_[e]) && level_[to_[e]] < 0) {
          level_[to_[e]] = level_[v] + 1;
          queue_[qt++] = to_[e];
        }
    }
    return level_[sink()] >= 0;
  }

  Cap dfs(int v, Cap limit) {
    if (v == sink()) return limit;
    for (int& e = iter_[v]; e >= 0; e = next_[e]) {
      const int w = to_[e];
      if (!positive(residual_[e]) || level_[w] != level_[v] + 1) continue;
      const Cap pushed = dfs(w, std::min(limit, residual_[e]));
      if (positive(pushed)) {
        residual_[e] -= pushed;
        residual_[e ^ 1] += pushed;
        return pushed;
      }
    }
    return 0;
  }

  // Dinic's max-flow from the current flow; leaves level_ as the final residual reachability.
  Cap dinic() {
    Cap total = 0;
    while (bfs()) {
      std::copy(head_.begin(), head_.end(), iter_.begin());
      for (Cap f; positive(f = dfs(source(), infinite()));) total += f;
    }
    return total;
  }

  int num_gpus_ = 0;
  std::vector<Cap> fixed_, group_rows_;
  std::vector<int32_t> allowed_start_, allowed_;
  std::vector<int32_t> head_, to_, next_, level_, iter_, queue_;
  std::vector<Cap> residual_;
  std::vector<std::pair<int, int32_t>> extra_;
  std::vector<int32_t> cert_;
  mutable std::vector<uint8_t> in_set_;
  int sink_edge_start_ = 0;
  Cap cap_ = 0;
  Cap eps_ = 0;
};

}  // namespace epbench
