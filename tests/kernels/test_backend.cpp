// Backend factory and runtime information.
#include <gtest/gtest.h>

#include <algorithm>

#include "backend.hpp"

namespace ek = epbench::kernels;

TEST(Backend, UnknownBackendNamesTheKnownOnes) {
  try {
    ek::make_grouped_ffn("tpu", {8, 8}, 1, 1);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("tpu"), std::string::npos) << msg;
    for (const auto& b : ek::available_backends())
      EXPECT_NE(msg.find(b), std::string::npos) << msg;
  }
}

TEST(Backend, RejectsNonPositiveSizes) {
  for (const auto& b : ek::available_backends()) {
    EXPECT_THROW(ek::make_grouped_ffn(b, {0, 8}, 1, 1), std::invalid_argument);
    EXPECT_THROW(ek::make_grouped_ffn(b, {8, 0}, 1, 1), std::invalid_argument);
    EXPECT_THROW(ek::make_grouped_ffn(b, {8, 8}, 0, 1), std::invalid_argument);
    EXPECT_THROW(ek::make_grouped_ffn(b, {8, 8}, 1, 0), std::invalid_argument);
  }
}

#ifdef EPBENCH_HAVE_KOKKOS
TEST(Backend, KokkosIsAvailableAndDescribesItself) {
  const auto names = ek::available_backends();
  EXPECT_NE(std::find(names.begin(), names.end(), "kokkos"), names.end());
  EXPECT_EQ(ek::kokkos_version_string().substr(0, 1).find_first_of("0123456789"), 0u)
      << ek::kokkos_version_string();
  EXPECT_FALSE(ek::kokkos_execution_space_name().empty());
  // A second scope inside the test main's scope leaves Kokkos initialized.
  { ek::RuntimeScope nested; }
  EXPECT_NO_THROW(ek::make_grouped_ffn("kokkos", {8, 8}, 1, 1));
}
#else
TEST(Backend, KokkosNotBuiltIsReported) {
  EXPECT_THROW(ek::make_grouped_ffn("kokkos", {8, 8}, 1, 1), std::invalid_argument);
  EXPECT_EQ(ek::kokkos_version_string(), "");
}
#endif
