// Expert migration: when the placement changes, every rank installs the weights of its new
// slots. An expert it already held is copied locally; any other is sent by a rank that held it
// (same node first, then the lowest rank), all layers in one MPI_Alltoallv. Bytes moved and
// time are measured; received weights can be checked against the generator.
#pragma once

#include <cstdint>

#include "comm/mpi_comm.hpp"
#include "expert_ffn.hpp"
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

// Collective. `prev` and `next` must have the same shape; ffn holds `prev` on entry and
// `next` on return.
MigrationStats migrate_experts(const Placement& prev, const Placement& next,
                               const comm::Topology& topo, kernels::GroupedFfn& ffn,
                               uint64_t seed, bool verify);

// Installs this rank's slots of `placement` from the generator (the initial load, no traffic).
void load_experts(const Placement& placement, int rank, kernels::GroupedFfn& ffn, uint64_t seed);

}  // namespace epbench
