// What one or more expert migrations cost: experts and bytes moved, time, and the check of
// the received weights. Filled by suite/migration.cpp (and sim/simulator.cpp's model), reported
// by samples.cpp.
#pragma once

#include <cstdint>
#include <span>

#include "placement/placement.hpp"

namespace epbench {

struct MigrationStats {
  int64_t experts_moved = 0;    // experts sent between ranks (all layers, all ranks)
  int64_t bytes = 0;            // experts_moved x bytes of one expert's weights (bf16)
  int64_t inter_node_bytes = 0;
  double seconds = 0.0;         // max over ranks, from a common barrier
  int64_t checked = 0, wrong = 0;  // received experts compared with the generator (all ranks)

  MigrationStats& operator+=(const MigrationStats& o) {
    experts_moved += o.experts_moved;
    bytes += o.bytes;
    inter_node_bytes += o.inter_node_bytes;
    seconds += o.seconds;
    checked += o.checked;
    wrong += o.wrong;
    return *this;
  }
};

// Experts, bytes and inter-node bytes of a transfer plan (plan_expert_transfers): what `run`
// migrates and `simulate` costs. node_of_gpu: the node of every GPU (rank).
inline MigrationStats transfer_volume(std::span<const ExpertTransfer> transfers,
                                      std::span<const int> node_of_gpu, int64_t expert_bytes) {
  MigrationStats v;
  v.experts_moved = static_cast<int64_t>(transfers.size());
  v.bytes = v.experts_moved * expert_bytes;
  for (const ExpertTransfer& t : transfers)
    if (node_of_gpu[t.src] != node_of_gpu[t.dst]) v.inter_node_bytes += expert_bytes;
  return v;
}

}  // namespace epbench
