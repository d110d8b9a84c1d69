// Byte matrices of the dispatch: bottleneck bytes and bandwidth on a hand-made matrix (skew on
// the receiver), the median/mean sample choice, and the nccl-tests alltoallv matrix file read
// back the way alltoallv_perf reads it (whitespace-separated, square, row = sender).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.hpp"
#include "measure/traffic_matrix.hpp"

namespace {

using epbench::ByteMatrix;

// rows[src][dst]: rank 2 receives 70 off-rank rows but sends 3; rank 0 sends the most (50).
const std::vector<int64_t> kRows = {10, 20, 30,  //
                                    0,  5,  40,  //
                                    1,  2,  3};
constexpr int64_t kRowBytes = 128;

TEST(TrafficMatrix, BytesFromRows) {
  const ByteMatrix b = epbench::byte_matrix_from_rows(kRows, 3, kRowBytes);
  ASSERT_EQ(b.size(), 9u);
  EXPECT_EQ(b[0 * 3 + 2], 30 * kRowBytes);
  EXPECT_EQ(b[2 * 3 + 0], 1 * kRowBytes);
  EXPECT_THROW(epbench::byte_matrix_from_rows(kRows, 2, kRowBytes), std::invalid_argument);
}

TEST(TrafficMatrix, BottleneckSeesTheReceiver) {
  const ByteMatrix b = epbench::byte_matrix_from_rows(kRows, 3, kRowBytes);
  const epbench::RankTraffic t = epbench::off_rank_traffic(b, 3);
  EXPECT_EQ(t.sent_bytes, (std::vector<int64_t>{50 * kRowBytes, 40 * kRowBytes, 3 * kRowBytes}));
  EXPECT_EQ(t.received_bytes,
            (std::vector<int64_t>{1 * kRowBytes, 22 * kRowBytes, 70 * kRowBytes}));
  // max over ranks of max(sent, received), the diagonal (self rows) excluded.
  EXPECT_EQ(epbench::bottleneck_bytes(b, 3), 70 * kRowBytes);
  EXPECT_DOUBLE_EQ(epbench::bottleneck_bandwidth_bytes_per_s(b, 3, 2e-3), 70 * kRowBytes / 2e-3);
  EXPECT_THROW(epbench::bottleneck_bandwidth_bytes_per_s(b, 3, 0.0), std::invalid_argument);
  // Only self traffic: nothing crosses, bandwidth 0 whatever the span.
  const ByteMatrix self_only = {5, 0, 0, 7};
  EXPECT_EQ(epbench::bottleneck_bytes(self_only, 2), 0);
  EXPECT_EQ(epbench::bottleneck_bandwidth_bytes_per_s(self_only, 2, 0.0), 0.0);
}

TEST(TrafficMatrix, MedianSampleAndMean) {
  // Bottleneck bytes 300, 100, 200, 200 (off-rank entries only).
  const std::vector<ByteMatrix> samples = {
      {0, 300, 0, 0}, {9, 100, 50, 9}, {1, 200, 0, 1}, {0, 0, 200, 0}};
  // Lower median of {100, 200, 200, 300} = 200, earliest such sample = index 2.
  EXPECT_EQ(epbench::choose_byte_matrix(samples, 2, epbench::MatrixChoice::kMedianSample),
            samples[2]);
  EXPECT_EQ(epbench::choose_byte_matrix(std::span(samples).first(3), 2,
                                        epbench::MatrixChoice::kMedianSample),
            samples[2]);
  // Element-wise mean, rounded to the nearest byte: (0+9+1+0)/4 = 2.5 -> 3.
  EXPECT_EQ(epbench::choose_byte_matrix(samples, 2, epbench::MatrixChoice::kMean),
            (ByteMatrix{3, 150, 63, 3}));
  EXPECT_EQ(epbench::parse_matrix_choice("median"), epbench::MatrixChoice::kMedianSample);
  EXPECT_EQ(epbench::parse_matrix_choice("mean"), epbench::MatrixChoice::kMean);
  EXPECT_THROW(epbench::parse_matrix_choice("p99"), epbench::InputError);
}

// Reads a matrix file as alltoallv_perf does: whitespace-separated numbers, rows by line,
// square; returns cell [i][j] = bytes rank i sends to rank j.
std::vector<std::vector<double>> read_like_nccl_tests(const std::string& text) {
  std::vector<std::vector<double>> rows;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream cells(line);
    std::vector<double> row;
    for (double v; cells >> v;) row.push_back(v);
    if (!row.empty()) rows.push_back(row);
  }
  for (const auto& r : rows) EXPECT_EQ(r.size(), rows.size()) << "not square";
  return rows;
}

TEST(TrafficMatrix, NcclTestsMatrixFile) {
  const ByteMatrix b = epbench::byte_matrix_from_rows(kRows, 3, kRowBytes);
  const std::string text = epbench::nccl_tests_alltoallv_matrix_text(b, 3);
  EXPECT_EQ(text, "1280 2560 3840\n0 640 5120\n128 256 384\n");
  const auto cells = read_like_nccl_tests(text);
  ASSERT_EQ(cells.size(), 3u);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(cells[i][j], double(kRows[i * 3 + j] * kRowBytes));
  // -b/-e: the largest total a rank sends or receives, self included (rank 2 receives 73 rows).
  EXPECT_EQ(epbench::nccl_tests_alltoallv_buffer_bytes(b, 3), 73 * kRowBytes);
  // nccl-tests rounds every cell down to 16 bytes before sizing its buffers.
  EXPECT_EQ(epbench::nccl_tests_alltoallv_buffer_bytes(ByteMatrix{17, 100, 5, 33}, 2), 128);

  const auto dir = std::filesystem::temp_directory_path() /
                   ("epbench_traffic_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const auto path = dir / "dispatch.matrix";
  epbench::write_nccl_tests_alltoallv_matrix(path, b, 3);
  std::ifstream in(path);
  std::stringstream written;
  written << in.rdbuf();
  EXPECT_EQ(written.str(), text);
  EXPECT_THROW(epbench::write_nccl_tests_alltoallv_matrix(path, b, 3), epbench::InputError)
      << "an existing file is never overwritten";
  std::filesystem::remove_all(dir);
}

}  // namespace
