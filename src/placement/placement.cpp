// Placement: derived tables (logcnt, log2phy), validation and per-GPU helpers.
#include "placement/placement.hpp"

#include <algorithm>
#include <stdexcept>

namespace epbench {

Placement::Placement(int num_layers, int num_experts, int num_gpus, int num_nodes,
                     std::vector<int32_t> phy2log)
    : num_layers_(num_layers),
      num_experts_(num_experts),
      num_gpus_(num_gpus),
      num_nodes_(num_nodes),
      phy2log_(std::move(phy2log)) {
  if (num_layers <= 0 || num_experts <= 0 || num_gpus <= 0 || num_nodes <= 0)
    throw std::logic_error("Placement: layers, experts, gpus and nodes must be positive");
  if (phy2log_.size() % static_cast<size_t>(num_layers) != 0)
    throw std::logic_error("Placement: phy2log size is not a multiple of the layer count");
  num_slots_ = static_cast<int>(phy2log_.size() / num_layers);
  uint32_t out_of_range = 0;  // one branch-free pass (negative values wrap to large ones)
  for (const int32_t e : phy2log_)
    out_of_range |= static_cast<uint32_t>(e) >= static_cast<uint32_t>(num_experts);
  if (out_of_range)
    for (int l = 0; l < num_layers; ++l)
      for (int p = 0; p < num_slots_; ++p)
        if (const int32_t e = phy2log_[idx(l, p)]; e < 0 || e >= num_experts)
          throw std::logic_error("Placement: slot " + std::to_string(p) + " of layer " +
                                 std::to_string(l) + " holds expert " + std::to_string(e) +
                                 ", outside [0, " + std::to_string(num_experts) + ")");
  // logcnt, and log2phy without padding: per layer, a counting sort of the slots by expert.
  logcnt_.assign(static_cast<size_t>(num_layers) * num_experts, 0);
  replica_begin_.resize(static_cast<size_t>(num_layers) * (num_experts + 1));
  replica_slots_.resize(phy2log_.size());
  std::vector<int32_t> next(num_experts);
  int32_t max_count = 0;
  for (int l = 0; l < num_layers; ++l) {
    int32_t* count = logcnt_.data() + static_cast<size_t>(l) * num_experts;
    const auto row = phy2log_row(l);
    for (const int32_t e : row) ++count[e];
    int32_t* begin = replica_begin_.data() + static_cast<size_t>(l) * (num_experts + 1);
    begin[0] = 0;
    for (int e = 0; e < num_experts; ++e) {
      next[e] = begin[e];
      begin[e + 1] = begin[e] + count[e];
      max_count = std::max(max_count, count[e]);
    }
    int32_t* slots = replica_slots_.data() + idx(l, 0);
    for (int p = 0; p < num_slots_; ++p) slots[next[row[p]]++] = p;
  }
  max_replicas_ = max_count;
}

std::span<const int32_t> Placement::replicas(int layer, int expert) const {
  const int32_t* begin = replica_begin_.data() + static_cast<size_t>(layer) * (num_experts_ + 1);
  return {replica_slots_.data() + idx(layer, begin[expert]),
          static_cast<size_t>(begin[expert + 1] - begin[expert])};
}

int32_t Placement::log2phy(int layer, int expert, int r) const {
  const auto slots = replicas(layer, expert);
  return r < static_cast<int>(slots.size()) ? slots[r] : -1;
}

std::vector<int32_t> Placement::experts_of_gpu(int layer, int gpu) const {
  auto row = phy2log_row(layer);
  auto first = row.begin() + first_slot_of_gpu(gpu);
  return {first, first + slots_per_gpu()};
}

std::vector<double> Placement::gpu_loads(int layer, std::span<const double> expert_load) const {
  if (expert_load.size() != static_cast<size_t>(num_experts_))
    throw std::logic_error("Placement::gpu_loads: load vector has " +
                           std::to_string(expert_load.size()) + " entries, expected " +
                           std::to_string(num_experts_));
  std::vector<double> loads(num_gpus_, 0.0);
  auto row = phy2log_row(layer);
  for (int p = 0; p < num_slots_; ++p) {
    int32_t e = row[p];
    loads[gpu_of_slot(p)] += expert_load[e] / logcnt(layer, e);
  }
  return loads;
}

void Placement::validate() const {
  auto fail = [](const std::string& what) { throw std::logic_error("invalid placement: " + what); };
  if (num_slots_ < num_experts_)
    fail(std::to_string(num_slots_) + " slots cannot hold " + std::to_string(num_experts_) +
         " experts");
  if (num_slots_ % num_gpus_ != 0)
    fail(std::to_string(num_slots_) + " slots do not divide evenly over " +
         std::to_string(num_gpus_) + " GPUs");
  if (num_gpus_ % num_nodes_ != 0)
    fail(std::to_string(num_gpus_) + " GPUs do not divide evenly over " +
         std::to_string(num_nodes_) + " nodes");
  for (int l = 0; l < num_layers_; ++l) {
    int total = 0;
    for (int e = 0; e < num_experts_; ++e) {
      int c = logcnt(l, e);
      if (c < 1)
        fail("expert " + std::to_string(e) + " of layer " + std::to_string(l) + " has no replica");
      for (int r = 0; r < c; ++r)
        if (phy2log(l, log2phy(l, e, r)) != e)
          fail("log2phy and phy2log disagree for expert " + std::to_string(e));
      total += c;
    }
    if (total != num_slots_) fail("replica counts do not add up to the slot count");
  }
}

int64_t count_moved_experts(const Placement& prev, const Placement& next, int layer) {
  if (prev.num_slots() != next.num_slots() || prev.num_gpus() != next.num_gpus() ||
      prev.num_experts() != next.num_experts())
    throw std::logic_error("count_moved_experts: placements of different shapes");
  int64_t moved = 0;
  const int spg = next.slots_per_gpu();
  for (int gpu = 0; gpu < next.num_gpus(); ++gpu) {
    auto held = prev.phy2log_row(layer).subspan(size_t(gpu) * spg, spg);
    for (int s = 0; s < spg; ++s) {
      const int32_t e = next.phy2log(layer, gpu * spg + s);
      moved += std::find(held.begin(), held.end(), e) == held.end();
    }
  }
  return moved;
}

}  // namespace epbench
