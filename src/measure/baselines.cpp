// In-run baselines; see baselines.hpp.
#include "measure/baselines.hpp"

#include <cblas.h>

#include <algorithm>
#include <random>

#include "metrics/stats.hpp"

namespace epbench {

namespace {

// Evicts this core's caches (writes a buffer larger than the last-level cache share), so each
// baseline sample starts as cold as a dispatch that follows the FFN phase does.
void flush_caches() {
  static std::vector<char> buffer(64u << 20);
  static char value = 0;
  std::fill(buffer.begin(), buffer.end(), ++value);
}

}  // namespace

double raw_alltoallv_median_us(const std::vector<std::vector<int64_t>>& send_rows, int hidden) {
  int R = 1;
  CHECK_MPI(MPI_Comm_size(MPI_COMM_WORLD, &R));
  MPI_Datatype row;
  CHECK_MPI(MPI_Type_contiguous(hidden * 2, MPI_BYTE, &row));
  CHECK_MPI(MPI_Type_commit(&row));
  std::vector<double> samples;
  std::vector<int> sc(R), sd(R), rc(R), rd(R);
  std::vector<uint16_t> sbuf, rbuf;
  for (const auto& rows : send_rows) {
    for (int r = 0; r < R; ++r) sc[r] = static_cast<int>(rows[r]);
    CHECK_MPI(MPI_Alltoall(sc.data(), 1, MPI_INT, rc.data(), 1, MPI_INT, MPI_COMM_WORLD));
    int stotal = 0, rtotal = 0;
    for (int r = 0; r < R; ++r) {
      sd[r] = stotal;
      rd[r] = rtotal;
      stotal += sc[r];
      rtotal += rc[r];
    }
    sbuf.assign(size_t(stotal) * hidden, 0x3f80);  // bf16 1.0: the content does not matter
    rbuf.resize(size_t(rtotal) * hidden);
    flush_caches();
    CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
    const double t0 = MPI_Wtime();
    CHECK_MPI(MPI_Alltoallv(sbuf.data(), sc.data(), sd.data(), row, rbuf.data(), rc.data(),
                            rd.data(), row, MPI_COMM_WORLD));
    double dt = MPI_Wtime() - t0, max_dt = 0;
    CHECK_MPI(MPI_Allreduce(&dt, &max_dt, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
    samples.push_back(max_dt * 1e6);
  }
  MPI_Type_free(&row);
  return percentile(samples, 50.0);
}

double sgemm_gflops(int64_t m, int hidden, int ffn, int reps) {
  if (m <= 0) return 0.0;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  auto filled = [&](size_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = dist(rng);
    return v;
  };
  const int M = static_cast<int>(m), H = hidden, F = ffn;
  std::vector<float> x = filled(size_t(M) * H), w1 = filled(size_t(F) * H),
                     w3 = filled(size_t(F) * H), w2 = filled(size_t(H) * F);
  std::vector<float> g1(size_t(M) * F), g3(size_t(M) * F), y(size_t(M) * H);
  std::vector<double> seconds;
  for (int rep = 0; rep < reps; ++rep) {
    const double t0 = MPI_Wtime();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, F, H, 1.0f, x.data(), H, w1.data(), H,
                0.0f, g1.data(), F);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, F, H, 1.0f, x.data(), H, w3.data(), H,
                0.0f, g3.data(), F);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, H, F, 1.0f, g1.data(), F, w2.data(), F,
                0.0f, y.data(), H);
    seconds.push_back(MPI_Wtime() - t0);
  }
  const double med = percentile(seconds, 50.0);
  return med > 0 ? 6.0 * M * H * F / med / 1e9 : 0.0;
}

}  // namespace epbench
