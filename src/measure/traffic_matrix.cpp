// Byte matrices, bottleneck bandwidth and the nccl-tests alltoallv matrix file; see
// traffic_matrix.hpp.
#include "measure/traffic_matrix.hpp"

#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "comm/mpi_comm.hpp"
#include "common/error.hpp"
#include "common/files.hpp"

namespace epbench {
namespace {

void check_square(std::span<const int64_t> bytes, int num_ranks) {
  if (num_ranks <= 0 || bytes.size() != size_t(num_ranks) * size_t(num_ranks))
    throw std::invalid_argument("byte matrix of " + std::to_string(bytes.size()) +
                                " entries is not " + std::to_string(num_ranks) + " x " +
                                std::to_string(num_ranks));
}

}  // namespace

ByteMatrix byte_matrix_from_rows(std::span<const int64_t> rows_src_dst, int num_ranks,
                                 int64_t row_bytes) {
  check_square(rows_src_dst, num_ranks);
  ByteMatrix bytes(rows_src_dst.size());
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = rows_src_dst[i] * row_bytes;
  return bytes;
}

std::vector<ByteMatrix> gather_byte_matrices(const std::vector<std::vector<int64_t>>& send_rows,
                                             int num_ranks, int64_t row_bytes) {
  int rank = 0;
  CHECK_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
  const size_t R = size_t(num_ranks), n = send_rows.size();
  std::vector<int64_t> mine;
  mine.reserve(n * R);
  for (const auto& row : send_rows) {
    if (row.size() != R)
      throw std::invalid_argument("gather_byte_matrices: a sample has " +
                                  std::to_string(row.size()) + " destinations, expected " +
                                  std::to_string(R));
    mine.insert(mine.end(), row.begin(), row.end());
  }
  std::vector<int64_t> all(rank == 0 ? n * R * R : 0);  // [src][sample][dst]
  CHECK_MPI(MPI_Gather(mine.data(), int(mine.size()), MPI_INT64_T, all.data(), int(mine.size()),
                       MPI_INT64_T, 0, MPI_COMM_WORLD));
  std::vector<ByteMatrix> matrices;
  if (rank != 0) return matrices;
  matrices.assign(n, ByteMatrix(R * R));
  for (size_t src = 0; src < R; ++src)
    for (size_t s = 0; s < n; ++s)
      for (size_t dst = 0; dst < R; ++dst)
        matrices[s][src * R + dst] = all[(src * n + s) * R + dst] * row_bytes;
  return matrices;
}

RankTraffic off_rank_traffic(std::span<const int64_t> bytes, int num_ranks) {
  check_square(bytes, num_ranks);
  RankTraffic t{std::vector<int64_t>(num_ranks, 0), std::vector<int64_t>(num_ranks, 0)};
  for (int src = 0; src < num_ranks; ++src)
    for (int dst = 0; dst < num_ranks; ++dst) {
      if (src == dst) continue;
      const int64_t b = bytes[size_t(src) * num_ranks + dst];
      t.sent_bytes[src] += b;
      t.received_bytes[dst] += b;
    }
  return t;
}

int64_t bottleneck_bytes(std::span<const int64_t> bytes, int num_ranks) {
  const RankTraffic t = off_rank_traffic(bytes, num_ranks);
  int64_t worst = 0;
  for (int r = 0; r < num_ranks; ++r)
    worst = std::max({worst, t.sent_bytes[r], t.received_bytes[r]});
  return worst;
}

double bottleneck_bandwidth_bytes_per_s(std::span<const int64_t> bytes, int num_ranks,
                                        double dispatch_span_s) {
  const int64_t worst = bottleneck_bytes(bytes, num_ranks);
  if (worst == 0) return 0.0;
  if (!(dispatch_span_s > 0.0) || !std::isfinite(dispatch_span_s))
    throw std::invalid_argument("bottleneck bandwidth: dispatch span " +
                                std::to_string(dispatch_span_s) + " s must be positive");
  return double(worst) / dispatch_span_s;
}

MatrixChoice parse_matrix_choice(const std::string& name) {
  if (name == "median") return MatrixChoice::kMedianSample;
  if (name == "mean") return MatrixChoice::kMean;
  throw InputError("unknown traffic matrix choice \"" + name + "\" (known: median, mean)");
}

ByteMatrix choose_byte_matrix(std::span<const ByteMatrix> samples, int num_ranks,
                              MatrixChoice choice) {
  if (samples.empty()) throw std::invalid_argument("choose_byte_matrix: no samples");
  for (const ByteMatrix& m : samples) check_square(m, num_ranks);
  if (choice == MatrixChoice::kMedianSample) {
    std::vector<size_t> order(samples.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::vector<int64_t> key(samples.size());
    for (size_t i = 0; i < samples.size(); ++i) key[i] = bottleneck_bytes(samples[i], num_ranks);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return key[a] < key[b]; });
    return samples[order[(order.size() - 1) / 2]];
  }
  ByteMatrix mean(samples.front().size());
  for (size_t i = 0; i < mean.size(); ++i) {
    long double sum = 0;
    for (const ByteMatrix& m : samples) sum += m[i];
    mean[i] = std::llround(sum / samples.size());
  }
  return mean;
}

std::string nccl_tests_alltoallv_matrix_text(std::span<const int64_t> bytes, int num_ranks) {
  check_square(bytes, num_ranks);
  std::string text;
  for (int src = 0; src < num_ranks; ++src) {
    for (int dst = 0; dst < num_ranks; ++dst) {
      const int64_t b = bytes[size_t(src) * num_ranks + dst];
      if (b < 0) throw std::invalid_argument("byte matrix entry is negative");
      if (dst > 0) text += ' ';
      text += std::to_string(b);
    }
    text += '\n';
  }
  return text;
}

int64_t nccl_tests_alltoallv_buffer_bytes(std::span<const int64_t> bytes, int num_ranks) {
  check_square(bytes, num_ranks);
  std::vector<int64_t> sent(num_ranks, 0), received(num_ranks, 0);
  for (int src = 0; src < num_ranks; ++src)
    for (int dst = 0; dst < num_ranks; ++dst) {
      const int64_t b = bytes[size_t(src) * num_ranks + dst] & ~int64_t{15};
      sent[src] += b;
      received[dst] += b;
    }
  return std::max(*std::max_element(sent.begin(), sent.end()),
                  *std::max_element(received.begin(), received.end()));
}

void write_nccl_tests_alltoallv_matrix(const std::filesystem::path& path,
                                       std::span<const int64_t> bytes, int num_ranks) {
  write_file_atomic(path, nccl_tests_alltoallv_matrix_text(bytes, num_ranks), /*overwrite=*/false);
}

}  // namespace epbench
