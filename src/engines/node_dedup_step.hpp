// Node-deduplicating two-stage dispatch (--dispatch node-dedup, host buffers and MPI), as
// DeepEP's internode kernels move tokens: each token crosses to each remote node that holds one
// of its experts once, to the "gateway" rank there with the same local index as its home rank,
// carrying the (rank, slot, gate weight) of every expert it needs on that node; the gateway then
// forwards it to those ranks inside its node. Combine reverses this: outputs return to the
// gateway, which sums the gate-weighted outputs of its node (fp32) and sends one partial row per
// token back to the home rank. Inter-node traffic is one row per (token, remote node).
#pragma once

#include <vector>

#include "engines/layer_step.hpp"

namespace epbench {

class NodeDedupStepper : public LayerEngine {
 public:
  NodeDedupStepper(const comm::Topology& topology, int hidden, ReplicaRule rule);
  ~NodeDedupStepper() override;
  NodeDedupStepper(const NodeDedupStepper&) = delete;
  NodeDedupStepper& operator=(const NodeDedupStepper&) = delete;

  std::string name() const override { return "mpi-node-dedup"; }
  void run(const LayerStepInput& in, kernels::GroupedFfn& ffn, LayerStepOutput& out) override;

 private:
  const comm::Topology& topo_;
  int hidden_;
  ReplicaRule rule_;
  MPI_Datatype row_type_;      // hidden bf16 values
  MPI_Datatype partial_type_;  // hidden floats
  std::vector<kernels::bf16_t> own_, send1_, recv1_, send2_, recv2_, back_, ret2_, x_slot_, y_slot_;
  std::vector<int32_t> meta_send_, meta_recv_;
  std::vector<float> partial_send_, partial_recv_;
};

}  // namespace epbench
