// The minmax policy; see minmax.hpp and docs/placement.md.
#include "placement/minmax.hpp"

#include <algorithm>
#include <bit>
#include <chrono>
#include <functional>
#include <memory>
#include <numeric>
#include <unordered_map>

#include "common/error.hpp"
#include "placement/exact.hpp"
#include "placement/local_search.hpp"
#include "placement/parallel.hpp"

namespace epbench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr double kImprove = 1e-12;        // strictly better: below max * (1 - kImprove)
constexpr int kMovesPerSlot = 4;          // local-search moves per layer <= 4 x slots
constexpr int kPartitionRounds = 4;       // group swaps between nodes per layer
constexpr int kPartitionCandidates = 6;   // re-solved node pairs per round
constexpr double kRestartCuts[] = {0.08, 0.04, 0.02, 0.01};  // restart targets below max
constexpr double kCloseEnough = 0.002;  // no restarts within 0.2 % of a trivial bound
constexpr int64_t kExactNodes = 300000;   // branch-and-bound nodes per layer

// The layer's shape as minmax sees it: blocks are nodes (hierarchical) or the whole cluster.
struct Shape {
  int E, R, G, blocks, groups, group_size, gpus_per_block, slots_per_block, S;
  bool hier;
};

// Max GPU load of a row (phy2log of one layer) under EPLB's model.
double row_max_load(std::span<const int32_t> row, std::span<const double> w, const Shape& sh) {
  std::vector<int> cnt(sh.E, 0);
  for (int32_t e : row) ++cnt[e];
  double worst = 0;
  for (int g = 0; g < sh.G; ++g) {
    double load = 0;
    for (int s = 0; s < sh.S; ++s) load += w[row[g * sh.S + s]] / cnt[row[g * sh.S + s]];
    worst = std::max(worst, load);
  }
  return worst;
}

// One block (node) of a layer: its experts (global ids, increasing), their loads and the
// search over its slots.
struct Block {
  std::vector<int32_t> experts;
  std::vector<double> w;
  std::unique_ptr<BlockSearch> search;

  double max_load() const { return search->max_load(); }
  int64_t moved() const { return search->moved(); }
};

class LayerSolver {
 public:
  LayerSolver(const EplbProblem& p, const Shape& sh) : p_(p), sh_(sh), local_(sh.E, -1) {}

  // Writes the layer's placement into `out` (R entries); returns whether it is proven optimal.
  bool solve(int l, std::span<const int32_t> eplb_row, std::span<const int32_t> current_row,
             std::span<int32_t> out, Clock::time_point deadline) {
    w_ = std::span<const double>(p_.weight.data() + size_t(l) * sh_.E, sh_.E);
    deadline_ = deadline;
    const bool has_current = !current_row.empty();
    if (has_current) set_previous(current_row);

    // Unconstrained: EPLB's start, search, exact on small instances; keep EPLB unless better.
    std::vector<int32_t> best(eplb_row.begin(), eplb_row.end());
    const double eplb_max = row_max_load(eplb_row, w_, sh_);
    std::vector<int32_t> found(best);
    search_from(found, -1);
    bool proven = exact(found);
    if (row_max_load(found, w_, sh_) < eplb_max * (1 - kImprove)) best = found;
    if (has_current) relabel_to_previous(best);

    if (has_current && p_.max_moved_experts >= 0) {
      // Within the migration limit: search from the current placement; the relabelled
      // unconstrained answer wins if it fits the limit and is better.
      std::vector<int32_t> limited(current_row.begin(), current_row.end());
      search_from(limited, p_.max_moved_experts);
      const bool fits = moved_from_previous(best) <= p_.max_moved_experts;
      if (!fits || row_max_load(best, w_, sh_) >= row_max_load(limited, w_, sh_) * (1 - kImprove)) {
        best = std::move(limited);
        proven = false;
      }
    }
    std::copy(best.begin(), best.end(), out.begin());
    return proven;
  }

 private:
  void set_previous(std::span<const int32_t> row) {
    prev_has_.assign(size_t(sh_.G) * sh_.E, 0);
    for (int s = 0; s < sh_.R; ++s) prev_has_[size_t(s / sh_.S) * sh_.E + row[s]] = 1;
  }
  int64_t moved_from_previous(std::span<const int32_t> row) const {
    int64_t moved = 0;
    for (int s = 0; s < sh_.R; ++s) moved += !prev_has_[size_t(s / sh_.S) * sh_.E + row[s]];
    return moved;
  }

  // Builds the block of `experts` (global ids) with the given local slot assignment.
  Block make_block(std::vector<int32_t> experts, std::vector<int32_t> local_slots) {
    Block b;
    b.experts = std::move(experts);
    for (int32_t e : b.experts) b.w.push_back(w_[e]);
    b.search = std::make_unique<BlockSearch>(b.w, sh_.gpus_per_block, std::move(local_slots));
    return b;
  }

  // The block of node n read from a row.
  Block block_of_row(std::span<const int32_t> row, int n) {
    auto slots = row.subspan(size_t(n) * sh_.slots_per_block, sh_.slots_per_block);
    std::vector<int32_t> experts(slots.begin(), slots.end());
    std::sort(experts.begin(), experts.end());
    experts.erase(std::unique(experts.begin(), experts.end()), experts.end());
    for (size_t i = 0; i < experts.size(); ++i) local_[experts[i]] = static_cast<int>(i);
    std::vector<int32_t> local(slots.size());
    for (size_t s = 0; s < slots.size(); ++s) local[s] = local_[slots[s]];
    return make_block(std::move(experts), std::move(local));
  }

  // Migration limit for block n: its GPUs' previous experts, and the budget it may use.
  void limit_block(Block& b, int n, int64_t budget) {
    std::vector<uint8_t> has(size_t(sh_.gpus_per_block) * b.experts.size(), 0);
    for (int g = 0; g < sh_.gpus_per_block; ++g)
      for (size_t i = 0; i < b.experts.size(); ++i)
        has[g * b.experts.size() + i] =
            prev_has_[size_t(n * sh_.gpus_per_block + g) * sh_.E + b.experts[i]];
    b.search->set_migration_limit(std::move(has), budget);
  }

  // Local search on the bottleneck block until it cannot improve; then (hierarchical, no
  // migration limit) group swaps between nodes. Rewrites `row`.
  void search_from(std::vector<int32_t>& row, int64_t max_moved) {
    std::vector<Block> blocks;
    blocks.reserve(sh_.blocks);
    for (int n = 0; n < sh_.blocks; ++n) blocks.push_back(block_of_row(row, n));
    int64_t moved = 0;
    if (max_moved >= 0)
      for (int n = 0; n < sh_.blocks; ++n) {
        limit_block(blocks[n], n, max_moved);
        moved += blocks[n].moved();
      }
    for (int64_t step = 0; step < int64_t(kMovesPerSlot) * sh_.R; ++step) {
      if ((step & 15) == 15 && Clock::now() > deadline_) break;
      int n = 0;
      for (int k = 1; k < sh_.blocks; ++k)
        if (blocks[k].max_load() > blocks[n].max_load()) n = k;
      const int64_t before = blocks[n].moved();
      if (max_moved >= 0) blocks[n].search->set_max_moved(before + max_moved - moved);
      if (blocks[n].search->descend(1, deadline_) == 0) break;
      moved += blocks[n].moved() - before;
    }
    if (max_moved < 0) restart_bottleneck(blocks);
    if (sh_.hier && sh_.blocks > 1 && max_moved < 0) swap_groups(blocks);
    for (int n = 0; n < sh_.blocks; ++n) {
      const auto& local = blocks[n].search->slot_expert();
      for (int s = 0; s < sh_.slots_per_block; ++s)
        row[size_t(n) * sh_.slots_per_block + s] = blocks[n].experts[local[s]];
    }
  }

  // Restarts of the bottleneck block from replica counts aimed below its max (a local search
  // never trades many copies of a hot expert for light filler copies, which can be better).
  void restart_bottleneck(std::vector<Block>& blocks) {
    int n = 0;
    for (int k = 1; k < sh_.blocks; ++k)
      if (blocks[k].max_load() > blocks[n].max_load()) n = k;
    // Not worth it when the block is already within kCloseEnough of its mean or of its
    // heaviest expert spread over every spare slot (two bounds no placement can beat).
    const Block& bn = blocks[n];
    const double mean = std::accumulate(bn.w.begin(), bn.w.end(), 0.0) / sh_.gpus_per_block;
    const double spread = *std::max_element(bn.w.begin(), bn.w.end()) /
                          (sh_.slots_per_block - static_cast<double>(bn.w.size()) + 1);
    if (bn.max_load() <= std::max(mean, spread) * (1 + kCloseEnough)) return;
    for (double cut : kRestartCuts) {
      if (Clock::now() > deadline_) return;
      const double M = blocks[n].max_load();
      auto start = target_block_placement(blocks[n].w, sh_.gpus_per_block, sh_.S, M * (1 - cut));
      if (start.empty()) continue;
      Block b = make_block(blocks[n].experts, std::move(start));
      b.search->descend(sh_.slots_per_block, deadline_);
      if (b.max_load() < M * (1 - kImprove)) blocks[n] = std::move(b);
    }
  }

  // A node holding `groups`, solved from scratch (greedy start + local search).
  Block solve_node(const std::vector<int>& groups) {
    std::vector<int32_t> experts;
    for (int g : groups)
      for (int j = 0; j < sh_.group_size; ++j) experts.push_back(g * sh_.group_size + j);
    std::sort(experts.begin(), experts.end());
    std::vector<double> w;
    for (int32_t e : experts) w.push_back(w_[e]);
    Block b = make_block(std::move(experts), greedy_block_placement(w, sh_.gpus_per_block, sh_.S));
    b.search->descend(int64_t(kMovesPerSlot) * sh_.slots_per_block, deadline_);
    return b;
  }

  std::vector<int> groups_of(const Block& b) const {
    std::vector<int> groups;
    for (int32_t e : b.experts)
      if (groups.empty() || groups.back() != e / sh_.group_size) groups.push_back(e / sh_.group_size);
    return groups;
  }

  // Swaps one group of the bottleneck node with one group of another node when both nodes,
  // re-solved, end below the current max. Candidates by their node sums, lightest first.
  void swap_groups(std::vector<Block>& blocks) {
    std::vector<double> group_sum(sh_.groups, 0.0);
    for (int e = 0; e < sh_.E; ++e) group_sum[e / sh_.group_size] += w_[e];
    for (int round = 0; round < kPartitionRounds && Clock::now() <= deadline_; ++round) {
      int n = 0;
      for (int k = 1; k < sh_.blocks; ++k)
        if (blocks[k].max_load() > blocks[n].max_load()) n = k;
      const double M = blocks[n].max_load();
      const double target = M * (1 - kImprove);
      const auto groups_n = groups_of(blocks[n]);
      double sum_n = 0;
      for (int g : groups_n) sum_n += group_sum[g];
      struct Candidate {
        double score;
        int m, gi, hi;
      };
      std::vector<Candidate> candidates;
      for (int m = 0; m < sh_.blocks; ++m) {
        if (m == n) continue;
        const auto groups_m = groups_of(blocks[m]);
        double sum_m = 0;
        for (int h : groups_m) sum_m += group_sum[h];
        for (size_t gi = 0; gi < groups_n.size(); ++gi)
          for (size_t hi = 0; hi < groups_m.size(); ++hi) {
            const double d = group_sum[groups_n[gi]] - group_sum[groups_m[hi]];
            const double score = std::max(sum_n - d, sum_m + d) / sh_.gpus_per_block;
            if (score < target) candidates.push_back({score, m, int(gi), int(hi)});
          }
      }
      std::stable_sort(candidates.begin(), candidates.end(),
                       [](const Candidate& a, const Candidate& b) { return a.score < b.score; });
      bool accepted = false;
      for (size_t c = 0; c < candidates.size() && c < size_t(kPartitionCandidates); ++c) {
        auto gn = groups_n;
        auto gm = groups_of(blocks[candidates[c].m]);
        std::swap(gn[candidates[c].gi], gm[candidates[c].hi]);
        Block bn = solve_node(gn);
        if (bn.max_load() >= target) continue;
        Block bm = solve_node(gm);
        if (bm.max_load() >= target) continue;
        blocks[n] = std::move(bn);
        blocks[candidates[c].m] = std::move(bm);
        accepted = true;
        break;
      }
      if (!accepted) break;
    }
  }

  // Exhaustive search on small instances (global: the whole layer; hierarchical: every
  // assignment of groups to nodes, each node exactly). Rewrites `row` if it finds better;
  // returns whether the search finished (the row is optimal).
  bool exact(std::vector<int32_t>& row) {
    const int experts_per_block = sh_.E / sh_.blocks;
    if (!exact_block_is_small(experts_per_block, sh_.slots_per_block)) return false;
    double best = row_max_load(row, w_, sh_);
    if (!sh_.hier || sh_.blocks == 1) {
      ExactResult r = exact_block(w_, sh_.G, sh_.S, best, kExactNodes);
      if (r.improved) row = r.slot_expert;
      return r.finished;
    }
    return exact_partitions(row, best);
  }

  bool exact_partitions(std::vector<int32_t>& row, double best) {
    const int per_node = sh_.groups / sh_.blocks;
    if (sh_.groups > 16) return false;
    int64_t nodes_left = kExactNodes;
    bool finished = true;
    // Block optimum by group mask. A block searched against a larger incumbent stays valid:
    // not improved means its optimum is above every later incumbent too.
    std::unordered_map<uint32_t, ExactResult> memo;
    std::vector<uint32_t> partition, best_partition;
    auto experts_of = [&](uint32_t mask) {
      std::vector<int32_t> experts;
      for (int g = 0; g < sh_.groups; ++g)
        if (mask >> g & 1)
          for (int j = 0; j < sh_.group_size; ++j) experts.push_back(g * sh_.group_size + j);
      return experts;
    };
    auto solve = [&](uint32_t mask) -> const ExactResult& {
      auto it = memo.find(mask);
      if (it != memo.end()) return it->second;
      std::vector<double> w;
      for (int32_t e : experts_of(mask)) w.push_back(w_[e]);
      ExactResult r = exact_block(w, sh_.gpus_per_block, sh_.S, best, std::max<int64_t>(nodes_left, 1));
      nodes_left -= r.nodes;
      finished = finished && r.finished;
      return memo[mask] = std::move(r);
    };
    // Depth-first over partitions: the lowest unassigned group with per_node - 1 others.
    std::function<void(uint32_t, double)> search = [&](uint32_t remaining, double current) {
      if (remaining == 0) {
        if (current < best * (1 - kImprove)) {
          best = current;
          best_partition = partition;
        }
        return;
      }
      std::function<void(uint32_t, int, int)> choose = [&](uint32_t block, int left, int from) {
        if (nodes_left <= 0) return;
        if (left == 0) {
          const ExactResult& r = solve(block);
          if (!r.improved || r.max_load >= best * (1 - kImprove)) return;
          partition.push_back(block);
          search(remaining & ~block, std::max(current, r.max_load));
          partition.pop_back();
          return;
        }
        for (int g = from; g < sh_.groups; ++g)
          if (remaining >> g & 1) choose(block | 1u << g, left - 1, g + 1);
      };
      const int first = std::countr_zero(remaining);
      choose(1u << first, per_node - 1, first + 1);
    };
    search((1u << sh_.groups) - 1, 0.0);
    for (size_t n = 0; n < best_partition.size(); ++n) {
      const auto experts = experts_of(best_partition[n]);
      const auto& slots = memo[best_partition[n]].slot_expert;
      for (int s = 0; s < sh_.slots_per_block; ++s)
        row[n * sh_.slots_per_block + s] = experts[slots[s]];
    }
    return finished && nodes_left > 0;
  }

  // Relabels GPUs (and, hierarchical, whole nodes) of `row` so that as many slots as possible
  // keep an expert their GPU already held: greedy matching on overlaps, nodes first.
  void relabel_to_previous(std::vector<int32_t>& row) const {
    const int B = sh_.blocks, gpb = sh_.gpus_per_block;
    auto overlap = [&](int new_gpu, int old_gpu) {
      int n = 0;
      for (int s = 0; s < sh_.S; ++s)
        n += prev_has_[size_t(old_gpu) * sh_.E + row[new_gpu * sh_.S + s]];
      return n;
    };
    auto greedy_match = [](int n, auto&& score) {  // match[i] = j, pairs by score desc
      std::vector<std::tuple<int, int, int>> pairs;
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) pairs.push_back({-score(i, j), i, j});
      std::sort(pairs.begin(), pairs.end());
      std::vector<int> match(n, -1), taken(n, 0);
      for (auto [s, i, j] : pairs)
        if (match[i] < 0 && !taken[j]) {
          match[i] = j;
          taken[j] = 1;
        }
      return match;
    };
    const auto node_match = greedy_match(B, [&](int a, int b) {
      int n = 0;
      for (int g = 0; g < gpb; ++g)
        for (int h = 0; h < gpb; ++h) n += overlap(a * gpb + g, b * gpb + h);
      return n;
    });
    std::vector<int32_t> out(row.size());
    for (int a = 0; a < B; ++a) {
      const int b = node_match[a];
      const auto gpu_match = greedy_match(
          gpb, [&](int g, int h) { return overlap(a * gpb + g, b * gpb + h); });
      for (int g = 0; g < gpb; ++g)
        std::copy_n(row.begin() + size_t(a * gpb + g) * sh_.S, sh_.S,
                    out.begin() + size_t(b * gpb + gpu_match[g]) * sh_.S);
    }
    row = std::move(out);
  }

  const EplbProblem& p_;
  Shape sh_;
  std::span<const double> w_;
  Clock::time_point deadline_;
  std::vector<int> local_;
  std::vector<uint8_t> prev_has_;
};

// In hierarchical mode every expert of a group must sit on one node: checks the current
// placement before searching from it.
void check_current(const EplbProblem& p, const Placement& cur, const Shape& sh) {
  require_input(cur.num_layers() == p.num_layers && cur.num_experts() == p.num_experts &&
                    cur.num_slots() == p.num_replicas && cur.num_gpus() == p.num_gpus &&
                    cur.num_nodes() == p.num_nodes,
                "the current placement's shape (" + std::to_string(cur.num_layers()) +
                    " layers, " + std::to_string(cur.num_experts()) + " experts, " +
                    std::to_string(cur.num_slots()) + " slots, " +
                    std::to_string(cur.num_gpus()) + " GPUs, " +
                    std::to_string(cur.num_nodes()) + " nodes) differs from the problem's");
  cur.validate();
  if (!sh.hier) return;
  for (int l = 0; l < p.num_layers; ++l) {
    std::vector<int> node_of_group(sh.groups, -1), groups_on_node(sh.blocks, 0);
    for (int s = 0; s < sh.R; ++s) {
      const int g = cur.phy2log(l, s) / sh.group_size, n = s / sh.slots_per_block;
      if (node_of_group[g] < 0) {
        node_of_group[g] = n;
        ++groups_on_node[n];
      }
      require_input(node_of_group[g] == n,
                    "the current placement puts group " + std::to_string(g) + " of layer " +
                        std::to_string(l) + " on several nodes (hierarchical mode keeps a "
                        "group on one node)");
    }
    for (int n = 0; n < sh.blocks; ++n)
      require_input(groups_on_node[n] == sh.groups / sh.blocks,
                    "the current placement of layer " + std::to_string(l) +
                        " does not hold the same number of groups on every node");
  }
}

}  // namespace

MinmaxResult minmax_placement(const EplbProblem& p) {
  p.validate();
  const auto start = Clock::now();
  require_input(p.max_moved_experts < 0 || p.current.has_value(),
                "a limit on moved experts needs the current placement");
  require_input(p.time_budget_ms >= 0, "the time budget must not be negative");
  Shape sh{};
  sh.hier = p.hierarchical();
  sh.E = p.num_experts;
  sh.R = p.num_replicas;
  sh.G = p.num_gpus;
  sh.S = p.num_replicas / p.num_gpus;
  sh.blocks = sh.hier ? p.num_nodes : 1;
  sh.groups = sh.hier ? p.num_groups : 1;
  sh.group_size = sh.E / sh.groups;
  sh.gpus_per_block = sh.G / sh.blocks;
  sh.slots_per_block = sh.R / sh.blocks;
  if (p.current) check_current(p, *p.current, sh);

  EplbResult eplb = rebalance_experts(p);
  const int L = p.num_layers;
  std::vector<int32_t> phy2log(size_t(L) * sh.R);
  std::vector<uint8_t> proven(L, 0);
  const int threads = placement_threads(p.num_threads, L, 2000.0 * sh.R);
  for_layer_ranges(L, threads, [&](int, int first, int end) {
    LayerSolver solver(p, sh);
    for (int l = first; l < end; ++l) {
      // The budget is shared out over this worker's layers; unused time rolls over.
      const std::chrono::duration<double, std::milli> share(p.time_budget_ms * (l - first + 1) /
                                                            (end - first));
      const auto deadline = p.time_budget_ms > 0
                                ? start + std::chrono::duration_cast<Clock::duration>(share)
                                : Clock::time_point::max();
      std::span<const int32_t> current;
      if (p.current) current = p.current->phy2log_row(l);
      proven[l] = solver.solve(l, eplb.placement.phy2log_row(l), current,
                               {phy2log.data() + size_t(l) * sh.R, size_t(sh.R)}, deadline);
    }
  });
  return {Placement(L, sh.E, sh.G, p.num_nodes, std::move(phy2log)), eplb.policy_used,
          std::move(proven)};
}

}  // namespace epbench
