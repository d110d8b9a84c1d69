// GPU part of the results context; see gpu_context.hpp.
#include "measure/gpu/gpu_context.hpp"

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "cuda/cuda_device.hpp"
#ifdef EPBENCH_HAVE_NCCL
#include "comm/nccl/nccl_comm.hpp"
#endif

namespace epbench {

namespace {

// CUDA encodes versions as 1000 * major + 10 * minor (13000 -> "13.0").
std::string cuda_version_text(int code) {
  return std::to_string(code / 1000) + "." + std::to_string(code % 1000 / 10);
}

}  // namespace

nlohmann::json gpu_context_json(int device) {
  nlohmann::json context = {{"cuda_version", nullptr},
                            {"nccl_version", nullptr},
                            {"gpu_model", nullptr},
                            {"gpu_memory_bytes", nullptr}};
  try {
    // Neither call needs a device; the driver version is 0 when no driver is loaded.
    int runtime = 0, driver = 0;
    if (cudaRuntimeGetVersion(&runtime) == cudaSuccess && runtime > 0) {
      std::string text = "runtime " + cuda_version_text(runtime);
      if (cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0)
        text += ", driver " + cuda_version_text(driver);
      context["cuda_version"] = text;
    }
    cudaGetLastError();  // leave no sticky error from the probes behind
#ifdef EPBENCH_HAVE_NCCL
    context["nccl_version"] = comm::nccl_version_string();
#endif
    const int count = kernels::cuda::cuda_device_count();  // 0 without a driver; never throws
    if (count <= 0) return context;
    if (device < 0 && cudaGetDevice(&device) != cudaSuccess) {
      cudaGetLastError();
      return context;
    }
    if (device >= count) return context;
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) {
      cudaGetLastError();
      return context;
    }
    context["gpu_model"] = std::string(prop.name);
    context["gpu_memory_bytes"] = static_cast<int64_t>(prop.totalGlobalMem);
  } catch (...) {
    // Context is best effort: a failing probe leaves its fields null.
  }
  return context;
}

}  // namespace epbench
