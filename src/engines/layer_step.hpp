// One MoE layer step on one rank: layout (replica choice, per-destination counts, send-buffer
// packing, count exchange), dispatch (token hidden states as bf16 by MPI_Alltoallv), expert
// FFN (regroup received rows by local slot, grouped SwiGLU, ungroup), combine (reverse
// MPI_Alltoallv, weighted sum at the token's home rank). Buffers are reused across steps.
// Untimed, watched barriers separate the phases (comm/step_sync.hpp) unless the step is run
// without phase barriers. Each phase's start stamp and duration on this rank are returned; the
// measurement layer puts the stamps of all ranks on one clock (src/measure/samples.hpp).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "comm/mpi_comm.hpp"
#include "comm/step_sync.hpp"
#include "engines/dispatch_planner.hpp"
#include "expert_ffn.hpp"

namespace epbench {

// One value per phase of a layer step, in step order.
struct PhaseSeconds {
  double gate = 0, layout = 0, dispatch = 0, ffn = 0, combine = 0;
  static constexpr int kCount = 5;
  double operator[](int phase) const {
    const double v[kCount] = {gate, layout, dispatch, ffn, combine};
    return v[phase];
  }
};

struct LayerStepInput {
  const Placement* placement = nullptr;
  int layer = 0;
  std::span<const float> hidden;          // [T][H], bf16-representable
  std::span<const int32_t> topk_ids;      // [T][k]
  std::span<const float> topk_weights;    // [T][k]
  int top_k = 0;
  int64_t first_token_id = 0;
  const comm::StepSync* sync = nullptr;  // phase barriers (required)
  // Run GroupedFfn::reference_gemm_seconds on this step's slot shapes after the combine phase
  // (outside every phase and the step: it ends with the combine): the FFN efficiency baseline.
  bool reference_gemm = false;
};

struct LayerStepOutput {
  PhaseSeconds start;                   // MPI_Wtime at each phase's start on this rank
  PhaseSeconds seconds;                 // this rank's duration of each phase
  // gate (start and duration) is filled by the caller
  double reference_gemm_seconds = 0;   // when in.reference_gemm, else 0
  std::vector<int64_t> ffn_slot_offsets;  // rows of each local slot in the FFN (prefix sums)
  int64_t rows_sent = 0, rows_received = 0;
  std::vector<int64_t> send_rows;       // rows to each rank (self included)
  // Rows a node-deduplicating dispatch would send off-node: per token, the number of distinct
  // other nodes among its destinations (each token crosses to a node once, then fans out).
  int64_t inter_node_rows_dedup = 0;
  // Replica rule (dispatch_planner.hpp), inside the layout phase: count exchange and split times
  // of batch rules (0 for static rules), and rows sent off-node although their expert has a
  // replica on this rank's node.
  double count_exchange_us = 0, solve_us = 0;
  int64_t avoidable_inter_node_rows = 0;
  // Bytes this rank sent to other ranks (self excluded), per phase and per link: to ranks on its
  // own node (intra) or on other nodes (inter). Payload rows only: bf16 token rows in dispatch,
  // bf16 output rows (flat) or bf16 partial sums (node-dedup) in combine. Node-dedup's routing
  // metadata, sent with the carriers to the gateways (all inter-node), is counted apart.
  int64_t dispatch_intra_node_bytes = 0, dispatch_inter_node_bytes = 0;
  int64_t combine_intra_node_bytes = 0, combine_inter_node_bytes = 0;
  int64_t dispatch_inter_node_metadata_bytes = 0;
  std::vector<float> combined;          // [T][H] layer output at the home rank
};

// Splits rows per peer rank (self excluded) into bytes to ranks on `rank`'s node and on other
// nodes. Shared by the engines to fill the LayerStepOutput byte fields.
struct NodeSplitBytes {
  int64_t intra = 0, inter = 0;
};
NodeSplitBytes off_rank_bytes(std::span<const int64_t> rows_per_rank,
                              std::span<const int> node_of_rank, int rank, int64_t row_bytes);

// Copies the replica rule's costs of one step into the output (every engine).
inline void record_plan_stats(const PlanTiming& timing, const DispatchPlan& plan,
                              LayerStepOutput& out) {
  out.count_exchange_us = timing.count_exchange_us;
  out.solve_us = timing.solve_us;
  out.avoidable_inter_node_rows = plan.avoidable_inter_node_rows;
}

// One way of executing a layer step (host buffers + MPI, or GPU buffers + NCCL). Collective.
class LayerEngine {
 public:
  virtual ~LayerEngine() = default;
  virtual std::string name() const = 0;
  virtual void run(const LayerStepInput& in, kernels::GroupedFfn& ffn, LayerStepOutput& out) = 0;
};

// comm "mpi": LayerStepper below (host-staged for GPU backends: the FFN copies to the device),
//   or with dispatch "node-dedup" the two-stage NodeDedupStepper (node_dedup_step.hpp).
// comm "nccl": device-resident buffers and NCCL (built with CUDA + NCCL only; InputError else);
//   `comm_timeout_s` bounds its every blocking call and wait.
std::unique_ptr<LayerEngine> make_layer_engine(const std::string& comm, const std::string& dispatch,
                                               const comm::Topology& topology, int hidden,
                                               const std::string& replica_rule, int device,
                                               double comm_timeout_s = 300);

// Shared by the host engines. phase_start: an untimed barrier (when the step has phase
// barriers), then the time (phases are separated so a rank's phase duration is its own work, not
// waiting for a slower rank's previous phase).
double phase_start(const LayerStepInput& in, const char* phase);
// Counts (rows) as MPI ints with their displacements; throws beyond 2^31 rows.
void to_counts(std::span<const int64_t> rows, std::vector<int>& counts, std::vector<int>& displs);
// Rows arriving from each source rank: recv_slot_rows [ranks][slots_per_rank] summed over slots.
std::vector<int64_t> rows_per_source(std::span<const int64_t> recv_slot_rows, int num_ranks,
                                     int slots_per_rank);
// When in.reference_gemm: the reference GEMM on out.ffn_slot_offsets into
// out.reference_gemm_seconds. Engines call it after the combine, so the step never contains it.
void run_reference_gemm(const LayerStepInput& in, LayerStepOutput& out, kernels::GroupedFfn& ffn);
// The four engine-timed phases' start stamps and durations (combine ends now).
void record_phases(LayerStepOutput& out, const double (&start)[4], double layout,
                   double dispatch, double ffn);
// Received rows (source-major, then slot: recv_slot_rows [ranks][slots]) -> regroup by local
// slot, grouped SwiGLU, back into received order in `back`; the slot shapes go to
// out.ffn_slot_offsets. Returns the FFN phase's duration.
double run_ffn_on_received(const LayerStepInput& in, LayerStepOutput& out, double ffn_start,
                           kernels::GroupedFfn& ffn, std::span<const int64_t> recv_slot_rows,
                           int num_ranks, int slots_per_rank, int hidden,
                           const kernels::bf16_t* recv, kernels::bf16_t* back,
                           std::vector<kernels::bf16_t>& x_slot,
                           std::vector<kernels::bf16_t>& y_slot);

class LayerStepper : public LayerEngine {
 public:
  LayerStepper(const comm::Topology& topology, int hidden, const std::string& replica_rule);
  ~LayerStepper() override;
  LayerStepper(const LayerStepper&) = delete;
  LayerStepper& operator=(const LayerStepper&) = delete;

  std::string name() const override { return "mpi"; }
  void run(const LayerStepInput& in, kernels::GroupedFfn& ffn, LayerStepOutput& out) override;

 private:
  const comm::Topology& topo_;
  int hidden_;
  DispatchPlanner planner_;
  MPI_Datatype row_type_;  // one token row: hidden bf16 values
  std::vector<kernels::bf16_t> send_, recv_, x_slot_, y_slot_, back_, ret_;
  std::vector<int64_t> recv_slot_rows_;
  std::vector<int> send_counts_, send_displs_, recv_counts_, recv_displs_;
};

}  // namespace epbench
