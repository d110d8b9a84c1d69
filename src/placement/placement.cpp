// Placement: derived tables (logcnt, log2phy), validation and per-GPU helpers.
#include "placement/placement.hpp"

#include <algorithm>
#include <stdexcept>

#include "placement/parallel.hpp"

namespace epbench {

Placement::Placement(int num_layers, int num_experts, int num_gpus, int num_nodes,
                     std::vector<int32_t> phy2log, int num_threads)
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
  // Before the per-expert tables are sized: a file naming 10^9 experts over a few slots must
  // not allocate them (validate() would refuse the shape afterwards anyway).
  if (num_slots_ < num_experts)
    throw std::logic_error("invalid placement: " + std::to_string(num_slots_) +
                           " slots cannot hold " + std::to_string(num_experts) + " experts");
  logcnt_.resize(static_cast<size_t>(num_layers) * num_experts);
  log2phy_.resize(phy2log_.size());
  log2phy_start_.resize(logcnt_.size());
  // Layers are independent; each worker keeps the highest count it saw.
  const int threads =
      placement_threads(num_threads, num_layers, 4.0 * (num_slots_ + num_experts));
  std::vector<int32_t> max_count(threads, 0);
  for_layer_ranges(num_layers, threads, [&](int worker, int first, int end) {
    std::vector<int32_t> fill(num_experts);
    for (int l = first; l < end; ++l) {
      const std::span<const int32_t> row = phy2log_row(l);
      int32_t* count = logcnt_.data() + static_cast<size_t>(l) * num_experts;  // zeroed above
      for (int p = 0; p < num_slots_; ++p) {
        const int32_t e = row[p];
        if (e < 0 || e >= num_experts)
          throw std::logic_error("Placement: slot " + std::to_string(p) + " of layer " +
                                 std::to_string(l) + " holds expert " + std::to_string(e) +
                                 ", outside [0, " + std::to_string(num_experts) + ")");
        ++count[e];
      }
      // Counting sort of the layer's slots by expert: starts are the prefix sums of the counts.
      int32_t* start = log2phy_start_.data() + static_cast<size_t>(l) * num_experts;
      int32_t next = 0, most = max_count[worker];
      for (int e = 0; e < num_experts; ++e) {
        start[e] = fill[e] = next;
        next += count[e];
        most = std::max(most, count[e]);
      }
      max_count[worker] = most;
      int32_t* slots = log2phy_.data() + idx(l, 0);
      for (int p = 0; p < num_slots_; ++p) slots[fill[row[p]]++] = p;
    }
  });
  max_replicas_ = *std::max_element(max_count.begin(), max_count.end());
}

std::span<const int32_t> Placement::replicas(int layer, int expert) const {
  const size_t e = static_cast<size_t>(layer) * num_experts_ + expert;
  return {log2phy_.data() + idx(layer, log2phy_start_[e]), static_cast<size_t>(logcnt_[e])};
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

std::vector<ExpertTransfer> plan_expert_transfers(const Placement& prev, const Placement& next,
                                                  std::span<const int> node_of_gpu) {
  if (prev.num_slots() != next.num_slots() || prev.num_layers() != next.num_layers() ||
      prev.num_gpus() != next.num_gpus())
    throw std::logic_error("plan_expert_transfers: placements of different shapes");
  const int spg = next.slots_per_gpu();
  std::vector<ExpertTransfer> transfers;
  for (int dst = 0; dst < next.num_gpus(); ++dst)
    for (int l = 0; l < next.num_layers(); ++l)
      for (int s = 0; s < spg; ++s) {
        const int e = next.phy2log(l, dst * spg + s);
        int src = -1;
        bool held = false;
        for (int32_t slot : prev.replicas(l, e)) {
          const int holder = prev.gpu_of_slot(slot);
          held = held || holder == dst;
          if (src < 0 || (node_of_gpu[holder] == node_of_gpu[dst] &&
                          node_of_gpu[src] != node_of_gpu[dst]))
            src = holder;
        }
        if (!held) transfers.push_back({l, e, src, dst, s});
      }
  return transfers;
}

}  // namespace epbench
