// Human-readable report; see report.hpp.
#include "measure/report.hpp"

#include "results/table.hpp"

namespace epbench {

namespace {

std::string us(const nlohmann::json& phases, const char* phase, const char* stat = "median") {
  return fmt_fixed(phases.at(phase).at(stat).get<double>(), 0);
}

std::string mb(double bytes) { return fmt_fixed(bytes / 1e6, 2); }

// "eplb/hierarchical", or just "none" when the policy has one form.
std::string policy_label(const nlohmann::json& run) {
  const auto policy = run.at("policy").get<std::string>();
  const auto used = run.at("policy_used").get<std::string>();
  return policy == used ? policy : policy + "/" + used;
}

}  // namespace

void print_run_report(const nlohmann::json& doc, std::ostream& out) {
  const auto& ctx = doc.at("context");
  const auto& sc = doc.at("scenario");
  const auto& m = sc.at("model");
  out << "# epbench run: " << sc.at("name").get<std::string>() << "  hidden "
      << m.at("hidden") << ", ffn " << m.at("ffn") << ", " << m.at("num_experts")
      << " experts, top-" << m.at("top_k") << " (" << m.at("n_group") << " groups, top-"
      << m.at("topk_group") << "), " << sc.at("tokens_per_rank") << " tokens/rank, "
      << sc.at("num_layers") << " layers, skew " << sc.at("skew").get<std::string>() << "\n";
  out << "# " << ctx.at("num_ranks") << " ranks on " << ctx.at("num_nodes") << " nodes ("
      << ctx.at("node_source").get<std::string>() << "), backend "
      << ctx.at("backend").get<std::string>() << ", comm " << ctx.at("comm").get<std::string>()
      << ", " << sc.at("warmup_steps") << " warm-up + " << sc.at("measured_steps")
      << " measured steps, replica rule " << sc.at("replica_rule").get<std::string>()
      << ", dispatch " << sc.value("dispatch", std::string("flat")) << "\n";
  out << "# times in us: per step the max over ranks, then median over steps x layers;"
         " bal = mean/max tokens per rank\n";
  if (!doc.at("runs").empty())
    out << "# realized routing: hottest expert " +
               fmt_fixed(doc["runs"][0]["summary"].value("hottest_expert_over_mean", 0.0), 2) +
               " x the mean expert load (max over layers)\n";

  Table t({"policy", "layer", "bal", "max/mean", "gate", "layout", "dispatch", "ffn", "combine",
           "total", "total_p99"});
  for (const auto& run : doc.at("runs")) {
    const std::string policy = policy_label(run);
    for (const auto& layer : run.at("layers")) {
      const auto& ph = layer.at("phases_us");
      t.add_row({policy, std::to_string(layer.at("layer").get<int>()),
                 fmt_fixed(layer.at("balancedness").get<double>(), 3),
                 fmt_fixed(layer.at("imbalance_ratio").get<double>(), 2), us(ph, "gate"),
                 us(ph, "layout"), us(ph, "dispatch"), us(ph, "ffn"), us(ph, "combine"),
                 us(ph, "total"), us(ph, "total", "p99")});
    }
    const auto& sum = run.at("summary");
    const auto& ph = sum.at("phases_us");
    t.add_row({policy, "all", fmt_fixed(sum.at("balancedness").get<double>(), 3),
               fmt_fixed(sum.at("imbalance_ratio").get<double>(), 2), us(ph, "gate"),
               us(ph, "layout"), us(ph, "dispatch"), us(ph, "ffn"), us(ph, "combine"),
               us(ph, "total"), us(ph, "total", "p99")});
  }
  t.print(out);

  out << "#\n# throughput and traffic per policy (bytes: one layer's dispatch, summed over"
         " ranks; busbw = algbw x (n-1)/n)\n";
  Table u({"policy", "tokens/s", "ffn_GFLOP/s", "algbw_GB/s", "busbw_GB/s", "intra_MB",
           "inter_MB", "inter_dd_MB", "mig_MB", "mig_ms", "disp/raw_a2av", "ffn/sgemm", "#checked", "#wrong"});
  for (const auto& run : doc.at("runs")) {
    const auto& sum = run.at("summary");
    const auto& base = sum.at("baselines");
    const auto& ver = sum.at("verify");
    const auto& mig = sum.at("migration");
    const int64_t wrong = ver.at("wrong").get<int64_t>() +
                          ver.at("migrated_experts_wrong").get<int64_t>() +
                          (ver.at("tokens_conserved").get<bool>() ? 0 : 1);
    u.add_row({policy_label(run),
               fmt_general(sum.at("tokens_per_s").get<double>(), 4),
               fmt_fixed(sum.at("ffn_gflops").get<double>(), 2),
               fmt_fixed(sum.at("dispatch_algbw_GBps").get<double>(), 3),
               fmt_fixed(sum.at("dispatch_busbw_GBps").get<double>(), 3),
               mb(sum.at("intra_node_bytes").get<double>()),
               mb(sum.at("inter_node_bytes").get<double>()),
               mb(sum.at("inter_node_bytes_node_dedup").get<double>()),
               mb(mig.at("bytes").get<double>()),
               fmt_fixed(mig.at("seconds").get<double>() * 1e3, 1),
               fmt_fixed(100.0 * base.at("dispatch_vs_raw_alltoallv").get<double>(), 0) + "%",
               fmt_fixed(100.0 * base.at("ffn_vs_sgemm").get<double>(), 0) + "%",
               std::to_string(ver.at("checked_tokens").get<int64_t>()), std::to_string(wrong)});
  }
  u.print(out);
  out << "# inter_dd_MB: inter-node bytes with one row per (token, remote node), what --dispatch"
         " node-dedup sends (each token once per remote node, forwarded inside it, as DeepEP)\n";
  out << "# disp/raw_a2av: raw MPI_Alltoallv of the same byte matrices / our dispatch (median);"
         " ffn/sgemm: our FFN GFLOP/s / OpenBLAS sgemm of equal FLOPs (median over ranks)\n";
}

}  // namespace epbench
