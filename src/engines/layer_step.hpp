// One MoE layer step on one rank: layout (replica choice, per-destination counts, send-buffer
// packing, count exchange), dispatch (token hidden states as bf16 by MPI_Alltoallv), expert
// FFN (regroup received rows by local slot, grouped SwiGLU, ungroup), combine (reverse
// MPI_Alltoallv, weighted sum at the token's home rank). Buffers are reused across steps.
// Untimed barriers separate the phases (see layer_step.cpp).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "comm/mpi_comm.hpp"
#include "dispatch/dispatch_plan.hpp"
#include "expert_ffn.hpp"

namespace epbench {

struct PhaseSeconds {
  double gate = 0, layout = 0, dispatch = 0, ffn = 0, combine = 0;
  double total() const { return gate + layout + dispatch + ffn + combine; }
};

struct LayerStepInput {
  const Placement* placement = nullptr;
  int layer = 0;
  std::span<const float> hidden;          // [T][H], bf16-representable
  std::span<const int32_t> topk_ids;      // [T][k]
  std::span<const float> topk_weights;    // [T][k]
  int top_k = 0;
  int64_t first_token_id = 0;
};

struct LayerStepOutput {
  PhaseSeconds seconds;                 // gate is filled by the caller
  int64_t rows_sent = 0, rows_received = 0;
  std::vector<int64_t> send_rows;       // rows to each rank (self included)
  // Rows a node-deduplicating dispatch would send off-node: per token, the number of distinct
  // other nodes among its destinations (each token crosses to a node once, then fans out).
  int64_t inter_node_rows_dedup = 0;
  std::vector<float> combined;          // [T][H] layer output at the home rank
};

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
                                               ReplicaRule rule, int device,
                                               double comm_timeout_s = 300);

// Shared by the host engines. phase_start: an untimed barrier, then the time (phases are
// separated so a phase's time is its own work, not waiting for a slower rank's previous phase).
double phase_start();
// Counts (rows) as MPI ints with their displacements; throws beyond 2^31 rows.
void to_counts(std::span<const int64_t> rows, std::vector<int>& counts, std::vector<int>& displs);
// Received rows (source-major, then slot: recv_slot_rows [ranks][slots]) -> regroup by local
// slot, grouped SwiGLU, back into received order in `back`.
void run_ffn_on_received(kernels::GroupedFfn& ffn, int layer,
                         std::span<const int64_t> recv_slot_rows, int num_ranks, int slots_per_rank,
                         int hidden, const kernels::bf16_t* recv, kernels::bf16_t* back,
                         std::vector<kernels::bf16_t>& x_slot,
                         std::vector<kernels::bf16_t>& y_slot);

class LayerStepper : public LayerEngine {
 public:
  LayerStepper(const comm::Topology& topology, int hidden, ReplicaRule rule);
  ~LayerStepper() override;
  LayerStepper(const LayerStepper&) = delete;
  LayerStepper& operator=(const LayerStepper&) = delete;

  std::string name() const override { return "mpi"; }
  void run(const LayerStepInput& in, kernels::GroupedFfn& ffn, LayerStepOutput& out) override;

 private:
  const comm::Topology& topo_;
  int hidden_;
  ReplicaRule rule_;
  MPI_Datatype row_type_;  // one token row: hidden bf16 values
  std::vector<kernels::bf16_t> send_, recv_, x_slot_, y_slot_, back_, ret_;
  std::vector<int64_t> recv_slot_rows_;
  std::vector<int> send_counts_, send_displs_, recv_counts_, recv_displs_;
};

}  // namespace epbench
