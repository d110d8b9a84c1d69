// Counter-based random numbers for the gating module: every value is a pure function of a key
// (seed, layer, step, rank, index, ...), so results never depend on call order, thread count or
// how many ranks share the work. splitmix64 finalizer for mixing; Box-Muller for normals.
#pragma once

#include <cmath>
#include <cstdint>
#include <initializer_list>

#include "splitmix.hpp"

namespace epbench::gating {

using kernels::splitmix64;

// Hashes a sequence of 64-bit words into one; distinct sequences give unrelated outputs.
inline uint64_t hash_key(std::initializer_list<uint64_t> words) {
  uint64_t h = 0x6A09E667F3BCC909ull;
  for (uint64_t w : words) h = splitmix64(h ^ splitmix64(w));
  return h;
}

// Uniform in (0, 1): 53 random bits, never exactly 0 (safe for log).
inline double uniform_open01(uint64_t bits) {
  return (static_cast<double>(bits >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

// Two independent N(0, 1) values from one counter (Box-Muller on two derived words).
inline void normal_pair(uint64_t counter_key, double& z0, double& z1) {
  const double u1 = uniform_open01(splitmix64(counter_key ^ 0x243F6A8885A308D3ull));
  const double u2 = uniform_open01(splitmix64(counter_key ^ 0x13198A2E03707344ull));
  const double radius = std::sqrt(-2.0 * std::log(u1));
  const double angle = 6.283185307179586 * u2;
  z0 = radius * std::cos(angle);
  z1 = radius * std::sin(angle);
}

// Tags keep the streams of different consumers apart even with equal counters.
enum class RngStream : uint64_t {
  kRouterWeights = 1,
  kHiddenStates = 2,
  kExpertPermutation = 3,
  kTraceTokens = 4,
  kTraceExperts = 5,
  kCalibrationSample = 6,
};

inline uint64_t stream_tag(RngStream s) { return static_cast<uint64_t>(s); }

}  // namespace epbench::gating
