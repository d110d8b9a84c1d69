// Expert migration: when the placement changes, every rank installs the weights of its new
// slots. An expert it already held is copied locally; any other is sent by a rank that held it
// (same node first, then the lowest rank), all layers in one MPI_Alltoallv. Bytes moved and
// time (reading, moving and installing the slots that change, nothing else) are measured;
// afterwards, outside the timer, every changed slot can be checked against the generator.
#pragma once

#include "comm/mpi_comm.hpp"
#include "expert_ffn.hpp"
#include "measure/migration_stats.hpp"
#include "placement/placement.hpp"

namespace epbench {

// Collective. `prev` and `next` must have the same shape; ffn holds `prev` on entry and
// `next` on return.
MigrationStats migrate_experts(const Placement& prev, const Placement& next,
                               const comm::Topology& topo, kernels::GroupedFfn& ffn,
                               uint64_t seed, bool verify);

// Installs this rank's slots of `placement` from the generator (the initial load, no traffic).
void load_experts(const Placement& placement, int rank, kernels::GroupedFfn& ffn, uint64_t seed);

}  // namespace epbench
