// Human-readable report; see report.hpp.
#include "measure/report.hpp"

#include <numeric>

#include "results/table.hpp"

namespace epbench {

namespace {

std::string us(const nlohmann::json& phases, const char* phase, const char* stat = "median") {
  return fmt_fixed(phases.at(phase).at(stat).get<double>(), 0);
}

// "p99" with >= 100 samples, else the max (a p99 of a few samples is just the max).
std::string tail_us(const nlohmann::json& stats) {
  return fmt_fixed(stats.value("p99", stats.at("max").get<double>()), 0);
}

// "1.23 [1.10,1.31]": median and its 95 % CI.
std::string with_ci(const nlohmann::json& stats, int decimals) {
  const auto& ci = stats.at("ci95");
  return fmt_fixed(stats.at("median").get<double>(), decimals) + " [" +
         fmt_fixed(ci[0].get<double>(), decimals) + "," + fmt_fixed(ci[1].get<double>(), decimals) +
         "]";
}

std::string mb(double bytes) { return fmt_fixed(bytes / 1e6, 2); }

// "eplb/hierarchical", or just "none" when the policy has one form.
std::string policy_label(const nlohmann::json& run) {
  const auto policy = run.at("policy").get<std::string>();
  const auto used = run.at("policy_used").get<std::string>();
  return policy == used ? policy : policy + "/" + used;
}

double sum_of(const nlohmann::json& values) {
  double s = 0;
  for (const auto& v : values) s += v.get<double>();
  return s;
}

}  // namespace

void print_run_report(const nlohmann::json& doc, std::ostream& out) {
  const auto& ctx = doc.at("context");
  const auto& sc = doc.at("scenario");
  const auto& m = sc.at("model");
  const bool barriers = sc.value("phase_barriers", true);
  out << "# epbench run: " << sc.at("name").get<std::string>() << "  hidden "
      << m.at("hidden") << ", ffn " << m.at("ffn") << ", " << m.at("num_experts")
      << " experts, top-" << m.at("top_k") << " (" << m.at("n_group") << " groups, top-"
      << m.at("topk_group") << "), " << sc.at("tokens_per_rank") << " tokens/rank, "
      << sc.at("num_layers") << " layers, skew " << sc.at("skew").get<std::string>() << "\n";
  out << "# " << ctx.at("num_ranks") << " ranks on " << ctx.at("num_nodes") << " nodes ("
      << ctx.at("node_source").get<std::string>() << "), backend "
      << ctx.at("backend").get<std::string>() << ", comm " << ctx.at("comm").get<std::string>()
      << ", " << sc.at("warmup_steps") << " warm-up + " << sc.at("measured_steps")
      << " measured steps x " << sc.value("repeat", 1) << " repetition(s), replica rule "
      << sc.at("replica_rule").get<std::string>() << ", dispatch "
      << sc.value("dispatch", std::string("flat")) << "\n";
  if (ctx.value("oversubscribed", false))
    out << "# OVERSUBSCRIBED: " << ctx.at("max_ranks_per_host") << " ranks share a host with "
        << ctx.at("cores_per_host") << " usable cores: times show contention between ranks,"
        << " not the algorithm alone\n";
  out << "# times in us, median over samples (steps x layers): each phase's span over ranks"
         " (earliest start to latest end); total = the whole step"
      << (barriers ? "" : " (no phase barriers: phases overlap, only total is meaningful)")
      << "; bal = mean/max rows received per rank\n";
  if (!doc.at("runs").empty()) {
    const auto& s0 = doc["runs"][0]["summary"];
    out << "# realized routing: hottest expert " +
               fmt_fixed(s0.value("hottest_expert_over_mean", 0.0), 2) + " x the mean expert load";
    if (s0.contains("hottest_target_over_mean"))
      out << " (target " << fmt_fixed(s0["hottest_target_over_mean"].get<double>(), 2)
          << ", total-variation distance to the named distribution "
          << fmt_fixed(s0.value("skew_tv_distance_max", 0.0), 3) << ")";
    out << ", max over layers\n";
  }

  const bool many = !doc.at("runs").empty() &&
                    doc["runs"][0]["summary"]["phases_us"]["total"].contains("p99");
  Table t({"policy", "layer", "bal", "max/mean", "gate", "layout", "dispatch", "ffn", "combine",
           "total", many ? "total_p99" : "total_max"});
  auto phase_row = [&](const std::string& policy, const std::string& layer, double bal,
                       double ratio, const nlohmann::json& ph) {
    auto cell = [&](const char* p) { return barriers ? us(ph, p) : std::string("-"); };
    t.add_row({policy, layer, fmt_fixed(bal, 3), fmt_fixed(ratio, 2), cell("gate"),
               cell("layout"), cell("dispatch"), cell("ffn"), cell("combine"), us(ph, "total"),
               tail_us(ph.at("total"))});
  };
  for (const auto& run : doc.at("runs")) {
    const std::string policy = policy_label(run);
    for (const auto& layer : run.at("layers"))
      phase_row(policy, std::to_string(layer.at("layer").get<int>()),
                layer.at("balancedness").get<double>(), layer.at("imbalance_ratio").get<double>(),
                layer.at("phases_us"));
    const auto& sum = run.at("summary");
    phase_row(policy, "all", sum.at("balancedness").get<double>(),
              sum.at("imbalance_ratio").get<double>(), sum.at("phases_us"));
  }
  t.print(out);

  out << "#\n# imbalance tax: measured span / span of a balanced reference step interleaved with"
         " it (same engine, buffers and total rows; every slot the same rows); median [95% CI]\n";
  Table x({"policy", "layout", "dispatch", "ffn", "combine", "step", "balanced_step_us"});
  for (const auto& run : doc.at("runs")) {
    const auto& tax = run.at("summary").at("tax");
    auto cell = [&](const char* p) { return barriers ? with_ci(tax.at(p), 2) : std::string("-"); };
    x.add_row({policy_label(run), cell("layout"), cell("dispatch"), cell("ffn"), cell("combine"),
               with_ci(tax.at("total"), 2),
               us(run.at("summary").at("balanced_phases_us"), "total")});
  }
  x.print(out);

  out << "#\n# throughput and traffic per policy (bytes: one layer's dispatch; combine moves the"
         " same back)\n";
  Table u({"policy", "tokens/s", "amortized", "ffn_GFLOP/s", "ffn/gemm", "algbw_GB/s",
           "busbw_nccl", "bottleneck_GB/s", "intra_MB", "inter_MB", "inter_dd_MB", "mig_MB",
           "mig_ms", "place_us", "#checked", "#wrong"});
  for (const auto& run : doc.at("runs")) {
    const auto& sum = run.at("summary");
    const auto& ver = sum.at("verify");
    const auto& mig = sum.at("migration");
    const int64_t wrong = ver.at("wrong").get<int64_t>() +
                          ver.at("migrated_experts_wrong").get<int64_t>() +
                          (ver.at("tokens_conserved").get<bool>() ? 0 : 1);
    const auto& place = mig.at("placement_compute_us");
    u.add_row({policy_label(run), fmt_general(sum.at("tokens_per_s").get<double>(), 4),
               fmt_general(sum.at("amortized_tokens_per_s").get<double>(), 4),
               fmt_fixed(sum.at("ffn_gflops").get<double>(), 2),
               fmt_fixed(sum.at("ffn_vs_gemm").at("median").get<double>(), 2),
               fmt_fixed(sum.at("dispatch_algbw_GBps").get<double>(), 3),
               fmt_fixed(sum.at("dispatch_busbw_nccl_tests_GBps").get<double>(), 3),
               fmt_fixed(sum.at("dispatch_bottleneck_GBps").at("median").get<double>(), 3),
               mb(sum.at("intra_node_bytes").get<double>()),
               mb(sum.at("inter_node_bytes").get<double>()),
               mb(sum.at("inter_node_bytes_node_dedup").get<double>()),
               mb(mig.at("bytes").get<double>()),
               fmt_fixed(mig.at("seconds").get<double>() * 1e3, 1),
               place.empty() ? "-" : fmt_fixed(sum_of(place) / double(place.size()), 0),
               std::to_string(ver.at("checked_tokens").get<int64_t>()), std::to_string(wrong)});
  }
  u.print(out);
  out << "# amortized: tokens/s counting every re-placement's compute and migration;"
         " ffn/gemm: our FFN time vs a plain GEMM of the same per-slot shapes (reference weights),"
         " run in the same layer step after the combine, outside the step (median over ranks x samples)\n";
  out << "# busbw_nccl: algbw x (n-1)/n as nccl-tests' alltoall; bottleneck: max over ranks of"
         " off-rank bytes sent or received / dispatch span (median over samples);"
         " inter_dd_MB: one row per (token, remote node), what --dispatch node-dedup sends\n";
}

}  // namespace epbench
