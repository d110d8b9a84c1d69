// Samples of one policy run, their gathering and reduction; see samples.hpp.
#include "measure/samples.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "measure/traffic_matrix.hpp"
#include "metrics/balance.hpp"
#include "metrics/stats.hpp"

namespace epbench {

void RunSamples::add(int layer_index, int step_index, const LayerStepOutput& m,
                     const LayerStepOutput& b) {
  layer.push_back(layer_index);
  step.push_back(step_index);
  for (int p = 0; p < kNumPhases; ++p) {
    start[p].push_back(m.start[p]);
    seconds[p].push_back(m.seconds[p]);
    ref_start[p].push_back(b.start[p]);
    ref_seconds[p].push_back(b.seconds[p]);
  }
  reference_gemm_seconds.push_back(m.reference_gemm_seconds);
  rows_received.push_back(m.rows_received);
  send_rows.insert(send_rows.end(), m.send_rows.begin(), m.send_rows.end());
  inter_dedup_rows.push_back(m.inter_node_rows_dedup);
  const int64_t bytes[5] = {m.dispatch_intra_node_bytes, m.dispatch_inter_node_bytes,
                            m.combine_intra_node_bytes, m.combine_inter_node_bytes,
                            m.dispatch_inter_node_metadata_bytes};
  for (int d = 0; d < 5; ++d) direction_bytes[d].push_back(bytes[d]);
  count_exchange_us.push_back(m.count_exchange_us);
  solve_us.push_back(m.solve_us);
  avoidable_inter_node_rows.push_back(m.avoidable_inter_node_rows);
}

namespace {

template <typename T>
std::vector<T> gather(const std::vector<T>& mine, MPI_Datatype type, int num_ranks) {
  std::vector<T> all(mine.size() * size_t(num_ranks));
  CHECK_MPI(MPI_Gather(mine.data(), int(mine.size()), type, all.data(), int(mine.size()), type, 0,
                       MPI_COMM_WORLD));
  return all;
}

}  // namespace

GatheredRun gather_run(const RunSamples& s, const comm::Topology& topo,
                       const std::vector<double>& clock_offsets, int64_t expected_rows) {
  const int R = topo.num_ranks, n = static_cast<int>(s.layer.size());
  GatheredRun g;
  g.num_ranks = R;
  g.num_samples = n;
  g.num_layers = s.num_layers;
  g.layer = s.layer;
  g.step = s.step;
  const double offset = clock_offsets.at(topo.rank);
  for (int p = 0; p < kNumPhases; ++p) {
    std::vector<double> start(n), end(n), ref_start(n), ref_end(n);
    for (int i = 0; i < n; ++i) {
      start[i] = s.start[p][i] - offset;
      end[i] = start[i] + s.seconds[p][i];
      ref_start[i] = s.ref_start[p][i] - offset;
      ref_end[i] = ref_start[i] + s.ref_seconds[p][i];
    }
    g.start[p] = gather(start, MPI_DOUBLE, R);
    g.end[p] = gather(end, MPI_DOUBLE, R);
    g.ref_start[p] = gather(ref_start, MPI_DOUBLE, R);
    g.ref_end[p] = gather(ref_end, MPI_DOUBLE, R);
  }
  g.reference_gemm_seconds = gather(s.reference_gemm_seconds, MPI_DOUBLE, R);
  g.rows_received = gather(s.rows_received, MPI_INT64_T, R);
  g.inter_dedup_rows = gather(s.inter_dedup_rows, MPI_INT64_T, R);
  g.count_exchange_us = gather(s.count_exchange_us, MPI_DOUBLE, R);
  g.solve_us = gather(s.solve_us, MPI_DOUBLE, R);
  g.avoidable_inter_node_rows = gather(s.avoidable_inter_node_rows, MPI_INT64_T, R);
  // send_rows: gathered source-major [src][i][dst], stored sample-major [i][src][dst].
  const std::vector<int64_t> by_source = gather(s.send_rows, MPI_INT64_T, R);
  if (topo.rank == 0) {
    g.send_rows.assign(size_t(n) * R * R, 0);
    for (int src = 0; src < R; ++src)
      for (int i = 0; i < n; ++i)
        for (int dst = 0; dst < R; ++dst)
          g.send_rows[(size_t(i) * R + src) * R + dst] =
              by_source[(size_t(src) * n + i) * R + dst];
  }
  std::array<int64_t, 5> mine{};
  for (int d = 0; d < 5; ++d)
    for (int64_t b : s.direction_bytes[d]) mine[d] += b;
  CHECK_MPI(MPI_Reduce(mine.data(), g.direction_bytes.data(), 5, MPI_INT64_T, MPI_SUM, 0,
                       MPI_COMM_WORLD));
  int64_t counts[2] = {s.total_rows_sent, s.total_rows_received};
  int64_t sums[2];
  CHECK_MPI(MPI_Reduce(counts, sums, 2, MPI_INT64_T, MPI_SUM, 0, MPI_COMM_WORLD));
  g.verify = verify_summary_json(s.verify);
  g.tokens_conserved = sums[0] == sums[1] && sums[0] == expected_rows;
  g.migration = s.migration;
  g.placement_seconds.assign(s.placement_seconds.size(), 0.0);
  CHECK_MPI(MPI_Reduce(s.placement_seconds.data(), g.placement_seconds.data(),
                       int(s.placement_seconds.size()), MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD));
  g.migration_seconds = s.migration_seconds;
  g.migration_experts = s.migration_experts;
  g.replacement_balance = s.replacement_balance;
  return g;
}

nlohmann::json migration_json(const MigrationStats& total, const MigrationEvents& events) {
  return {{"events", events.ms.size()},
          {"bytes", total.bytes},
          {"inter_node_bytes", total.inter_node_bytes},
          {"experts_moved", total.experts_moved},
          {"seconds", total.seconds},
          {"per_event_ms", events.ms},
          {"per_event_experts_moved", events.experts_moved},
          {"per_event_window_balancedness_before", events.balance_before},
          {"per_event_window_balancedness_after", events.balance_after},
          {"placement_compute_us", events.placement_compute_us}};
}

nlohmann::json stats_json(std::span<const double> values, double scale) {
  std::vector<double> v(values.begin(), values.end());
  for (double& x : v) x *= scale;
  const SampleStats s = sample_stats(v);
  nlohmann::json j = {{"median", s.median}, {"min", s.min}, {"max", s.max},
                      {"ci95", {s.ci95_low, s.ci95_high}}, {"count", s.count}};
  if (s.has_p99()) j["p99"] = s.p99;
  return j;
}

namespace {

// Per-sample reductions of one repetition over ranks.
struct SampleView {
  const GatheredRun& g;
  int R, n;
  explicit SampleView(const GatheredRun& run) : g(run), R(run.num_ranks), n(run.num_samples) {}
  size_t at(int rank, int i) const { return size_t(rank) * n + i; }
  double min_start(const std::vector<double>& start, int i) const {
    double v = std::numeric_limits<double>::infinity();
    for (int r = 0; r < R; ++r) v = std::min(v, start[at(r, i)]);
    return v;
  }
  double max_end(const std::vector<double>& end, int i) const {
    double v = -std::numeric_limits<double>::infinity();
    for (int r = 0; r < R; ++r) v = std::max(v, end[at(r, i)]);
    return v;
  }
  double span(int p, int i) const { return max_end(g.end[p], i) - min_start(g.start[p], i); }
  double ref_span(int p, int i) const {
    return max_end(g.ref_end[p], i) - min_start(g.ref_start[p], i);
  }
  double step(int i) const { return max_end(g.end[4], i) - min_start(g.start[0], i); }
  // The balanced reference step: its own layout..combine, with the measured gate.
  double ref_step(int i) const {
    return span(0, i) + max_end(g.ref_end[4], i) - min_start(g.ref_start[1], i);
  }
  double slowest_rank(int p, int i) const {
    double v = 0;
    for (int r = 0; r < R; ++r) v = std::max(v, g.end[p][at(r, i)] - g.start[p][at(r, i)]);
    return v;
  }
  int64_t rows(int src, int dst, int i) const {
    return g.send_rows[(size_t(i) * R + src) * R + dst];
  }
  std::span<const int64_t> row_matrix(int i) const {
    return {g.send_rows.data() + size_t(i) * R * R, size_t(R) * R};
  }
};

double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

// Pools a repetition's verify block into `into`: counts add up, maxima and flags combine, the
// expected and RMS errors keep the larger value (per-repetition sums are not kept).
void merge_verify(nlohmann::json& into, const nlohmann::json& rep) {
  if (into.is_null() || !into.is_object()) {
    into = rep;
    return;
  }
  for (const char* k : {"checked_tokens", "wrong", "output_wrong", "topk_mismatches"})
    if (rep.contains(k)) into[k] = into.value(k, int64_t(0)) + rep[k].get<int64_t>();
  for (const char* k : {"max_rel_err", "expected_rel_err", "rel_err_rms", "max_rel_tolerance"})
    if (rep.contains(k)) into[k] = std::max(into.value(k, 0.0), rep[k].get<double>());
  if (rep.contains("topk_rederived"))
    into["topk_rederived"] = into.value("topk_rederived", true) && rep["topk_rederived"].get<bool>();
  if (rep.contains("max_rel_err_over_expected"))
    into["max_rel_err_over_expected"] =
        into.value("max_rel_err_over_expected", false) || rep["max_rel_err_over_expected"].get<bool>();
}

}  // namespace

nlohmann::json summarize_runs(const std::vector<GatheredRun>& reps, const RunShape& shape) {
  const GatheredRun& first = reps.at(0);
  const int R = first.num_ranks, L = first.num_layers;
  const int64_t row_bytes = int64_t(shape.hidden) * 2;
  constexpr int kTotal = kNumPhases;  // index of the step total in per-phase arrays

  // Pooled per-sample series (all repetitions), overall and per layer.
  std::array<std::vector<double>, kNumPhases + 1> span, ref_span, tax, slowest;
  std::vector<std::array<std::vector<double>, kNumPhases + 1>> layer_span(L);
  std::vector<std::vector<double>> layer_tax(L);
  std::vector<double> sum_of_spans, ffn_vs_gemm, bottleneck_GBps, rep_total_median;
  std::vector<double> layer_mean(L, 0), layer_max(L, 0);
  std::vector<std::vector<double>> layer_tokens(L, std::vector<double>(R, 0.0));
  std::vector<int> layer_count(L, 0);
  std::vector<std::vector<double>> rank_samples(size_t(kNumPhases) * R);  // [phase][rank]
  std::vector<double> total_series;
  std::vector<int> sample_layers;
  std::vector<double> ffn_rank_gflops, gemm_rank_gflops, rank_sent_off(R, 0.0);
  double max_bytes_sum = 0, intra_sum = 0, inter_sum = 0, dedup_sum = 0;
  int64_t sample_count = 0;
  double step_seconds_sum = 0, overhead_seconds = 0;
  nlohmann::json verify = first.verify;
  std::vector<double> sample_balancedness, count_exchange_us, solve_us;  // per sample
  double avoidable_rows_sum = 0;
  bool conserved = true;
  MigrationStats migration;
  MigrationEvents events;
  std::array<double, 5> direction_sum{};

  for (const GatheredRun& g : reps) {
    const SampleView v(g);
    std::vector<double> rep_total;
    for (int i = 0; i < g.num_samples; ++i) {
      const int l = g.layer[i];
      double spans_sum = 0;
      for (int p = 0; p < kNumPhases; ++p) {
        const double sp = v.span(p, i);
        span[p].push_back(sp);
        layer_span[l][p].push_back(sp);
        slowest[p].push_back(v.slowest_rank(p, i));
        spans_sum += sp;
        if (p > 0) {
          const double rs = v.ref_span(p, i);
          ref_span[p].push_back(rs);
          tax[p].push_back(ratio(sp, rs));
        }
        for (int r = 0; r < R; ++r)
          rank_samples[size_t(p) * R + r].push_back(
              (g.end[p][v.at(r, i)] - g.start[p][v.at(r, i)]) * 1e6);
      }
      const double step = v.step(i), ref_step = v.ref_step(i);
      span[kTotal].push_back(step);
      layer_span[l][kTotal].push_back(step);
      ref_span[kTotal].push_back(ref_step);
      tax[kTotal].push_back(ratio(step, ref_step));
      layer_tax[l].push_back(ratio(step, ref_step));
      sum_of_spans.push_back(spans_sum);
      rep_total.push_back(step);
      total_series.push_back(step * 1e6);
      sample_layers.push_back(l);
      step_seconds_sum += step;

      // Rows received per rank: balancedness (vLLM form over samples).
      std::vector<double> recv(R);
      for (int r = 0; r < R; ++r) recv[r] = double(g.rows_received[v.at(r, i)]);
      const LoadStats st = load_stats(recv);
      sample_balancedness.push_back(st.max > 0 ? st.mean / st.max : 1.0);
      // Replica rule costs: the slowest rank's count exchange and solve; off-node rows summed
      // (absent in runs gathered without them: 0).
      double exchange = 0, solve = 0, avoidable = 0;
      const bool has_rule_costs = g.count_exchange_us.size() == g.rows_received.size() &&
                                  g.solve_us.size() == g.rows_received.size() &&
                                  g.avoidable_inter_node_rows.size() == g.rows_received.size();
      for (int r = 0; r < R && has_rule_costs; ++r) {
        exchange = std::max(exchange, g.count_exchange_us[v.at(r, i)]);
        solve = std::max(solve, g.solve_us[v.at(r, i)]);
        avoidable += double(g.avoidable_inter_node_rows[v.at(r, i)]);
      }
      count_exchange_us.push_back(exchange);
      solve_us.push_back(solve);
      avoidable_rows_sum += avoidable;
      layer_mean[l] += st.mean;
      layer_max[l] += st.max;
      for (int r = 0; r < R; ++r) layer_tokens[l][r] += recv[r];
      ++layer_count[l];

      // Bytes: nccl-tests form (max over ranks of bytes sent, own rows included), node split,
      // and the bottleneck form (max over ranks of off-rank bytes sent or received / span).
      double max_sent_all = 0;
      const double bottleneck = double(
          bottleneck_bytes(byte_matrix_from_rows(v.row_matrix(i), R, row_bytes), R));
      for (int r = 0; r < R; ++r) {
        int64_t sent_all = 0, sent_off = 0;
        for (int d = 0; d < R; ++d) {
          sent_all += v.rows(r, d, i);
          if (d == r) continue;
          sent_off += v.rows(r, d, i);
          (shape.node_of_rank[d] == shape.node_of_rank[r] ? intra_sum : inter_sum) +=
              double(v.rows(r, d, i) * row_bytes);
        }
        max_sent_all = std::max(max_sent_all, double(sent_all * row_bytes));
        rank_sent_off[r] += double(sent_off * row_bytes);
        dedup_sum += double(g.inter_dedup_rows[v.at(r, i)] * row_bytes);
        const size_t at = v.at(r, i);
        const double ffn = g.end[3][at] - g.start[3][at], gemm = g.reference_gemm_seconds[at];
        if (ffn > 0 && gemm > 0) {
          const double flops = double(g.rows_received[v.at(r, i)]) * shape.flops_per_row;
          ffn_vs_gemm.push_back(gemm / ffn);
          ffn_rank_gflops.push_back(flops / ffn / 1e9);
          gemm_rank_gflops.push_back(flops / gemm / 1e9);
        }
      }
      max_bytes_sum += max_sent_all;
      bottleneck_GBps.push_back(ratio(bottleneck, v.span(2, i)) / 1e9);
      ++sample_count;
    }
    rep_total_median.push_back(percentile(rep_total, 50.0) * 1e6);
    for (int d = 0; d < 5; ++d) direction_sum[d] += double(g.direction_bytes[d]);
    if (&g != &first) merge_verify(verify, g.verify);
    conserved = conserved && g.tokens_conserved;
    migration += g.migration;
    for (double s : g.placement_seconds) {
      events.placement_compute_us.push_back(s * 1e6);
      overhead_seconds += s;
    }
    events.experts_moved.insert(events.experts_moved.end(), g.migration_experts.begin(),
                                g.migration_experts.end());
    for (const auto& b : g.replacement_balance) {
      events.balance_before.push_back(b[0]);
      events.balance_after.push_back(b[1]);
    }
    for (double s : g.migration_seconds) {
      events.ms.push_back(s * 1e3);
      overhead_seconds += s;
    }
  }

  auto phases_json = [&](const std::array<std::vector<double>, kNumPhases + 1>& series,
                         bool with_gate) {
    nlohmann::json j;
    for (int p = with_gate ? 0 : 1; p < kNumPhases; ++p)
      j[kPhaseNames[p]] = stats_json(series[p], 1e6);
    j["total"] = stats_json(series[kTotal], 1e6);
    return j;
  };
  nlohmann::json tax_json;
  for (int p = 1; p < kNumPhases; ++p) tax_json[kPhaseNames[p]] = stats_json(tax[p]);
  tax_json["total"] = stats_json(tax[kTotal]);

  nlohmann::json layers = nlohmann::json::array();
  double sum_mean = 0, sum_max = 0, min_layer = 1.0, mean_layer = 0.0;
  for (int l = 0; l < L; ++l) {
    const double bal = layer_max[l] > 0 ? layer_mean[l] / layer_max[l] : 1.0;
    sum_mean += layer_mean[l];
    sum_max += layer_max[l];
    min_layer = std::min(min_layer, bal);
    mean_layer += bal / L;
    std::vector<int64_t> tokens(R);
    for (int r = 0; r < R; ++r)
      tokens[r] = std::llround(layer_tokens[l][r] / std::max(layer_count[l], 1));
    layers.push_back({{"layer", l},
                      {"balancedness", bal},
                      {"imbalance_ratio", layer_mean[l] > 0 ? layer_max[l] / layer_mean[l] : 1.0},
                      {"tokens_per_rank", tokens},
                      {"phases_us", phases_json(layer_span[l], true)},
                      {"tax_total", stats_json(layer_tax[l])}});
  }

  const double n = double(std::max<int64_t>(sample_count, 1));
  const double total_med_s = percentile(span[kTotal], 50.0);
  const double dispatch_med_s = percentile(span[2], 50.0);
  const double ffn_med_s = percentile(span[3], 50.0);
  const double dispatch_bytes = max_bytes_sum / n;
  const double algbw = ratio(dispatch_bytes, dispatch_med_s) / 1e9;
  const double rows_per_sample = double(shape.tokens_per_rank) * shape.top_k * R;
  const double tokens_per_sample = double(shape.tokens_per_rank) * R;
  nlohmann::json rank_median, rank_raw;
  for (int p = 0; p < kNumPhases; ++p) {
    std::vector<double> medians;
    nlohmann::json per = nlohmann::json::array();
    for (int r = 0; r < R; ++r) {
      medians.push_back(percentile(rank_samples[size_t(p) * R + r], 50.0));
      per.push_back(rank_samples[size_t(p) * R + r]);
    }
    rank_median[kPhaseNames[p]] = medians;
    rank_raw[kPhaseNames[p]] = std::move(per);
  }
  std::vector<int64_t> tokens_received(R, 0), send_bytes(R, 0);
  for (int r = 0; r < R; ++r) send_bytes[r] = std::llround(rank_sent_off[r] / n);
  for (int l = 0; l < L; ++l)
    for (int r = 0; r < R; ++r) tokens_received[r] += std::llround(layer_tokens[l][r] / n);

  nlohmann::json summary = {
      {"repetitions", reps.size()},
      {"phase_barriers", shape.phase_barriers},
      {"balancedness", sum_max > 0 ? sum_mean / sum_max : 1.0},
      {"balancedness_mean_layer", mean_layer},
      {"balancedness_min_layer", min_layer},
      {"imbalance_ratio", sum_mean > 0 ? sum_max / sum_mean : 1.0},
      {"phases_us", phases_json(span, true)},
      {"slowest_rank_phases_us", [&] {
         nlohmann::json j;
         for (int p = 0; p < kNumPhases; ++p) j[kPhaseNames[p]] = stats_json(slowest[p], 1e6);
         return j;
       }()},
      {"sum_of_phase_spans_us", stats_json(sum_of_spans, 1e6)},
      {"balanced_phases_us", phases_json(ref_span, false)},
      {"tax", tax_json},
      {"repetition_total_us_median", rep_total_median},
      {"tokens_per_s", ratio(tokens_per_sample, total_med_s)},
      {"amortized_tokens_per_s",
       ratio(tokens_per_sample * double(sample_count), step_seconds_sum + overhead_seconds)},
      {"ffn_gflops", ratio(rows_per_sample * shape.flops_per_row, ffn_med_s) / 1e9},
      {"ffn_vs_gemm", stats_json(ffn_vs_gemm)},
      {"ffn_gflops_per_rank", percentile(ffn_rank_gflops, 50.0)},
      {"reference_gemm_gflops_per_rank", percentile(gemm_rank_gflops, 50.0)},
      {"dispatch_bytes", std::llround(dispatch_bytes)},
      {"dispatch_algbw_GBps", algbw},
      {"dispatch_busbw_nccl_tests_GBps", algbw * (R - 1) / R},
      {"dispatch_bottleneck_GBps", stats_json(bottleneck_GBps)},
      {"intra_node_bytes", std::llround(intra_sum / n)},
      {"inter_node_bytes", std::llround(inter_sum / n)},
      {"inter_node_bytes_node_dedup", std::llround(dedup_sum / n)},
      {"bytes_by_direction",  // payload to other ranks per sample, summed over ranks
       {{"dispatch_intra_node", std::llround(direction_sum[0] / n)},
        {"dispatch_inter_node", std::llround(direction_sum[1] / n)},
        {"combine_intra_node", std::llround(direction_sum[2] / n)},
        {"combine_inter_node", std::llround(direction_sum[3] / n)},
        {"dispatch_inter_node_metadata", std::llround(direction_sum[4] / n)}}},
      {"replica_rule",
       {{"count_exchange_us", stats_json(count_exchange_us)},
        {"solve_us", stats_json(solve_us)},
        {"avoidable_inter_node_rows", avoidable_rows_sum / n}}},
      {"migration", migration_json(migration, events)},
      {"verify",
       [&] {
         nlohmann::json v = verify;
         v.update({{"tokens_conserved", conserved},
                   {"migrated_experts_checked", migration.checked},
                   {"migrated_experts_wrong", migration.wrong}});
         return v;
       }()}};
  return {{"summary", summary},
          {"layers", layers},
          {"samples",
           {{"layer", sample_layers},
            {"total_us", total_series},
            {"balancedness", sample_balancedness}}},
          {"per_rank",
           {{"phase_us_median", rank_median},
            {"phase_us_samples", rank_raw},
            {"tokens_received", tokens_received},
            {"send_bytes", send_bytes}}}};
}

}  // namespace epbench
