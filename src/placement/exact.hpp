// Exhaustive branch and bound for small blocks (the experts of one node, or all experts in
// global mode): the replica counts and the packing of copies onto GPUs that minimize the max
// GPU load under EPLB's model. Used by minmax on small instances, where it proves optimality.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace epbench {

struct ExactResult {
  bool finished = false;  // the whole space was searched: the answer is optimal
  bool improved = false;  // found a placement with max load below the incumbent
  double max_load = 0;    // of the best placement found (the incumbent if not improved)
  std::vector<int32_t> slot_expert;  // G * S local expert indices when improved
  int64_t nodes = 0;                 // search nodes visited
};

// Searches for a placement of `w` on num_gpus GPUs with slots_per_gpu slots each whose max
// load is below `incumbent` (pass a known placement's max), visiting at most max_nodes search
// nodes. Only worth calling when the block is small (see exact_block_is_small).
ExactResult exact_block(std::span<const double> w, int num_gpus, int slots_per_gpu,
                        double incumbent, int64_t max_nodes);

// True when the number of replica-count vectors, C(slots - 1, experts - 1), is at most
// max_count_vectors and there are at most 32 slots.
bool exact_block_is_small(int num_experts, int num_slots, double max_count_vectors = 2e4);

}  // namespace epbench
