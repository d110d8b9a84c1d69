// SplitMix64 output function: the mixer behind every counter-based random number in epbench
// (expert weights, router weights, tokens, trace replay). Host code; the CUDA kernels carry a
// device copy of the same function.
#pragma once

#include <cstdint>

namespace epbench::kernels {

inline constexpr uint64_t kSplitMixGolden = 0x9E3779B97F4A7C15ull;

// The output for state x (the state is advanced by kSplitMixGolden first).
inline constexpr uint64_t splitmix64(uint64_t x) {
  x += kSplitMixGolden;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace epbench::kernels
