// Dense SwiGLU reference in double (OpenBLAS dgemm) and the helpers that compare a backend's
// bf16 output with it.
#include "reference.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "expert_ffn.hpp"

namespace epbench::kernels {

void swiglu_reference_terms(const double* weights, FfnShape shape, const float* x,
                            int num_tokens, double* g, double* h, double* y) {
  if (shape.hidden <= 0 || shape.ffn <= 0)
    throw std::invalid_argument("swiglu_reference: shape must be positive");
  if (num_tokens < 0) throw std::invalid_argument("swiglu_reference: negative num_tokens");
  if (num_tokens == 0) return;
  const int H = shape.hidden, F = shape.ffn, n = num_tokens;
  const size_t hf = static_cast<size_t>(H) * F;
  const double* w13 = weights;           // [2F][H]: w1 rows then w3 rows
  const double* w2 = weights + 2 * hf;   // [H][F]
  // Tokens in double: the products below then accumulate in double.
  std::vector<double> xd(x, x + static_cast<size_t>(n) * H);

  // g[t][0:F] = W1 x_t, g[t][F:2F] = W3 x_t
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, 2 * F, H, 1.0, xd.data(), H, w13, H,
              0.0, g, 2 * F);
  for (int t = 0; t < n; ++t) {
    for (int f = 0; f < F; ++f) {
      const double a = g[static_cast<size_t>(t) * 2 * F + f];
      const double b = g[static_cast<size_t>(t) * 2 * F + F + f];
      h[static_cast<size_t>(t) * F + f] = a / (1.0 + std::exp(-a)) * b;
    }
  }
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, H, F, 1.0, h, F, w2, F, 0.0, y, H);
}

void swiglu_reference(const bf16_t* weights, FfnShape shape, const float* x, int num_tokens,
                      float* y) {
  if (shape.hidden <= 0 || shape.ffn <= 0)
    throw std::invalid_argument("swiglu_reference: shape must be positive");
  const size_t n = static_cast<size_t>(std::max(num_tokens, 0));
  std::vector<double> w(shape.weight_elems()), g(n * 2 * shape.ffn), h(n * shape.ffn),
      yd(n * shape.hidden);
  for (size_t i = 0; i < w.size(); ++i) w[i] = bf16_to_float(weights[i]);
  swiglu_reference_terms(w.data(), shape, x, num_tokens, g.data(), h.data(), yd.data());
  for (size_t i = 0; i < yd.size(); ++i) y[i] = static_cast<float>(yd[i]);
}

double token_relative_error(const bf16_t* y, const float* y_ref, int hidden) {
  double diff2 = 0.0, ref2 = 0.0;
  for (int i = 0; i < hidden; ++i) {
    const double d = static_cast<double>(bf16_to_float(y[i])) - y_ref[i];
    diff2 += d * d;
    ref2 += static_cast<double>(y_ref[i]) * y_ref[i];
  }
  return ref2 > 0.0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
}

int64_t count_wrong_tokens(const bf16_t* y, const float* y_ref, int64_t num_tokens, int hidden,
                           double rel_tol) {
  int64_t wrong = 0;
  for (int64_t t = 0; t < num_tokens; ++t) {
    const double err = token_relative_error(y + t * hidden, y_ref + t * hidden, hidden);
    if (!(err <= rel_tol)) ++wrong;  // NaN counts as wrong
  }
  return wrong;
}

}  // namespace epbench::kernels
