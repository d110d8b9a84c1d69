// Deterministic expert weights: every value is a pure function of (seed, layer, expert, index),
// so any rank can rebuild any expert without communication (reference checks, migrations).
//
//   key     = splitmix64(splitmix64(splitmix64(seed) ^ layer) ^ expert)
//   r_i     = splitmix64(key + i * 0x9E3779B97F4A7C15)   (the i-th output of SplitMix64(key))
//   u_i     = (r_i >> 40) * 2^-24                         in [0, 1)
//   value_i = round_to_bf16((2 u_i - 1) / sqrt(fan_in))   fan_in = H for w1, w3 and F for w2
//
// i runs over the whole buffer [w1 | w3 | w2] (3·H·F values) in the layout of expert_ffn.hpp.
#include <cmath>
#include <stdexcept>
#include <string>

#include "expert_ffn.hpp"
#include "splitmix.hpp"

namespace epbench::kernels {
namespace {

constexpr uint64_t kGolden = kSplitMixGolden;

void fill_uniform(uint64_t key, size_t first_index, size_t count, float scale, bf16_t* out) {
  constexpr float kTwoPowMinus24 = 1.0f / 16777216.0f;
  for (size_t i = 0; i < count; ++i) {
    const uint64_t r = splitmix64(key + (first_index + i) * kGolden);
    const float u = static_cast<float>(r >> 40) * kTwoPowMinus24;  // exact: 24 bits
    out[i] = float_to_bf16((2.0f * u - 1.0f) * scale);
  }
}

}  // namespace

void make_expert_weights(uint64_t seed, int layer, int expert, FfnShape shape, bf16_t* out) {
  if (shape.hidden <= 0 || shape.ffn <= 0)
    throw std::invalid_argument("make_expert_weights: shape must be positive, got hidden=" +
                                std::to_string(shape.hidden) + " ffn=" + std::to_string(shape.ffn));
  if (layer < 0 || expert < 0)
    throw std::invalid_argument("make_expert_weights: negative layer " + std::to_string(layer) +
                                " or expert " + std::to_string(expert));
  if (out == nullptr) throw std::invalid_argument("make_expert_weights: out is null");

  const uint64_t key = splitmix64(splitmix64(splitmix64(seed) ^ static_cast<uint64_t>(layer)) ^
                                  static_cast<uint64_t>(expert));
  const size_t hf = static_cast<size_t>(shape.hidden) * shape.ffn;
  const float scale_in = 1.0f / std::sqrt(static_cast<float>(shape.hidden));  // w1, w3
  const float scale_out = 1.0f / std::sqrt(static_cast<float>(shape.ffn));    // w2
  fill_uniform(key, 0, 2 * hf, scale_in, out);
  fill_uniform(key, 2 * hf, hf, scale_out, out + 2 * hf);
}

double GroupedFfn::reference_gemm_seconds(std::span<const int64_t>) {
  throw std::logic_error("reference_gemm_seconds is not implemented for backend " + backend());
}

}  // namespace epbench::kernels
