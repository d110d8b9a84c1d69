// Device-resident layer step for `epbench run --backend cuda --comm nccl`: the same four timed
// phases and the same results as LayerStepper (layer_step.hpp), with the token rows kept on the
// GPU and moved by NCCL:
//   layout   host dispatch plan (same replica rules), row map to the device, permute_tokens into
//            the per-destination bf16 send buffer, MPI_Alltoall of the per-(rank, slot) counts
//   dispatch NcclComm::all_to_allv of the rows (bytes) + bounded wait
//   ffn      regroup by local slot (permute_tokens, k = 1), CudaGroupedFfn::forward_device,
//            ungroup (permute_tokens, k = 1)
//   combine  all_to_allv back + unpermute_combine with the gate weights (fp32 sum, bf16 out)
// Each phase starts after an untimed MPI_Barrier and is timed with CUDA events on the engine's
// stream, from the barrier to the completion of its GPU work (host work inside a phase, such as
// the plan and the count exchange, is included). The layout phase also builds the regroup maps
// and the FFN's GEMM plan (CudaGroupedFfn::prepare_device), so the FFN phase is device work only.
// No allocation inside a phase: every buffer is reserved for the step's worst case before the
// layout phase (reserve(); run() calls it too); only when the received-row buffers' worst case
// exceeds half the free device memory do they grow, between the layout and dispatch phases.
// Not timed: staging the caller's host inputs onto the device (hidden states as bf16, gate
// weights) before the layout phase, and copying the combined output back to the host for
// verification after the combine phase; in a GPU-resident model both already live on the device.
// Needs one GPU per rank (NCCL's rule): two ranks on one device fail at construction with a
// message saying so. No CUDA or NCCL header here.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "engines/layer_step.hpp"

namespace epbench {

class NcclLayerEngine final : public LayerEngine {
 public:
  static constexpr std::chrono::milliseconds kDefaultTimeout{std::chrono::minutes(5)};

  // Collective over MPI_COMM_WORLD: makes `device` current (< 0: keep the current one), checks
  // that no two ranks share a GPU (std::runtime_error on every rank if they do), creates the
  // stream, rank 0 creates the NCCL unique id, MPI_Bcast, NcclComm on every rank. Every blocking
  // NCCL call and wait is bounded by `timeout` (watchdog; see comm/nccl/nccl_comm.hpp).
  NcclLayerEngine(const comm::Topology& topology, int hidden, const std::string& replica_rule,
                  int device,
                  std::chrono::milliseconds timeout = kDefaultTimeout);
  ~NcclLayerEngine() override;
  NcclLayerEngine(const NcclLayerEngine&) = delete;
  NcclLayerEngine& operator=(const NcclLayerEngine&) = delete;

  std::string name() const override { return "nccl"; }
  // `ffn` must be a kernels::cuda::CudaGroupedFfn on the engine's device (std::logic_error else).
  void run(const LayerStepInput& in, kernels::GroupedFfn& ffn, LayerStepOutput& out) override;
  // Allocates every buffer of a step with up to `tokens_per_rank` tokens (and `ffn`'s workspaces)
  // for the worst case: T*k rows sent, R*T*min(k, slots) received. Grow-only; call before timing
  // (run() calls it with the step's sizes, so it only allocates when a step is larger).
  void reserve(int64_t tokens_per_rank, int top_k, int slots_per_rank, kernels::GroupedFfn& ffn);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The factory make_layer_engine("nccl", ...) calls (layer_engine.cpp).
std::unique_ptr<LayerEngine> make_nccl_layer_engine(
    const comm::Topology& topology, int hidden, const std::string& replica_rule, int device,
    std::chrono::milliseconds timeout = NcclLayerEngine::kDefaultTimeout);

}  // namespace epbench
