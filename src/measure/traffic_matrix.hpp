// Dispatch traffic as R x R byte matrices (row = sending rank, column = receiving rank, self
// included, bytes), one per measured sample: the bottleneck-bandwidth formula over them, and
// their export in the matrix-file format nccl-tests' alltoallv_perf reads
// (NCCL_TESTS_ALLTOALLV_MATRIX_FILE), so the measured traffic can be replayed there. Pure
// functions except gather_byte_matrices (collective); formulas in docs/suite.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace epbench {

// Row-major num_ranks x num_ranks bytes; entry [src * num_ranks + dst].
using ByteMatrix = std::vector<int64_t>;

// bytes[i] = rows[i] * row_bytes. rows: the same layout (rows each rank sent to each rank).
ByteMatrix byte_matrix_from_rows(std::span<const int64_t> rows_src_dst, int num_ranks,
                                 int64_t row_bytes);

// Collective. Each rank passes its per-sample rows to every destination (send_rows[sample][dst],
// as RunSamples::send_rows); rank 0 gets one byte matrix per sample, the others an empty vector.
// Every rank must hold the same number of samples.
std::vector<ByteMatrix> gather_byte_matrices(const std::vector<std::vector<int64_t>>& send_rows,
                                             int num_ranks, int64_t row_bytes);

// Off-rank bytes (diagonal excluded) sent by and received by each rank.
struct RankTraffic {
  std::vector<int64_t> sent_bytes, received_bytes;  // [num_ranks]
};
RankTraffic off_rank_traffic(std::span<const int64_t> bytes, int num_ranks);

// The bottleneck rank's bytes: max over ranks of max(off-rank bytes sent, off-rank bytes
// received). A skewed dispatch lands on the receiver, which this sees and bytes-sent does not.
int64_t bottleneck_bytes(std::span<const int64_t> bytes, int num_ranks);
// Bottleneck bandwidth of one sample in bytes/s: bottleneck_bytes / dispatch_span_s, where the
// span is the dispatch phase's max(end) - min(start) over ranks. 0 when nothing left any rank;
// std::invalid_argument on a span <= 0 with bytes to move.
double bottleneck_bandwidth_bytes_per_s(std::span<const int64_t> bytes, int num_ranks,
                                        double dispatch_span_s);

// Which matrix of a run to export.
enum class MatrixChoice {
  kMedianSample,  // the measured sample whose bottleneck_bytes is the median (lower median;
                  // earliest on ties): traffic that really happened, rows and columns consistent
  kMean,          // element-wise mean over samples, rounded to the nearest byte
};
MatrixChoice parse_matrix_choice(const std::string& name);  // "median" | "mean"; InputError else
ByteMatrix choose_byte_matrix(std::span<const ByteMatrix> samples, int num_ranks,
                              MatrixChoice choice);

// The matrix as nccl-tests' alltoallv_perf reads it: num_ranks lines of num_ranks
// space-separated non-negative integers (bytes; cell [i][j] = bytes rank i sends to rank j).
std::string nccl_tests_alltoallv_matrix_text(std::span<const int64_t> bytes, int num_ranks);
// The -b / -e value (bytes) alltoallv_perf needs for that matrix: max over ranks of the total
// bytes it sends or receives, self included, after nccl-tests rounds each cell down to 16 bytes.
int64_t nccl_tests_alltoallv_buffer_bytes(std::span<const int64_t> bytes, int num_ranks);
// Writes the text above to `path` (never overwrites an existing file: InputError).
void write_nccl_tests_alltoallv_matrix(const std::filesystem::path& path,
                                       std::span<const int64_t> bytes, int num_ranks);

}  // namespace epbench
