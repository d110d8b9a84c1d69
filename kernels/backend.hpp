// Backend selection for the grouped expert FFN and the runtime scope its backends need.
// No Kokkos or CUDA types here: the app links epbench::kernels and picks a backend by name.
//
//   int main(int argc, char** argv) {
//     epbench::kernels::RuntimeScope runtime(argc, argv);   // before any GroupedFfn exists
//     auto ffn = epbench::kernels::make_grouped_ffn("kokkos", {1024, 512}, layers, slots);
//     ...                                                    // ffn destroyed before runtime
//   }
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "expert_ffn.hpp"
#include "reference.hpp"

namespace epbench::kernels {

// Backends compiled into this build, in preference order: a subset of {"cuda", "kokkos"}.
std::vector<std::string> available_backends();

// Empty when `backend` is built in and can run here; else why not (not built, or "cuda" with
// no usable device, as on build machines and CI).
std::string backend_unusable_reason(const std::string& backend);

// The device ordinal a rank uses: `requested` when >= 0, else its local rank, modulo the devices
// it can see (so per-task GPU binding, where each task sees one device, works too). 0 for host
// backends. For "cuda" it also makes that device current right away, so that nothing later
// (cuBLAS, NCCL, a DeviceGuard) creates a context on device 0 first.
int resolve_device(const std::string& backend, int requested, int local_rank);

// Creates the grouped FFN of one rank. `backend` is "kokkos" or "cuda"; `device` is the CUDA
// device ordinal (the Kokkos backend runs on the device Kokkos was initialized with).
// Throws std::invalid_argument for an unknown or not-built backend or a non-positive size, and
// std::runtime_error for "kokkos" while no Kokkos runtime is initialized (see RuntimeScope).
std::unique_ptr<GroupedFfn> make_grouped_ffn(const std::string& backend, FfnShape shape,
                                             int num_layers, int num_slots, int device = 0);

#ifdef EPBENCH_HAVE_CUDA
// Provided by the CUDA backend (kernels/cuda/).
std::unique_ptr<GroupedFfn> make_cuda_ffn(FfnShape shape, int num_layers, int num_slots,
                                          int device);
#endif

// Initializes the backends' runtimes (Kokkos, when built) for its lifetime and finalizes them at
// the end. Kokkos options (--kokkos-threads=..., --kokkos-device-id=...) are consumed from argv.
// If Kokkos is already initialized (e.g. by a host application), the scope leaves it alone.
// Every GroupedFfn must be destroyed before the scope ends. Create one scope per process.
class RuntimeScope {
 public:
  RuntimeScope();
  RuntimeScope(int& argc, char** argv);
  ~RuntimeScope();
  RuntimeScope(const RuntimeScope&) = delete;
  RuntimeScope& operator=(const RuntimeScope&) = delete;

 private:
  bool owns_kokkos_ = false;
};

// For result files: "3.4.1" and e.g. "Serial", "Cuda", "OpenMP"; both "" without Kokkos.
std::string kokkos_version_string();
std::string kokkos_execution_space_name();

}  // namespace epbench::kernels
