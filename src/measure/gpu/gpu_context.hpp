// GPU part of the results context: CUDA runtime/driver versions, NCCL version, GPU model and
// memory of one device. Built with the CUDA backend only (EPBENCH_SUITE_HAVE_GPU=1); the caller
// (src/measure/context.cpp) merges the object into its "context". No CUDA header here.
#pragma once

#include <nlohmann/json.hpp>

namespace epbench {

// {"cuda_version": "runtime 13.0, driver 13.0" | "runtime 13.0" (no driver) | null,
//  "nccl_version": "2.28.9" | null (not built with NCCL),
//  "gpu_model": "NVIDIA H100 80GB HBM3" | null, "gpu_memory_bytes": 85045493760 | null}.
// `device` < 0: the current device. Never throws: without a usable device (no driver, no GPU,
// ordinal out of range) the device fields are null and the versions say what is known.
nlohmann::json gpu_context_json(int device);

}  // namespace epbench
