// The host layer engines (flat and node-dedup) run directly under mpirun -np 4 (emulated nodes
// of 1 and 2 ranks): both verify against the dense reference, and the bytes each engine reports
// per phase and link are checked against what really went through MPI_Alltoallv, counted by a
// PMPI interposer in this binary. With bf16 partial sums, node-dedup's combine sends exactly the
// bytes its dispatch sent across nodes (one row per (token, remote node) each way). Also the
// gather of per-rank dispatch rows into the run's byte matrices (measure/traffic_matrix.hpp).
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <numeric>

#include "backend.hpp"
#include "engines/layer_step.hpp"
#include "gating/hash_rng.hpp"
#include "gating/router.hpp"
#include "measure/traffic_matrix.hpp"
#include "measure/verify.hpp"
#include "placement/policy.hpp"
#include "suite/migration.hpp"

namespace {

// Off-rank bytes passed to MPI_Alltoallv by this rank since the last reset, by link.
struct AlltoallvBytes {
  std::vector<int> node_of_rank;
  int64_t intra = 0, inter = 0;
} g_sent;

}  // namespace

// PMPI interposer: the engines' static library resolves MPI_Alltoallv to this definition.
extern "C" int MPI_Alltoallv(const void* sendbuf, const int sendcounts[], const int sdispls[],
                             MPI_Datatype sendtype, void* recvbuf, const int recvcounts[],
                             const int rdispls[], MPI_Datatype recvtype, MPI_Comm comm) {
  int rank = 0, size = 0, type_bytes = 0;
  PMPI_Comm_rank(comm, &rank);
  PMPI_Comm_size(comm, &size);
  PMPI_Type_size(sendtype, &type_bytes);
  if (!g_sent.node_of_rank.empty())
    for (int r = 0; r < size; ++r) {
      if (r == rank) continue;
      const bool same_node = g_sent.node_of_rank[r] == g_sent.node_of_rank[rank];
      (same_node ? g_sent.intra : g_sent.inter) += int64_t(sendcounts[r]) * type_bytes;
    }
  return PMPI_Alltoallv(sendbuf, sendcounts, sdispls, sendtype, recvbuf, recvcounts, rdispls,
                        recvtype, comm);
}

namespace {

using epbench::LayerStepOutput;

constexpr int kHidden = 64, kFfn = 96, kExperts = 16, kTopK = 4, kTokens = 48, kLayers = 1;
constexpr uint64_t kSeed = 5;

int64_t sum_over_ranks(int64_t v) {
  int64_t total = 0;
  MPI_Allreduce(&v, &total, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
  return total;
}

epbench::comm::Topology emulated_topology(int ranks_per_node) {
  epbench::comm::Topology topo;
  MPI_Comm_rank(MPI_COMM_WORLD, &topo.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &topo.num_ranks);
  topo.ranks_per_node = ranks_per_node;
  topo.num_nodes = topo.num_ranks / ranks_per_node;
  topo.local_rank = topo.rank % ranks_per_node;
  topo.node_source = "emulated";
  for (int r = 0; r < topo.num_ranks; ++r) topo.node_of_rank.push_back(r / ranks_per_node);
  topo.rank_hosts.assign(topo.num_ranks, "localhost");
  return topo;
}

// Routing with several experts of a token on the same remote node (so gateways really sum):
// K distinct experts per token from a hash, weights summing to 1.
void make_routing(int rank, std::vector<int32_t>& ids, std::vector<float>& weights) {
  ids.assign(size_t(kTokens) * kTopK, -1);
  weights.assign(ids.size(), 0.0f);
  for (int t = 0; t < kTokens; ++t) {
    float sum = 0;
    for (int k = 0; k < kTopK; ++k) {
      int32_t e = 0;
      for (uint64_t i = 0;; ++i) {
        e = int32_t(epbench::gating::splitmix64(epbench::gating::hash_key({kSeed, uint64_t(rank), uint64_t(t),
                                                           uint64_t(k), i})) % kExperts);
        bool used = false;
        for (int j = 0; j < k; ++j) used |= ids[size_t(t) * kTopK + j] == e;
        if (!used) break;
      }
      ids[size_t(t) * kTopK + k] = e;
      weights[size_t(t) * kTopK + k] = float(k + 1);
      sum += float(k + 1);
    }
    for (int k = 0; k < kTopK; ++k) weights[size_t(t) * kTopK + k] /= sum;
  }
}

struct EngineRun {
  LayerStepOutput out;
  int64_t mpi_intra = 0, mpi_inter = 0;  // what MPI_Alltoallv really carried (this rank)
  epbench::VerifyCounts verify;
};

EngineRun run_engine(const std::string& dispatch, const epbench::comm::Topology& topo) {
  const epbench::kernels::FfnShape shape{kHidden, kFfn};
  epbench::EplbProblem problem{kLayers, kExperts, std::vector<double>(kExperts, 1.0), kExperts, 1,
                               topo.num_nodes, topo.num_ranks};
  const epbench::PolicyResult placement = epbench::find_policy("none").compute(problem);
  auto ffn = epbench::kernels::make_grouped_ffn("kokkos", shape, kLayers,
                                                kExperts / topo.num_ranks);
  epbench::load_experts(placement.placement, topo.rank, *ffn, kSeed);
  auto engine = epbench::make_layer_engine("mpi", dispatch, topo, kHidden,
                                           "round-robin", 0);
  std::vector<float> hidden(size_t(kTokens) * kHidden), weights;
  std::vector<int32_t> ids;
  epbench::gating::make_hidden_states(kSeed, 0, 0, topo.rank, kTokens, kHidden, hidden);
  make_routing(topo.rank, ids, weights);

  EngineRun run;
  const epbench::comm::StepSync sync(/*phase_barriers=*/true, /*timeout_s=*/60);
  g_sent = {topo.node_of_rank, 0, 0};
  engine->run({&placement.placement, 0, hidden, ids, weights, kTopK,
               int64_t(topo.rank) * kTokens, &sync},
              *ffn, run.out);
  run.mpi_intra = g_sent.intra;
  run.mpi_inter = g_sent.inter;
  g_sent = {};
  epbench::LayerVerifier verifier(
      {kSeed, shape, kTopK, 0, epbench::RoundingModel::for_path("kokkos", "mpi", dispatch)});
  run.verify = verifier.check(topo.rank, 0, 0, hidden, ids, weights, run.out.combined, nullptr);
  return run;
}

class EnginesMpi : public ::testing::TestWithParam<int> {};

TEST_P(EnginesMpi, BytesPerDirectionMatchWhatMpiCarried) {
  const epbench::comm::Topology topo = emulated_topology(GetParam());
  ASSERT_EQ(topo.num_ranks % GetParam(), 0);
  const int64_t row_bytes = kHidden * 2;

  const EngineRun flat = run_engine("flat", topo);
  const EngineRun dedup = run_engine("node-dedup", topo);
  for (const EngineRun* r : {&flat, &dedup}) {
    EXPECT_EQ(r->verify.checked, kTokens);
    EXPECT_EQ(r->verify.wrong, 0) << "max_rel_err " << r->verify.max_rel_err;
  }
  // node-dedup rounds each remote node's partial sum once to bf16: at most one bf16 rounding
  // (relative 2^-8) more than the flat path, which sums the bf16 expert outputs at home.
  EXPECT_LT(dedup.verify.max_rel_err, flat.verify.max_rel_err + std::ldexp(1.0, -8));

  // Reported bytes are the bytes MPI_Alltoallv carried (node-dedup adds its metadata).
  EXPECT_EQ(flat.out.dispatch_intra_node_bytes + flat.out.combine_intra_node_bytes,
            flat.mpi_intra);
  EXPECT_EQ(flat.out.dispatch_inter_node_bytes + flat.out.combine_inter_node_bytes,
            flat.mpi_inter);
  EXPECT_EQ(flat.out.dispatch_inter_node_metadata_bytes, 0);
  EXPECT_EQ(dedup.out.dispatch_intra_node_bytes + dedup.out.combine_intra_node_bytes,
            dedup.mpi_intra);
  EXPECT_EQ(dedup.out.dispatch_inter_node_bytes + dedup.out.combine_inter_node_bytes +
                dedup.out.dispatch_inter_node_metadata_bytes,
            dedup.mpi_inter);

  // Node-dedup: a carrier row per (token, remote node) in dispatch, a bf16 partial row per
  // (token, remote node) in combine: the same inter-node bytes both ways, over all ranks.
  const int64_t carriers = sum_over_ranks(dedup.out.inter_node_rows_dedup);
  EXPECT_EQ(sum_over_ranks(dedup.out.dispatch_inter_node_bytes), carriers * row_bytes);
  EXPECT_EQ(sum_over_ranks(dedup.out.combine_inter_node_bytes), carriers * row_bytes);
  EXPECT_EQ(sum_over_ranks(dedup.out.dispatch_intra_node_bytes),
            sum_over_ranks(dedup.out.combine_intra_node_bytes));
  EXPECT_EQ(sum_over_ranks(flat.out.inter_node_rows_dedup), carriers);
  // Flat: combine mirrors dispatch.
  EXPECT_EQ(sum_over_ranks(flat.out.dispatch_inter_node_bytes),
            sum_over_ranks(flat.out.combine_inter_node_bytes));
  EXPECT_EQ(sum_over_ranks(flat.out.dispatch_intra_node_bytes),
            sum_over_ranks(flat.out.combine_intra_node_bytes));
  if (topo.num_nodes > 1) {
    EXPECT_GT(carriers, 0) << "the test must send something across nodes";
    EXPECT_LT(carriers * row_bytes, sum_over_ranks(flat.out.dispatch_inter_node_bytes))
        << "with top-4 of 16 experts some tokens have several experts on one remote node";
  }
  if (topo.ranks_per_node > 1)
    EXPECT_GT(sum_over_ranks(dedup.out.dispatch_intra_node_bytes), 0);
}

// The run's byte matrices come from each rank's own rows: gathered to rank 0, row = sender.
TEST(TrafficMatrixMpi, GatherPutsEachRanksRowsInItsRow) {
  int rank = 0, R = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &R);
  constexpr int kSamples = 3;
  std::vector<std::vector<int64_t>> send_rows(kSamples, std::vector<int64_t>(R));
  for (int s = 0; s < kSamples; ++s)
    for (int d = 0; d < R; ++d) send_rows[s][d] = 100 * rank + 10 * s + d;
  const auto matrices = epbench::gather_byte_matrices(send_rows, R, 4);
  if (rank != 0) {
    EXPECT_TRUE(matrices.empty());
    return;
  }
  ASSERT_EQ(matrices.size(), size_t(kSamples));
  for (int s = 0; s < kSamples; ++s)
    for (int src = 0; src < R; ++src)
      for (int d = 0; d < R; ++d)
        EXPECT_EQ(matrices[s][size_t(src) * R + d], 4 * (100 * src + 10 * s + d));
}

INSTANTIATE_TEST_SUITE_P(RanksPerNode, EnginesMpi, ::testing::Values(1, 2),
                         [](const auto& info) { return "rpn" + std::to_string(info.param); });

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) {  // one report, from rank 0; every rank's failures still set the exit code
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int result = 0;
  {
    epbench::kernels::RuntimeScope runtime(argc, argv);
    result = RUN_ALL_TESTS();
  }
  MPI_Finalize();
  return result;
}
