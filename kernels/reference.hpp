// Host reference for the expert FFN and the tolerance used to compare backends against it.
// The reference accumulates in double and keeps the intermediate h = silu(W1 x) ⊙ W3 x unrounded;
// backends differ from it by bf16 output rounding (all), bf16 rounding of h (GPU) and fp32
// accumulation. docs/kernels.md explains the numbers.
#pragma once

#include <cstdint>

#include "bf16.hpp"
#include "expert_ffn.hpp"

namespace epbench::kernels {

// swiglu_reference on weights already converted to double (the layout of expert_ffn.hpp), with
// its intermediates kept, for error analysis (the suite's verification bounds rounding from
// them): g = [W1 x | W3 x] ([n][2F]), h = silu(W1 x) ⊙ W3 x ([n][F]) and y = W2 h ([n][H]).
// Caller-provided buffers of those sizes.
void swiglu_reference_terms(const double* weights, FfnShape shape, const float* x,
                            int num_tokens, double* g, double* h, double* y);

// Largest accepted per-token relative error  ||y - y_ref||_2 / ||y_ref||_2  of a bf16 backend.
inline constexpr double kBf16OutputRelTol = 2e-2;

// ||y - y_ref||_2 / ||y_ref||_2 for one token of `hidden` values (absolute error if y_ref is 0).
double token_relative_error(const bf16_t* y, const float* y_ref, int hidden);

// Number of tokens among `num_tokens` rows whose token_relative_error exceeds `rel_tol`
// (a NaN anywhere in a row counts as wrong). This is the `#wrong` of a benchmark result.
int64_t count_wrong_tokens(const bf16_t* y, const float* y_ref, int64_t num_tokens, int hidden,
                           double rel_tol = kBf16OutputRelTol);

}  // namespace epbench::kernels
