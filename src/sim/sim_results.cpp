// Reduction of a simulated policy run's samples; see sim_results.hpp.
#include "sim/sim_results.hpp"

#include <algorithm>
#include <cmath>

#include "metrics/balance.hpp"
#include "metrics/stats.hpp"
#include "results/schema.hpp"

namespace epbench::sim {
namespace {

constexpr int64_t kMaxRankSamples = 200000;  // ranks x samples above which raw samples are omitted

double mean_of(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? 0.0 : sum / double(v.size());
}

}  // namespace

nlohmann::json simulated_run_json(const SimSamples& S, const SimRunInfo& info) {
  const LayerShape& shape = info.shape;
  const int L = info.num_layers, E = shape.num_experts, R = shape.num_ranks, K = shape.top_k;
  const int64_t T = shape.tokens_per_rank;
  const PhaseTimes& balanced = info.balanced;
  const int n = static_cast<int>(S.spans.size());
  auto phase_series = [&](int ph, const std::vector<int>* only_layer) {
    std::vector<double> v;
    for (int i = 0; i < n; ++i)
      if (!only_layer || S.layer[i] == (*only_layer)[0]) v.push_back(S.spans[i].us[ph]);
    return v;
  };
  nlohmann::json layers = nlohmann::json::array();
  double sum_mean = 0, sum_max = 0, min_layer = 1.0, mean_layer = 0.0, hottest_over_mean = 0;
  for (int l = 0; l < L; ++l) {
    double lmean = 0, lmax = 0;
    std::vector<double> tokens(R, 0.0);
    int count = 0;
    for (int i = 0; i < n; ++i) {
      if (S.layer[i] != l) continue;
      std::vector<double> v(R);
      for (int r = 0; r < R; ++r) v[r] = double(S.rows[size_t(i) * R + r]);
      const LoadStats st = load_stats(v);
      lmean += st.mean;
      lmax += st.max;
      for (int r = 0; r < R; ++r) tokens[r] += v[r];
      ++count;
    }
    const double bal = lmax > 0 ? lmean / lmax : 1.0;
    sum_mean += lmean;
    sum_max += lmax;
    min_layer = std::min(min_layer, bal);
    mean_layer += bal / L;
    std::vector<int64_t> tokens_int(R);
    for (int r = 0; r < R; ++r) tokens_int[r] = std::llround(tokens[r] / std::max(count, 1));
    const std::vector<int> which = {l};
    nlohmann::json phases;
    for (int ph = 0; ph < kPhases; ++ph) phases[kResultsPhases[ph]] = stats_json(phase_series(ph, &which));
    std::vector<double> per_expert(E);
    for (int e = 0; e < E; ++e)
      per_expert[e] = double(S.expert_counts[size_t(l) * E + e]) / info.measured_steps;
    const double hottest = *std::max_element(per_expert.begin(), per_expert.end()) /
                           (double(T) * K * R / E);
    hottest_over_mean = std::max(hottest_over_mean, hottest);
    layers.push_back({{"layer", l}, {"balancedness", bal},
                      {"imbalance_ratio", lmean > 0 ? lmax / lmean : 1.0},
                      {"tokens_per_rank", tokens_int}, {"phases_us", phases},
                      {"tokens_per_expert", per_expert}, {"hottest_expert_over_mean", hottest}});
  }
  nlohmann::json phases, tax, balanced_json, rank_median;
  for (int ph = 0; ph < kPhases; ++ph) {
    const std::vector<double> series = phase_series(ph, nullptr);
    phases[kResultsPhases[ph]] = stats_json(series);
    if (ph > 0) {  // the balanced reference and the tax cover layout .. combine and the step
      std::vector<double> ratio, reference(series.size(), balanced.us[ph]);
      for (double x : series) ratio.push_back(balanced.us[ph] > 0 ? x / balanced.us[ph] : 1.0);
      tax[kResultsPhases[ph]] = stats_json(ratio);
      balanced_json[kResultsPhases[ph]] = stats_json(reference);
    }
    if (ph == kPhases - 1) break;  // a step has no per-rank total
    std::vector<double> med(R);
    for (int r = 0; r < R; ++r) {
      std::vector<double> v(n);
      for (int i = 0; i < n; ++i) v[i] = S.rank_us[(size_t(i) * R + r) * kPhases + ph];
      med[r] = percentile(v, 50.0);
    }
    rank_median[kResultsPhases[ph]] = med;
  }
  // Raw per-rank samples (as `run` writes them) while they stay small.
  nlohmann::json rank_samples;
  if (int64_t(R) * n <= kMaxRankSamples)
    for (int ph = 0; ph < kPhases - 1; ++ph) {
      nlohmann::json per = nlohmann::json::array();
      for (int r = 0; r < R; ++r) {
        std::vector<double> v(n);
        for (int i = 0; i < n; ++i) v[i] = S.rank_us[(size_t(i) * R + r) * kPhases + ph];
        per.push_back(v);
      }
      rank_samples[kResultsPhases[ph]] = std::move(per);
    }
  std::vector<int64_t> tokens_received(R), send_bytes(R);
  for (int r = 0; r < R; ++r) {
    double rows = 0;
    for (int i = 0; i < n; ++i) rows += double(S.rows[size_t(i) * R + r]);
    tokens_received[r] = std::llround(rows / std::max(n, 1));
    send_bytes[r] = std::llround(S.send_bytes_rank[r] / std::max(n, 1));
  }
  const std::vector<double> totals = phase_series(5, nullptr);
  const double total_s = percentile(totals, 50.0) * 1e-6;
  const double dispatch_s = percentile(phase_series(2, nullptr), 50.0) * 1e-6;
  const double ffn_s = percentile(phase_series(3, nullptr), 50.0) * 1e-6;
  const int64_t dispatch_bytes = std::llround(mean_of(S.max_bytes));
  const double algbw = dispatch_s > 0 ? double(dispatch_bytes) / dispatch_s / 1e9 : 0.0;
  const double rows_per_sample = double(T) * K * R;
  double step_seconds = 0;
  for (double x : totals) step_seconds += x * 1e-6;
  double placement_us_total = 0;
  for (double x : S.events.placement_compute_us) placement_us_total += x;
  const double amortized_s = step_seconds + placement_us_total * 1e-6 + S.migrated.seconds;
  nlohmann::json summary = {
      {"balancedness", sum_max > 0 ? sum_mean / sum_max : 1.0},
      {"balancedness_mean_layer", mean_layer},
      {"balancedness_min_layer", min_layer},
      {"imbalance_ratio", sum_mean > 0 ? sum_max / sum_mean : 1.0},
      {"phases_us", phases},
      {"hottest_expert_over_mean", hottest_over_mean},
      {"tax", tax},
      {"balanced_phases_us", balanced_json},
      {"tokens_per_s", total_s > 0 ? double(T) * R / total_s : 0.0},
      {"amortized_tokens_per_s",
       amortized_s > 0 ? double(T) * R * double(n) / L / amortized_s : 0.0},
      {"ffn_gflops", ffn_s > 0 ? rows_per_sample * shape.flops_per_row() / ffn_s / 1e9 : 0.0},
      {"dispatch_bytes", dispatch_bytes},
      {"dispatch_bottleneck_GBps", stats_json(S.bottleneck_GBps)},
      {"dispatch_algbw_GBps", algbw},
      {"dispatch_busbw_nccl_tests_GBps", algbw * (R - 1) / R},
      {"intra_node_bytes", std::llround(mean_of(S.intra_bytes))},
      {"inter_node_bytes", std::llround(mean_of(S.inter_bytes))},
      {"inter_node_bytes_node_dedup", std::llround(mean_of(S.dedup_bytes))},
      {"replica_rule",
       [&] {
         nlohmann::json j = {{"count_exchange_us", stats_json(S.count_exchange_us)},
                             {"solve_us", stats_json(S.solve_us)},
                             {"count_exchange_model",
                              "allgather of experts x 8 bytes per rank over the inter-node "
                              "link (alpha log2(ranks) + bytes / beta)"}};
         // Counted from the real dispatch plans; sampled counts carry no per-row choice.
         if (info.routing == "tokens") j["avoidable_inter_node_rows"] = mean_of(S.avoidable_rows);
         return j;
       }()},
      {"migration", migration_json(S.migrated, S.events)},
      {"verify",
       {{"checked_tokens", 0}, {"wrong", 0}, {"max_rel_err", 0.0},
        {"tokens_conserved", S.rows_conserved == S.rows_expected},
        {"migrated_experts_checked", 0}, {"migrated_experts_wrong", 0}}},
  };
  nlohmann::json per_rank = {{"phase_us_median", rank_median},
                             {"tokens_received", tokens_received},
                             {"send_bytes", send_bytes}};
  nlohmann::json samples_json;
  if (!rank_samples.is_null()) {
    per_rank["phase_us_samples"] = std::move(rank_samples);
    samples_json = {{"layer", S.layer}, {"total_us", totals}};
  }
  return {{"policy", info.policy},
          {"policy_used", info.policy_used},
          {"num_slots", info.num_slots},
          {"ffn_backend", info.backend},
          {"layer_engine", std::string("simulated-") + (info.node_dedup ? "node-dedup" : "flat")},
          {"routing", info.routing},
          {"summary", summary},
          {"layers", layers},
          {"per_rank", per_rank},
          {"samples", samples_json}};
}

}  // namespace epbench::sim
