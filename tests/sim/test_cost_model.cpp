// Cost model: tile quantization, weight-read floor, empty slots, alpha-beta on the larger of
// send and receive, overlapping vs additive links.
#include <gtest/gtest.h>

#include "common/error.hpp"
#include "sim/cost_model.hpp"

using namespace epbench::sim;

namespace {

Profile gpu_like() {
  Profile p;
  p.name = "t";
  p.ffn_gflops = 1e6;  // 1 PFLOP/s: 1e9 FLOP per us
  p.ffn_tile_rows = 128;
  p.ffn_slot_us = 2;
  p.ffn_fixed_us = 10;
  p.intra = {1.0, 100.0};
  p.inter = {5.0, 10.0};
  p.self = {0.0, 1000.0};
  return p;
}

const LayerShape kShape{1000, 500, 64, 8, 16, 128};  // 3e6 FLOP per row, 2000-byte rows

}  // namespace

TEST(CostModel, FfnIsTileQuantizedPerSlotAndSkipsEmptySlots) {
  const Profile p = gpu_like();
  const double tile_us = 128 * kShape.flops_per_row() / 1e9;  // one full tile
  const std::vector<int64_t> one = {1}, full = {128}, over = {129}, empty = {0, 0};
  EXPECT_DOUBLE_EQ(ffn_us(p, kShape, one), 10 + 2 + tile_us);
  EXPECT_DOUBLE_EQ(ffn_us(p, kShape, full), ffn_us(p, kShape, one));
  EXPECT_DOUBLE_EQ(ffn_us(p, kShape, over), 10 + 2 + 2 * tile_us);
  EXPECT_DOUBLE_EQ(ffn_us(p, kShape, empty), 10);
}

TEST(CostModel, FfnNeverBelowReadingTheWeights) {
  Profile p = gpu_like();
  p.ffn_weight_GBps = 1.0;  // 3e6 bytes of weights: 3000 us per slot
  const std::vector<int64_t> one = {1};
  EXPECT_DOUBLE_EQ(ffn_us(p, kShape, one), 10 + 2 + kShape.expert_weight_bytes() / 1e3);
}

TEST(CostModel, ExchangeUsesTheLargerDirectionPerLinkAndPeers) {
  Profile p = gpu_like();
  RankTraffic t;
  t.sent_rows[0] = 100;       // 200 kB intra
  t.received_rows[0] = 300;   // 600 kB intra: the bottleneck direction
  t.sent_peers[0] = 3;
  t.received_peers[0] = 7;
  t.sent_rows[1] = 50;        // 100 kB inter at 10 GB/s = 10 us
  t.sent_peers[1] = 2;
  const double intra = 7 * 1.0 + 600e3 / 100e3, inter = 2 * 5.0 + 100e3 / 10e3;
  p.links_overlap = true;
  EXPECT_DOUBLE_EQ(exchange_us(p, t, kShape.row_bytes(), false), std::max(intra, inter));
  EXPECT_DOUBLE_EQ(exchange_us(p, t, kShape.row_bytes(), true), std::max(intra, inter))
      << "combine reverses directions: the max is symmetric";
  p.links_overlap = false;
  EXPECT_DOUBLE_EQ(exchange_us(p, t, kShape.row_bytes(), false), intra + inter);
}

TEST(CostModel, MigrationIsBytesOverTheLink) {
  Profile p = gpu_like();
  p.migration_fixed_us = 3;
  RankMigration m;
  m.received_bytes[1] = 1e6;
  m.peers[1] = 1;
  EXPECT_DOUBLE_EQ(migration_us(p, m), 3 + 5 + 1e6 / 10e3);
}

TEST(Profile, JsonRoundTripAndBadFields) {
  Profile p = gpu_like();
  p.sources = {"a", "b"};
  const Profile q = Profile::from_json(p.to_json(), "mem");
  EXPECT_EQ(q.to_json(), p.to_json());
  auto doc = p.to_json();
  doc["ffn_gflops"] = -1;
  EXPECT_THROW(Profile::from_json(doc, "mem"), epbench::InputError);
  doc = p.to_json();
  doc["bogus"] = 1;
  EXPECT_THROW(Profile::from_json(doc, "mem"), epbench::InputError);
  doc = p.to_json();
  doc.erase("gate_gflops");
  EXPECT_THROW(Profile::from_json(doc, "mem"), epbench::InputError);
}
