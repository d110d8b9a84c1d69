// Per-batch splits; see batch_split.hpp and min_max_flow.hpp.
#include "dispatch/batch_split.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace epbench {

int64_t rows_confined_to(const Placement& placement, int layer,
                         std::span<const int64_t> expert_rows, std::span<const int32_t> gpus) {
  std::vector<uint8_t> in_set(placement.num_gpus(), 0);
  for (int32_t g : gpus) in_set[g] = 1;
  int64_t rows = 0;
  for (int e = 0; e < placement.num_experts(); ++e) {
    bool inside = true;
    for (int32_t slot : placement.replicas(layer, e))
      inside = inside && in_set[placement.gpu_of_slot(slot)];
    if (inside) rows += expert_rows[e];
  }
  return rows;
}

void BatchSplitSolver::prepare(const Placement& placement, int layer, int num_sources,
                               BatchSplit& out) {
  const int E = placement.num_experts();
  layer_ = layer;
  out.num_sources = num_sources;
  out.num_experts = E;
  out.max_replicas = placement.max_replicas();
  out.replica_rows.assign(size_t(num_sources) * E * out.max_replicas, 0);
  out.certificate_gpus.clear();
  out.lp_max_gpu_rows = 0;
  gpus_.clear();
  gpu_start_.assign(1, 0);
  for (int e = 0; e < E; ++e) {
    for (int32_t slot : placement.replicas(layer, e)) {
      const int32_t g = placement.gpu_of_slot(slot);
      if (int(gpus_.size()) == gpu_start_.back() || gpus_.back() != g) gpus_.push_back(g);
    }
    gpu_start_.push_back(static_cast<int32_t>(gpus_.size()));
  }
  fixed_.assign(placement.num_gpus(), 0);
}

void BatchSplitSolver::give(const Placement& placement, BatchSplit& out, int source, int expert,
                            int gpu, int64_t rows) const {
  auto slots = placement.replicas(layer_, expert);
  int here = 0;
  for (int32_t slot : slots) here += placement.gpu_of_slot(slot) == gpu;
  if (here == 0) throw std::logic_error("batch split: rows sent to a GPU without the expert");
  int i = 0;
  for (size_t r = 0; r < slots.size(); ++r) {
    if (placement.gpu_of_slot(slots[r]) != gpu) continue;
    out.rows(source, expert, int(r)) += rows / here + (i < rows % here ? 1 : 0);
    ++i;
  }
}

void BatchSplitSolver::finish(const Placement& placement, int layer,
                              std::span<const int64_t> expert_rows, BatchSplit& out) const {
  const int E = placement.num_experts(), G = placement.num_gpus();
  out.slot_rows.assign(placement.num_slots(), 0);
  out.gpu_rows.assign(G, 0);
  for (int s = 0; s < out.num_sources; ++s)
    for (int e = 0; e < E; ++e) {
      auto slots = placement.replicas(layer, e);
      for (size_t r = 0; r < slots.size(); ++r) out.slot_rows[slots[r]] += out.rows(s, e, int(r));
    }
  for (int slot = 0; slot < placement.num_slots(); ++slot)
    out.gpu_rows[placement.gpu_of_slot(slot)] += out.slot_rows[slot];
  out.max_gpu_rows = G > 0 ? *std::max_element(out.gpu_rows.begin(), out.gpu_rows.end()) : 0;
  if (out.certificate_gpus.empty()) {
    // No certificate from a solver: the better of the trivial bounds (all GPUs, one GPU).
    std::vector<int64_t> confined(G, 0);  // rows of experts with every replica on one GPU
    int64_t total = 0;
    for (int e = 0; e < E; ++e) {
      total += expert_rows[e];
      if (gpu_start_[e + 1] - gpu_start_[e] == 1) confined[gpus_[gpu_start_[e]]] += expert_rows[e];
    }
    const auto hottest = std::max_element(confined.begin(), confined.end());
    const int64_t best = *hottest;
    out.certificate_gpus = {int32_t(hottest - confined.begin())};
    if ((total + G - 1) / G >= best) {
      out.certificate_gpus.resize(G);
      for (int g = 0; g < G; ++g) out.certificate_gpus[g] = g;
    }
  }
  const int64_t must = rows_confined_to(placement, layer, expert_rows, out.certificate_gpus);
  const int64_t n = static_cast<int64_t>(out.certificate_gpus.size());
  out.lower_bound = (must + n - 1) / n;
}

void BatchSplitSolver::split_exact(const Placement& placement, int layer,
                                   std::span<const int64_t> expert_rows, BatchSplit& out) {
  prepare(placement, layer, 1, out);
  const int E = placement.num_experts();
  for (int e = 0; e < E; ++e)
    if (gpu_start_[e + 1] - gpu_start_[e] == 1) fixed_[gpus_[gpu_start_[e]]] += expert_rows[e];
  flow_.reset(fixed_);
  group_expert_.clear();
  for (int e = 0; e < E; ++e) {
    if (gpu_start_[e + 1] - gpu_start_[e] == 1) {
      give(placement, out, 0, e, gpus_[gpu_start_[e]], expert_rows[e]);
    } else if (expert_rows[e] > 0) {
      flow_.add_group(expert_rows[e], std::span<const int32_t>(gpus_).subspan(
                                          gpu_start_[e], gpu_start_[e + 1] - gpu_start_[e]));
      group_expert_.push_back(e);
    }
  }
  flow_.solve();
  for (int j = 0; j < flow_.num_groups(); ++j)
    flow_.for_each_flow(j, [&](int gpu, int64_t rows) {
      give(placement, out, 0, group_expert_[j], gpu, rows);
    });
  auto cert = flow_.certificate();
  out.certificate_gpus.assign(cert.begin(), cert.end());
  finish(placement, layer, expert_rows, out);
}

void BatchSplitSolver::split_exact_on_node(const Placement& placement, int layer,
                                           std::span<const int64_t> node_expert_rows,
                                           BatchSplit& out) {
  const int E = placement.num_experts(), N = placement.num_nodes();
  if (node_expert_rows.size() != size_t(N) * E)
    throw std::logic_error("split_exact_on_node: counts are not [nodes][experts]");
  expert_rows_.assign(E, 0);
  for (int n = 0; n < N; ++n)
    for (int e = 0; e < E; ++e) expert_rows_[e] += node_expert_rows[size_t(n) * E + e];
  // The optimum maximum and its certificate, from the unrestricted problem.
  BatchSplit best;
  split_exact(placement, layer, expert_rows_, best);
  const int64_t cap = best.max_gpu_rows;

  prepare(placement, layer, N, out);
  for (int e = 0; e < E; ++e)
    if (gpu_start_[e + 1] - gpu_start_[e] == 1) fixed_[gpus_[gpu_start_[e]]] += expert_rows_[e];
  flow_.reset(fixed_);
  group_expert_.clear();
  group_source_.clear();
  for (int e = 0; e < E; ++e) {
    std::span<const int32_t> all(gpus_.data() + gpu_start_[e], gpu_start_[e + 1] - gpu_start_[e]);
    for (int n = 0; n < N; ++n) {
      const int64_t rows = node_expert_rows[size_t(n) * E + e];
      if (rows == 0) continue;
      if (all.size() == 1) {
        give(placement, out, n, e, all[0], rows);
        continue;
      }
      local_.clear();
      for (int32_t g : all)
        if (placement.node_of_gpu(g) == n) local_.push_back(g);
      flow_.add_group(rows, local_.empty() ? all : std::span<const int32_t>(local_));
      group_expert_.push_back(e);
      group_source_.push_back(n);
    }
  }
  int64_t demand = 0;
  for (int e = 0; e < E; ++e)
    if (gpu_start_[e + 1] - gpu_start_[e] > 1) demand += expert_rows_[e];
  int64_t routed = flow_.route_at(cap);
  if (routed < demand) {
    // What does not fit on its own node may now leave it.
    for (int j = 0; j < flow_.num_groups(); ++j) {
      const int e = group_expert_[j];
      local_.clear();
      for (int32_t g = gpu_start_[e]; g < gpu_start_[e + 1]; ++g)
        if (placement.node_of_gpu(gpus_[g]) != group_source_[j]) local_.push_back(gpus_[g]);
      if (local_.size() < size_t(gpu_start_[e + 1] - gpu_start_[e])) flow_.widen_group(j, local_);
    }
    routed += flow_.augment_widened();
  }
  if (routed != demand) throw std::logic_error("split_exact_on_node: rows not all routed");
  for (int j = 0; j < flow_.num_groups(); ++j)
    flow_.for_each_flow(j, [&](int gpu, int64_t rows) {
      give(placement, out, group_source_[j], group_expert_[j], gpu, rows);
    });
  out.certificate_gpus = best.certificate_gpus;
  finish(placement, layer, expert_rows_, out);
}

void BatchSplitSolver::split_lplb_lp(const Placement& placement, int layer,
                                     std::span<const int64_t> expert_rows, BatchSplit& out) {
  prepare(placement, layer, 1, out);
  const int E = placement.num_experts();
  fixed_real_.assign(placement.num_gpus(), 0.0);
  for (int e = 0; e < E; ++e)
    if (gpu_start_[e + 1] - gpu_start_[e] == 1)
      fixed_real_[gpus_[gpu_start_[e]]] += double(expert_rows[e]);
  flow_real_.reset(fixed_real_);
  group_expert_.clear();
  for (int e = 0; e < E; ++e) {
    if (gpu_start_[e + 1] - gpu_start_[e] == 1) {
      give(placement, out, 0, e, gpus_[gpu_start_[e]], expert_rows[e]);
    } else if (expert_rows[e] > 0) {
      flow_real_.add_group(double(expert_rows[e]),
                           std::span<const int32_t>(gpus_).subspan(
                               gpu_start_[e], gpu_start_[e + 1] - gpu_start_[e]));
      group_expert_.push_back(e);
    }
  }
  flow_real_.solve();
  out.lp_max_gpu_rows = flow_real_.cap();
  // Each edge (first replica's GPU -> another replica's GPU) carries its flow rounded to the
  // nearest row; the first replica keeps the rest.
  for (int j = 0; j < flow_real_.num_groups(); ++j) {
    const int e = group_expert_[j];
    const int32_t origin = gpus_[gpu_start_[e]];
    int64_t left = expert_rows[e];
    flow_real_.for_each_flow(j, [&](int gpu, double rows) {
      if (gpu == origin) return;
      const int64_t moved = std::min<int64_t>(std::llround(rows), left);
      give(placement, out, 0, e, gpu, moved);
      left -= moved;
    });
    give(placement, out, 0, e, origin, left);
  }
  finish(placement, layer, expert_rows, out);
}

void BatchSplitSolver::split_even(const Placement& placement, int layer,
                                  std::span<const int64_t> expert_rows, BatchSplit& out) {
  prepare(placement, layer, 1, out);
  for (int e = 0; e < placement.num_experts(); ++e) {
    const int64_t n = placement.logcnt(layer, e), c = expert_rows[e];
    for (int r = 0; r < n; ++r) out.rows(0, e, r) = c / n + (r < c % n ? 1 : 0);
  }
  finish(placement, layer, expert_rows, out);
}

void assign_split_slots(const Placement& placement, int layer, const BatchSplit& split,
                        std::span<const int64_t> rank_expert_rows,
                        std::span<const int> source_of_rank, int my_rank,
                        std::span<const int32_t> topk_ids, std::span<int32_t> slots) {
  const int E = placement.num_experts(), R = static_cast<int>(source_of_rank.size());
  if (rank_expert_rows.size() != size_t(R) * E || split.num_experts != E)
    throw std::logic_error("assign_split_slots: counts or split do not match the placement");
  const int source = source_of_rank[my_rank];
  // Per expert: the replica my next row goes to and the rows left in its quota for me.
  std::vector<int32_t> replica(E, 0);
  std::vector<int64_t> left(E, 0), seen(E, 0);
  for (int e = 0; e < E; ++e) {
    int64_t prefix = 0;
    for (int r = 0; r < my_rank; ++r)
      if (source_of_rank[r] == source) prefix += rank_expert_rows[size_t(r) * E + e];
    int i = 0;
    while (i < split.max_replicas && split.rows(source, e, i) <= prefix)
      prefix -= split.rows(source, e, i++);
    replica[e] = i;
    left[e] = i < split.max_replicas ? split.rows(source, e, i) - prefix : 0;
  }
  for (size_t row = 0; row < topk_ids.size(); ++row) {
    const int32_t e = topk_ids[row];
    if (e < 0 || e >= E) throw std::logic_error("assign_split_slots: expert id out of range");
    while (left[e] == 0) {
      if (++replica[e] >= split.max_replicas)
        throw std::logic_error("assign_split_slots: the split has fewer rows than the tokens");
      left[e] = split.rows(source, e, replica[e]);
    }
    slots[row] = placement.replicas(layer, e)[replica[e]];
    --left[e];
    ++seen[e];
  }
  for (int e = 0; e < E; ++e)
    if (seen[e] != rank_expert_rows[size_t(my_rank) * E + e])
      throw std::logic_error("assign_split_slots: this rank's rows differ from its counts");
}

}  // namespace epbench
