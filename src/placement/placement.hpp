// Placement: which logical expert each physical slot holds, per layer. The value type shared by
// placement policies, dispatch, metrics and migration. Physical slot p lives on GPU
// p / slots_per_gpu(); GPU g lives on node g / gpus_per_node().
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace epbench {

class Placement {
 public:
  Placement() = default;
  // phy2log: [num_layers * num_slots] row-major, each entry a logical expert in [0, num_experts).
  // logcnt and log2phy are derived from it. Throws std::logic_error on non-positive sizes, an
  // entry out of range, or fewer slots than experts (checked before any per-expert table).
  // num_threads: threads deriving the layers' tables (0 = one per hardware thread, fewer for
  // a small placement; see placement_threads).
  Placement(int num_layers, int num_experts, int num_gpus, int num_nodes,
            std::vector<int32_t> phy2log, int num_threads = 1);

  int num_layers() const { return num_layers_; }
  int num_experts() const { return num_experts_; }
  int num_slots() const { return num_slots_; }
  int num_gpus() const { return num_gpus_; }
  int num_nodes() const { return num_nodes_; }
  int slots_per_gpu() const { return num_slots_ / num_gpus_; }
  int gpus_per_node() const { return num_gpus_ / num_nodes_; }
  int max_replicas() const { return max_replicas_; }

  int32_t phy2log(int layer, int slot) const { return phy2log_[idx(layer, slot)]; }
  int32_t logcnt(int layer, int expert) const {
    return logcnt_[static_cast<size_t>(layer) * num_experts_ + expert];
  }
  // Slots holding `expert`, in increasing slot order (log2phy row without the -1 padding).
  std::span<const int32_t> replicas(int layer, int expert) const;
  // log2phy[layer][expert][r]: the r-th slot holding `expert`, -1 for logcnt <= r <
  // max_replicas() (the reference's padded table, which is not stored: see log2phy_).
  int32_t log2phy(int layer, int expert, int r) const;
  std::span<const int32_t> phy2log_row(int layer) const {
    return {phy2log_.data() + idx(layer, 0), static_cast<size_t>(num_slots_)};
  }
  std::span<const int32_t> logcnt_row(int layer) const {
    return {logcnt_.data() + static_cast<size_t>(layer) * num_experts_,
            static_cast<size_t>(num_experts_)};
  }

  int gpu_of_slot(int slot) const { return slot / slots_per_gpu(); }
  int node_of_gpu(int gpu) const { return gpu / gpus_per_node(); }
  int first_slot_of_gpu(int gpu) const { return gpu * slots_per_gpu(); }
  // Logical experts held by one GPU in one layer (one entry per slot).
  std::vector<int32_t> experts_of_gpu(int layer, int gpu) const;

  // Per-GPU load of one layer when expert e receives expert_load[e] tokens, split evenly among
  // its replicas (the EPLB model: weight[e] / logcnt[e] per slot).
  std::vector<double> gpu_loads(int layer, std::span<const double> expert_load) const;

  // Throws std::logic_error naming the first inconsistency: shape, slot counts, an expert with
  // no replica, counts disagreeing with phy2log.
  void validate() const;

  bool operator==(const Placement& other) const = default;

 private:
  size_t idx(int layer, int slot) const { return static_cast<size_t>(layer) * num_slots_ + slot; }

  int num_layers_ = 0, num_experts_ = 0, num_slots_ = 0, num_gpus_ = 1, num_nodes_ = 1;
  int max_replicas_ = 0;
  std::vector<int32_t> phy2log_;
  std::vector<int32_t> logcnt_;
  // Per layer, the slots grouped by expert (increasing slot order within an expert), and where
  // each expert's group starts in its layer's row: [layers][slots] and [layers][experts].
  // Linear in slots; the padded [layers][experts][max_replicas] table grows with the product
  // of experts and the hottest expert's replicas (one hot expert can hold slots - experts + 1).
  std::vector<int32_t> log2phy_;
  std::vector<int32_t> log2phy_start_;
};

// Slots of `next` in `layer` whose GPU did not hold that expert in `prev`: the expert weights a
// migration from prev to next sends (suite/migration.cpp moves exactly these). Same shapes.
int64_t count_moved_experts(const Placement& prev, const Placement& next, int layer);

// One expert weight a migration from `prev` to `next` sends: into local slot `dst_slot` of GPU
// `dst` in `layer`, from `src`, a GPU holding the expert in `prev` (one on dst's node when there
// is one, else the first holder in slot order). A slot whose GPU already held its expert moves
// nothing.
struct ExpertTransfer {
  int layer, expert, src, dst, dst_slot;
};
// Every transfer, sorted by (dst, layer, dst_slot); node_of_gpu: the node of every GPU. The one
// plan `run` migrates by (suite/migration.cpp) and `simulate` costs.
std::vector<ExpertTransfer> plan_expert_transfers(const Placement& prev, const Placement& next,
                                                  std::span<const int> node_of_gpu);

}  // namespace epbench
