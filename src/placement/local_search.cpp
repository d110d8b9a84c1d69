// Block local search; see local_search.hpp.
#include "placement/local_search.hpp"

#include <algorithm>
#include <cmath>
#include <queue>
#include <stdexcept>

namespace epbench {
namespace {
// Relative margin below the max for a move to count: ignores rounding-level "improvements".
constexpr double kImprove = 1e-12;
}  // namespace

BlockSearch::BlockSearch(std::span<const double> w, int num_gpus, std::vector<int32_t> slot_expert)
    : w_(w), E_(static_cast<int>(w.size())), G_(num_gpus),
      S_(static_cast<int>(slot_expert.size()) / num_gpus), slot_(std::move(slot_expert)),
      cnt_(E_, 0), load_(G_, 0.0), copies_(E_) {
  for (int s = 0; s < static_cast<int>(slot_.size()); ++s) {
    ++cnt_[slot_[s]];
    copies_[slot_[s]].push_back(s);
  }
  for (int e = 0; e < E_; ++e)
    if (cnt_[e] == 0) throw std::logic_error("BlockSearch: an expert has no copy");
  for (int s = 0; s < static_cast<int>(slot_.size()); ++s) load_[gpu_of(s)] += copy_load(slot_[s]);
}

void BlockSearch::set_migration_limit(std::vector<uint8_t> previous_has, int64_t max_moved) {
  prev_has_ = std::move(previous_has);
  max_moved_ = max_moved;
  moved_ = 0;
  for (int s = 0; s < static_cast<int>(slot_.size()); ++s)
    moved_ += !prev_has_[size_t(gpu_of(s)) * E_ + slot_[s]];
}

double BlockSearch::max_load() const { return *std::max_element(load_.begin(), load_.end()); }

int BlockSearch::moved_delta(int slot, int new_expert) const {
  if (max_moved_ < 0) return 0;
  const size_t row = size_t(gpu_of(slot)) * E_;
  return int(!prev_has_[row + new_expert]) - int(!prev_has_[row + slot_[slot]]);
}

// Best swap of a copy on the bottleneck b with a lighter copy of another expert elsewhere.
void BlockSearch::best_swap(int b, Move& best) {
  const double M = load_[b], limit = best.value;
  slot_load_.resize(slot_.size());
  for (size_t q = 0; q < slot_.size(); ++q) slot_load_[q] = copy_load(slot_[q]);
  for (int i = 0; i < S_; ++i) {
    const int p = b * S_ + i;
    const int a = slot_[p];
    if (std::find(slot_.begin() + b * S_, slot_.begin() + p, a) != slot_.begin() + p) continue;
    const double xa = slot_load_[p];
    for (int j = 0; j < G_; ++j) {
      if (j == b) continue;
      const double room = M - load_[j];  // a swap moving d = xa - xe helps iff 0 < d < room
      if (room <= 0) continue;
      const double* x = slot_load_.data() + size_t(j) * S_;
      for (int k = 0; k < S_; ++k) {
        const double d = xa - x[k];
        if (d <= 0 || d >= room) continue;
        const double value = std::max(M - d, load_[j] + d);
        if (value >= limit) continue;
        const int q = j * S_ + k;
        const int e = slot_[q];
        if (e == a) continue;
        const int moved = moved_delta(p, e) + moved_delta(q, a);
        if (max_moved_ >= 0 && moved_ + moved > max_moved_) continue;
        if (better(value, moved, best)) best = {1, p, q, -1, value, moved};
      }
    }
  }
}

// Max new load over the GPUs changed when `slot` (holding a, cnt[a] >= 2) takes expert e.
double BlockSearch::replace_value(int slot, int e) {
  const int a = slot_[slot];
  const double wa = w_[a], we = w_[e];
  const double a_up = wa / (cnt_[a] - 1) - wa / cnt_[a];
  const double e_down = we / (cnt_[e] + 1) - we / cnt_[e];
  deltas_.clear();
  auto add = [&](int gpu, double change) {
    for (Delta& d : deltas_)
      if (d.gpu == gpu) {
        d.change += change;
        return;
      }
    deltas_.push_back({gpu, change});
  };
  for (int32_t t : copies_[a])
    if (t != slot) add(gpu_of(t), a_up);
  add(gpu_of(slot), we / (cnt_[e] + 1) - wa / cnt_[a]);
  for (int32_t t : copies_[e]) add(gpu_of(t), e_down);
  double value = 0;
  for (const Delta& d : deltas_) value = std::max(value, load_[d.gpu] + d.change);
  return value;
}

// Best re-replication lowering the bottleneck b: a slot on b trades its copy (of an expert
// with >= 2 copies) for a copy of another expert, or a slot elsewhere trades its copy for one
// more copy of an expert on b.
void BlockSearch::best_replace(int b, Move& best) {
  const double limit = best.value;
  auto consider = [&](int slot, int e) {
    const int moved = moved_delta(slot, e);
    if (max_moved_ >= 0 && moved_ + moved > max_moved_) return;
    const double value = replace_value(slot, e);
    if (value < limit && better(value, moved, best)) best = {2, slot, -1, e, value, moved};
  };
  for (int i = 0; i < S_; ++i) {
    const int p = b * S_ + i;
    const int a = slot_[p];
    if (std::find(slot_.begin() + b * S_, slot_.begin() + p, a) != slot_.begin() + p) continue;
    if (cnt_[a] >= 2)
      for (int e = 0; e < E_; ++e)
        if (e != a) consider(p, e);
    // One more copy of a, in place of a copy of some f (>= 2 copies) on another GPU.
    for (int h = 0; h < G_; ++h) {
      if (h == b) continue;
      for (int k = 0; k < S_; ++k) {
        const int q = h * S_ + k;
        const int f = slot_[q];
        if (f == a || cnt_[f] < 2) continue;
        if (std::find(slot_.begin() + h * S_, slot_.begin() + q, f) != slot_.begin() + q)
          continue;
        consider(q, a);
      }
    }
  }
}

void BlockSearch::set_slot(int slot, int expert) {
  const int old = slot_[slot];
  if (max_moved_ >= 0) moved_ += moved_delta(slot, expert);
  auto& from = copies_[old];
  from.erase(std::find(from.begin(), from.end(), slot));
  copies_[expert].push_back(slot);
  --cnt_[old];
  ++cnt_[expert];
  slot_[slot] = expert;
}

void BlockSearch::apply(const Move& m) {
  if (m.kind == 1) {
    const int a = slot_[m.slot_a], e = slot_[m.slot_b];
    set_slot(m.slot_a, e);
    set_slot(m.slot_b, a);
    const double d = copy_load(a) - copy_load(e);
    load_[gpu_of(m.slot_a)] -= d;
    load_[gpu_of(m.slot_b)] += d;
  } else {
    replace_value(m.slot_a, m.expert);  // fills deltas_ for this move
    for (const Delta& d : deltas_) load_[d.gpu] += d.change;
    set_slot(m.slot_a, m.expert);
  }
}

namespace {

// Copies heaviest first, each onto the lightest GPU with a free slot.
std::vector<int32_t> pack_copies(std::span<const double> w, std::span<const int> cnt, int G,
                                 int S) {
  std::vector<std::pair<double, int>> copies;
  for (size_t e = 0; e < w.size(); ++e)
    for (int k = 0; k < cnt[e]; ++k) copies.push_back({w[e] / cnt[e], static_cast<int>(e)});
  std::stable_sort(copies.begin(), copies.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<double> load(G, 0.0);
  std::vector<int> fill(G, 0);
  std::vector<int32_t> slots(size_t(G) * S);
  for (const auto& [x, e] : copies) {
    int best = -1;
    for (int g = 0; g < G; ++g)
      if (fill[g] < S && (best < 0 || load[g] < load[best])) best = g;
    slots[best * S + fill[best]++] = e;
    load[best] += x;
  }
  return slots;
}

}  // namespace

std::vector<int32_t> greedy_block_placement(std::span<const double> w, int G, int S) {
  const int E = static_cast<int>(w.size()), R = G * S;
  std::vector<int> cnt(E, 1);
  std::priority_queue<std::pair<double, int>> heap;
  for (int e = 0; e < E; ++e) heap.push({w[e], -e});
  for (int i = E; i < R; ++i) {
    const int e = -heap.top().second;
    heap.pop();
    heap.push({w[e] / ++cnt[e], -e});
  }
  return pack_copies(w, cnt, G, S);
}

std::vector<int32_t> target_block_placement(std::span<const double> w, int G, int S,
                                            double target) {
  const int E = static_cast<int>(w.size()), R = G * S;
  std::vector<int> cnt(E);
  int used = 0;
  for (int e = 0; e < E; ++e) {
    int c = std::max(1, static_cast<int>(std::ceil(w[e] / target)));
    while (w[e] / c > target) ++c;
    used += cnt[e] = c;
  }
  if (used > R) return {};
  const int lightest = static_cast<int>(std::min_element(w.begin(), w.end()) - w.begin());
  cnt[lightest] += R - used;
  return pack_copies(w, cnt, G, S);
}

int64_t BlockSearch::descend(int64_t max_moves, Clock::time_point deadline) {
  int64_t moves = 0;
  for (; moves < max_moves; ++moves) {
    if ((moves & 15) == 15 && Clock::now() > deadline) break;
    const int b = static_cast<int>(std::max_element(load_.begin(), load_.end()) - load_.begin());
    Move best;
    best.value = load_[b] * (1 - kImprove);
    best_swap(b, best);
    if (best.kind == 0) best_replace(b, best);
    if (best.kind == 0) break;
    apply(best);
  }
  // Recompute from scratch: incremental updates drift by rounding.
  std::fill(load_.begin(), load_.end(), 0.0);
  for (int s = 0; s < static_cast<int>(slot_.size()); ++s) load_[gpu_of(s)] += copy_load(slot_[s]);
  return moves;
}

}  // namespace epbench
