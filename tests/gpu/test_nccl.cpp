// NCCL wrapper on one rank: version strings (no GPU needed), a self all-to-allv, argument checks
// and the bounded wait. Multi-rank exchange is covered by the MPI suite tests.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "comm/nccl/nccl_comm.hpp"
#include "gpu_test_util.hpp"

namespace epbench::gpu_test {
namespace {

TEST(Nccl, VersionStrings) {
  const std::string version = comm::nccl_version_string();
  EXPECT_EQ(std::count(version.begin(), version.end(), '.'), 2) << version;
  EXPECT_EQ(version.substr(0, 2), comm::nccl_header_version_string().substr(0, 2));
}

class NcclGpu : public GpuTest {};

TEST_F(NcclGpu, SingleRankAllToAllvCopiesSelfPart) {
  const auto id = comm::nccl_unique_id();
  comm::NcclComm nccl(id, 1, 0, 0, std::chrono::seconds(60));
  EXPECT_EQ(nccl.size(), 1);
  std::vector<uint8_t> send(1000);
  std::iota(send.begin(), send.end(), 0);
  auto send_dev = upload(send);
  kc::DeviceBuffer recv_dev(2000);
  recv_dev.zero();
  kc::CudaStream stream;
  const std::vector<size_t> count{600}, send_offset{100}, recv_offset{1200};
  nccl.all_to_allv(send_dev.data(), count, send_offset, recv_dev.data(), count, recv_offset,
                   stream.get());
  nccl.wait(stream.get());
  const auto recv = download<uint8_t>(recv_dev, 2000);
  for (size_t i = 0; i < 600; ++i) ASSERT_EQ(recv[1200 + i], send[100 + i]) << i;
  EXPECT_EQ(recv[1199], 0);
  EXPECT_EQ(recv[1800], 0);

  const std::vector<size_t> other{500};
  EXPECT_THROW(nccl.all_to_allv(send_dev.data(), count, send_offset, recv_dev.data(), other,
                                recv_offset, stream.get()),
               std::invalid_argument);
  const std::vector<size_t> two{1, 1};
  EXPECT_THROW(nccl.all_to_allv(send_dev.data(), two, two, recv_dev.data(), two, two, stream.get()),
               std::invalid_argument);
  nccl.abort();
  EXPECT_TRUE(nccl.aborted());
  EXPECT_THROW(nccl.wait(stream.get()), std::runtime_error);
}

// A peer that never joins: the blocking init is bounded by the watchdog, which ends the process
// with one clear line (there is no communicator to abort yet).
TEST_F(NcclGpu, InitWithoutPeerEndsAfterTheTimeout) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // re-executes: no fork of a CUDA process
  EXPECT_EXIT(
      {
        const auto id = comm::nccl_unique_id();
        comm::NcclComm nccl(id, 2, 0, 0, std::chrono::seconds(3));
      },
      ::testing::ExitedWithCode(1), "ncclCommInitRankConfig did not finish within 3000 ms");
}

TEST(NcclArgs, RejectsBadRankAndIdBeforeTouchingNccl) {  // host-only checks
  const std::vector<std::byte> short_id(16);
  EXPECT_THROW(comm::NcclComm(short_id, 2, 0, 0), std::invalid_argument);
  const std::vector<std::byte> id(comm::kNcclUniqueIdBytes);
  EXPECT_THROW(comm::NcclComm(id, 2, 2, 0), std::invalid_argument);
}

}  // namespace
}  // namespace epbench::gpu_test
