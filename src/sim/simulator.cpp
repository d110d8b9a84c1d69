// The simulator; see simulator.hpp. The structure follows suite/policy_run.cpp step for step
// (initial placement on uniform loads, warm-up with a statistics window, rebalance, measured
// steps with periodic rebalancing) so that a simulated run and a real one differ only in where
// their times come from.
#include "sim/simulator.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>

#include "common/error.hpp"
#include "dispatch/dispatch_plan.hpp"
#include "dispatch/replica_rule.hpp"
#include "gating/hash_rng.hpp"
#include "measure/context.hpp"
#include "measure/migration_stats.hpp"
#include "placement/policies/lplb.hpp"
#include "placement/policy.hpp"
#include "results/schema.hpp"
#include "sim/cost_model.hpp"
#include "sim/sim_results.hpp"
#include "sim/traffic.hpp"
#include "suite/policy_run.hpp"
#include "suite/token_source.hpp"

namespace epbench::sim {
namespace {

constexpr uint64_t kSampleTag = 0x53494D43;  // "SIMC": the count sampler's stream

// Every rank's phase times of one layer step; the spans (max over ranks; total = sum of spans).
struct StepTimes {
  std::vector<PhaseTimes> ranks;
  PhaseTimes span;
};

// extra_layout_us: what a batch replica rule adds to the layout phase (count exchange, solve).
StepTimes step_times(const Profile& p, const LayerShape& shape, const StepTraffic& t, int spr,
                     double extra_layout_us = 0.0) {
  StepTimes out;
  const int R = static_cast<int>(t.ranks.size());
  out.ranks.resize(R);
  const double gate = gate_us(p, shape), layout = layout_us(p, shape) + extra_layout_us;
  for (int r = 0; r < R; ++r) {
    PhaseTimes& pt = out.ranks[r];
    pt.us[0] = gate;
    pt.us[1] = layout;
    pt.us[2] = dispatch_us(p, shape, t.ranks[r]);
    pt.us[3] = ffn_us(p, shape, std::span<const int64_t>(t.slot_rows).subspan(size_t(r) * spr, spr));
    pt.us[4] = combine_us(p, shape, t.ranks[r]);
    pt.us[5] = pt.us[0] + pt.us[1] + pt.us[2] + pt.us[3] + pt.us[4];
    for (int ph = 0; ph < 5; ++ph) out.span.us[ph] = std::max(out.span.us[ph], pt.us[ph]);
  }
  out.span.us[5] = 0;
  for (int ph = 0; ph < 5; ++ph) out.span.us[5] += out.span.us[ph];
  return out;
}

// The balanced reference step: the same rows, every slot receiving the same count and every
// source spreading its rows evenly over all slots.
PhaseTimes balanced_span(const Profile& p, const LayerShape& shape, const Cluster& c, int slots,
                         const std::string& dispatch) {
  Placement identity(1, slots, c.num_gpus, c.num_nodes(), [&] {
    std::vector<int32_t> v(slots);
    for (int i = 0; i < slots; ++i) v[i] = i;
    return v;
  }());
  StepTraffic t;
  TrafficBuilder b(identity, 0, c.gpus_per_node, SplitModel::kRoundRobin, shape.top_k,
                   shape.tokens_per_rank, dispatch == "node-dedup", t);
  const int64_t rows = shape.tokens_per_rank * shape.top_k;
  std::vector<int64_t> counts(slots);
  for (int r = 0; r < c.num_gpus; ++r) {
    // rows / slots each, the remainder on consecutive slots starting at a rotating offset
    for (int s = 0; s < slots; ++s)
      counts[s] = rows / slots + (((s - int64_t(r) * (rows % slots)) % slots + slots) % slots <
                                  rows % slots);
    b.add_source_counts(r, counts, 0);
  }
  b.finish();
  return step_times(p, shape, t, slots / c.num_gpus).span;
}

// Expert weights moved from `prev` to `next` (plan_expert_transfers: the plan `run` migrates
// by) and the migration time from the cost model.
MigrationStats migration(const Placement& prev, const Placement& next, const Cluster& c,
                         std::span<const int> node_of_rank, const Profile& p,
                         double expert_bytes) {
  const std::vector<ExpertTransfer> transfers = plan_expert_transfers(prev, next, node_of_rank);
  MigrationStats res = transfer_volume(transfers, node_of_rank, int64_t(expert_bytes));
  std::vector<RankMigration> ranks(c.num_gpus);
  std::vector<int> last_peer(size_t(c.num_gpus) * 2, -1);  // per rank and class: last peer
  for (const ExpertTransfer& t : transfers) {
    const int cls = node_of_rank[t.src] == node_of_rank[t.dst] ? 0 : 1;
    ranks[t.src].sent_bytes[cls] += expert_bytes;
    ranks[t.dst].received_bytes[cls] += expert_bytes;
    if (last_peer[size_t(t.dst) * 2 + cls] != t.src) {  // transfers come in dst order
      ++ranks[t.dst].peers[cls];
      last_peer[size_t(t.dst) * 2 + cls] = t.src;
    }
  }
  if (res.experts_moved == 0) return res;
  double us = 0;
  for (const RankMigration& m : ranks) us = std::max(us, migration_us(p, m));
  res.seconds = us * 1e-6;
  return res;
}

nlohmann::json simulate_policy(const Scenario& s, const Cluster& c, const Profile& p,
                               const TokenSource& source, const std::string& routing,
                               const SimOptions& o, int policy_index) {
  const std::string& policy_name = s.policies[policy_index];
  const PlacementPolicy policy = configured_policy(policy_name, s.lplb_topology);
  const int E = s.model.num_experts, L = s.num_layers, R = c.num_gpus, K = s.model.top_k;
  const int64_t T = s.tokens_per_rank;
  const int num_slots = s.slots_for(policy_name, R, c.num_nodes());
  const int spr = num_slots / R;
  const int window = s.window_steps > 0 ? s.window_steps : std::max(s.warmup_steps, 1);
  LayerShape shape{s.model.hidden, s.model.ffn, E, K, R, T};
  shape.cores_per_rank = c.cores_per_rank;
  const std::unique_ptr<ReplicaRule> rule = make_replica_rule(s.replica_rule);
  const bool batch_rule = rule->needs_batch_counts();
  const SplitModel split_model = batch_rule ? SplitModel::kRoundRobin : split_model_of(rule->name());
  // The count exchange of a batch rule: an allgather of every rank's rows per expert.
  const double count_exchange =
      batch_rule ? allgather_us(p, R, c.gpus_per_node, double(E) * sizeof(int64_t)) : 0.0;
  const bool node_dedup = s.dispatch == "node-dedup";
  std::vector<int> node_of_rank(R);
  for (int r = 0; r < R; ++r) node_of_rank[r] = r / c.gpus_per_node;

  EplbProblem problem{L, E, std::vector<double>(size_t(L) * E, 1.0), num_slots, s.model.n_group,
                      c.num_nodes(), R};
  problem.time_budget_ms = s.placement_time_budget_ms;
  PolicyResult current = policy.compute(problem);
  const PhaseTimes balanced = balanced_span(p, shape, c, num_slots, s.dispatch);

  SimSamples out;  // what the measured steps record (sim_results.hpp)
  out.send_bytes_rank.assign(R, 0.0);
  out.expert_counts.assign(size_t(L) * E, 0);
  std::deque<std::vector<int64_t>> history;

  std::vector<float> hidden, weights;
  std::vector<int32_t> ids;
  std::vector<int64_t> counts(E);
  std::vector<int64_t> rank_rows;  // batch rules: [ranks][experts] rows of the batch
  std::vector<int> source_of_rank;
  StepTraffic traffic;

  auto do_step = [&](int step, bool measured) {
    std::vector<int64_t> step_counts(size_t(L) * E, 0);
    for (int l = 0; l < L; ++l) {
      TrafficBuilder builder(current.placement, l, c.gpus_per_node, split_model, K, T,
                             node_dedup, traffic);
      // A batch rule sees the whole batch's counts first (the engines' count exchange), solves
      // once, then every rank takes its share; the static rules plan rank by rank.
      if (batch_rule) rank_rows.assign(size_t(R) * E, 0);
      int64_t avoidable = 0;
      std::vector<double> shares;
      if (routing == "counts") shares = capped_shares(source.popularity(l, step), K);
      for (int r = 0; r < R; ++r) {
        const std::span<int64_t> mine =
            batch_rule ? std::span<int64_t>(rank_rows).subspan(size_t(r) * E, E)
                       : std::span<int64_t>(counts);
        if (routing == "counts") {
          sample_counts(shares, T * K,
                        gating::hash_key({s.seed, kSampleTag, uint64_t(l), uint64_t(step),
                                          uint64_t(r)}),
                        mine);
          if (!batch_rule)
            builder.add_source_counts(r, mine, gating::hash_key({s.seed, uint64_t(l),
                                                                 uint64_t(step), uint64_t(r)}));
          for (int e = 0; e < E; ++e) step_counts[size_t(l) * E + e] += mine[e];
          continue;
        }
        hidden.resize(size_t(T) * s.model.hidden);
        ids.resize(size_t(T) * K * (batch_rule ? R : 1));
        weights.resize(size_t(T) * K);
        const std::span<int32_t> my_ids =
            std::span<int32_t>(ids).subspan(batch_rule ? size_t(r) * T * K : 0, size_t(T) * K);
        source.hidden_states(l, step, r, hidden);
        source.route(l, step, r, hidden, my_ids, weights);
        for (int32_t e : my_ids) ++step_counts[size_t(l) * E + e];
        if (batch_rule) {
          count_expert_rows(my_ids, mine);
          continue;
        }
        const DispatchPlan plan = build_dispatch_plan(current.placement, l, my_ids, K, r,
                                                      int64_t(r) * T, node_of_rank, *rule);
        avoidable += plan.avoidable_inter_node_rows;
        builder.add_source_plan(r, plan);
      }
      double solve = 0.0;
      if (batch_rule) {
        const auto t0 = std::chrono::steady_clock::now();
        rule->solve({&current.placement, l, 0, 0, node_of_rank, rank_rows});
        solve = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                    .count();
        const BatchSplit& split = *rule->split();
        source_of_rank.assign(R, 0);
        if (split.num_sources > 1) source_of_rank = node_of_rank;
        if (routing == "counts") {
          batch_split_rows(current.placement, l, split, rank_rows, source_of_rank,
                           [&](int r, std::span<const SlotRows> rows) {
                             builder.add_source_slot_rows(r, rows);
                           });
        } else {
          for (int r = 0; r < R; ++r) {
            const DispatchPlan plan = build_dispatch_plan(
                current.placement, l, std::span<const int32_t>(ids).subspan(size_t(r) * T * K, size_t(T) * K),
                K, r, int64_t(r) * T, node_of_rank, *rule, rank_rows);
            avoidable += plan.avoidable_inter_node_rows;
            builder.add_source_plan(r, plan);
          }
        }
      }
      builder.finish();
      out.rows_conserved += traffic.total_rows;
      out.rows_expected += int64_t(R) * T * K;
      if (!measured) continue;
      if (o.on_measured_sample) o.on_measured_sample(policy_index, l, traffic, shape);
      if (batch_rule) {
        out.solve_us.push_back(solve);
        out.count_exchange_us.push_back(count_exchange);
      }
      out.avoidable_rows.push_back(double(avoidable));
      const StepTimes times =
          step_times(p, shape, traffic, spr, batch_rule ? count_exchange + solve : 0.0);
      out.layer.push_back(l);
      out.spans.push_back(times.span);
      double mb = 0, intra = 0, inter = 0, dedup = 0, worst = 0;
      for (int r = 0; r < R; ++r) {
        int64_t received = 0;
        for (int sl = 0; sl < spr; ++sl) received += traffic.slot_rows[size_t(r) * spr + sl];
        out.rows.push_back(received);
        for (int ph = 0; ph < kPhases; ++ph) out.rank_us.push_back(times.ranks[r].us[ph]);
        const RankTraffic& rt = traffic.ranks[r];
        const double row_bytes = shape.row_bytes();
        // Flat-dispatch bytes (as `run` reports them whatever the engine).
        // Bytes as `run` reports them: what this rank's engine sends (node-dedup: both stages).
        const double intra_r = double(rt.sent_rows[0]) * row_bytes;
        const double inter_r = double(rt.sent_rows[1]) * row_bytes;
        mb = std::max(mb, intra_r + inter_r + double(rt.self_rows) * row_bytes);
        out.send_bytes_rank[r] += intra_r + inter_r;
        worst = std::max({worst, intra_r + inter_r,
                          double(rt.received_rows[0] + rt.received_rows[1]) * row_bytes});
        dedup += double(traffic.inter_rows_dedup[r]) * row_bytes;
        intra += intra_r;
        inter += inter_r;
      }
      out.max_bytes.push_back(mb);
      out.bottleneck_GBps.push_back(times.span.us[2] > 0 ? worst / (times.span.us[2] * 1e3)
                                                         : 0.0);
      out.intra_bytes.push_back(intra);
      out.inter_bytes.push_back(inter);
      out.dedup_bytes.push_back(dedup);
    }
    if (measured)
      for (size_t i = 0; i < step_counts.size(); ++i) out.expert_counts[i] += step_counts[i];
    history.push_back(std::move(step_counts));
    while (static_cast<int>(history.size()) > window) history.pop_front();
  };

  auto rebalance = [&] {
    if (policy_name == "none") return;
    std::vector<double> weight(size_t(L) * E, 0.0);
    for (const auto& h : history)
      for (size_t i = 0; i < h.size(); ++i) weight[i] += double(h[i]);
    problem.weight = std::move(weight);
    problem.current = current.placement;  // migration-aware policies start from it
    problem.max_moved_experts = s.max_moved_experts;
    problem.num_threads = 1;  // as `run`: deterministic, one core
    const auto t0 = std::chrono::steady_clock::now();
    PolicyResult next = policy.compute(problem);
    out.events.placement_compute_us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
            .count());
    const auto [before, after] = window_balancedness(current.placement, next.placement,
                                                     problem.weight);
    out.events.balance_before.push_back(before);
    out.events.balance_after.push_back(after);
    const MigrationStats m = migration(current.placement, next.placement, c, node_of_rank, p,
                                       shape.expert_weight_bytes());
    out.migrated += m;
    out.events.ms.push_back(m.seconds * 1e3);
    out.events.experts_moved.push_back(m.experts_moved);
    current = std::move(next);
  };

  for (int step = 0; step < s.warmup_steps; ++step) do_step(step, false);
  rebalance();
  for (int i = 0; i < s.measured_steps; ++i) {
    if (s.rebalance_every > 0 && i > 0 && i % s.rebalance_every == 0) rebalance();
    do_step(s.warmup_steps + i, true);
  }

  SimRunInfo info{policy_name, current.policy_used, routing, p.backend, num_slots, L,
                  s.measured_steps, node_dedup, shape, balanced};
  return simulated_run_json(out, info);
}

nlohmann::json simulated_context(const Cluster& c, const Profile& p, const SimOptions& o) {
  std::vector<int> rank_nodes(c.num_gpus);
  std::vector<std::string> hosts, rank_hosts(c.num_gpus);
  for (int nd = 0; nd < c.num_nodes(); ++nd) hosts.push_back("sim-node" + std::to_string(nd));
  for (int r = 0; r < c.num_gpus; ++r) {
    rank_nodes[r] = r / c.gpus_per_node;
    rank_hosts[r] = hosts[rank_nodes[r]];
  }
  return {{"argv", o.argv},
          {"epbench_version", o.version},
          {"git_hash", o.git_hash},
          {"date_utc", utc_timestamp("%Y-%m-%dT%H:%M:%SZ")},
          {"num_ranks", c.num_gpus},
          {"num_nodes", c.num_nodes()},
          {"ranks_per_node", c.gpus_per_node},
          {"node_source", "simulated"},
          {"rank_nodes", rank_nodes},
          {"rank_hosts", rank_hosts},
          {"hosts", hosts},
          {"cpu_model", "simulated (profile " + p.name + ")"},
          {"gpu_models", std::vector<std::string>{}},
          {"backend", p.backend},
          {"comm", p.backend == "cuda" ? "nccl" : "mpi"},
          {"mpi_version", "simulated"},
          {"cuda_version", nullptr},
          {"nccl_version", nullptr},
          {"kokkos_version", nullptr},
          {"blas", nullptr},
          {"interconnect", nullptr},
          {"slurm", nullptr},
          {"oversubscribed", false},
          {"max_ranks_per_host", c.gpus_per_node},
          {"cores_per_host", c.gpus_per_node},
          {"time_reduction",
           "simulated: per phase the max over ranks of the cost model's time (the span between "
           "barriers); total = sum of the phase spans"}};
}

}  // namespace

std::string resolve_routing(const Scenario& s, const Cluster& c, const std::string& routing) {
  if (routing != "auto") return routing;
  if (!s.trace.empty()) return "tokens";
  // The router's logits GEMM for every token of every rank, layer and step.
  const double flops = 2.0 * s.model.hidden * s.model.num_experts * double(s.tokens_per_rank) *
                       c.num_gpus * s.num_layers * (s.warmup_steps + s.measured_steps) *
                       double(s.policies.size());
  return flops <= 2e10 ? "tokens" : "counts";
}

void validate_simulation(const Scenario& s, const Cluster& c, const SimOptions& o) {
  require_input(c.num_gpus >= 1, "--gpus must be positive, got " + std::to_string(c.num_gpus));
  require_input(c.gpus_per_node >= 1 && c.num_gpus % c.gpus_per_node == 0,
                "--gpus " + std::to_string(c.num_gpus) + " is not a multiple of --gpus-per-node " +
                    std::to_string(c.gpus_per_node));
  // Per-(rank, expert) state (sampled counts, a batch rule's split): 2^27 cells is 1 GiB of
  // 64-bit counts, beyond any cluster the study needs (4096 GPUs x 4096 experts is 2^24).
  require_input(double(c.num_gpus) * s.model.num_experts <= double(1 << 27),
                std::to_string(c.num_gpus) + " GPUs x " + std::to_string(s.model.num_experts) +
                    " experts is more than the simulator's 2^27 (rank, expert) cells");
  require_input(std::isfinite(c.cores_per_rank) && c.cores_per_rank > 0 &&
                    c.cores_per_rank <= 1024,
                "--cores-per-rank must be in (0, 1024], got " + std::to_string(c.cores_per_rank));
  require_input(o.routing == "auto" || o.routing == "tokens" || o.routing == "counts",
                "unknown --routing \"" + o.routing + "\" (known: auto, tokens, counts)");
  require_input(!(o.routing == "counts" && !s.trace.empty()),
                "--routing counts needs the router's shares: a --trace replays with tokens");
  s.validate_for(c.num_gpus, c.num_nodes());
}

nlohmann::json simulate(const Scenario& s, const Cluster& c, const Profile& p,
                        const SimOptions& o) {
  validate_simulation(s, c, o);
  const std::string routing = resolve_routing(s, c, o.routing);
  const TokenSource source(s, c.num_gpus);
  nlohmann::json doc = {{"schema", kResultsSchemaName},
                        {"schema_version", kResultsSchemaVersion},
                        {"simulated", true},
                        {"profile", p.to_json()}};
  doc["runs"] = nlohmann::json::array();
  for (size_t i = 0; i < s.policies.size(); ++i)
    doc["runs"].push_back(simulate_policy(s, c, p, source, routing, o, int(i)));
  doc["context"] = simulated_context(c, p, o);
  doc["scenario"] = s.to_json();
  if (!s.label.empty()) doc["label"] = s.label;
  return doc;
}

}  // namespace epbench::sim
