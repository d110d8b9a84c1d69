// Reduction of per-rank samples into a results "run" object; see samples.hpp.
#include "measure/samples.hpp"

#include <algorithm>
#include <cmath>

#include "metrics/balance.hpp"
#include "metrics/stats.hpp"

namespace epbench {

void RunSamples::add(int layer_index, const LayerStepOutput& out, const comm::Topology& topo,
                     int hidden) {
  layer.push_back(layer_index);
  const PhaseSeconds& s = out.seconds;
  const double values[6] = {s.gate, s.layout, s.dispatch, s.ffn, s.combine, s.total()};
  for (int p = 0; p < 6; ++p) seconds[p].push_back(values[p]);
  rows_received.push_back(out.rows_received);
  const int64_t row_bytes = int64_t(hidden) * 2;
  int64_t all = 0, intra = 0, inter = 0;
  for (int r = 0; r < topo.num_ranks; ++r) {
    const int64_t b = out.send_rows[r] * row_bytes;
    all += b;
    if (r == topo.rank) continue;
    (topo.node_of_rank[r] == topo.node_of_rank[topo.rank] ? intra : inter) += b;
  }
  bytes_sent_all.push_back(all);
  intra_bytes.push_back(intra);
  inter_bytes.push_back(inter);
  inter_dedup_bytes.push_back(out.inter_node_rows_dedup * row_bytes);
  send_rows.push_back(out.send_rows);
}

namespace {

nlohmann::json stats_json(std::span<const double> seconds) {
  std::vector<double> us(seconds.begin(), seconds.end());
  for (double& x : us) x *= 1e6;
  SampleStats s = sample_stats(us);
  return {{"median", s.median}, {"p99", s.p99}, {"min", s.min}, {"max", s.max}};
}

double mean_of(std::span<const int64_t> v) {
  double sum = 0;
  for (auto x : v) sum += double(x);
  return v.empty() ? 0.0 : sum / double(v.size());
}

}  // namespace

nlohmann::json summarize_run(const RunSamples& smp, const comm::Topology& topo,
                             int64_t tokens_per_rank, int top_k, double flops_per_row,
                             int64_t expected_rows, const Baselines& baselines) {
  const int R = topo.num_ranks;
  const int n = static_cast<int>(smp.layer.size());
  const bool root = topo.rank == 0;

  // Phase times: max over ranks per sample.
  std::array<std::vector<double>, 6> max_s;
  for (int p = 0; p < 6; ++p) {
    max_s[p].assign(n, 0.0);
    CHECK_MPI(MPI_Reduce(smp.seconds[p].data(), max_s[p].data(), n, MPI_DOUBLE, MPI_MAX, 0,
                         MPI_COMM_WORLD));
  }
  // Rows received by every rank per sample (for balancedness), bytes summed / maxed over ranks.
  std::vector<int64_t> rows_all(size_t(R) * n);
  CHECK_MPI(MPI_Gather(smp.rows_received.data(), n, MPI_INT64_T, rows_all.data(), n, MPI_INT64_T,
                       0, MPI_COMM_WORLD));
  std::vector<int64_t> intra(n), inter(n), inter_dedup(n), max_bytes(n);
  CHECK_MPI(MPI_Reduce(smp.inter_dedup_bytes.data(), inter_dedup.data(), n, MPI_INT64_T, MPI_SUM, 0,
                       MPI_COMM_WORLD));
  CHECK_MPI(MPI_Reduce(smp.intra_bytes.data(), intra.data(), n, MPI_INT64_T, MPI_SUM, 0, MPI_COMM_WORLD));
  CHECK_MPI(MPI_Reduce(smp.inter_bytes.data(), inter.data(), n, MPI_INT64_T, MPI_SUM, 0, MPI_COMM_WORLD));
  CHECK_MPI(MPI_Reduce(smp.bytes_sent_all.data(), max_bytes.data(), n, MPI_INT64_T, MPI_MAX, 0,
                       MPI_COMM_WORLD));
  // Per-rank raw samples (us), medians and means.
  std::array<std::vector<double>, 6> rank_median, rank_raw;
  for (int p = 0; p < 6; ++p) {
    std::vector<double> mine_us(smp.seconds[p]);
    for (double& x : mine_us) x *= 1e6;
    rank_raw[p].resize(size_t(R) * n);
    CHECK_MPI(MPI_Gather(mine_us.data(), n, MPI_DOUBLE, rank_raw[p].data(), n, MPI_DOUBLE, 0,
                         MPI_COMM_WORLD));
    double med = percentile(smp.seconds[p], 50.0) * 1e6;
    rank_median[p].resize(R);
    CHECK_MPI(MPI_Gather(&med, 1, MPI_DOUBLE, rank_median[p].data(), 1, MPI_DOUBLE, 0, MPI_COMM_WORLD));
  }
  // Bytes sent to other ranks = intra-node + inter-node bytes.
  int64_t mine[2] = {std::llround(mean_of(smp.rows_received)),
                     std::llround(mean_of(smp.intra_bytes) + mean_of(smp.inter_bytes))};
  std::vector<int64_t> per_rank(2 * size_t(R));
  CHECK_MPI(MPI_Gather(mine, 2, MPI_INT64_T, per_rank.data(), 2, MPI_INT64_T, 0, MPI_COMM_WORLD));
  // Verification and conservation.
  int64_t counts[2] = {smp.total_rows_sent, smp.total_rows_received};
  int64_t sums[2];
  CHECK_MPI(MPI_Allreduce(counts, sums, 2, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
  nlohmann::json verify = verify_summary_json(smp.verify);
  if (!root) return {};
  verify.update({{"tokens_conserved", sums[0] == sums[1] && sums[0] == expected_rows},
                 {"migrated_experts_checked", smp.migration.checked},
                 {"migrated_experts_wrong", smp.migration.wrong}});

  // Balancedness from tokens received per rank, per sample; vLLM form sums before dividing.
  auto rank_rows = [&](int i) {
    std::vector<double> v(R);
    for (int r = 0; r < R; ++r) v[r] = double(rows_all[size_t(r) * n + i]);
    return v;
  };
  nlohmann::json layers = nlohmann::json::array();
  double sum_mean = 0, sum_max = 0, min_layer = 1.0, mean_layer = 0.0;
  for (int l = 0; l < smp.num_layers; ++l) {
    double lmean = 0, lmax = 0;
    std::vector<double> tokens(R, 0.0);
    std::array<std::vector<double>, 6> lsec;
    int count = 0;
    for (int i = 0; i < n; ++i) {
      if (smp.layer[i] != l) continue;
      auto v = rank_rows(i);
      LoadStats st = load_stats(v);
      lmean += st.mean;
      lmax += st.max;
      for (int r = 0; r < R; ++r) tokens[r] += v[r];
      for (int p = 0; p < 6; ++p) lsec[p].push_back(max_s[p][i]);
      ++count;
    }
    const double bal = lmax > 0 ? lmean / lmax : 1.0;
    sum_mean += lmean;
    sum_max += lmax;
    min_layer = std::min(min_layer, bal);
    mean_layer += bal / smp.num_layers;
    std::vector<int64_t> tokens_int(R);
    for (int r = 0; r < R; ++r) tokens_int[r] = std::llround(tokens[r] / std::max(count, 1));
    nlohmann::json phases;
    for (int p = 0; p < 6; ++p) phases[kPhaseNames[p]] = stats_json(lsec[p]);
    layers.push_back({{"layer", l}, {"balancedness", bal},
                      {"imbalance_ratio", lmean > 0 ? lmax / lmean : 1.0},
                      {"tokens_per_rank", tokens_int}, {"phases_us", phases}});
  }

  nlohmann::json phases, rank_phases, rank_samples;
  for (int p = 0; p < 6; ++p) {
    phases[kPhaseNames[p]] = stats_json(max_s[p]);
    rank_phases[kPhaseNames[p]] = rank_median[p];
    nlohmann::json per = nlohmann::json::array();
    for (int r = 0; r < R; ++r)
      per.push_back(std::vector<double>(rank_raw[p].begin() + size_t(r) * n,
                                        rank_raw[p].begin() + size_t(r + 1) * n));
    rank_samples[kPhaseNames[p]] = std::move(per);
  }
  const double total_med_s = percentile(max_s[5], 50.0);
  const double dispatch_med_s = percentile(max_s[2], 50.0);
  const double ffn_med_s = percentile(max_s[3], 50.0);
  const int64_t dispatch_bytes = std::llround(mean_of(max_bytes));
  const double algbw = dispatch_med_s > 0 ? dispatch_bytes / dispatch_med_s / 1e9 : 0.0;
  const double rows_per_sample = double(tokens_per_rank) * top_k * R;
  std::vector<int64_t> tokens_received(R), send_bytes(R);
  for (int r = 0; r < R; ++r) {
    tokens_received[r] = per_rank[2 * r];
    send_bytes[r] = per_rank[2 * r + 1];
  }
  nlohmann::json summary = {
      {"balancedness", sum_max > 0 ? sum_mean / sum_max : 1.0},
      {"balancedness_mean_layer", mean_layer},
      {"balancedness_min_layer", min_layer},
      {"imbalance_ratio", sum_mean > 0 ? sum_max / sum_mean : 1.0},
      {"phases_us", phases},
      {"tokens_per_s", total_med_s > 0 ? double(tokens_per_rank) * R / total_med_s : 0.0},
      {"ffn_gflops", ffn_med_s > 0 ? rows_per_sample * flops_per_row / ffn_med_s / 1e9 : 0.0},
      {"dispatch_bytes", dispatch_bytes},
      {"dispatch_algbw_GBps", algbw},
      {"dispatch_busbw_GBps", algbw * (R - 1) / R},
      {"intra_node_bytes", std::llround(mean_of(intra))},
      {"inter_node_bytes", std::llround(mean_of(inter))},
      {"inter_node_bytes_node_dedup", std::llround(mean_of(inter_dedup))},
      {"migration",
       {{"events", smp.migration_events}, {"bytes", smp.migration.bytes},
        {"inter_node_bytes", smp.migration.inter_node_bytes},
        {"experts_moved", smp.migration.experts_moved}, {"seconds", smp.migration.seconds}}},
      {"verify", verify},
      {"baselines",
       {{"raw_alltoallv_us_median", baselines.raw_alltoallv_us_median},
        {"dispatch_vs_raw_alltoallv",
         dispatch_med_s > 0 ? baselines.raw_alltoallv_us_median / (dispatch_med_s * 1e6) : 0.0},
        {"ffn_gflops_per_rank", baselines.ffn_gflops_per_rank},
        {"sgemm_gflops_per_rank", baselines.sgemm_gflops_per_rank},
        {"ffn_vs_sgemm", baselines.sgemm_gflops_per_rank > 0
                             ? baselines.ffn_gflops_per_rank / baselines.sgemm_gflops_per_rank
                             : 0.0}}}};
  return {{"summary", summary},
          {"layers", layers},
          {"per_rank",
           {{"phase_us_median", rank_phases}, {"phase_us_samples", rank_samples},
            {"sample_layers", smp.layer}, {"tokens_received", tokens_received},
            {"send_bytes", send_bytes}}}};
}

}  // namespace epbench
