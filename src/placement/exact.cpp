// Exhaustive search for small blocks; see exact.hpp.
#include "placement/exact.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace epbench {
namespace {

constexpr double kImprove = 1e-12;  // a placement counts as better below incumbent*(1-kImprove)

class ExactSearch {
 public:
  ExactSearch(std::span<const double> w, int G, int S, double incumbent, int64_t max_nodes)
      : w_(w), E_(static_cast<int>(w.size())), G_(G), S_(S), R_(G * S),
        bound_(incumbent * (1 - kImprove)), max_nodes_(max_nodes) {
    order_.resize(E_);
    std::iota(order_.begin(), order_.end(), 0);
    std::stable_sort(order_.begin(), order_.end(), [&](int a, int b) { return w_[a] > w_[b]; });
    total_ = std::accumulate(w.begin(), w.end(), 0.0);
    cnt_.assign(E_, 0);
    result_.max_load = incumbent;
  }

  ExactResult run() {
    if (total_ / G_ < bound_) counts(0, R_);
    result_.finished = nodes_ <= max_nodes_;
    result_.nodes = nodes_;
    return result_;
  }

 private:
  // Chooses the count of the i-th heaviest expert; `left` slots remain for experts i..E-1.
  void counts(int i, int left) {
    if (++nodes_ > max_nodes_) return;
    if (i == E_) {
      if (left == 0) pack_all();
      return;
    }
    const int e = order_[i];
    const int rest = E_ - i - 1;  // each needs >= 1 slot
    int c = std::max(1, static_cast<int>(std::floor(w_[e] / bound_)));
    while (w_[e] / c >= bound_) ++c;  // every copy below the bound
    for (; c <= left - rest; ++c) {
      cnt_[e] = c;
      counts(i + 1, left - c);
      if (nodes_ > max_nodes_) return;
    }
    cnt_[e] = 0;
  }

  void pack_all() {
    items_.clear();
    for (int i = 0; i < E_; ++i) {
      const int e = order_[i];
      for (int k = 0; k < cnt_[e]; ++k) items_.push_back({w_[e] / cnt_[e], e});
    }
    std::stable_sort(items_.begin(), items_.end(),
                     [](const Item& a, const Item& b) { return a.load > b.load; });
    // Pigeonhole: two of the G+1 heaviest copies share a GPU.
    if (R_ > G_ && items_[G_ - 1].load + items_[G_].load >= bound_) return;
    // Cardinality: the heaviest copy's GPU holds S-1 others, at least the lightest ones.
    double with_lightest = items_[0].load;
    for (int k = 1; k < S_; ++k) with_lightest += items_[R_ - k].load;
    if (with_lightest >= bound_) return;
    load_.assign(G_, 0.0);
    fill_.assign(G_, 0);
    bin_of_.assign(R_, -1);
    pack(0, 0.0);
  }

  void pack(int i, double current_max) {
    if (++nodes_ > max_nodes_) return;
    if (i == R_) {
      bound_ = current_max * (1 - kImprove);
      result_.improved = true;
      result_.max_load = current_max;
      result_.slot_expert.assign(R_, -1);
      std::vector<int> next(G_, 0);
      for (int k = 0; k < R_; ++k) {
        const int b = bin_of_[k];
        result_.slot_expert[b * S_ + next[b]++] = items_[k].expert;
      }
      return;
    }
    const Item& it = items_[i];
    // Copies of one expert are interchangeable: place them in nondecreasing bin order.
    const int first_bin = (i > 0 && items_[i - 1].expert == it.expert) ? bin_of_[i - 1] : 0;
    for (int b = first_bin; b < G_; ++b) {
      if (fill_[b] == S_) continue;
      const double new_load = load_[b] + it.load;
      if (new_load >= bound_) continue;
      bool same_as_earlier = false;  // an identical earlier bin gives the same subtree
      for (int c = first_bin; c < b && !same_as_earlier; ++c)
        same_as_earlier = fill_[c] == fill_[b] && load_[c] == load_[b];
      if (same_as_earlier) continue;
      load_[b] = new_load;
      ++fill_[b];
      bin_of_[i] = b;
      pack(i + 1, std::max(current_max, new_load));
      load_[b] -= it.load;
      --fill_[b];
      if (nodes_ > max_nodes_) return;
    }
  }

  struct Item {
    double load;
    int expert;
  };
  std::span<const double> w_;
  int E_, G_, S_, R_;
  double bound_, total_ = 0;
  int64_t max_nodes_, nodes_ = 0;
  std::vector<int> order_, cnt_, fill_, bin_of_;
  std::vector<double> load_;
  std::vector<Item> items_;
  ExactResult result_;
};

}  // namespace

ExactResult exact_block(std::span<const double> w, int num_gpus, int slots_per_gpu,
                        double incumbent, int64_t max_nodes) {
  return ExactSearch(w, num_gpus, slots_per_gpu, incumbent, max_nodes).run();
}

bool exact_block_is_small(int num_experts, int num_slots, double max_count_vectors) {
  if (num_slots > 32 || num_experts > num_slots) return false;
  double c = 1;  // C(num_slots - 1, num_experts - 1)
  for (int i = 0; i < num_experts - 1; ++i) c = c * (num_slots - 1 - i) / (i + 1);
  return c <= max_count_vectors;
}

}  // namespace epbench
