// The simulator's cost model: one rank's phase times from what it computes and moves, given a
// Profile. Formulas (docs/simulate.md):
//   gate     = gate_fixed + T x 2 x hidden x experts / gate_rate
//   layout   = layout_fixed + layout_per_row x T x k + layout_per_rank x ranks
//   ffn      = ffn_fixed + sum over non-empty slots of
//              [slot_us + max(ceil(rows / tile) x tile x 6 x hidden x ffn / ffn_rate,
//              (ffn_rate = ffn_gflops; for CPU profiles x cores per rank)
//                             expert weight bytes / weight_rate)]
//   dispatch = comm_fixed + sum (or max, when links overlap) over link classes c in
//              {self, intra, inter} of [alpha_c x peers_c + max(sent_c, received_c) / beta_c]
//   combine  = the same with sent and received swapped + combine_per_row x T x k
//   batch replica rules (lp, lp-node, lplb) add to layout: the count exchange (allgather_us)
//   and the solver's host time, measured as the simulator runs it
// A phase's span over ranks is the max of the ranks' times (phases are separated by barriers).
#pragma once

#include <cstdint>
#include <span>

#include "sim/profile.hpp"

namespace epbench::sim {

// What one rank moves in one direction of a layer step (dispatch; combine is the reverse),
// in rows of `row_bytes` bytes, per link class. Peers: distinct ranks with traffic.
struct RankTraffic {
  int64_t self_rows = 0;
  int64_t sent_rows[2] = {0, 0};      // [0] intra-node, [1] inter-node (other ranks)
  int64_t received_rows[2] = {0, 0};
  int32_t sent_peers[2] = {0, 0};
  int32_t received_peers[2] = {0, 0};
};

struct LayerShape {
  int hidden = 0, ffn = 0, num_experts = 0, top_k = 0, num_ranks = 0;
  int64_t tokens_per_rank = 0;
  // CPU (kokkos) profiles: cores each rank's FFN runs on (their ffn_gflops is per core; below 1
  // when ranks oversubscribe the cores); a GPU profile's rate is per rank and ignores this.
  double cores_per_rank = 1.0;
  double flops_per_row() const { return 6.0 * hidden * ffn; }
  double expert_weight_bytes() const { return 3.0 * hidden * ffn * 2.0; }  // bf16
  double row_bytes() const { return 2.0 * hidden; }                        // bf16 row
};

double gate_us(const Profile& p, const LayerShape& s);
double layout_us(const Profile& p, const LayerShape& s);
// slot_rows: rows received by each local slot of one rank.
double ffn_us(const Profile& p, const LayerShape& s, std::span<const int64_t> slot_rows);
// combine = false: dispatch (send what was sent); true: combine (the reverse direction).
double exchange_us(const Profile& p, const RankTraffic& t, double row_bytes, bool combine);
double combine_us(const Profile& p, const LayerShape& s, const RankTraffic& t);
double dispatch_us(const Profile& p, const LayerShape& s, const RankTraffic& t);

// An allgather of bytes_per_rank from every rank (the count exchange of the batch replica
// rules): alpha x ceil(log2 ranks) rounds + every other rank's bytes received over the slowest
// link class the job spans (inter-node once it spans nodes).
double allgather_us(const Profile& p, int ranks, int ranks_per_node, double bytes_per_rank);

// Migration of expert weights: per rank, bytes sent and received per link class and peers.
struct RankMigration {
  double sent_bytes[2] = {0, 0}, received_bytes[2] = {0, 0};
  int32_t peers[2] = {0, 0};
};
double migration_us(const Profile& p, const RankMigration& m);

}  // namespace epbench::sim
