// Rounding model and per-token error bound; see rounding_bound.hpp and docs/suite.md.
#include "measure/rounding_bound.hpp"

#include <algorithm>
#include <cmath>

#include <cblas.h>

namespace epbench {
namespace {

constexpr double kFp32Unit = 0x1p-24;  // unit roundoff of fp32

// gamma_n = n u / (1 - n u): the relative worst case of an fp32 sum of n terms.
double gamma_fp32(int n) { return n * kFp32Unit / (1.0 - n * kFp32Unit); }

}  // namespace

RoundingModel RoundingModel::for_path(const std::string& backend, const std::string& comm,
                                      const std::string& dispatch) {
  RoundingModel m;
  m.bf16_ffn_intermediates = backend == "cuda";
  m.bf16_partial_sums = dispatch == "node-dedup";
  m.bf16_combined_output = comm == "nccl";
  return m;
}

std::string RoundingModel::describe() const {
  std::string s = bf16_ffn_intermediates ? "bf16 FFN intermediates, " : "";
  s += "bf16 expert outputs, ";
  if (bf16_partial_sums) s += "bf16 per-node partial sums, ";
  s += "fp32 combine";
  if (bf16_combined_output) s += ", bf16 combined output";
  return s;
}

double bf16_half_ulp(double v) {
  int e = 0;
  std::frexp(std::fabs(v) * (1.0 + 0x1p-6), &e);  // |v| < 2^e
  return std::max(std::ldexp(1.0, e - 9), 0x1p-134);  // bf16: 8 significant bits
}

ExpertNorms ExpertNorms::of(const kernels::bf16_t* weights, kernels::FfnShape shape) {
  const int H = shape.hidden, F = shape.ffn;
  const kernels::bf16_t* w13 = weights;                     // [2F][H]
  const kernels::bf16_t* w2b = weights + size_t(2) * F * H;  // [H][F]
  ExpertNorms n;
  n.w13_row_norm.assign(size_t(2) * F, 0.0);
  n.w2_col_norm2.assign(F, 0.0);
  for (int r = 0; r < 2 * F; ++r) {
    double s = 0;
    for (int c = 0; c < H; ++c) {
      const double v = kernels::bf16_to_float(w13[size_t(r) * H + c]);
      s += v * v;
    }
    n.w13_row_norm[r] = std::sqrt(s);
  }
  std::vector<float> w2(size_t(H) * F);
  double frob2 = 0;
  for (int r = 0; r < H; ++r) {
    double row2 = 0;
    for (int f = 0; f < F; ++f) {
      const float v = kernels::bf16_to_float(w2b[size_t(r) * F + f]);
      w2[size_t(r) * F + f] = v;
      n.w2_col_norm2[f] += double(v) * v;
      row2 += double(v) * v;
    }
    frob2 += row2;
    n.w2_max_row_norm2 = std::max(n.w2_max_row_norm2, row2);
  }
  n.w2_frobenius = std::sqrt(frob2);
  // Power iteration on W2^T W2 from a fixed start; it approaches ||W2||_2 from below, so the
  // estimate gets a 10 % margin (and never exceeds the Frobenius norm, an upper bound).
  std::vector<float> v(F), u(H);
  for (int f = 0; f < F; ++f) v[f] = 1.0f + 0.01f * float(f % 7);
  double sigma = 0;
  for (int it = 0; it < 12; ++it) {
    const float vn = cblas_snrm2(F, v.data(), 1);
    if (!(vn > 0)) break;
    cblas_sscal(F, 1.0f / vn, v.data(), 1);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, H, F, 1.0f, w2.data(), F, v.data(), 1, 0.0f,
                u.data(), 1);
    sigma = cblas_snrm2(H, u.data(), 1);
    cblas_sgemv(CblasRowMajor, CblasTrans, H, F, 1.0f, w2.data(), F, u.data(), 1, 0.0f,
                v.data(), 1);
  }
  n.w2_spectral = std::min(1.1 * sigma, n.w2_frobenius);
  return n;
}

TokenErrorBound::TokenErrorBound(const RoundingModel& model, kernels::FfnShape shape)
    : model_(model), shape_(shape) {
  reset();
}

void TokenErrorBound::reset() {
  const size_t H = size_t(shape_.hidden);
  ref_.assign(H, 0.0);
  magnitude_.assign(H, 0.0);
  var_.assign(H, 0.0);
  worst_.assign(H, 0.0);
  experts_ = 0;
  contrib2_ = spread_trace_ = spread_op_ = bf16_trace_ = 0.0;
}

void TokenErrorBound::add_expert(double weight, const float* x, const double* g,
                                 const double* h, const double* y, const ExpertNorms& norms) {
  const int H = shape_.hidden, F = shape_.ffn;
  const double aw = std::fabs(weight), w2 = weight * weight;
  ++experts_;
  // The expert's output rounded to bf16 on its way back: one rounding per element.
  for (int i = 0; i < H; ++i) {
    const double a = weight * y[i];
    ref_[i] += a;
    magnitude_[i] += std::fabs(a);
    contrib2_ += a * a;
    const double r = aw * bf16_half_ulp(y[i]);
    var_[i] += r * r / 3.0;  // uniform on [-r, r]
    worst_[i] += r;
  }
  // Errors inside the FFN, spread over y by W2 (e = A xi, proxies below are squared reaches):
  //   fp32 sums (probabilistic model: each addition rounds independently, |partial| <= sum of
  //   |terms|): a_f = (W1 x)_f has proxy u^2 (H+1) ||W1_f||^2 ||x||^2, likewise b_f; carried to
  //   h_f by d h/d a = silu'(a) b and d h/d b = silu(a); h_f's own two roundings: (2u h_f)^2;
  //   GPU: bf16 a_f, b_f and h_f: their squared half-ulps / 3, carried the same way;
  //   the W2 sum itself: per element of y, proxy u^2 (F+1) ||W2_row||^2 ||h||^2 (diagonal).
  double x2 = 0;
  for (int i = 0; i < H; ++i) x2 += double(x[i]) * x[i];
  const double pa2 = kFp32Unit * kFp32Unit * (H + 1) * x2;
  double h2 = 0, trace = 0, bf16_trace = 0;
  q_.resize(F);
  for (int f = 0; f < F; ++f) {
    const double a = g[f], b = g[F + f];
    const double sig = 1.0 / (1.0 + std::exp(-a));
    const double da = sig * (1.0 + a * (1.0 - sig)) * b, db = a * sig;  // dh/da, dh/db
    const double ra = norms.w13_row_norm[f], rb = norms.w13_row_norm[F + f];
    double q = da * da * pa2 * ra * ra + db * db * pa2 * rb * rb +
               4.0 * kFp32Unit * kFp32Unit * h[f] * h[f];
    if (model_.bf16_ffn_intermediates) {
      // A rounding uniform on [-r, r] is sub-Gaussian with proxy r^2 / 3, its variance.
      const double qa = da * bf16_half_ulp(a), qb = db * bf16_half_ulp(b);
      const double qh = bf16_half_ulp(h[f]);
      const double q_bf16 = (qa * qa + qb * qb + qh * qh) / 3.0;
      q += q_bf16;
      bf16_trace += norms.w2_col_norm2[f] * q_bf16;
    }
    q_[f] = {q, norms.w2_col_norm2[f]};
    trace += norms.w2_col_norm2[f] * q;
    h2 += h[f] * h[f];
  }
  const double p2 = kFp32Unit * kFp32Unit * (F + 1) * h2;  // the W2 sum, per ||W2_row||^2
  spread_trace_ += w2 * (trace + p2 * norms.w2_frobenius * norms.w2_frobenius);
  spread_op_ += w2 * (spread_operator_norm(norms.w2_spectral) + p2 * norms.w2_max_row_norm2);
  bf16_trace_ += w2 * bf16_trace;
}

double TokenErrorBound::spread_operator_norm(double w2_spectral) {
  // ||W2 diag(q) W2^T|| <= ||W2||^2 tau + sum_f ||W2_f||^2 (q_f - tau)+ for any tau (split q at
  // tau: the capped part by the spectral norm, the excess by its trace); the best tau is one of
  // the q_f, found in one pass over them in decreasing order.
  const double s2 = w2_spectral * w2_spectral;
  if (!model_.bf16_ffn_intermediates) {  // fp32 terms only: tiny, the plain bound will do
    double q_max = 0;
    for (const auto& q : q_) q_max = std::max(q_max, q.first);
    return s2 * q_max;
  }
  std::sort(q_.begin(), q_.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  double best = q_.empty() ? 0.0 : s2 * q_[0].first, cq = 0, c = 0;
  for (size_t j = 0; j < q_.size(); ++j) {
    best = std::min(best, s2 * q_[j].first + cq - q_[j].first * c);
    cq += q_[j].second * q_[j].first;
    c += q_[j].second;
  }
  return std::min(best, cq);  // tau = 0: the trace
}

TokenCheck TokenErrorBound::finish(const float* out) const {
  const int H = shape_.hidden;
  double err2 = 0, ref2 = 0, mag2 = 0, v = 0, d2 = 0, d4 = 0;
  for (int i = 0; i < H; ++i) {
    const double d = double(out[i]) - ref_[i];
    err2 += d * d;
    ref2 += ref_[i] * ref_[i];
    mag2 += magnitude_[i] * magnitude_[i];
    double var = var_[i], worst = worst_[i];
    if (model_.bf16_partial_sums) {
      // Partial sums over any split of the experts: sum_n |p_n| <= magnitude; each rounding is
      // at most 2^-8 |p_n| (guarded), variance taken at its largest.
      const double r = 0x1p-8 * (1.0 + 0x1p-6) * magnitude_[i];
      var += r * r / 3.0;
      worst += r;
    }
    if (model_.bf16_combined_output) {
      const double r = bf16_half_ulp(ref_[i]);
      var += r * r / 3.0;
      worst += r;
    }
    v += var;
    d2 += worst * worst;
    d4 += worst * worst * worst * worst;
  }
  const double x = kVerifyFalseAlarmLog;
  const double elementwise2 = std::min(v + std::sqrt(x / 2.0 * d4), d2);
  const double spread2 = spread_trace_ + 2.0 * std::sqrt(spread_trace_ * spread_op_ * x) +
                        2.0 * spread_op_ * x;
  // fp32 combine: a sum of `experts_` products per element.
  const double combine_slack = gamma_fp32(experts_ + 1) * std::sqrt(mag2);
  TokenCheck c;
  c.err = std::sqrt(err2);
  c.scale = std::max(std::sqrt(ref2), std::sqrt(contrib2_));
  c.expected = std::sqrt(v + bf16_trace_);  // fp32 terms are negligible in expectation
  c.bound = std::sqrt(elementwise2) + std::sqrt(spread2) + combine_slack + 1e-300;
  c.wrong = !(c.err <= c.bound);  // NaN counts as wrong
  return c;
}

}  // namespace epbench
