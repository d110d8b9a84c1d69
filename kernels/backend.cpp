// Backend factory and runtime scope: maps a backend name to the backend compiled into this build.
#include "backend.hpp"

#include <algorithm>
#include <stdexcept>

#ifdef EPBENCH_HAVE_KOKKOS
#include "kokkos/kokkos_ffn.hpp"
#endif
#ifdef EPBENCH_HAVE_CUDA
#include "cuda/cuda_device.hpp"
#endif

namespace epbench::kernels {
namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

}  // namespace

std::vector<std::string> available_backends() {
  std::vector<std::string> names;
#ifdef EPBENCH_HAVE_CUDA
  names.push_back("cuda");
#endif
#ifdef EPBENCH_HAVE_KOKKOS
  names.push_back("kokkos");
#endif
  return names;
}

std::string backend_unusable_reason(const std::string& backend) {
  const auto built = available_backends();
  if (std::find(built.begin(), built.end(), backend) == built.end())
    return "backend \"" + backend + "\" is not built in (available: " + joined(built) + ")";
#ifdef EPBENCH_HAVE_CUDA
  if (backend == "cuda" && !cuda::cuda_device_available())
    return "backend \"cuda\": no usable CUDA device (" + cuda::cuda_unavailable_reason() + ")";
#endif
  return {};
}

int resolve_device([[maybe_unused]] const std::string& backend, int requested, int local_rank) {
  const int wanted = requested >= 0 ? requested : local_rank;
#ifdef EPBENCH_HAVE_CUDA
  if (backend == "cuda") {
    const int count = cuda::cuda_device_count();
    if (count <= 0) return 0;
    const int device = wanted % count;
    cuda::set_device(device);
    return device;
  }
#endif
  return requested >= 0 ? wanted : 0;
}

std::unique_ptr<GroupedFfn> make_grouped_ffn(const std::string& backend, FfnShape shape,
                                             int num_layers, int num_slots,
                                             [[maybe_unused]] int device) {
  if (shape.hidden <= 0 || shape.ffn <= 0 || num_layers <= 0 || num_slots <= 0)
    throw std::invalid_argument("make_grouped_ffn: sizes must be positive, got hidden=" +
                                std::to_string(shape.hidden) + " ffn=" +
                                std::to_string(shape.ffn) + " num_layers=" +
                                std::to_string(num_layers) + " num_slots=" +
                                std::to_string(num_slots));
#ifdef EPBENCH_HAVE_KOKKOS
  if (backend == "kokkos") return kokkos::make_kokkos_ffn(shape, num_layers, num_slots);
#endif
#ifdef EPBENCH_HAVE_CUDA
  if (backend == "cuda") return make_cuda_ffn(shape, num_layers, num_slots, device);
#endif
  const bool known = backend == "kokkos" || backend == "cuda";
  throw std::invalid_argument("make_grouped_ffn: backend '" + backend + "' " +
                              (known ? "is not built into this binary" : "is unknown") +
                              "; available: " + joined(available_backends()));
}

namespace {
// Returns whether this call initialized Kokkos (and so must finalize it).
bool initialize_runtimes([[maybe_unused]] int& argc, [[maybe_unused]] char** argv) {
#ifdef EPBENCH_HAVE_KOKKOS
  if (!kokkos::is_initialized()) {
    kokkos::initialize(argc, argv);
    return true;
  }
#endif
  return false;
}
}  // namespace

RuntimeScope::RuntimeScope() {
  int argc = 0;
  char* argv[] = {nullptr};
  owns_kokkos_ = initialize_runtimes(argc, argv);
}

RuntimeScope::RuntimeScope(int& argc, char** argv)
    : owns_kokkos_(initialize_runtimes(argc, argv)) {}

RuntimeScope::~RuntimeScope() {
#ifdef EPBENCH_HAVE_KOKKOS
  if (owns_kokkos_) kokkos::finalize();
#endif
}

std::string kokkos_version_string() {
#ifdef EPBENCH_HAVE_KOKKOS
  return kokkos::version_string();
#else
  return "";
#endif
}

std::string kokkos_execution_space_name() {
#ifdef EPBENCH_HAVE_KOKKOS
  return kokkos::execution_space_name();
#else
  return "";
#endif
}

}  // namespace epbench::kernels
