// bfloat16 as raw bits on the host: conversions with round-to-nearest-even (NaN kept quiet).
#pragma once

#include <cstdint>
#include <cstring>

namespace epbench::kernels {

using bf16_t = uint16_t;

inline float bf16_to_float(bf16_t v) {
  uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline bf16_t float_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  if ((bits & 0x7F800000u) == 0x7F800000u && (bits & 0x007FFFFFu) != 0)
    return static_cast<bf16_t>((bits >> 16) | 0x0040u);  // quiet NaN
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<bf16_t>(bits >> 16);
}

// Rounds a float to the nearest bf16-representable float.
inline float round_to_bf16(float f) { return bf16_to_float(float_to_bf16(f)); }

}  // namespace epbench::kernels
