// One policy's run; see policy_run.hpp.
#include "suite/policy_run.hpp"

#include <algorithm>
#include <deque>

#include "backend.hpp"
#include "gating/router.hpp"
#include "metrics/stats.hpp"
#include "placement/policy.hpp"
#include "measure/baselines.hpp"
#include "engines/layer_step.hpp"
#include "suite/migration.hpp"
#include "measure/samples.hpp"
#include "measure/verify.hpp"

namespace epbench {

nlohmann::json run_policy(const Scenario& s, const comm::Topology& topo,
                          const TokenSource& source, const std::string& policy_name, int device) {
  const PlacementPolicy& policy = find_policy(policy_name);
  const int E = s.model.num_experts, L = s.num_layers, R = topo.num_ranks, me = topo.rank;
  const int T = s.tokens_per_rank, K = s.model.top_k, H = s.model.hidden;
  const kernels::FfnShape shape{H, s.model.ffn};
  const int num_slots = policy_name == "none" ? E : E + s.redundant_experts_for(R);
  const int window = s.window_steps > 0 ? s.window_steps : std::max(s.warmup_steps, 1);

  // Initial placement: the policy applied to uniform loads (no statistics yet).
  EplbProblem problem{L, E, std::vector<double>(size_t(L) * E, 1.0), num_slots, s.model.n_group,
                      topo.num_nodes, R};
  PolicyResult current = policy.compute(problem);
  auto ffn = kernels::make_grouped_ffn(s.backend, shape, L, num_slots / R, device);
  load_experts(current.placement, me, *ffn, s.seed);
  // The most rows one layer step can bring to this rank's FFN, so that no workspace grows inside
  // a timed phase (after a rebalance, say).
  ffn->reserve_rows(int64_t(R) * T * std::min(K, num_slots / R));

  auto engine = make_layer_engine(s.comm, s.dispatch, topo, H, parse_replica_rule(s.replica_rule),
                                  device, s.comm_timeout_s);
  std::vector<float> hidden(size_t(T) * H), weights(size_t(T) * K);
  std::vector<int32_t> ids(size_t(T) * K);
  LayerStepOutput out;
  RunSamples samples;
  samples.num_layers = L;
  std::deque<std::vector<int64_t>> history;  // per step: [layers][experts] local token counts
  std::vector<int64_t> measured_counts(size_t(L) * E, 0);  // realized load, measured steps
  const int sample = s.verify_sample();

  auto do_step = [&](int step, bool measured, bool verify_now) {
    std::vector<int64_t> counts(size_t(L) * E, 0);
    for (int l = 0; l < L; ++l) {
      source.hidden_states(l, step, me, hidden);
      CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
      const double t0 = MPI_Wtime();
      source.route(l, step, me, hidden, ids, weights);
      // On the GPU router, its device time (CUDA events); else the host time of route().
      const double gate = source.last_gate_device_seconds() >= 0
                              ? source.last_gate_device_seconds()
                              : MPI_Wtime() - t0;
      engine->run({&current.placement, l, hidden, ids, weights, K, int64_t(me) * T}, *ffn, out);
      out.seconds.gate = gate;
      for (int32_t e : ids) ++counts[size_t(l) * E + e];
      samples.total_rows_sent += out.rows_sent;
      samples.total_rows_received += out.rows_received;
      if (measured) samples.add(l, out, topo, H);
      if (verify_now)
        samples.verify.add(verify_layer_output(s.seed, l, shape, hidden, ids, weights, K,
                                               out.combined, sample, kernels::kBf16OutputRelTol));
    }
    if (measured)
      for (size_t i = 0; i < counts.size(); ++i) measured_counts[i] += counts[i];
    history.push_back(std::move(counts));
    while (static_cast<int>(history.size()) > window) history.pop_front();
  };

  auto rebalance = [&] {
    if (policy_name == "none") return;
    std::vector<int64_t> local(size_t(L) * E, 0), global(size_t(L) * E);
    for (const auto& c : history)
      for (size_t i = 0; i < c.size(); ++i) local[i] += c[i];
    CHECK_MPI(MPI_Allreduce(local.data(), global.data(), int(global.size()), MPI_INT64_T, MPI_SUM,
                            MPI_COMM_WORLD));
    problem.weight.assign(global.begin(), global.end());
    PolicyResult next = policy.compute(problem);  // deterministic: identical on every rank
    samples.migration += migrate_experts(current.placement, next.placement, topo, *ffn, s.seed,
                                         /*verify=*/true);
    ++samples.migration_events;
    current = std::move(next);
  };

  for (int step = 0; step < s.warmup_steps; ++step) do_step(step, false, false);
  rebalance();
  bool verify_next = true;
  for (int i = 0; i < s.measured_steps; ++i) {
    if (s.rebalance_every > 0 && i > 0 && i % s.rebalance_every == 0) {
      rebalance();
      verify_next = policy_name != "none";
    }
    do_step(s.warmup_steps + i, true, verify_next);
    verify_next = false;
  }

  // In-run baselines: the same dispatch byte matrices through a bare MPI_Alltoallv, and sgemm
  // of this rank's FFN FLOPs against the FFN's own rate.
  Baselines base;
  base.raw_alltoallv_us_median = raw_alltoallv_median_us(samples.send_rows, H);
  std::vector<double> ffn_rates;
  double mean_rows = 0;
  for (size_t i = 0; i < samples.rows_received.size(); ++i) {
    mean_rows += double(samples.rows_received[i]) / samples.rows_received.size();
    if (samples.seconds[3][i] > 0)
      ffn_rates.push_back(samples.rows_received[i] * shape.flops_per_token() /
                          samples.seconds[3][i] / 1e9);
  }
  double rates[2] = {percentile(ffn_rates, 50.0),
                     sgemm_gflops(std::llround(mean_rows), H, s.model.ffn, 5)};
  std::vector<double> all_rates(2 * size_t(R));
  CHECK_MPI(MPI_Allgather(rates, 2, MPI_DOUBLE, all_rates.data(), 2, MPI_DOUBLE, MPI_COMM_WORLD));
  std::vector<double> ffn_r, sgemm_r;
  for (int r = 0; r < R; ++r) {
    ffn_r.push_back(all_rates[2 * r]);
    sgemm_r.push_back(all_rates[2 * r + 1]);
  }
  base.ffn_gflops_per_rank = percentile(ffn_r, 50.0);
  base.sgemm_gflops_per_rank = percentile(sgemm_r, 50.0);

  // Realized per-expert load (global (token, k) rows per step, mean over measured steps).
  std::vector<int64_t> global_counts(measured_counts.size());
  CHECK_MPI(MPI_Reduce(measured_counts.data(), global_counts.data(), int(global_counts.size()),
                       MPI_INT64_T, MPI_SUM, 0, MPI_COMM_WORLD));

  const int64_t expected_rows =
      int64_t(T) * K * R * L * (int64_t(s.warmup_steps) + s.measured_steps);
  nlohmann::json run = summarize_run(samples, topo, T, K, shape.flops_per_token(), expected_rows,
                                     base);
  if (me != 0) return {};
  double hottest_over_mean = 0;
  for (int l = 0; l < L; ++l) {
    std::vector<double> per_expert(E);
    for (int e = 0; e < E; ++e)
      per_expert[e] = double(global_counts[size_t(l) * E + e]) / s.measured_steps;
    const double mean = double(T) * K * R / E;
    const double hottest = *std::max_element(per_expert.begin(), per_expert.end());
    hottest_over_mean = std::max(hottest_over_mean, hottest / mean);
    run["layers"][l]["tokens_per_expert"] = per_expert;
    run["layers"][l]["hottest_expert_over_mean"] = hottest / mean;
  }
  run["summary"]["hottest_expert_over_mean"] = hottest_over_mean;
  run["policy"] = policy_name;
  run["policy_used"] = current.policy_used;
  run["num_slots"] = num_slots;
  run["ffn_backend"] = ffn->backend();
  run["layer_engine"] = engine->name();
  return run;
}

}  // namespace epbench
