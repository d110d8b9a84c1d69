// Expert migration; see migration.hpp. Every rank derives the same transfer list from the two
// placements, so no plan needs to be exchanged.
#include "suite/migration.hpp"

#include <cstring>
#include <stdexcept>
#include <vector>

namespace epbench {

using kernels::bf16_t;

void load_experts(const Placement& placement, int rank, kernels::GroupedFfn& ffn, uint64_t seed) {
  std::vector<bf16_t> w(ffn.shape().weight_elems());
  const int spr = placement.slots_per_gpu();
  for (int l = 0; l < placement.num_layers(); ++l)
    for (int s = 0; s < spr; ++s) {
      kernels::make_expert_weights(seed, l, placement.phy2log(l, rank * spr + s), ffn.shape(),
                                   w.data());
      ffn.set_slot_weights(l, s, w.data());
    }
}

namespace {

// First local slot of `rank` holding `expert` in `p`, or -1.
int local_slot_of(const Placement& p, int layer, int expert, int rank) {
  for (int32_t slot : p.replicas(layer, expert))
    if (p.gpu_of_slot(slot) == rank) return slot - p.first_slot_of_gpu(rank);
  return -1;
}

}  // namespace

MigrationStats migrate_experts(const Placement& prev, const Placement& next,
                               const comm::Topology& topo, kernels::GroupedFfn& ffn,
                               uint64_t seed, bool verify) {
  if (prev.num_slots() != next.num_slots() || prev.num_layers() != next.num_layers() ||
      prev.num_gpus() != next.num_gpus())
    throw std::logic_error("migrate_experts: placements of different shapes");
  const int me = topo.rank, R = topo.num_ranks, spr = next.slots_per_gpu();
  const size_t elems = ffn.shape().weight_elems();
  MigrationStats stats;

  // Plan (untimed, identical on every rank): transfers sorted by (dst, layer, dst slot), source
  // chosen deterministically (same node first); and this rank's local copies: slots whose
  // expert changes to one it already holds in another slot.
  const std::vector<ExpertTransfer> transfers =
      plan_expert_transfers(prev, next, topo.node_of_rank);
  struct LocalCopy {
    int layer, from_slot, to_slot;
  };
  std::vector<LocalCopy> copies;
  for (int l = 0; l < next.num_layers(); ++l)
    for (int s = 0; s < spr; ++s) {
      const int e = next.phy2log(l, me * spr + s);
      if (e == prev.phy2log(l, me * spr + s)) continue;  // unchanged slot: not touched
      const int held = local_slot_of(prev, l, e, me);
      if (held >= 0) copies.push_back({l, held, s});
    }
  std::vector<int> send_counts(R, 0), recv_counts(R, 0), send_displs(R, 0), recv_displs(R, 0);
  for (const ExpertTransfer& t : transfers) {
    if (t.src == me) ++send_counts[t.dst];
    if (t.dst == me) ++recv_counts[t.src];
  }
  for (int r = 1; r < R; ++r) {
    send_displs[r] = send_displs[r - 1] + send_counts[r - 1];
    recv_displs[r] = recv_displs[r - 1] + recv_counts[r - 1];
  }
  std::vector<bf16_t> send_buf(size_t(send_displs[R - 1] + send_counts[R - 1]) * elems);
  std::vector<bf16_t> recv_buf(size_t(recv_displs[R - 1] + recv_counts[R - 1]) * elems);
  std::vector<bf16_t> copy_buf(copies.size() * elems);
  MPI_Datatype expert_type;
  CHECK_MPI(MPI_Type_contiguous(static_cast<int>(elems * sizeof(bf16_t)), MPI_BYTE, &expert_type));
  CHECK_MPI(MPI_Type_commit(&expert_type));

  // Timed: reading the outgoing and locally copied experts, the transfer, and installing the
  // slots that change. Slots that keep their expert are not touched.
  CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
  const double t0 = MPI_Wtime();
  std::vector<int> fill(send_displs);
  for (const ExpertTransfer& t : transfers)  // in (dst, layer, slot) order: matches the receiver
    if (t.src == me)
      ffn.get_slot_weights(t.layer, local_slot_of(prev, t.layer, t.expert, me),
                           send_buf.data() + size_t(fill[t.dst]++) * elems);
  for (size_t i = 0; i < copies.size(); ++i)
    ffn.get_slot_weights(copies[i].layer, copies[i].from_slot, copy_buf.data() + i * elems);
  if (!transfers.empty())  // the list is the same on every rank: all skip or none
    CHECK_MPI(MPI_Alltoallv(send_buf.data(), send_counts.data(), send_displs.data(), expert_type,
                            recv_buf.data(), recv_counts.data(), recv_displs.data(), expert_type,
                            MPI_COMM_WORLD));
  for (size_t i = 0; i < copies.size(); ++i)
    ffn.set_slot_weights(copies[i].layer, copies[i].to_slot, copy_buf.data() + i * elems);
  std::vector<int> taken(recv_displs);
  for (const ExpertTransfer& t : transfers)
    if (t.dst == me)
      ffn.set_slot_weights(t.layer, t.dst_slot,
                           recv_buf.data() + size_t(taken[t.src]++) * elems);
  const double local_seconds = MPI_Wtime() - t0;
  MPI_Type_free(&expert_type);

  // Verification after the clock stops: every slot that changed holds its generator's weights.
  if (verify) {
    std::vector<bf16_t> expected(elems), installed(elems);
    for (int l = 0; l < next.num_layers(); ++l)
      for (int s = 0; s < spr; ++s) {
        const int e = next.phy2log(l, me * spr + s);
        if (e == prev.phy2log(l, me * spr + s)) continue;
        kernels::make_expert_weights(seed, l, e, ffn.shape(), expected.data());
        ffn.get_slot_weights(l, s, installed.data());
        ++stats.checked;
        if (std::memcmp(expected.data(), installed.data(), elems * sizeof(bf16_t)) != 0)
          ++stats.wrong;
      }
  }
  CHECK_MPI(MPI_Allreduce(&local_seconds, &stats.seconds, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
  int64_t local_counts[2] = {stats.checked, stats.wrong}, sums[2];
  CHECK_MPI(MPI_Allreduce(local_counts, sums, 2, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
  stats.checked = sums[0];
  stats.wrong = sums[1];
  const MigrationStats volume = transfer_volume(
      transfers, topo.node_of_rank, static_cast<int64_t>(elems * sizeof(bf16_t)));
  stats.experts_moved = volume.experts_moved;
  stats.bytes = volume.bytes;
  stats.inter_node_bytes = volume.inter_node_bytes;
  return stats;
}

}  // namespace epbench
