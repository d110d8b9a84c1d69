// Device selection and availability: the parts that must work on machines without a GPU run
// everywhere; the rest skips.
#include <gtest/gtest.h>

#include <cstdlib>
#include <stdexcept>

#include "backend.hpp"
#include "gpu_test_util.hpp"

namespace epbench::gpu_test {
namespace {

// Sets an environment variable for the scope of one test and restores the previous state.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) {
      had_ = true;
      old_ = old;
    }
    if (value) setenv(name, value, 1); else unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_) setenv(name_, old_.c_str(), 1); else unsetenv(name_);
  }

 private:
  const char* name_;
  bool had_ = false;
  std::string old_;
};

TEST(CudaDevice, AvailabilityNeverThrows) {
  EXPECT_NO_THROW({
    const int count = kc::cuda_device_count();
    EXPECT_GE(count, 0);
    EXPECT_EQ(kc::cuda_device_available(), count > 0);
    EXPECT_EQ(kc::cuda_unavailable_reason().empty(), count > 0);
  });
  EXPECT_NE(kc::cuda_versions().find("cudart"), std::string::npos);
}

TEST(CudaDevice, LocalRankFromEnvironment) {
  ScopedEnv slurm("SLURM_LOCALID", nullptr), ompi("OMPI_COMM_WORLD_LOCAL_RANK", nullptr),
      mpich("MPI_LOCALRANKID", nullptr);
  EXPECT_EQ(kc::local_rank_from_environment(), 0);
  EXPECT_EQ(kc::local_rank_from_environment(5), 5);
  {
    ScopedEnv set("MPI_LOCALRANKID", "3");
    EXPECT_EQ(kc::local_rank_from_environment(), 3);
    ScopedEnv set2("OMPI_COMM_WORLD_LOCAL_RANK", "2");
    EXPECT_EQ(kc::local_rank_from_environment(), 2);
    ScopedEnv set3("SLURM_LOCALID", "1");
    EXPECT_EQ(kc::local_rank_from_environment(), 1);  // Slurm first
    EXPECT_EQ(kc::local_rank_from_environment(7), 7);  // explicit wins
  }
  ScopedEnv bad("SLURM_LOCALID", "x1");
  EXPECT_THROW(kc::local_rank_from_environment(), std::runtime_error);
}

TEST(CudaDevice, SelectWithoutDeviceThrowsCleanly) {
  if (kc::cuda_device_available()) GTEST_SKIP() << "a device is present";
  EXPECT_THROW(kc::select_device_for_local_rank(0), std::runtime_error);
}

class CudaDeviceGpu : public GpuTest {};

TEST_F(CudaDeviceGpu, SelectsLocalRankModuloCount) {
  const int count = kc::cuda_device_count();
  EXPECT_EQ(kc::select_device_for_local_rank(count + 1), (count + 1) % count);
  EXPECT_EQ(kc::current_device(), (count + 1) % count);
  EXPECT_FALSE(kc::device_description(0).empty());
  EXPECT_GT(kc::l2_cache_bytes(0), 0u);
  kc::set_device(0);
}

TEST_F(CudaDeviceGpu, ResolveDeviceMakesItCurrent) {
  const int count = kc::cuda_device_count();
  const int device = kernels::resolve_device("cuda", -1, 2 * count - 1);
  EXPECT_EQ(device, (2 * count - 1) % count);
  EXPECT_EQ(kc::current_device(), device);
  EXPECT_EQ(kc::device_uuid(device).size(), 32u);
  EXPECT_GT(kc::device_free_bytes(), 0u);
  kc::set_device(0);
}

TEST_F(CudaDeviceGpu, EventTimerAndL2Flush) {
  kc::CudaStream stream;
  kc::L2Flusher flusher(0);
  kc::EventTimer timer;
  timer.start(stream.get());
  flusher.flush(stream.get());
  timer.stop(stream.get());
  const double ms = timer.elapsed_ms();
  EXPECT_GT(ms, 0.0);
  EXPECT_LT(ms, 1000.0);
}

}  // namespace
}  // namespace epbench::gpu_test
