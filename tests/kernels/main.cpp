// GoogleTest main for the kernel tests: one RuntimeScope (Kokkos initialize/finalize) around
// all tests, since Kokkos may be initialized only once per process.
#include <gtest/gtest.h>

#include "backend.hpp"

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  epbench::kernels::RuntimeScope runtime(argc, argv);
  return RUN_ALL_TESTS();
}
