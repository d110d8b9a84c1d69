// Step traffic; see traffic.hpp.
#include "sim/traffic.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/error.hpp"
#include "gating/hash_rng.hpp"

namespace epbench::sim {
namespace {

// A counter-based stream: every draw is splitmix64 of an incrementing key.
struct Stream {
  uint64_t state;
  double spare = 0.0;
  bool has_spare = false;
  double uniform() { return gating::uniform_open01(gating::splitmix64(state++)); }
  double normal() {  // Box-Muller pairs: the second value is kept for the next call
    if (has_spare) {
      has_spare = false;
      return spare;
    }
    double z0;
    gating::normal_pair(state++, z0, spare);
    has_spare = true;
    return z0;
  }
};

double int_pow(double x, int k) {
  double r = 1.0;
  for (; k > 0; k >>= 1, x *= x)
    if (k & 1) r *= x;
  return r;
}

int64_t sample_binomial(int64_t n, double p, Stream& rng) {
  if (n <= 0 || p <= 0.0) return 0;
  if (p >= 1.0) return n;
  const bool flip = p > 0.5;
  const double q = flip ? 1.0 - p : p;
  const double mean = double(n) * q;
  int64_t x = 0;
  if (mean < 20.0) {  // inversion: walk the pmf from 0 (O(mean) steps)
    const double ratio = q / (1.0 - q);
    double f = std::exp(double(n) * std::log1p(-q));
    double u = rng.uniform();
    while (u > f && x < n) {
      u -= f;
      f *= ratio * double(n - x) / double(x + 1);
      ++x;
    }
  } else {
    const double z = rng.normal();
    x = std::llround(mean + std::sqrt(mean * (1.0 - q)) * z);
    x = std::clamp<int64_t>(x, 0, n);
  }
  return flip ? n - x : x;
}

}  // namespace

void sample_counts(std::span<const double> shares, int64_t rows, uint64_t key,
                   std::span<int64_t> out) {
  Stream rng{gating::splitmix64(key)};
  std::fill(out.begin(), out.end(), 0);
  double mass = 0.0;
  size_t last = 0;
  for (size_t e = 0; e < shares.size(); ++e)
    if (shares[e] > 0) {
      mass += shares[e];
      last = e;
    }
  int64_t left = rows;
  for (size_t e = 0; e < shares.size() && left > 0; ++e) {
    if (shares[e] <= 0) continue;
    if (e == last) {
      out[e] = left;
      break;
    }
    const int64_t x = sample_binomial(left, std::min(1.0, shares[e] / mass), rng);
    out[e] = x;
    left -= x;
    mass -= shares[e];
    if (mass <= 0) {  // rounding: hand what is left to the last expert
      out[last] += left;
      break;
    }
  }
}

std::vector<double> capped_shares(std::span<const double> popularity, int top_k) {
  std::vector<double> s(popularity.begin(), popularity.end());
  const double total = std::accumulate(s.begin(), s.end(), 0.0);
  if (total <= 0) return s;
  for (double& x : s) x /= total;
  const double cap = 1.0 / top_k;
  for (int iter = 0; iter < 64; ++iter) {
    double excess = 0.0, free_mass = 0.0;
    for (double x : s) {
      if (x >= cap) excess += x - cap;
      else free_mass += x;
    }
    if (excess <= 1e-15 || free_mass <= 0) break;
    for (double& x : s) x = x >= cap ? cap : x * (1.0 + excess / free_mass);
  }
  return s;
}

SplitModel split_model_of(const std::string& rule_name) {
  if (rule_name == "round-robin") return SplitModel::kRoundRobin;
  if (rule_name == "same-node") return SplitModel::kSameNode;
  throw InputError("replica rule \"" + rule_name + "\" has no static split model (a batch rule)");
}

void batch_split_rows(const Placement& placement, int layer, const BatchSplit& split,
                      std::span<const int64_t> rank_expert_rows,
                      std::span<const int> source_of_rank,
                      const std::function<void(int rank, std::span<const SlotRows>)>& emit) {
  const int E = placement.num_experts(), R = static_cast<int>(source_of_rank.size());
  if (rank_expert_rows.size() != size_t(R) * E || split.num_experts != E)
    throw std::logic_error("batch_split_rows: counts or split do not match the placement");
  // Per (source, expert): the replica the next row goes to and what is left of its quota.
  const size_t cells = size_t(split.num_sources) * E;
  std::vector<int32_t> replica(cells, 0);
  std::vector<int64_t> left(cells);
  for (int src = 0; src < split.num_sources; ++src)
    for (int e = 0; e < E; ++e) left[size_t(src) * E + e] = split.rows(src, e, 0);
  std::vector<SlotRows> out;
  for (int r = 0; r < R; ++r) {
    out.clear();
    const int src = source_of_rank[r];
    for (int e = 0; e < E; ++e) {
      int64_t rows = rank_expert_rows[size_t(r) * E + e];
      const size_t cell = size_t(src) * E + e;
      const std::span<const int32_t> slots = placement.replicas(layer, e);
      while (rows > 0) {
        while (left[cell] == 0) {
          if (++replica[cell] >= split.max_replicas)
            throw std::logic_error("batch_split_rows: the split has fewer rows than the counts");
          left[cell] = split.rows(src, e, replica[cell]);
        }
        const int64_t take = std::min(rows, left[cell]);
        out.push_back({slots[replica[cell]], take});
        left[cell] -= take;
        rows -= take;
      }
    }
    emit(r, out);
  }
}

TrafficBuilder::TrafficBuilder(const Placement& placement, int layer, int ranks_per_node,
                               SplitModel model, int top_k, int64_t tokens_per_rank,
                               bool node_dedup, StepTraffic& out)
    : placement_(placement),
      layer_(layer),
      rpn_(ranks_per_node),
      top_k_(top_k),
      spr_(placement.slots_per_gpu()),
      model_(model),
      tokens_(tokens_per_rank),
      node_dedup_(node_dedup),
      out_(out) {
  const int R = placement.num_gpus();
  out.slot_rows.assign(placement.num_slots(), 0);
  out.ranks.assign(R, RankTraffic{});
  out.inter_rows_dedup.assign(R, 0);
  out.total_rows = 0;
  dest_rows_.assign(R, 0);
  node_dedup_rows_.assign(placement.num_nodes(), 0);
  touched_.reserve(R);
  rank_of_slot_.resize(placement.num_slots());
  for (int slot = 0; slot < placement.num_slots(); ++slot) rank_of_slot_[slot] = slot / spr_;
}

void TrafficBuilder::give(int32_t slot, int64_t rows) {
  out_.slot_rows[slot] += rows;
  const int dest = rank_of_slot_[slot];
  if (dest_rows_[dest] == 0) touched_.push_back(dest);
  dest_rows_[dest] += rows;
  out_.total_rows += rows;
}

void TrafficBuilder::add_source_counts(int source, std::span<const int64_t> expert_rows,
                                       uint64_t rotation_key) {
  const int my_node = source / rpn_;
  for (int e = 0; e < placement_.num_experts(); ++e) {
    const int64_t c = expert_rows[e];
    if (c <= 0) continue;
    std::span<const int32_t> choices = placement_.replicas(layer_, e);
    if (model_ == SplitModel::kSameNode) {
      // Replicas are in slot order, hence node order: the source node's ones are contiguous.
      const int lo_slot = my_node * rpn_ * spr_, hi_slot = (my_node + 1) * rpn_ * spr_;
      auto lo = std::lower_bound(choices.begin(), choices.end(), lo_slot);
      auto hi = std::lower_bound(lo, choices.end(), hi_slot);
      if (lo != hi) choices = choices.subspan(lo - choices.begin(), hi - lo);
    }
    const int64_t n = static_cast<int64_t>(choices.size());
    const int64_t base = c / n, extra = c % n;
    const int64_t start =
        extra > 0 ? int64_t(gating::splitmix64(rotation_key ^ (uint64_t(e) * 0x9E3779B97F4A7C15ull)) %
                            uint64_t(n))
                  : 0;
    if (base == 0) {
      for (int64_t j = 0, i = start; j < extra; ++j, i = i + 1 == n ? 0 : i + 1) give(choices[i], 1);
    } else {
      // replicas start, start+1, ... (cyclically) take the extra rows
      for (int64_t i = 0, j = start == 0 ? 0 : n - start; i < n; ++i, j = j + 1 == n ? 0 : j + 1)
        give(choices[i], base + (j < extra ? 1 : 0));
    }
  }
  finish_counted_source(source);
}

void TrafficBuilder::add_source_slot_rows(int source, std::span<const SlotRows> rows) {
  for (const SlotRows& x : rows)
    if (x.rows > 0) give(x.slot, x.rows);
  finish_counted_source(source);
}

void TrafficBuilder::finish_counted_source(int source) {
  const int my_node = source / rpn_;
  std::vector<int64_t>& node_rows = node_dedup_rows_;  // rows per node first, deduped below
  // Rows per node, then the independent-picks estimate of one row per (token, remote node).
  for (int32_t d : touched_) node_rows[d / rpn_] += dest_rows_[d];
  const double token_rows = double(tokens_) * top_k_;
  for (int n = 0; n < placement_.num_nodes(); ++n) {
    const int64_t rows = node_rows[n];
    if (rows == 0 || n == my_node) {
      node_rows[n] = 0;
      continue;
    }
    const double q = std::min(1.0, double(rows) / token_rows);
    int64_t dedup = std::llround(double(tokens_) * (1.0 - int_pow(1.0 - q, top_k_)));
    node_rows[n] = std::clamp<int64_t>(dedup, (rows + top_k_ - 1) / top_k_, rows);
  }
  add_destination_rows(source);
}

void TrafficBuilder::add_source_plan(int source, const DispatchPlan& plan) {
  const int R = placement_.num_gpus(), my_node = source / rpn_, K = plan.top_k;
  for (int d = 0; d < R; ++d) {
    if (plan.send_rows[d] == 0) continue;
    touched_.push_back(d);
    dest_rows_[d] = plan.send_rows[d];
    for (int s = 0; s < spr_; ++s)
      out_.slot_rows[size_t(d) * spr_ + s] += plan.send_slot_rows[size_t(d) * spr_ + s];
  }
  out_.total_rows += plan.total_rows();
  // Exact: per token, each distinct remote node among its destinations once.
  for (int64_t t = 0; t < plan.total_rows() / K; ++t)
    for (int k = 0; k < K; ++k) {
      const int node = plan.dest_rank[t * K + k] / rpn_;
      bool first = node != my_node;
      for (int j = 0; j < k && first; ++j) first = plan.dest_rank[t * K + j] / rpn_ != node;
      node_dedup_rows_[node] += first;
    }
  add_destination_rows(source);
}

void TrafficBuilder::add_destination_rows(int source) {
  const int my_node = source / rpn_, local = source % rpn_;
  RankTraffic& me = out_.ranks[source];
  for (int32_t d : touched_) {
    const int64_t rows = dest_rows_[d];
    dest_rows_[d] = 0;
    if (d == source) {
      me.self_rows += rows;
      continue;
    }
    const int cls = d / rpn_ == my_node ? 0 : 1;
    if (cls == 0 || !node_dedup_) {
      me.sent_rows[cls] += rows;
      ++me.sent_peers[cls];
      out_.ranks[d].received_rows[cls] += rows;
      ++out_.ranks[d].received_peers[cls];
      continue;
    }
    // node-dedup: the gateway (same local index on d's node) forwards the rows inside the node.
    const int gateway = (d / rpn_) * rpn_ + local;
    if (d != gateway) {
      out_.ranks[gateway].sent_rows[0] += rows;
      out_.ranks[d].received_rows[0] += rows;
    } else {
      out_.ranks[gateway].self_rows += rows;  // the gateway's own experts: a local copy
    }
  }
  touched_.clear();
  for (int n = 0; n < placement_.num_nodes(); ++n) {
    const int64_t rows = node_dedup_rows_[n];
    node_dedup_rows_[n] = 0;
    if (rows == 0 || n == my_node) continue;
    out_.inter_rows_dedup[source] += rows;
    if (!node_dedup_) continue;
    me.sent_rows[1] += rows;
    ++me.sent_peers[1];
    RankTraffic& gateway = out_.ranks[n * rpn_ + local];
    gateway.received_rows[1] += rows;
    ++gateway.received_peers[1];
  }
}

void TrafficBuilder::finish() {
  if (!node_dedup_) return;
  // Forwarding inside a node reaches up to every other rank of the node.
  for (RankTraffic& t : out_.ranks) {
    if (t.sent_rows[0] > 0) t.sent_peers[0] = std::max(t.sent_peers[0], rpn_ - 1);
    if (t.received_rows[0] > 0) t.received_peers[0] = std::max(t.received_peers[0], rpn_ - 1);
  }
}

}  // namespace epbench::sim
