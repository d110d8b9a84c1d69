// How far a correct layer output may lie from the dense double-precision reference: a per-token
// bound built from the roundings the measured path really applies (RoundingModel), so the suite's
// verification is as tight as the arithmetic allows and robust where the reference output nearly
// cancels. The derivation is in docs/suite.md, "Verification"; in short, per token with expert
// contributions a_k = w_k y_k (reference y_k in double):
//   elementwise roundings (every expert output to bf16; per-node partial sums and the combined
//   output where the path rounds them): independent per element h, |e_h| <= D_h, E e_h^2 = v_h
//     ->  ||e||^2 <= min(sum v_h + sqrt(x/2 * sum D_h^4), sum D_h^2)        (Hoeffding, x below)
//   errors inside the FFN, spread over y by W2 (fp32 sums under the probabilistic model of
//   rounding; on the GPU also bf16 [W1x|W3x] and h): e = A xi with independent |xi_i| <= 1
//     ->  ||e||^2 <= tr + 2 sqrt(tr * op * x) + 2 op x                     (Hsu-Kakade-Zhang)
//   fp32 combine: worst case gamma_(k+1) per element (k is small), added as a slack.
// A token is wrong when ||out - ref|| exceeds the sum of the three (or is not finite).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "expert_ffn.hpp"

namespace epbench {

// ln(1 / false-alarm probability per token) of the statistical bounds: 1e-9.
inline constexpr double kVerifyFalseAlarmLog = 20.72;

struct RoundingModel {
  // Always: the token travels as bf16 (the reference takes the same rounded input, so that
  // costs nothing), each expert output returns as bf16, sums accumulate in fp32.
  bool bf16_ffn_intermediates = false;  // GPU FFN (cuBLAS): [W1x | W3x] and h stored as bf16
  bool bf16_partial_sums = false;       // node-dedup combine: per-node partial sums as bf16
  bool bf16_combined_output = false;    // NCCL engine: the combined output stored as bf16

  // backend: kokkos | cuda; comm: mpi | nccl; dispatch: flat | node-dedup.
  static RoundingModel for_path(const std::string& backend, const std::string& comm,
                                const std::string& dispatch);
  std::string describe() const;  // e.g. "bf16 expert outputs, fp32 combine"
};

// Numbers of one expert's weights that the bound needs, computed once per expert.
struct ExpertNorms {
  double w2_frobenius = 0;           // ||W2||_F
  std::vector<double> w13_row_norm;  // ||row f of [W1; W3]||_2, 2F values
  std::vector<double> w2_col_norm2;  // ||column f of W2||_2^2, F values
  double w2_max_row_norm2 = 0;       // max_h ||row h of W2||_2^2
  double w2_spectral = 0;            // ||W2||_2 (power iteration, x1.1)
  static ExpertNorms of(const kernels::bf16_t* weights, kernels::FfnShape shape);
};

struct TokenCheck {
  double err = 0;       // ||out - ref||_2
  double scale = 0;     // max(||ref||_2, sqrt(sum_k ||w_k y_k||^2)): relative errors divide by it
  double expected = 0;  // sqrt(E ||e||^2) under the model
  double bound = 0;     // largest accepted err
  bool wrong = false;   // err > bound, or not finite
};

// One token: add its experts' reference terms, then compare with the measured output.
class TokenErrorBound {
 public:
  TokenErrorBound(const RoundingModel& model, kernels::FfnShape shape);
  void reset();
  // x: the token as the path sends it ([H], bf16 values); g ([2F]), h ([F]), y ([H]): the
  // reference's terms for this expert (kernels::swiglu_reference_terms).
  void add_expert(double weight, const float* x, const double* g, const double* h,
                  const double* y, const ExpertNorms& norms);
  // The reference output so far (sum_k w_k y_k), [H].
  const std::vector<double>& reference() const { return ref_; }
  TokenCheck finish(const float* out) const;

 private:
  // Bound on ||W2 diag(q) W2^T|| from the (q_f, ||W2_f||^2) pairs in q_ (reordered).
  double spread_operator_norm(double w2_spectral);

  RoundingModel model_;
  kernels::FfnShape shape_;
  int experts_ = 0;
  std::vector<double> ref_, magnitude_, var_, worst_;  // per element
  double contrib2_ = 0;          // sum_k ||w_k y_k||^2
  // Errors spread over y by W2 (fp32 sums; GPU bf16 intermediates): trace and a bound on the
  // operator norm of their proxy covariance; bf16_trace_: the GPU roundings' share of the trace.
  double spread_trace_ = 0, spread_op_ = 0, bf16_trace_ = 0;
  std::vector<std::pair<double, double>> q_;  // scratch: per f, (q_f, ||W2_f||^2)
};

// Half a bf16 ulp at |v| (the largest rounding error of v), guarded one binade up near powers of
// two so a computed value just above one still has its rounding bounded.
double bf16_half_ulp(double v);

}  // namespace epbench
