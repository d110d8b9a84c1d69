// Cost model; see cost_model.hpp for the formulas.
#include "sim/cost_model.hpp"

#include <algorithm>

namespace epbench::sim {
namespace {

// bytes / (GB/s) in microseconds.
double transfer_us(double bytes, double GBps) { return bytes / (GBps * 1e3); }

// Combines the per-class terms: concurrent links take the slowest, a shared path the sum.
double combine_links(const Profile& p, double self, double intra, double inter) {
  return p.links_overlap ? std::max({self, intra, inter}) : self + intra + inter;
}

}  // namespace

double gate_us(const Profile& p, const LayerShape& s) {
  return p.gate_fixed_us +
         double(s.tokens_per_rank) * 2.0 * s.hidden * s.num_experts / (p.gate_gflops * 1e3);
}

double layout_us(const Profile& p, const LayerShape& s) {
  return p.layout_fixed_us + p.layout_us_per_row * double(s.tokens_per_rank) * s.top_k +
         p.layout_us_per_rank * s.num_ranks;
}

double ffn_us(const Profile& p, const LayerShape& s, std::span<const int64_t> slot_rows) {
  const int64_t tile = p.ffn_tile_rows;
  const double rate = p.ffn_gflops * (p.backend == "kokkos" ? s.cores_per_rank : 1.0);
  const double us_per_row = s.flops_per_row() / (rate * 1e3);
  const double weight_us =
      p.ffn_weight_GBps > 0 ? transfer_us(s.expert_weight_bytes(), p.ffn_weight_GBps) : 0.0;
  double us = p.ffn_fixed_us;
  for (int64_t rows : slot_rows) {
    if (rows <= 0) continue;
    const int64_t padded = (rows + tile - 1) / tile * tile;
    us += p.ffn_slot_us + std::max(double(padded) * us_per_row, weight_us);
  }
  return us;
}

double exchange_us(const Profile& p, const RankTraffic& t, double row_bytes, bool combine) {
  double link[2];
  const LinkCost* cost[2] = {&p.intra, &p.inter};
  for (int c = 0; c < 2; ++c) {
    const int64_t out = combine ? t.received_rows[c] : t.sent_rows[c];
    const int64_t in = combine ? t.sent_rows[c] : t.received_rows[c];
    const int32_t peers = std::max(t.sent_peers[c], t.received_peers[c]);
    link[c] = cost[c]->alpha_us * peers +
              transfer_us(double(std::max(out, in)) * row_bytes, cost[c]->GBps);
  }
  const double self = t.self_rows > 0 ? p.self.alpha_us +
                                            transfer_us(double(t.self_rows) * row_bytes, p.self.GBps)
                                      : 0.0;
  return p.comm_fixed_us + combine_links(p, self, link[0], link[1]);
}

double dispatch_us(const Profile& p, const LayerShape& s, const RankTraffic& t) {
  return exchange_us(p, t, s.row_bytes(), false);
}

double combine_us(const Profile& p, const LayerShape& s, const RankTraffic& t) {
  return exchange_us(p, t, s.row_bytes(), true) +
         p.combine_us_per_row * double(s.tokens_per_rank) * s.top_k;
}

double allgather_us(const Profile& p, int ranks, int ranks_per_node, double bytes_per_rank) {
  if (ranks <= 1) return 0.0;
  const LinkCost& link = ranks > ranks_per_node ? p.inter : p.intra;
  int rounds = 0;
  for (int n = 1; n < ranks; n *= 2) ++rounds;
  return link.alpha_us * rounds + transfer_us(bytes_per_rank * (ranks - 1), link.GBps);
}

double migration_us(const Profile& p, const RankMigration& m) {
  double link[2];
  const LinkCost* cost[2] = {&p.intra, &p.inter};
  for (int c = 0; c < 2; ++c)
    link[c] = cost[c]->alpha_us * m.peers[c] +
              transfer_us(std::max(m.sent_bytes[c], m.received_bytes[c]), cost[c]->GBps);
  return p.migration_fixed_us + combine_links(p, 0.0, link[0], link[1]);
}

}  // namespace epbench::sim
