// Node-deduplicating two-stage dispatch; see node_dedup_step.hpp. Phases: layout = replica
// choice, carrier lists per gateway, packing, carrier-count exchange; dispatch = inter-node
// carriers + their metadata, intra-node forwarding plan, forward; ffn as the flat engine;
// combine = outputs back to the gateways, per-node partial sums (fp32, rounded once to bf16),
// bf16 partials back home and summed there in fp32.
#include "engines/node_dedup_step.hpp"

#include <cstring>
#include <stdexcept>

namespace epbench {

using kernels::bf16_t;

NodeDedupStepper::NodeDedupStepper(const comm::Topology& topology, int hidden,
                                   const std::string& replica_rule)
    : topo_(topology), hidden_(hidden), planner_(replica_rule) {
  CHECK_MPI(MPI_Type_contiguous(hidden * int(sizeof(bf16_t)), MPI_BYTE, &row_type_));
  CHECK_MPI(MPI_Type_commit(&row_type_));
}

NodeDedupStepper::~NodeDedupStepper() { MPI_Type_free(&row_type_); }

namespace {

// One stage-2 row: the payload comes from this rank's own token (carrier < 0) or from a received
// carrier; it goes to (rank, slot) and its output is weighted by `weight`.
struct Item {
  int64_t token;    // own token index, or -1
  int64_t carrier;  // received carrier index, or -1
  int32_t rank, slot;
  float weight;
};

constexpr int kMetaInts = 3;  // per (carrier, k): dest rank, dest slot, weight bits; rank -1 = none

}  // namespace

void NodeDedupStepper::run(const LayerStepInput& in, kernels::GroupedFfn& ffn,
                           LayerStepOutput& out) {
  const Placement& placement = *in.placement;
  const int H = hidden_, R = topo_.num_ranks, K = in.top_k, me = topo_.rank;
  const int rpn = topo_.ranks_per_node, my_node = topo_.node_of_rank[me], local = me % rpn;
  const int spr = placement.slots_per_gpu();
  const int64_t T = static_cast<int64_t>(in.hidden.size()) / H;
  const size_t row = size_t(H);

  // ---- layout: carriers (one per token and remote node) to the gateways ---------------------
  const double t0 = phase_start(in, "layout");
  PlanTiming plan_timing;
  DispatchPlan plan =
      planner_.plan(placement, in.layer, in.topk_ids, K, in.first_token_id, topo_, plan_timing);
  record_plan_stats(plan_timing, plan, out);
  own_.resize(T * row);
  for (int64_t i = 0; i < T * H; ++i) own_[i] = kernels::float_to_bf16(in.hidden[i]);
  std::vector<std::vector<int64_t>> carrier_token(R);  // per gateway: home token of each carrier
  std::vector<std::vector<int32_t>> carrier_meta(R);   // per gateway: K * kMetaInts per carrier
  std::vector<Item> items;                             // stage-2 rows that start here
  for (int64_t t = 0; t < T; ++t)
    for (int k = 0; k < K; ++k) {
      const int64_t r = t * K + k;
      const int rank = plan.dest_rank[r], node = topo_.node_of_rank[rank];
      const float w = in.topk_weights[r];
      if (node == my_node) {
        items.push_back({t, -1, rank, plan.dest_slot[r], w});
        continue;
      }
      const int gateway = node * rpn + local;
      auto& tokens = carrier_token[gateway];
      auto& meta = carrier_meta[gateway];
      if (tokens.empty() || tokens.back() != t) {  // first expert of t on that node
        tokens.push_back(t);
        meta.resize(meta.size() + size_t(K) * kMetaInts, -1);
      }
      int32_t* m = meta.data() + meta.size() - size_t(K) * kMetaInts + size_t(k) * kMetaInts;
      m[0] = rank;
      m[1] = plan.dest_slot[r];
      std::memcpy(&m[2], &w, sizeof w);
    }
  std::vector<int64_t> send1(R), recv1(R);
  for (int g = 0; g < R; ++g) send1[g] = int64_t(carrier_token[g].size());
  CHECK_MPI(MPI_Alltoall(send1.data(), 1, MPI_INT64_T, recv1.data(), 1, MPI_INT64_T, MPI_COMM_WORLD));
  std::vector<int> c1, d1, rc1, rd1;
  to_counts(send1, c1, d1);
  to_counts(recv1, rc1, rd1);
  const int64_t n_send1 = d1.back() + c1.back(), n_recv1 = rd1.back() + rc1.back();
  send1_.resize(n_send1 * row);
  meta_send_.resize(n_send1 * K * kMetaInts);
  for (int g = 0, pos = 0; g < R; ++g)
    for (size_t i = 0; i < carrier_token[g].size(); ++i, ++pos) {
      std::memcpy(send1_.data() + pos * row, own_.data() + carrier_token[g][i] * row,
                  row * sizeof(bf16_t));
      std::memcpy(meta_send_.data() + size_t(pos) * K * kMetaInts,
                  carrier_meta[g].data() + i * K * kMetaInts, size_t(K) * kMetaInts * 4);
    }
  const double layout = comm::monotonic_seconds() - t0;

  // ---- dispatch: carriers across nodes, then forwarding inside the node ---------------------
  const double t1 = phase_start(in, "dispatch");
  recv1_.resize(n_recv1 * row);
  meta_recv_.resize(n_recv1 * K * kMetaInts);
  CHECK_MPI(MPI_Alltoallv(send1_.data(), c1.data(), d1.data(), row_type_, recv1_.data(), rc1.data(),
                          rd1.data(), row_type_, MPI_COMM_WORLD));
  std::vector<int> mc(c1), md(d1), mrc(rc1), mrd(rd1);
  for (std::vector<int>* v : {&mc, &md, &mrc, &mrd})
    for (int& x : *v) x *= K * kMetaInts;
  CHECK_MPI(MPI_Alltoallv(meta_send_.data(), mc.data(), md.data(), MPI_INT32_T, meta_recv_.data(),
                          mrc.data(), mrd.data(), MPI_INT32_T, MPI_COMM_WORLD));
  for (int64_t c = 0; c < n_recv1; ++c)
    for (int k = 0; k < K; ++k) {
      const int32_t* m = meta_recv_.data() + (c * K + k) * kMetaInts;
      if (m[0] < 0) continue;
      float w;
      std::memcpy(&w, &m[2], sizeof w);
      items.push_back({-1, c, m[0], m[1], w});
    }
  // Counting sort of the stage-2 rows by (rank, slot); all destinations are on this node.
  std::vector<int64_t> slot_rows(size_t(R) * spr, 0), send2(R, 0);
  for (const Item& it : items) {
    ++slot_rows[size_t(it.rank) * spr + it.slot];
    ++send2[it.rank];
  }
  std::vector<int64_t> cursor(slot_rows.size());
  for (size_t i = 0, off = 0; i < cursor.size(); off += slot_rows[i], ++i) cursor[i] = int64_t(off);
  std::vector<int64_t> position(items.size());
  send2_.resize(items.size() * row);
  for (size_t i = 0; i < items.size(); ++i) {
    const Item& it = items[i];
    position[i] = cursor[size_t(it.rank) * spr + it.slot]++;
    const bf16_t* src = it.carrier >= 0 ? recv1_.data() + it.carrier * row : own_.data() + it.token * row;
    std::memcpy(send2_.data() + position[i] * row, src, row * sizeof(bf16_t));
  }
  std::vector<int64_t> recv_slot_rows(slot_rows.size());
  CHECK_MPI(MPI_Alltoall(slot_rows.data(), spr, MPI_INT64_T, recv_slot_rows.data(), spr,
                         MPI_INT64_T, MPI_COMM_WORLD));
  const std::vector<int64_t> recv2 = rows_per_source(recv_slot_rows, R, spr);
  std::vector<int> c2, d2, rc2, rd2;
  to_counts(send2, c2, d2);
  to_counts(recv2, rc2, rd2);
  const int64_t n_recv2 = rd2.back() + rc2.back();
  recv2_.resize(n_recv2 * row);
  CHECK_MPI(MPI_Alltoallv(send2_.data(), c2.data(), d2.data(), row_type_, recv2_.data(), rc2.data(),
                          rd2.data(), row_type_, MPI_COMM_WORLD));
  const double dispatch = comm::monotonic_seconds() - t1;

  // ---- expert FFN ---------------------------------------------------------------------------
  const double t2 = phase_start(in, "ffn");
  back_.resize(n_recv2 * row);
  const double ffn_seconds = run_ffn_on_received(in, out, t2, ffn, recv_slot_rows, R, spr, H,
                                                 recv2_.data(), back_.data(), x_slot_, y_slot_);

  // ---- combine: outputs back inside the node, partial sums back to the home ranks ----------
  const double t3 = phase_start(in, "combine");
  ret2_.resize(items.size() * row);
  CHECK_MPI(MPI_Alltoallv(back_.data(), rc2.data(), rd2.data(), row_type_, ret2_.data(), c2.data(),
                          d2.data(), row_type_, MPI_COMM_WORLD));
  out.combined.assign(size_t(T) * H, 0.0f);
  partial_acc_.assign(n_recv1 * row, 0.0f);
  for (size_t i = 0; i < items.size(); ++i) {
    const Item& it = items[i];
    const bf16_t* y = ret2_.data() + position[i] * row;
    float* acc = it.carrier >= 0 ? partial_acc_.data() + it.carrier * row
                                 : out.combined.data() + it.token * row;
    for (int h = 0; h < H; ++h) acc[h] += it.weight * kernels::bf16_to_float(y[h]);
  }
  // The node's fp32 partial sum travels as bf16 (as DeepEP's combine): one rounding per
  // (token, remote node), the same bytes as the carrier that brought the token.
  partial_send_.resize(n_recv1 * row);
  for (size_t i = 0; i < partial_acc_.size(); ++i)
    partial_send_[i] = kernels::float_to_bf16(partial_acc_[i]);
  partial_recv_.resize(n_send1 * row);
  CHECK_MPI(MPI_Alltoallv(partial_send_.data(), rc1.data(), rd1.data(), row_type_,
                          partial_recv_.data(), c1.data(), d1.data(), row_type_, MPI_COMM_WORLD));
  for (int g = 0, pos = 0; g < R; ++g)
    for (int64_t t : carrier_token[g]) {
      float* acc = out.combined.data() + t * row;
      const bf16_t* p = partial_recv_.data() + size_t(pos++) * row;
      for (int h = 0; h < H; ++h) acc[h] += kernels::bf16_to_float(p[h]);
    }

  record_phases(out, {t0, t1, t2, t3}, layout, dispatch, ffn_seconds);
  run_reference_gemm(in, out, ffn);  // after the step's end (the combine's)
  out.rows_sent = T * K;  // (token, k) rows this rank's tokens need, as in the flat engine
  out.rows_received = n_recv2;
  out.send_rows.assign(R, 0);  // token rows sent per destination, both stages
  for (int r = 0; r < R; ++r) out.send_rows[r] = send1[r] + send2[r];
  out.inter_node_rows_dedup = n_send1;  // exactly one row per (token, remote node)
  // Dispatch: carriers (all to other nodes), then forwarding inside the node. Combine returns
  // the forwarded rows' outputs (recv2) and one bf16 partial per received carrier (recv1).
  const int64_t row_bytes = int64_t(H) * int64_t(sizeof(bf16_t));
  const std::span<const int> nodes = topo_.node_of_rank;
  const NodeSplitBytes carriers = off_rank_bytes(send1, nodes, me, row_bytes);
  const NodeSplitBytes forwarded = off_rank_bytes(send2, nodes, me, row_bytes);
  const NodeSplitBytes returned = off_rank_bytes(recv2, nodes, me, row_bytes);
  const NodeSplitBytes partials = off_rank_bytes(recv1, nodes, me, row_bytes);
  out.dispatch_intra_node_bytes = carriers.intra + forwarded.intra;
  out.dispatch_inter_node_bytes = carriers.inter + forwarded.inter;
  out.combine_intra_node_bytes = returned.intra + partials.intra;
  out.combine_inter_node_bytes = returned.inter + partials.inter;
  out.dispatch_inter_node_metadata_bytes = n_send1 * K * kMetaInts * int64_t(sizeof(int32_t));
}

}  // namespace epbench
