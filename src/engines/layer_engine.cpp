// Layer engine factory; see layer_step.hpp.
#include "common/error.hpp"
#include "engines/layer_step.hpp"
#include "engines/node_dedup_step.hpp"
#ifdef EPBENCH_HAVE_NCCL
#include "engines/nccl/nccl_layer_step.hpp"
#endif

namespace epbench {

std::unique_ptr<LayerEngine> make_layer_engine(const std::string& comm, const std::string& dispatch,
                                               const comm::Topology& topology, int hidden,
                                               const std::string& rule,
                                               [[maybe_unused]] int device,
                                               [[maybe_unused]] double comm_timeout_s) {
  if (comm == "mpi" && dispatch == "node-dedup")
    return std::make_unique<NodeDedupStepper>(topology, hidden, rule);
  if (comm == "mpi") return std::make_unique<LayerStepper>(topology, hidden, rule);
#ifdef EPBENCH_HAVE_NCCL
  if (comm == "nccl")
    return make_nccl_layer_engine(
        topology, hidden, rule, device,
        std::chrono::milliseconds(static_cast<int64_t>(comm_timeout_s * 1000.0 + 0.5)));
#endif
  throw InputError("--comm " + comm + " is not available in this build (needs CUDA and NCCL)");
}

}  // namespace epbench
