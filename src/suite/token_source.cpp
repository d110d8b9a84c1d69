// Token and routing source; see token_source.hpp.
#include "suite/token_source.hpp"

#ifdef EPBENCH_HAVE_CUDA
#include "cuda/cuda_router.hpp"
#include "suite/device_router_shape.hpp"
#endif

namespace epbench {

#ifdef EPBENCH_HAVE_CUDA
struct TokenSource::GpuRouters {
  std::vector<std::unique_ptr<kernels::cuda::DeviceRouter>> layers;
};
#else
struct TokenSource::GpuRouters {};
#endif

TokenSource::~TokenSource() = default;

TokenSource::TokenSource(const Scenario& s, int num_ranks) : scenario_(s), num_ranks_(num_ranks) {
  gating::RouterConfig config;
  config.hidden = s.model.hidden;
  config.num_experts = s.model.num_experts;
  config.top_k = s.model.top_k;
  config.n_group = s.model.n_group;
  config.topk_group = s.model.topk_group;
  config.score = gating::parse_score_function(s.model.score);
  config.validate();
  if (!s.trace.empty()) {
    trace_ = gating::TraceReplay::load(s.trace, s.model.num_experts);
    trace_->check_covers(s.num_layers);
    s.validate_trace_steps(trace_->num_steps());
    return;
  }
  const gating::SkewSpec skew = gating::SkewSpec::parse(s.skew);
  skew.validate_for(s.model.num_experts, s.model.n_group);
  for (int layer = 0; layer < s.num_layers; ++layer)
    routers_.emplace_back(config, skew, s.drift, s.seed, layer);
}

void TokenSource::hidden_states(int layer, int step, int rank, std::span<float> out) const {
  gating::make_hidden_states(scenario_.seed, layer, step, rank, scenario_.tokens_per_rank,
                             scenario_.model.hidden, out);
}

void TokenSource::route(int layer, int step, int rank, std::span<const float> hidden,
                        std::span<int32_t> topk_ids, std::span<float> topk_weights) const {
  if (trace_) {
    last_gate_device_seconds_ = -1;
    trace_->route(step, layer, rank, num_ranks_, scenario_.tokens_per_rank, scenario_.model.top_k,
                  topk_ids, topk_weights, scenario_.seed);
    return;
  }
#ifdef EPBENCH_HAVE_CUDA
  if (scenario_.backend == "cuda") {
    namespace kc = kernels::cuda;
    if (!gpu_) {
      gpu_ = std::make_unique<GpuRouters>();
      gpu_->layers.resize(routers_.size());
    }
    auto& device_router = gpu_->layers[layer];
    if (!device_router)
      device_router = std::make_unique<kc::DeviceRouter>(
          device_router_shape(routers_[layer].config()), routers_[layer].weights().data());
    const std::vector<float> bias = routers_[layer].logit_bias(step);
    last_gate_device_seconds_ =
        device_router->route(hidden.data(), scenario_.tokens_per_rank, bias.data(),
                             topk_ids.data(), topk_weights.data());
    return;
  }
#endif
  last_gate_device_seconds_ = -1;
  routers_[layer].route(hidden, scenario_.tokens_per_rank, step, topk_ids, topk_weights);
}

std::vector<double> TokenSource::popularity(int layer, int step) const {
  if (trace_) return {};
  return routers_[layer].popularity(step);
}

}  // namespace epbench
