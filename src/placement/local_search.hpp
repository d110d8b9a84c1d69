// Local search on one placement block: the experts of one node (hierarchical mode) or of the
// whole cluster (global mode), num_gpus GPUs with a fixed number of slots each. Minimizes the
// max GPU load under EPLB's model (expert e's load w[e] split equally among its copies) by
// moves that lower the current bottleneck GPU:
//   swap       exchange two copies on the bottleneck and another GPU;
//   re-replicate  a slot gives up a copy of an expert with >= 2 copies and takes a copy of
//              another expert (on the bottleneck, or elsewhere so that an expert on the
//              bottleneck gets lighter copies).
// A move is taken only if every GPU it changes ends below the current max, so (max, number of
// GPUs at the max) decreases lexicographically and the search terminates. Best move first,
// swaps before re-replication (cheaper). With a migration limit, the improving move that moves
// the fewest experts first. Deterministic; optional migration budget: the number
// of slots whose GPU did not hold that expert in a given previous placement stays <= a limit.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

namespace epbench {

// A start for a block: replicate the expert with the largest per-copy load until the slots
// are full, then pack copies heaviest first onto the lightest GPU with a free slot (EPLB's
// greedy, in double). G * S local expert indices.
std::vector<int32_t> greedy_block_placement(std::span<const double> w, int num_gpus,
                                            int slots_per_gpu);

// Another start, for targets below what the search reached: the fewest copies that keep every
// copy <= target, and every spare slot to the lightest expert (light "filler" copies that can
// share a GPU with a heavy copy), packed as above. Empty when the target needs > G * S copies.
std::vector<int32_t> target_block_placement(std::span<const double> w, int num_gpus,
                                            int slots_per_gpu, double target);

class BlockSearch {
 public:
  using Clock = std::chrono::steady_clock;

  // w: loads of the block's experts (local indices 0..E-1); slot_expert: G * slots-per-GPU
  // local expert indices, every expert at least once.
  BlockSearch(std::span<const double> w, int num_gpus, std::vector<int32_t> slot_expert);

  // Count only placements that move at most max_moved experts away from `previous_has`
  // ([gpu][expert] = 1 when that GPU held the expert). The start must satisfy the limit.
  void set_migration_limit(std::vector<uint8_t> previous_has, int64_t max_moved);
  void set_max_moved(int64_t max_moved) { max_moved_ = max_moved; }

  // Descends until no improving move, max_moves moves or the deadline; returns moves made.
  int64_t descend(int64_t max_moves, Clock::time_point deadline);

  double max_load() const;
  const std::vector<int32_t>& slot_expert() const { return slot_; }
  const std::vector<double>& gpu_loads() const { return load_; }
  int64_t moved() const { return moved_; }

 private:
  struct Delta {
    int gpu;
    double change;
  };
  struct Move {
    int kind = 0;  // 0 none, 1 swap (slot_a <-> slot_b), 2 replace (slot_a takes expert)
    int slot_a = -1, slot_b = -1, expert = -1;
    double value = 0;  // max new load over the GPUs it changes
    int moved = 0;     // change of the moved-expert count (migration limit only)
  };
  // Between two improving moves: the lower value; with a migration limit, first the one
  // moving fewer experts.
  bool better(double value, int moved, const Move& best) const {
    if (best.kind == 0) return true;
    if (max_moved_ >= 0 && moved != best.moved) return moved < best.moved;
    return value < best.value;
  }

  double copy_load(int e) const { return w_[e] / cnt_[e]; }
  int gpu_of(int slot) const { return slot / S_; }
  int moved_delta(int slot, int new_expert) const;
  void best_swap(int b, Move& best);
  void best_replace(int b, Move& best);
  double replace_value(int slot, int new_expert);
  void apply(const Move& m);
  void set_slot(int slot, int expert);

  std::span<const double> w_;
  int E_, G_, S_;
  std::vector<int32_t> slot_, cnt_;
  std::vector<double> load_, slot_load_;
  std::vector<std::vector<int32_t>> copies_;  // slots of each expert
  std::vector<Delta> deltas_;
  std::vector<uint8_t> prev_has_;
  int64_t moved_ = 0, max_moved_ = -1;
};

}  // namespace epbench
