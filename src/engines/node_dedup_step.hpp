// Node-deduplicating two-stage dispatch (--dispatch node-dedup, host buffers and MPI), as
// DeepEP's internode kernels move tokens: each token crosses to each remote node that holds one
// of its experts once, to the "gateway" rank there with the same local index as its home rank,
// carrying the (rank, slot, gate weight) of every expert it needs on that node; the gateway then
// forwards it to those ranks inside its node. Combine reverses this: outputs return to the
// gateway, which sums the gate-weighted outputs of its node in fp32 and sends that partial sum,
// rounded once to bf16 (as DeepEP's combine), back to the home rank, which adds it in fp32.
// Inter-node traffic is one bf16 row per (token, remote node) in each direction.
#pragma once

#include <vector>

#include "engines/layer_step.hpp"

namespace epbench {

class NodeDedupStepper : public LayerEngine {
 public:
  NodeDedupStepper(const comm::Topology& topology, int hidden, const std::string& replica_rule);
  ~NodeDedupStepper() override;
  NodeDedupStepper(const NodeDedupStepper&) = delete;
  NodeDedupStepper& operator=(const NodeDedupStepper&) = delete;

  std::string name() const override { return "mpi-node-dedup"; }
  void run(const LayerStepInput& in, kernels::GroupedFfn& ffn, LayerStepOutput& out) override;

 private:
  const comm::Topology& topo_;
  int hidden_;
  DispatchPlanner planner_;
  MPI_Datatype row_type_;  // hidden bf16 values (token rows, outputs and partial sums)
  std::vector<kernels::bf16_t> own_, send1_, recv1_, send2_, recv2_, back_, ret2_, x_slot_, y_slot_;
  std::vector<int32_t> meta_send_, meta_recv_;
  std::vector<float> partial_acc_;                         // fp32 partial sums at the gateway
  std::vector<kernels::bf16_t> partial_send_, partial_recv_;  // the same, rounded to bf16
};

}  // namespace epbench
