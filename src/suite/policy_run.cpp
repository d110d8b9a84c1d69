// One policy's run; see policy_run.hpp.
#include "suite/policy_run.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <iostream>
#include <numeric>

#include "backend.hpp"
#include "engines/layer_step.hpp"
#include "measure/verify.hpp"
#include "metrics/balance.hpp"
#include "placement/policies/lplb.hpp"
#include "placement/policy.hpp"
#include "suite/migration.hpp"

namespace epbench {

namespace {

// The balanced reference: every physical slot is its own "expert" (no replicas), and the rows
// of rank r's token t, choice k go to slot ((r * T + t) * K + k) mod S: the same total rows as
// the measured step, every slot receiving the same count (+-1 when S does not divide them), the
// k choices of a token on distinct slots (K <= S). Its FFN runs on whatever weights the slots
// hold: the reference times the same shapes, it computes no checked output.
Placement balanced_placement(const Placement& measured) {
  const int L = measured.num_layers(), S = measured.num_slots();
  std::vector<int32_t> phy2log(size_t(L) * S);
  for (int l = 0; l < L; ++l)
    std::iota(phy2log.begin() + size_t(l) * S, phy2log.begin() + size_t(l + 1) * S, 0);
  return Placement(L, S, measured.num_gpus(), measured.num_nodes(), std::move(phy2log));
}

void balanced_routing(int rank, int tokens, int top_k, int num_slots, std::span<int32_t> ids) {
  for (int64_t t = 0; t < tokens; ++t)
    for (int k = 0; k < top_k; ++k) {
      const int64_t row = (int64_t(rank) * tokens + t) * top_k + k;
      ids[t * top_k + k] = static_cast<int32_t>(row % num_slots);
    }
}

// rank 0, stderr is a terminal: "\r  eplb  rep 1/2  step 7/12  ETA 4 s".
class Progress {
 public:
  Progress(bool enabled, std::string label, int total)
      : enabled_(enabled), label_(std::move(label)), total_(total), t0_(comm::monotonic_seconds()) {}
  void update(int done) {
    if (!enabled_) return;
    const double elapsed = comm::monotonic_seconds() - t0_;
    const double eta = done > 0 ? elapsed / done * (total_ - done) : 0.0;
    std::cerr << "\r  " << label_ << "  step " << done << "/" << total_ << "  ETA "
              << std::lround(eta) << " s   " << std::flush;
  }
  ~Progress() {
    if (enabled_) std::cerr << "\r" << std::string(label_.size() + 40, ' ') << "\r" << std::flush;
  }

 private:
  bool enabled_;
  std::string label_;
  int total_;
  double t0_;
};

}  // namespace

std::pair<double, double> window_balancedness(const Placement& before, const Placement& after,
                                              std::span<const double> weight) {
  const int L = before.num_layers(), E = before.num_experts();
  double b = 0, a = 0;
  for (int l = 0; l < L; ++l) {
    const std::span<const double> loads = weight.subspan(size_t(l) * E, size_t(E));
    b += balancedness(before.gpu_loads(l, loads)) / L;
    a += balancedness(after.gpu_loads(l, loads)) / L;
  }
  return {b, a};
}

PolicyRun run_policy(const Scenario& s, const comm::Topology& topo, const TokenSource& source,
                     const std::string& policy_name, const RunControl& control) {
  const PlacementPolicy policy = configured_policy(policy_name, s.lplb_topology);
  const int E = s.model.num_experts, L = s.num_layers, R = topo.num_ranks, me = topo.rank;
  const int T = s.tokens_per_rank, K = s.model.top_k, H = s.model.hidden;
  const kernels::FfnShape shape{H, s.model.ffn};
  const int num_slots = s.slots_for(policy_name, R, topo.num_nodes);
  const int window = s.window_steps > 0 ? s.window_steps : std::max(s.warmup_steps, 1);
  const comm::StepSync& sync = *control.sync;

  sync.set_context("policy " + policy_name + ", placing and loading the experts");
  // Initial placement: the policy applied to uniform loads (no statistics yet).
  EplbProblem problem{L, E, std::vector<double>(size_t(L) * E, 1.0), num_slots, s.model.n_group,
                      topo.num_nodes, R};
  problem.time_budget_ms = s.placement_time_budget_ms;
  PolicyResult current = policy.compute(problem);
  auto ffn = kernels::make_grouped_ffn(s.backend, shape, L, num_slots / R, control.device);
  load_experts(current.placement, me, *ffn, s.seed);
  // The most rows one layer step can bring to this rank's FFN, so that no workspace grows inside
  // a timed phase (after a rebalance, say).
  ffn->reserve_rows(int64_t(R) * T * std::min(K, num_slots / R));

  auto engine = make_layer_engine(s.comm, s.dispatch, topo, H, s.replica_rule, control.device,
                                  s.comm_timeout_s);
  std::vector<float> hidden(size_t(T) * H), weights(size_t(T) * K);
  std::vector<int32_t> ids(size_t(T) * K), balanced_ids(size_t(T) * K);
  balanced_routing(me, T, K, num_slots, balanced_ids);
  const Placement reference_placement = balanced_placement(current.placement);
  LayerStepOutput out, ref_out;
  RunSamples samples;
  samples.num_layers = L;
  std::deque<std::vector<int64_t>> history;  // per step: [layers][experts] local token counts
  std::vector<int64_t> measured_counts(size_t(L) * E, 0);  // realized load, measured steps
  std::vector<double> target_shares(size_t(L) * E, 0.0);   // mean over measured steps
  LayerVerifier verifier({s.seed, shape, K, s.verify_sample(),
                          RoundingModel::for_path(s.backend, s.comm, s.dispatch)});

  auto run_balanced = [&](int l) {
    sync.step("reference step");
    engine->run({&reference_placement, l, hidden, balanced_ids, weights, K, int64_t(me) * T,
                 &sync, false},
                *ffn, ref_out);
  };
  auto do_step = [&](int step, bool measured) {
    std::vector<int64_t> counts(size_t(L) * E, 0);
    for (int l = 0; l < L; ++l) {
      sync.set_context("policy " + policy_name + ", step " + std::to_string(step) + ", layer " +
                       std::to_string(l));
      source.hidden_states(l, step, me, hidden);
      // Balanced reference and measured step alternate in order (A B, B A, ...), so neither
      // always runs after the other.
      const bool reference_first = measured && step % 2 == 1;
      if (reference_first) run_balanced(l);
      const double t0 = sync.step("step");
      source.route(l, step, me, hidden, ids, weights);
      // On the GPU router, its device time (CUDA events); else the host time of route().
      const double gate = source.last_gate_device_seconds() >= 0
                              ? source.last_gate_device_seconds()
                              : comm::monotonic_seconds() - t0;
      engine->run({&current.placement, l, hidden, ids, weights, K, int64_t(me) * T, &sync,
                   measured},
                  *ffn, out);
      out.start.gate = t0;
      out.seconds.gate = gate;
      for (int32_t e : ids) ++counts[size_t(l) * E + e];
      samples.total_rows_sent += out.rows_sent;
      samples.total_rows_received += out.rows_received;
      if (!measured) continue;
      if (!reference_first) run_balanced(l);
      samples.add(l, step, out, ref_out);
      // Every measured step, outside the timers.
      samples.verify.add(
          verifier.check(me, l, step, hidden, ids, weights, out.combined, source.router(l)));
    }
    if (measured) {
      for (size_t i = 0; i < counts.size(); ++i) measured_counts[i] += counts[i];
      for (int l = 0; l < L; ++l) {
        const std::vector<double> target = source.popularity(l, step);
        for (size_t e = 0; e < target.size(); ++e)
          target_shares[size_t(l) * E + e] += target[e] / s.measured_steps;
      }
    }
    history.push_back(std::move(counts));
    while (static_cast<int>(history.size()) > window) history.pop_front();
  };

  auto rebalance = [&] {
    if (policy_name == "none") return;
    sync.set_context("policy " + policy_name + ", re-placement and migration");
    std::vector<int64_t> local(size_t(L) * E, 0), global(size_t(L) * E);
    for (const auto& c : history)
      for (size_t i = 0; i < c.size(); ++i) local[i] += c[i];
    CHECK_MPI(MPI_Allreduce(local.data(), global.data(), int(global.size()), MPI_INT64_T, MPI_SUM,
                            MPI_COMM_WORLD));
    problem.weight.assign(global.begin(), global.end());
    problem.current = current.placement;  // migration-aware policies start from it
    problem.max_moved_experts = s.max_moved_experts;
    problem.num_threads = 1;  // the ranks share the cores
    const double t0 = comm::monotonic_seconds();
    PolicyResult next = policy.compute(problem);  // deterministic: identical on every rank
    samples.placement_seconds.push_back(comm::monotonic_seconds() - t0);
    const auto [before, after] = window_balancedness(current.placement, next.placement,
                                                     problem.weight);
    samples.replacement_balance.push_back({before, after});
    const MigrationStats moved = migrate_experts(current.placement, next.placement, topo, *ffn,
                                                 s.seed, /*verify=*/true);
    samples.migration += moved;
    samples.migration_seconds.push_back(moved.seconds);
    samples.migration_experts.push_back(moved.experts_moved);
    current = std::move(next);
  };

  Progress progress(control.show_progress && me == 0,
                    policy_name + (s.repeat > 1 ? "  rep " + std::to_string(control.repetition + 1) +
                                                      "/" + std::to_string(s.repeat)
                                                : ""),
                    s.warmup_steps + s.measured_steps);
  for (int step = 0; step < s.warmup_steps; ++step) {
    do_step(step, false);
    progress.update(step + 1);
  }
  rebalance();
  for (int i = 0; i < s.measured_steps; ++i) {
    if (s.rebalance_every > 0 && i > 0 && i % s.rebalance_every == 0) rebalance();
    do_step(s.warmup_steps + i, true);
    progress.update(s.warmup_steps + i + 1);
  }

  // Realized per-expert load (global (token, k) rows per step, mean over measured steps).
  std::vector<int64_t> global_counts(measured_counts.size());
  CHECK_MPI(MPI_Reduce(measured_counts.data(), global_counts.data(), int(global_counts.size()),
                       MPI_INT64_T, MPI_SUM, 0, MPI_COMM_WORLD));
  const int64_t expected_rows =
      int64_t(T) * K * R * L * (int64_t(s.warmup_steps) + s.measured_steps);
  PolicyRun run;
  run.gathered = gather_run(samples, topo, control.clock_offsets, expected_rows);
  if (me != 0) return run;

  nlohmann::json layers = nlohmann::json::array();
  double hottest_over_mean = 0, max_tv = 0, hottest_target = 0;
  const double mean = double(T) * K * R / E;
  for (int l = 0; l < L; ++l) {
    std::vector<double> per_expert(E), target(target_shares.begin() + size_t(l) * E,
                                              target_shares.begin() + size_t(l + 1) * E);
    for (int e = 0; e < E; ++e)
      per_expert[e] = double(global_counts[size_t(l) * E + e]) / s.measured_steps;
    const double hottest = *std::max_element(per_expert.begin(), per_expert.end());
    hottest_over_mean = std::max(hottest_over_mean, hottest / mean);
    nlohmann::json layer = {{"tokens_per_expert", per_expert},
                            {"hottest_expert_over_mean", hottest / mean}};
    if (!source.popularity(l, 0).empty()) {
      // Realized vs named distribution: total-variation distance of the per-expert shares.
      double tv = 0;
      for (int e = 0; e < E; ++e) tv += 0.5 * std::abs(per_expert[e] / (mean * E) - target[e]);
      max_tv = std::max(max_tv, tv);
      const double top = *std::max_element(target.begin(), target.end()) * E;
      hottest_target = std::max(hottest_target, top);
      layer["target_shares"] = target;
      layer["skew_tv_distance"] = tv;
      layer["hottest_target_over_mean"] = top;
    }
    layers.push_back(std::move(layer));
  }
  run.info = {{"policy", policy_name},
              {"policy_used", current.policy_used},
              {"num_slots", num_slots},
              {"ffn_backend", ffn->backend()},
              {"layer_engine", engine->name()},
              {"layers", layers},
              {"hottest_expert_over_mean", hottest_over_mean}};
  if (hottest_target > 0) {
    run.info["hottest_target_over_mean"] = hottest_target;
    run.info["skew_tv_distance_max"] = max_tv;
  }
  return run;
}

nlohmann::json summarize_policy(const std::vector<PolicyRun>& reps, const Scenario& s,
                                const comm::Topology& topo) {
  std::vector<GatheredRun> gathered;
  for (const auto& r : reps) gathered.push_back(r.gathered);
  RunShape shape{s.tokens_per_rank, s.model.top_k, s.model.hidden,
                 kernels::FfnShape{s.model.hidden, s.model.ffn}.flops_per_token(),
                 s.phase_barriers, topo.node_of_rank};
  nlohmann::json run = summarize_runs(gathered, shape);
  const nlohmann::json& info = reps.at(0).info;
  for (size_t l = 0; l < run["layers"].size(); ++l) run["layers"][l].update(info["layers"][l]);
  for (const char* key : {"hottest_expert_over_mean", "hottest_target_over_mean",
                          "skew_tv_distance_max"})
    if (info.contains(key)) run["summary"][key] = info[key];
  for (const char* key : {"policy", "policy_used", "num_slots", "ffn_backend", "layer_engine"})
    run[key] = info[key];
  return run;
}

}  // namespace epbench
