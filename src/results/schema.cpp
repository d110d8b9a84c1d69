// Results schema validator; see schema.hpp and results/SCHEMA.md. The checks follow
// the document top-down; each names the field's path the way a reader would write it
// (runs[1].layers[0].tokens_per_rank), so a bad file can be fixed without reading this code.
#include "results/schema.hpp"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <set>

#include "common/error.hpp"
#include "common/json_check.hpp"

namespace epbench {
namespace {

using nlohmann::json;
using Checker = JsonChecker;

std::string join(const std::string& path, const std::string& key) { return join_path(path, key); }
std::string index(const std::string& path, size_t i) { return index_path(path, i); }
std::string describe(const json& v) { return describe_json(v); }

bool close(double a, double b, double rel) {
  return std::abs(a - b) <= rel * std::max(std::abs(a), std::abs(b)) + 1e-9;
}

// "2026-11-20T14:03:11Z": date and hours:minutes, optional seconds with fraction, optional
// zone (Z or +hh[:]mm). A hand-written matcher: linear, no recursion (std::regex recursed on
// long input).
bool is_iso8601(const std::string& s) {
  size_t i = 0;
  auto digits = [&](size_t n) {
    for (size_t k = 0; k < n; ++k, ++i)
      if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
    return true;
  };
  auto lit = [&](char c) { return i < s.size() && s[i] == c ? (++i, true) : false; };
  if (!(digits(4) && lit('-') && digits(2) && lit('-') && digits(2) && lit('T') && digits(2) &&
        lit(':') && digits(2)))
    return false;
  if (lit(':')) {
    if (!digits(2)) return false;
    if (lit('.')) {
      if (!digits(1)) return false;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    }
  }
  if (lit('Z')) return i == s.size();
  if (lit('+') || lit('-')) {
    if (!digits(2)) return false;
    lit(':');
    if (!digits(2)) return false;
  }
  return i == s.size();
}

struct Shape {
  int64_t num_ranks = 0, num_nodes = 0, num_layers = 0, tokens_per_rank = 0;
  int64_t hidden = 0, ffn = 0, num_experts = 0, top_k = 0;
  std::vector<std::string> policies;
  int64_t version = kResultsSchemaVersion;
};

void check_context(const Checker& c, const json& doc, Shape& shape) {
  const std::string p = "context";
  const json& ctx = c.object(doc, "", "context");
  c.strings(ctx, p, "argv");
  c.string(ctx, p, "epbench_version");
  c.string(ctx, p, "git_hash");
  const std::string date = c.string(ctx, p, "date_utc");
  c.require(is_iso8601(date), join(p, "date_utc"),
            quote_for_message(date) + " is not an ISO-8601 date (e.g. 2026-11-20T14:03:11Z)");
  const int64_t R = c.integer(ctx, p, "num_ranks", 1);
  const int64_t N = c.integer(ctx, p, "num_nodes", 1);
  const int64_t rpn = c.integer(ctx, p, "ranks_per_node", 1);
  c.require(N <= R, join(p, "num_nodes"), "more nodes (" + std::to_string(N) + ") than ranks");
  c.require(static_cast<__int128>(N) * rpn >= R, join(p, "ranks_per_node"),
            std::to_string(N) + " nodes x " + std::to_string(rpn) + " ranks per node < " +
                std::to_string(R) + " ranks");
  c.one_of(ctx, p, "node_source", {"slurm", "hostname", "emulated", "simulated"});
  const std::string per_rank = "one per rank: context.num_ranks";
  auto nodes = c.integers(ctx, p, "rank_nodes", R, per_rank, 0);
  for (size_t r = 0; r < nodes.size(); ++r)
    c.require(nodes[r] < N, index(join(p, "rank_nodes"), r),
              "node " + std::to_string(nodes[r]) + " >= num_nodes " + std::to_string(N));
  auto rank_hosts = c.strings(ctx, p, "rank_hosts", R, per_rank);
  auto hosts = c.strings(ctx, p, "hosts");
  c.require(!hosts.empty(), join(p, "hosts"), "empty");
  const std::set<std::string> distinct(hosts.begin(), hosts.end());
  c.require(distinct.size() == hosts.size(), join(p, "hosts"), "hosts are not distinct");
  for (size_t r = 0; r < rank_hosts.size(); ++r)
    c.require(distinct.count(rank_hosts[r]) == 1, index(join(p, "rank_hosts"), r),
              "\"" + rank_hosts[r] + "\" is not in context.hosts");
  c.string(ctx, p, "cpu_model");
  c.strings(ctx, p, "gpu_models");
  c.one_of(ctx, p, "backend", {"kokkos", "cuda"});
  c.one_of(ctx, p, "comm", {"mpi", "nccl"});
  c.string(ctx, p, "mpi_version");
  for (const char* key : {"cuda_version", "nccl_version", "kokkos_version", "blas", "interconnect"})
    c.string_or_null(ctx, p, key);
  const json& slurm = c.field(ctx, p, "slurm");
  if (!slurm.is_null()) {
    const std::string sp = join(p, "slurm");
    c.require(slurm.is_object(), sp, "expected null or an object, got " + describe(slurm));
    c.string(slurm, sp, "job_id");
    c.string_or_null(slurm, sp, "job_name");
    c.integer(slurm, sp, "num_nodes", 0);  // 0 when Slurm did not say
    c.string(slurm, sp, "tasks_per_node");
    c.string_or_null(slurm, sp, "partition");
    c.string_or_null(slurm, sp, "cluster");
  }
  c.string(ctx, p, "time_reduction");
  shape.num_ranks = R;
  shape.num_nodes = N;
}

void check_scenario(const Checker& c, const json& doc, Shape& shape) {
  const std::string p = "scenario";
  const json& sc = c.object(doc, "", "scenario");
  c.string(sc, p, "name");
  const std::string mp = "scenario.model";
  const json& model = c.object(sc, p, "model");
  shape.hidden = c.integer(model, mp, "hidden", 1);
  shape.ffn = c.integer(model, mp, "ffn", 1);
  shape.num_experts = c.integer(model, mp, "num_experts", 1);
  shape.top_k = c.integer(model, mp, "top_k", 1);
  c.require(shape.top_k <= shape.num_experts, join(mp, "top_k"), "larger than num_experts");
  const int64_t groups = c.integer(model, mp, "n_group", 1);
  c.require(shape.num_experts % groups == 0, join(mp, "n_group"),
            "num_experts " + std::to_string(shape.num_experts) + " is not divisible by " +
                std::to_string(groups) + " groups");
  const int64_t topk_group = c.integer(model, mp, "topk_group", 1);
  c.require(topk_group <= groups, join(mp, "topk_group"), "larger than n_group");
  c.one_of(model, mp, "score", {"softmax", "sigmoid"});
  shape.tokens_per_rank = c.integer(sc, p, "tokens_per_rank", 1);
  shape.num_layers = c.integer(sc, p, "num_layers", 1);
  c.integer(sc, p, "warmup_steps", 0);
  c.integer(sc, p, "measured_steps", 1);
  c.string(sc, p, "skew");
  c.number(sc, p, "drift", std::numeric_limits<double>::lowest());
  c.string_or_null(sc, p, "trace");
  c.integer(sc, p, "seed", INT64_MIN);
  c.string(sc, p, "replica_rule");
  c.integer(sc, p, "num_redundant_experts", -1);  // -1: one redundant slot per rank
  c.integer(sc, p, "window_steps", 0);
  c.integer(sc, p, "rebalance_every", 0);
  c.string(sc, p, "verify");
  // Optional: files written before the dispatch option existed used the flat dispatch.
  if (sc.contains("dispatch")) c.string(sc, p, "dispatch");
  shape.policies = c.strings(sc, p, "policies");
  c.require(!shape.policies.empty(), join(p, "policies"), "empty");
}

// One statistics block: {median, min, max} (+ p99; v1 always, v2 only with >= 100 samples)
// (+ ci95: [low, high] around the median in v2). Returns the median.
double check_stats(const Checker& c, const json& s, const std::string& sp, int64_t version) {
  const double median = c.number(s, sp, "median", 0.0);
  const double min = c.number(s, sp, "min", 0.0);
  const double max = c.number(s, sp, "max", 0.0);
  const double p99 = version == 1 || s.contains("p99") ? c.number(s, sp, "p99", 0.0) : max;
  const double slack = 1e-9 * max;
  c.require(min <= median + slack && median <= p99 + slack && p99 <= max + slack, sp,
            "expected min <= median <= p99 <= max");
  if (version >= 2) {
    const json& ci = c.array(s, sp, "ci95", 2, "[low, high]");
    const double lo = c.number(ci[0], join(sp, "ci95[0]"), 0.0);
    const double hi = c.number(ci[1], join(sp, "ci95[1]"), 0.0);
    c.require(min <= lo + slack && lo <= median + slack && median <= hi + slack &&
                  hi <= max + slack,
              join(sp, "ci95"), "expected min <= ci95[0] <= median <= ci95[1] <= max");
  }
  return median;
}

// {gate|layout|dispatch|ffn|combine|total: stats}; returns the medians.
std::vector<double> check_phases(const Checker& c, const json& obj, const std::string& path,
                                 int64_t version) {
  const std::string pp = join(path, "phases_us");
  const json& phases = c.object(obj, path, "phases_us");
  std::vector<double> medians;
  for (const char* phase : kResultsPhases)
    medians.push_back(check_stats(c, c.object(phases, pp, phase), join(pp, phase), version));
  return medians;
}

// Checks a derived metric against its formula from SCHEMA.md (1% tolerance for rounding).
void check_formula(const Checker& c, const std::string& path, double value, double expected,
                   const std::string& formula) {
  c.require(close(value, expected, 1e-2), path,
            json(value).dump() + " does not match " + formula + " = " + json(expected).dump() +
                " (see results/SCHEMA.md)");
}

void check_run(const Checker& c, const json& run, const std::string& p, const Shape& s) {
  const std::string policy = c.string(run, p, "policy");
  c.require(std::find(s.policies.begin(), s.policies.end(), policy) != s.policies.end(),
            join(p, "policy"), "\"" + policy + "\" is not in scenario.policies");
  c.string(run, p, "policy_used");
  const int64_t slots = c.integer(run, p, "num_slots", 1);
  c.require(slots >= s.num_experts, join(p, "num_slots"), "fewer slots than experts");

  // layers: per-layer loads first, so the summary can be checked against them.
  const std::string lp = join(p, "layers");
  const json& layers = c.array(run, p, "layers", s.num_layers, "one per layer: scenario.num_layers");
  const std::string per_rank_rule = "one per rank: context.num_ranks";
  double min_layer = 1.0, max_layer = 0.0, sum_layer = 0.0;
  std::vector<double> mean_tokens(s.num_ranks, 0.0);  // per rank, mean over layers
  for (size_t l = 0; l < layers.size(); ++l) {
    const std::string ip = index(lp, l);
    const json& layer = layers[l];
    c.require(layer.is_object(), ip, "expected an object, got " + describe(layer));
    c.require(c.integer(layer, ip, "layer", 0) == static_cast<int64_t>(l), join(ip, "layer"),
              "layers must be listed in order 0, 1, ...");
    auto tokens = c.integers(layer, ip, "tokens_per_rank", s.num_ranks, per_rank_rule, 0);
    for (size_t r = 0; r < tokens.size(); ++r)
      mean_tokens[r] += static_cast<double>(tokens[r]) / static_cast<double>(s.num_layers);
    const double bal = c.number(layer, ip, "balancedness", 0.0);
    c.require(bal <= 1.0 + 1e-9, join(ip, "balancedness"), "must be <= 1");
    if (bal > 0)
      check_formula(c, join(ip, "imbalance_ratio"), c.number(layer, ip, "imbalance_ratio", 0.0),
                    1.0 / bal, "1 / balancedness");
    check_phases(c, layer, ip, s.version);
    min_layer = std::min(min_layer, bal);
    max_layer = std::max(max_layer, bal);
    sum_layer += bal;
  }

  const std::string sp = join(p, "summary");
  const json& sum = c.object(run, p, "summary");
  const double bal = c.number(sum, sp, "balancedness", 0.0);
  // Sum of means over sum of maxima lies between the smallest and largest layer's ratio.
  c.require(bal >= min_layer - 1e-6 && bal <= max_layer + 1e-6, join(sp, "balancedness"),
            json(bal).dump() + " is outside the range of layers[].balancedness [" +
                json(min_layer).dump() + ", " + json(max_layer).dump() + "]");
  check_formula(c, join(sp, "balancedness_mean_layer"),
                c.number(sum, sp, "balancedness_mean_layer", 0.0),
                sum_layer / static_cast<double>(s.num_layers), "mean of layers[].balancedness");
  check_formula(c, join(sp, "balancedness_min_layer"),
                c.number(sum, sp, "balancedness_min_layer", 0.0), min_layer,
                "min of layers[].balancedness");
  if (bal > 0)
    check_formula(c, join(sp, "imbalance_ratio"), c.number(sum, sp, "imbalance_ratio", 0.0),
                  1.0 / bal, "1 / balancedness");
  const std::vector<double> med = check_phases(c, sum, sp, s.version);
  if (s.version >= 2) {
    // The imbalance tax: measured / balanced reference, per phase and for the step.
    const std::string tp = join(sp, "tax");
    const json& tax = c.object(sum, sp, "tax");
    for (const char* phase : {"layout", "dispatch", "ffn", "combine", "total"})
      check_stats(c, c.object(tax, tp, phase), join(tp, phase), s.version);
    const std::string bp = join(sp, "balanced_phases_us");
    const json& balanced = c.object(sum, sp, "balanced_phases_us");
    for (const char* phase : {"layout", "dispatch", "ffn", "combine", "total"})
      check_stats(c, c.object(balanced, bp, phase), join(bp, phase), s.version);
  }
  const double dispatch_us = med[2], ffn_us = med[3], total_us = med[5];
  const double R = static_cast<double>(s.num_ranks), T = static_cast<double>(s.tokens_per_rank);
  const double tps = c.number(sum, sp, "tokens_per_s", 0.0);
  if (total_us > 0)
    check_formula(c, join(sp, "tokens_per_s"), tps, R * T / (total_us * 1e-6),
                  "num_ranks x tokens_per_rank / phases_us.total.median");
  const double gflops = c.number(sum, sp, "ffn_gflops", 0.0);
  if (ffn_us > 0)
    check_formula(c, join(sp, "ffn_gflops"), gflops,
                  R * T * static_cast<double>(s.top_k) * 6.0 * static_cast<double>(s.hidden) *
                      static_cast<double>(s.ffn) / (ffn_us * 1e-6) / 1e9,
                  "num_ranks x tokens_per_rank x top_k x 6 x hidden x ffn / "
                  "phases_us.ffn.median / 1e9");
  const double bytes = static_cast<double>(c.integer(sum, sp, "dispatch_bytes", 0));
  const double algbw = c.number(sum, sp, "dispatch_algbw_GBps", 0.0);
  const char* busbw_key = s.version >= 2 ? "dispatch_busbw_nccl_tests_GBps" : "dispatch_busbw_GBps";
  const double busbw = c.number(sum, sp, busbw_key, 0.0);
  if (dispatch_us > 0) {
    check_formula(c, join(sp, "dispatch_algbw_GBps"), algbw, bytes / (dispatch_us * 1e-6) / 1e9,
                  "dispatch_bytes / phases_us.dispatch.median / 1e9");
    check_formula(c, join(sp, busbw_key), busbw, algbw * (R - 1) / R,
                  "dispatch_algbw_GBps x (num_ranks - 1) / num_ranks");
  }
  const int64_t intra = c.integer(sum, sp, "intra_node_bytes", 0);
  const int64_t inter = c.integer(sum, sp, "inter_node_bytes", 0);
  if (s.num_nodes == 1)
    c.require(inter == 0, join(sp, "inter_node_bytes"), "must be 0 on a single node");
  const std::string mig = join(sp, "migration");
  const json& migration = c.object(sum, sp, "migration");
  c.integer(migration, mig, "events", 0);
  c.integer(migration, mig, "bytes", 0);
  c.number(migration, mig, "seconds", 0.0);
  for (const char* key : {"inter_node_bytes", "experts_moved"})  // optional
    if (migration.contains(key)) c.integer(migration, mig, key, 0);
  const std::string vp = join(sp, "verify");
  const json& verify = c.object(sum, sp, "verify");
  const int64_t checked = c.integer(verify, vp, "checked_tokens", 0);
  c.require(c.integer(verify, vp, "wrong", 0) <= checked, join(vp, "wrong"),
            "more wrong tokens than checked_tokens");
  c.number(verify, vp, "max_rel_err", 0.0);
  c.boolean(verify, vp, "tokens_conserved");
  for (const char* key : {"migrated_experts_checked", "migrated_experts_wrong"})  // optional
    if (verify.contains(key)) c.integer(verify, vp, key, 0);

  const std::string rp = join(p, "per_rank");
  const json& per_rank = c.object(run, p, "per_rank");
  const std::string mp = join(rp, "phase_us_median");
  const json& medians = c.object(per_rank, rp, "phase_us_median");
  for (const char* phase : kResultsPhases) {
    if (s.version >= 2 && std::string(phase) == "total") continue;  // a step has no rank total
    const json& arr = c.array(medians, mp, phase, s.num_ranks, per_rank_rule);
    for (size_t r = 0; r < arr.size(); ++r) c.number(arr[r], index(join(mp, phase), r), 0.0);
  }
  auto tokens = c.integers(per_rank, rp, "tokens_received", s.num_ranks, per_rank_rule, 0);
  for (size_t r = 0; r < tokens.size(); ++r)  // both are rounded means: allow 1 row of rounding
    c.require(std::abs(static_cast<double>(tokens[r]) - mean_tokens[r]) <= 1.0,
              index(join(rp, "tokens_received"), r),
              std::to_string(tokens[r]) + " does not match the mean over layers of "
              "layers[].tokens_per_rank[" + std::to_string(r) + "] = " + json(mean_tokens[r]).dump());
  auto send = c.integers(per_rank, rp, "send_bytes", s.num_ranks, per_rank_rule, 0);
  // 128-bit sums: each term is < 2^63, so neither can overflow (a hostile file must not).
  __int128 send_total = 0;
  for (int64_t b : send) send_total += b;
  const __int128 node_total = static_cast<__int128>(intra) + inter;
  const __int128 gap = node_total > send_total ? node_total - send_total : send_total - node_total;
  c.require(gap <= s.num_ranks + 2, join(sp, "intra_node_bytes"),
            "intra_node_bytes + inter_node_bytes = " + json(double(node_total)).dump() +
                " does not match the sum of per_rank.send_bytes = " +
                json(double(send_total)).dump());
}

}  // namespace

void validate_results(const nlohmann::json& doc, const std::string& source) {
  Checker c(source);
  c.require(doc.is_object(), "(top level)", "expected an object, got " + describe(doc));
  const std::string name = c.string(doc, "", "schema");
  c.require(name == kResultsSchemaName, "schema",
            "\"" + name + "\" is not \"" + kResultsSchemaName + "\"");
  const int64_t version = c.integer(doc, "", "schema_version", 0);
  c.require(version >= kResultsSchemaOldestVersion && version <= kResultsSchemaVersion,
            "schema_version",
            "version " + std::to_string(version) + " is not supported: this epbench reads " +
                kResultsSchemaName + " versions " + std::to_string(kResultsSchemaOldestVersion) +
                " to " + std::to_string(kResultsSchemaVersion));
  Shape shape;
  shape.version = version;
  check_context(c, doc, shape);
  check_scenario(c, doc, shape);
  const json& runs = c.array(doc, "", "runs");
  c.require(!runs.empty(), "runs", "empty");
  for (size_t i = 0; i < runs.size(); ++i) {
    const std::string p = index("runs", i);
    c.require(runs[i].is_object(), p, "expected an object, got " + describe(runs[i]));
    check_run(c, runs[i], p, shape);
  }
}

}  // namespace epbench
