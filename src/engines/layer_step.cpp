// One MoE layer step; see layer_step.hpp. Phase boundaries are comm::monotonic_seconds() stamps on this rank;
// the caller reduces them across ranks.
#include "engines/layer_step.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace epbench {

using kernels::bf16_t;

LayerStepper::LayerStepper(const comm::Topology& topology, int hidden,
                           const std::string& replica_rule)
    : topo_(topology), hidden_(hidden), planner_(replica_rule) {
  CHECK_MPI(MPI_Type_contiguous(hidden * static_cast<int>(sizeof(bf16_t)), MPI_BYTE, &row_type_));
  CHECK_MPI(MPI_Type_commit(&row_type_));
}

LayerStepper::~LayerStepper() { MPI_Type_free(&row_type_); }

double phase_start(const LayerStepInput& in, const char* phase) {
  if (in.sync == nullptr) throw std::logic_error("layer step: no StepSync given");
  return in.sync->phase(phase);
}

double run_ffn_on_received(const LayerStepInput& in, LayerStepOutput& out, double ffn_start,
                           kernels::GroupedFfn& ffn, std::span<const int64_t> recv_slot_rows,
                           int num_ranks, int slots_per_rank, int hidden, const bf16_t* recv,
                           bf16_t* back, std::vector<bf16_t>& x_slot,
                           std::vector<bf16_t>& y_slot) {
  RegroupPlan regroup = build_regroup_plan(recv_slot_rows, num_ranks, slots_per_rank);
  const int64_t rows = regroup.slot_offsets.back();
  const size_t row_bytes = size_t(hidden) * sizeof(bf16_t);
  x_slot.resize(size_t(rows) * hidden);
  y_slot.resize(size_t(rows) * hidden);
  for (int64_t i = 0; i < rows; ++i)
    std::memcpy(x_slot.data() + i * hidden, recv + regroup.recv_position[i] * hidden, row_bytes);
  ffn.forward(in.layer, x_slot.data(), regroup.slot_offsets, y_slot.data());
  for (int64_t i = 0; i < rows; ++i)
    std::memcpy(back + regroup.recv_position[i] * hidden, y_slot.data() + i * hidden, row_bytes);
  const double seconds = comm::monotonic_seconds() - ffn_start;
  out.ffn_slot_offsets = std::move(regroup.slot_offsets);  // for run_reference_gemm
  return seconds;
}

void run_reference_gemm(const LayerStepInput& in, LayerStepOutput& out,
                        kernels::GroupedFfn& ffn) {
  const bool rows = !out.ffn_slot_offsets.empty() && out.ffn_slot_offsets.back() > 0;
  out.reference_gemm_seconds =
      in.reference_gemm && rows ? ffn.reference_gemm_seconds(out.ffn_slot_offsets) : 0.0;
}

std::vector<int64_t> rows_per_source(std::span<const int64_t> recv_slot_rows, int num_ranks,
                                     int slots_per_rank) {
  std::vector<int64_t> rows(num_ranks, 0);
  for (int src = 0; src < num_ranks; ++src)
    for (int s = 0; s < slots_per_rank; ++s)
      rows[src] += recv_slot_rows[size_t(src) * slots_per_rank + s];
  return rows;
}

void record_phases(LayerStepOutput& out, const double (&start)[4], double layout,
                   double dispatch, double ffn) {
  out.start.layout = start[0];
  out.start.dispatch = start[1];
  out.start.ffn = start[2];
  out.start.combine = start[3];
  out.seconds.layout = layout;
  out.seconds.dispatch = dispatch;
  out.seconds.ffn = ffn;
  out.seconds.combine = comm::monotonic_seconds() - start[3];
}

// Offsets of a counts vector as MPI ints (counts are rows; a layer step stays far below 2^31).
void to_counts(std::span<const int64_t> rows, std::vector<int>& counts, std::vector<int>& displs) {
  counts.resize(rows.size());
  displs.resize(rows.size());
  int64_t offset = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] > INT32_MAX || offset > INT32_MAX)
      throw std::runtime_error("layer step: more than 2^31 rows per rank");
    counts[i] = static_cast<int>(rows[i]);
    displs[i] = static_cast<int>(offset);
    offset += rows[i];
  }
}

NodeSplitBytes off_rank_bytes(std::span<const int64_t> rows_per_rank,
                              std::span<const int> node_of_rank, int rank, int64_t row_bytes) {
  NodeSplitBytes bytes;
  for (size_t r = 0; r < rows_per_rank.size(); ++r) {
    if (int(r) == rank) continue;
    (node_of_rank[r] == node_of_rank[rank] ? bytes.intra : bytes.inter) +=
        rows_per_rank[r] * row_bytes;
  }
  return bytes;
}

void LayerStepper::run(const LayerStepInput& in, kernels::GroupedFfn& ffn, LayerStepOutput& out) {
  const Placement& placement = *in.placement;
  const int H = hidden_;
  const int R = topo_.num_ranks;
  const int spr = placement.slots_per_gpu();
  const int64_t T = static_cast<int64_t>(in.hidden.size()) / H;
  const size_t row_elems = static_cast<size_t>(H);

  // ---- layout -------------------------------------------------------------------------------
  const double t0 = phase_start(in, "layout");
  PlanTiming plan_timing;
  DispatchPlan plan = planner_.plan(placement, in.layer, in.topk_ids, in.top_k,
                                    in.first_token_id, topo_, plan_timing);
  record_plan_stats(plan_timing, plan, out);
  const int64_t rows = plan.total_rows();
  send_.resize(rows * row_elems);
  for (int64_t pos = 0; pos < rows; ++pos) {
    const int64_t token = plan.send_order[pos] / in.top_k;
    const float* src = in.hidden.data() + token * H;
    bf16_t* dst = send_.data() + pos * row_elems;
    for (int h = 0; h < H; ++h) dst[h] = kernels::float_to_bf16(src[h]);
  }
  recv_slot_rows_.assign(static_cast<size_t>(R) * spr, 0);
  CHECK_MPI(MPI_Alltoall(plan.send_slot_rows.data(), spr, MPI_INT64_T, recv_slot_rows_.data(), spr,
                         MPI_INT64_T, MPI_COMM_WORLD));
  const std::vector<int64_t> recv_rows = rows_per_source(recv_slot_rows_, R, spr);
  to_counts(plan.send_rows, send_counts_, send_displs_);
  to_counts(recv_rows, recv_counts_, recv_displs_);
  const int64_t total_recv = recv_displs_.back() + recv_counts_.back();
  recv_.resize(total_recv * row_elems);
  const double layout = comm::monotonic_seconds() - t0;

  // ---- dispatch -----------------------------------------------------------------------------
  const double t1 = phase_start(in, "dispatch");
  CHECK_MPI(MPI_Alltoallv(send_.data(), send_counts_.data(), send_displs_.data(), row_type_,
                          recv_.data(), recv_counts_.data(), recv_displs_.data(), row_type_,
                          MPI_COMM_WORLD));
  const double dispatch = comm::monotonic_seconds() - t1;

  // ---- expert FFN: regroup by local slot, grouped SwiGLU, ungroup -----------------------------
  const double t2 = phase_start(in, "ffn");
  back_.resize(total_recv * row_elems);
  const double ffn_seconds = run_ffn_on_received(in, out, t2, ffn, recv_slot_rows_, R, spr, H,
                                                 recv_.data(), back_.data(), x_slot_, y_slot_);

  // ---- combine: return the rows, weighted sum at home -----------------------------------------
  const double t3 = phase_start(in, "combine");
  ret_.resize(rows * row_elems);
  CHECK_MPI(MPI_Alltoallv(back_.data(), recv_counts_.data(), recv_displs_.data(), row_type_,
                          ret_.data(), send_counts_.data(), send_displs_.data(), row_type_,
                          MPI_COMM_WORLD));
  out.combined.assign(static_cast<size_t>(T) * H, 0.0f);
  for (int64_t t = 0; t < T; ++t) {
    float* acc = out.combined.data() + t * H;
    for (int k = 0; k < in.top_k; ++k) {
      const int64_t row = t * in.top_k + k;
      const float w = in.topk_weights[row];
      const bf16_t* y = ret_.data() + plan.send_position[row] * row_elems;
      for (int h = 0; h < H; ++h) acc[h] += w * kernels::bf16_to_float(y[h]);
    }
  }
  record_phases(out, {t0, t1, t2, t3}, layout, dispatch, ffn_seconds);
  run_reference_gemm(in, out, ffn);  // after the step's end (the combine's)
  out.inter_node_rows_dedup = inter_node_rows_dedup(plan, topo_.node_of_rank, topo_.rank);
  out.rows_sent = rows;
  out.rows_received = total_recv;
  out.send_rows = plan.send_rows;
  // Combine mirrors dispatch: each rank returns the rows it received to their senders.
  const int64_t row_bytes = int64_t(H) * int64_t(sizeof(bf16_t));
  const NodeSplitBytes dispatch_bytes =
      off_rank_bytes(plan.send_rows, topo_.node_of_rank, topo_.rank, row_bytes);
  const NodeSplitBytes combine_bytes =
      off_rank_bytes(recv_rows, topo_.node_of_rank, topo_.rank, row_bytes);
  out.dispatch_intra_node_bytes = dispatch_bytes.intra;
  out.dispatch_inter_node_bytes = dispatch_bytes.inter;
  out.combine_intra_node_bytes = combine_bytes.intra;
  out.combine_inter_node_bytes = combine_bytes.inter;
  out.dispatch_inter_node_metadata_bytes = 0;
}

}  // namespace epbench
