// Where a step's tokens and routing come from: deterministic hidden states plus either the
// skewed router (one per layer) or a recorded trace replayed as routing decisions. With
// `--backend cuda` the router runs on the GPU (kernels/cuda/cuda_router.hpp: the same gate
// weights and logit bias, bf16 weights, fp32 scores) and last_gate_device_seconds() gives the
// device time of the last route(); selections equal the CPU router's except on near-ties.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "gating/router.hpp"
#include "gating/trace_replay.hpp"
#include "suite/scenario.hpp"

namespace epbench {

class TokenSource {
 public:
  // Builds routers (or loads the trace); throws InputError on bad skew/trace/shape, and on a
  // trace too short to keep measured steps off the fitted ones (Scenario::validate_trace_steps).
  TokenSource(const Scenario& scenario, int num_ranks);

  void hidden_states(int layer, int step, int rank, std::span<float> out) const;
  // Routes this rank's tokens of (layer, step).
  void route(int layer, int step, int rank, std::span<const float> hidden,
             std::span<int32_t> topk_ids, std::span<float> topk_weights) const;
  // Distinct recorded steps of the trace (0 without one); run step s replays the (s mod n)-th.
  int trace_steps() const { return trace_ ? trace_->num_steps() : 0; }
  // The layer's router (nullptr under trace replay), for verification to re-derive the top-k.
  const gating::Router* router(int layer) const {
    return routers_.empty() ? nullptr : &routers_[layer];
  }
  // Device seconds (CUDA events) of the last route() when it ran on the GPU, else -1 (CPU
  // router or trace: time route() on the host).
  double last_gate_device_seconds() const { return last_gate_device_seconds_; }
  ~TokenSource();
  // Popularity the router aims at (empty for a trace).
  std::vector<double> popularity(int layer, int step) const;

 private:
  const Scenario& scenario_;
  int num_ranks_;
  std::vector<gating::Router> routers_;
  std::optional<gating::TraceReplay> trace_;
  struct GpuRouters;  // --backend cuda: one DeviceRouter per layer, made on first use (after
                      // the rank's device is selected)
  mutable std::unique_ptr<GpuRouters> gpu_;
  mutable double last_gate_device_seconds_ = -1;
};

}  // namespace epbench
