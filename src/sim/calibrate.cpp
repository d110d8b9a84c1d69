// Profile fitting and checking; see calibrate.hpp. The measured runs' traffic is not stored in
// the results per rank and sample, so it is reconstructed exactly: the run is simulated with
// --routing tokens (the same router, placements and dispatch plans as the real run), and each
// measured sample's per-rank features line up with per_rank.phase_us_samples.
#include "sim/calibrate.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "common/error.hpp"
#include "metrics/stats.hpp"
#include "results/schema.hpp"
#include "results/table.hpp"
#include "sim/cost_model.hpp"
#include "sim/simulator.hpp"
#include "sim/traffic.hpp"

namespace epbench::sim {
namespace {

constexpr int kFitPhases = 5;  // gate, layout, dispatch, ffn, combine
// Measured times are summarized by a low percentile: on a shared machine, the upper samples
// are other processes' scheduling (a 0.2 ms dispatch read 28 ms at the median under load 14
// on 2 cores), which no per-rank model can predict. docs/simulate.md reports both.
constexpr double kQuietPercentile = 10.0;

Scenario scenario_of(const MeasuredFile& f) {
  Scenario s;
  apply_scenario_json(f.doc.at("scenario"), f.path, s);
  return s;
}

Cluster cluster_of(const MeasuredFile& f) {
  const auto& ctx = f.doc.at("context");
  Cluster c{ctx.at("num_ranks").get<int>(), ctx.at("ranks_per_node").get<int>()};
  // A CPU run's FFN runs on its host's usable cores shared by the ranks there (np 2 on 2 cores:
  // one each; np 4: half each, oversubscribed).
  if (ctx.value("backend", "") == "kokkos" && ctx.contains("cores_per_host") &&
      ctx.contains("max_ranks_per_host"))
    c.cores_per_rank = ctx.at("cores_per_host").get<double>() /
                       std::max(1.0, ctx.at("max_ranks_per_host").get<double>());
  return c;
}

// Features of one rank in one sample, per phase (the columns of each phase's linear model).
using Features = std::array<std::vector<double>, kFitPhases>;

Features features_of(const StepTraffic& t, const LayerShape& s, int rank, int spr) {
  const RankTraffic& r = t.ranks[rank];
  const double row_bytes = s.row_bytes();
  int nonempty = 0;
  double rows = 0;
  for (int i = 0; i < spr; ++i) {
    const int64_t x = t.slot_rows[size_t(rank) * spr + i];
    nonempty += x > 0;
    rows += double(x);
  }
  auto link_bytes = [&](int c, bool combine) {
    const int64_t out = combine ? r.received_rows[c] : r.sent_rows[c];
    const int64_t in = combine ? r.sent_rows[c] : r.received_rows[c];
    return double(std::max(out, in)) * row_bytes;
  };
  auto peers = [&](int c) { return double(std::max(r.sent_peers[c], r.received_peers[c])); };
  const double rows_out = double(s.tokens_per_rank) * s.top_k;
  Features f;
  f[0] = {1.0, double(s.tokens_per_rank) * 2.0 * s.hidden * s.num_experts};
  f[1] = {1.0, rows_out, double(s.num_ranks)};
  f[2] = {1.0, double(r.self_rows) * row_bytes, peers(0), link_bytes(0, false), peers(1),
          link_bytes(1, false)};
  f[3] = {1.0, double(nonempty), rows * s.flops_per_row() / s.cores_per_rank};  // per core
  f[4] = {1.0, double(r.self_rows) * row_bytes, peers(0), link_bytes(0, true), peers(1),
          link_bytes(1, true), rows_out};
  return f;
}

// Least squares on relative error with non-negative coefficients: columns that come out
// negative or never vary from zero are removed (coefficient 0) and the rest refitted.
std::vector<double> nonneg_least_squares(const std::vector<std::vector<double>>& x,
                                         const std::vector<double>& y,
                                         std::vector<bool>* identified) {
  const size_t m = x.empty() ? 0 : x[0].size();
  std::vector<bool> active(m, false);
  for (size_t j = 0; j < m; ++j)
    for (const auto& row : x) active[j] = active[j] || row[j] != 0.0;
  std::vector<double> coef(m, 0.0);
  for (int iter = 0; iter < int(m) + 1; ++iter) {
    std::vector<size_t> cols;
    for (size_t j = 0; j < m; ++j)
      if (active[j]) cols.push_back(j);
    const size_t k = cols.size();
    if (k == 0) break;
    // Normal equations of the row-scaled system (each row divided by its target).
    std::vector<double> a(k * k, 0.0), b(k, 0.0), scale(k, 0.0);
    for (size_t i = 0; i < x.size(); ++i) {
      const double w = y[i] > 0 ? 1.0 / y[i] : 0.0;
      for (size_t p = 0; p < k; ++p) {
        b[p] += x[i][cols[p]] * w * y[i] * w;
        for (size_t q = 0; q < k; ++q) a[p * k + q] += x[i][cols[p]] * w * x[i][cols[q]] * w;
      }
    }
    for (size_t p = 0; p < k; ++p) scale[p] = a[p * k + p] > 0 ? 1.0 / std::sqrt(a[p * k + p]) : 1.0;
    for (size_t p = 0; p < k; ++p) {
      b[p] *= scale[p];
      for (size_t q = 0; q < k; ++q) a[p * k + q] *= scale[p] * scale[q];
      a[p * k + p] += 1e-9;  // ridge: collinear columns share rather than explode
    }
    // Gaussian elimination with partial pivoting.
    std::vector<double> sol(b);
    for (size_t c = 0; c < k; ++c) {
      size_t piv = c;
      for (size_t r = c + 1; r < k; ++r)
        if (std::abs(a[r * k + c]) > std::abs(a[piv * k + c])) piv = r;
      for (size_t q = 0; q < k; ++q) std::swap(a[c * k + q], a[piv * k + q]);
      std::swap(sol[c], sol[piv]);
      for (size_t r = c + 1; r < k; ++r) {
        const double f = a[r * k + c] / a[c * k + c];
        for (size_t q = c; q < k; ++q) a[r * k + q] -= f * a[c * k + q];
        sol[r] -= f * sol[c];
      }
    }
    for (size_t c = k; c-- > 0;) {
      for (size_t q = c + 1; q < k; ++q) sol[c] -= a[c * k + q] * sol[q];
      sol[c] /= a[c * k + c];
    }
    std::fill(coef.begin(), coef.end(), 0.0);
    size_t worst = k;
    for (size_t p = 0; p < k; ++p) {
      coef[cols[p]] = sol[p] * scale[p];
      if (coef[cols[p]] < 0 && (worst == k || coef[cols[p]] < coef[cols[worst]])) worst = p;
    }
    if (worst == k) break;
    active[cols[worst]] = false;
  }
  for (double& c : coef) c = std::max(c, 0.0);
  if (identified) *identified = active;
  return coef;
}

struct Point {
  Features x;
  std::array<double, kFitPhases> y;
};

// The layer of each measured sample: schema v2 "samples.layer", v1 "per_rank.sample_layers".
std::vector<int> measured_sample_layers(const nlohmann::json& run) {
  if (run.contains("samples") && run["samples"].contains("layer"))
    return run["samples"]["layer"].get<std::vector<int>>();
  return run.at("per_rank").at("sample_layers").get<std::vector<int>>();
}

// The runs of one measured file, simulated exactly; per (policy, rank, layer): the
// kQuietPercentile of the measured per-rank times and the mean simulated features.
void collect_points(const MeasuredFile& f, const Profile& unit, std::vector<Point>& points) {
  const Scenario s = scenario_of(f);
  const Cluster c = cluster_of(f);
  const int R = c.num_gpus, L = s.num_layers;
  const auto& runs = f.doc.at("runs");
  // [policy][rank * L + layer]: summed features and sample count
  std::vector<std::vector<Features>> sum(s.policies.size(), std::vector<Features>(size_t(R) * L));
  std::vector<std::vector<int>> count(s.policies.size(), std::vector<int>(size_t(R) * L, 0));
  SimOptions o;
  o.routing = "tokens";
  o.on_measured_sample = [&](int pi, int layer, const StepTraffic& t, const LayerShape& shape) {
    const int spr = int(t.slot_rows.size()) / R;
    for (int r = 0; r < R; ++r) {
      const Features x = features_of(t, shape, r, spr);
      Features& acc = sum[pi][size_t(r) * L + layer];
      for (int ph = 0; ph < kFitPhases; ++ph) {
        acc[ph].resize(x[ph].size(), 0.0);
        for (size_t j = 0; j < x[ph].size(); ++j) acc[ph][j] += x[ph][j];
      }
      ++count[pi][size_t(r) * L + layer];
    }
  };
  simulate(s, c, unit, o);
  for (size_t pi = 0; pi < s.policies.size(); ++pi) {
    const auto& run = runs.at(pi);
    const auto& samples = run.at("per_rank").at("phase_us_samples");
    const std::vector<int> layers = measured_sample_layers(run);
    for (int r = 0; r < R; ++r)
      for (int l = 0; l < L; ++l) {
        const int n = count[pi][size_t(r) * L + l];
        if (n == 0) continue;
        Point pt;
        pt.x = sum[pi][size_t(r) * L + l];
        for (int ph = 0; ph < kFitPhases; ++ph) {
          for (double& v : pt.x[ph]) v /= n;
          std::vector<double> times;
          const auto& mine = samples.at(kResultsPhases[ph]).at(r);
          for (size_t i = 0; i < layers.size() && i < mine.size(); ++i)
            if (layers[i] == l) times.push_back(mine[i].get<double>());
          pt.y[ph] = percentile(times, kQuietPercentile);
        }
        points.push_back(std::move(pt));
      }
  }
}

// kQuietPercentile over samples of the max over ranks of a phase (what `run`'s median is taken
// of), from the raw per-rank samples; `fallback` when the file has none.
double quiet_span_us(const nlohmann::json& run, const char* phase, double fallback) {
  if (!run.contains("per_rank") || !run["per_rank"].contains("phase_us_samples")) return fallback;
  const auto& per_rank = run["per_rank"]["phase_us_samples"].at(phase);
  std::vector<double> spans;
  for (size_t i = 0; i < per_rank.at(0).size(); ++i) {
    double x = 0;
    for (const auto& rank : per_rank) x = std::max(x, rank.at(i).get<double>());
    spans.push_back(x);
  }
  return percentile(spans, kQuietPercentile);
}

void require_measured(const MeasuredFile& f) {
  require_input(!f.doc.value("simulated", false), f.path + ": a simulated results file cannot "
                                                  "calibrate a profile");
  for (const auto& run : f.doc.at("runs"))
    require_input(run.contains("per_rank") && run["per_rank"].contains("phase_us_samples"),
                  f.path + ": no per_rank.phase_us_samples (needed to fit a profile)");
}

}  // namespace

Profile fit_profile(const std::vector<MeasuredFile>& files, const Profile& base,
                    const std::string& name) {
  require_input(!files.empty(), "calibrate: no results files given");
  std::vector<Point> points;
  for (const auto& f : files) {
    require_measured(f);
    collect_points(f, base, points);
  }
  require_input(!points.empty(), "calibrate: the files hold no measured samples");
  Profile p = base;
  p.name = name;
  p.description = "fitted by epbench calibrate to " + std::to_string(files.size()) +
                  " measured results files (" + std::to_string(points.size()) +
                  " rank x layer points)";
  p.sources.clear();
  for (const auto& f : files) p.sources.push_back(f.path);
  std::array<std::vector<double>, kFitPhases> coef;
  std::array<std::vector<bool>, kFitPhases> known;
  for (int ph = 0; ph < kFitPhases; ++ph) {
    std::vector<std::vector<double>> x;
    std::vector<double> y;
    for (const auto& pt : points) {
      x.push_back(pt.x[ph]);
      y.push_back(pt.y[ph]);
    }
    std::vector<bool> identified;
    coef[ph] = nonneg_least_squares(x, y, &identified);
    known[ph] = identified;
  }
  auto rate = [](double us_per_unit, double fallback) {  // us per FLOP (or byte) -> G per s
    return us_per_unit > 0 ? 1.0 / (us_per_unit * 1e3) : fallback;
  };
  p.gate_fixed_us = coef[0][0];
  p.gate_gflops = rate(coef[0][1], base.gate_gflops);
  p.layout_fixed_us = coef[1][0];
  p.layout_us_per_row = coef[1][1];
  p.layout_us_per_rank = coef[1][2];
  p.ffn_fixed_us = coef[3][0];
  p.ffn_slot_us = coef[3][1];
  p.ffn_gflops = rate(coef[3][2], base.ffn_gflops);
  // dispatch and combine share the link parameters: average the two fits where both identify.
  p.comm_fixed_us = 0.5 * (coef[2][0] + coef[4][0]);
  auto both = [&](size_t j) {
    const int n = int(known[2][j]) + int(known[4][j]);
    return n == 0 ? -1.0 : (coef[2][j] + coef[4][j]) / n;
  };
  if (both(1) > 0) p.self.GBps = 1.0 / (both(1) * 1e3);
  if (both(2) >= 0) p.intra.alpha_us = both(2);
  if (both(3) > 0) p.intra.GBps = 1.0 / (both(3) * 1e3);
  if (both(4) >= 0) p.inter.alpha_us = both(4);
  if (both(5) > 0) p.inter.GBps = 1.0 / (both(5) * 1e3);
  p.combine_us_per_row = coef[4][6];
  p.validate();
  return p;
}

nlohmann::json check_profile(const std::vector<MeasuredFile>& files, const Profile& profile) {
  nlohmann::json rows = nlohmann::json::array(), bal = nlohmann::json::array();
  std::map<std::string, std::vector<double>> errors;
  const char* phases[] = {"gate", "layout", "dispatch", "ffn", "combine"};
  for (const auto& f : files) {
    const Scenario s = scenario_of(f);
    SimOptions o;
    o.routing = "tokens";
    const nlohmann::json sim = simulate(s, cluster_of(f), profile, o);
    for (size_t i = 0; i < s.policies.size(); ++i) {
      const auto& m = f.doc.at("runs").at(i).at("summary");
      const auto& p = sim.at("runs").at(i).at("summary");
      double m_step = 0, p_step = 0;
      nlohmann::json row = {{"file", f.path}, {"policy", s.policies[i]},
                            {"ranks", sim["context"]["num_ranks"]},
                            {"nodes", sim["context"]["num_nodes"]}};
      double m_step_median = 0;
      for (const char* ph : phases) {
        // The simulator's phase time is the slowest rank's: v2 files keep that apart from
        // the span (barrier exit skew included); v1 files' phase times are it.
        const auto& slowest = m.contains("slowest_rank_phases_us") ? m["slowest_rank_phases_us"]
                                                                   : m.at("phases_us");
        const double median = slowest.at(ph).at("median").get<double>();
        const double mv = quiet_span_us(f.doc.at("runs").at(i), ph, median);
        const double pv = p.at("phases_us").at(ph).at("median").get<double>();
        m_step += mv;
        m_step_median += median;
        p_step += pv;
        const double err = mv > 0 ? (pv - mv) / mv : 0.0;
        const double err_median = median > 0 ? (pv - median) / median : 0.0;
        row[ph] = {{"measured_us", mv}, {"measured_median_us", median}, {"predicted_us", pv},
                   {"error", err}, {"error_vs_median", err_median}};
        errors[ph].push_back(std::abs(err));
        errors[std::string(ph) + "_vs_median"].push_back(std::abs(err_median));
      }
      const double step_err = m_step > 0 ? (p_step - m_step) / m_step : 0.0;
      const double step_err_median = m_step_median > 0 ? (p_step - m_step_median) / m_step_median : 0.0;
      row["step"] = {{"measured_us", m_step}, {"measured_median_us", m_step_median},
                     {"predicted_us", p_step}, {"error", step_err},
                     {"error_vs_median", step_err_median}};
      errors["step"].push_back(std::abs(step_err));
      errors["step_vs_median"].push_back(std::abs(step_err_median));
      rows.push_back(row);
      bal.push_back({{"file", f.path}, {"policy", s.policies[i]},
                     {"measured", m.at("balancedness")}, {"simulated", p.at("balancedness")}});
    }
  }
  nlohmann::json per_phase;
  for (auto& [ph, e] : errors)
    per_phase[ph] = {{"median_abs_error", percentile(e, 50.0)},
                     {"max_abs_error", *std::max_element(e.begin(), e.end())}};
  return {{"rows", rows}, {"balancedness", bal}, {"per_phase", per_phase}};
}

std::string check_markdown(const nlohmann::json& check) {
  const char* phases[] = {"gate", "layout", "dispatch", "ffn", "combine", "step"};
  std::ostringstream out;
  out << "Measured = p" << kQuietPercentile << " over samples of the max over ranks (the median "
      << "in the last column group of the summary); predicted = the simulated median.\n\n";
  out << "| file | policy | ranks | nodes |";
  for (const char* ph : phases) out << " " << ph << " meas / pred us (err) |";
  out << "\n|---|---|---|---|";
  for (size_t i = 0; i < std::size(phases); ++i) out << "---|";
  out << "\n";
  for (const auto& r : check.at("rows")) {
    std::string file = r.at("file").get<std::string>();
    file = file.substr(file.find_last_of('/') + 1);
    out << "| " << file << " | " << r.at("policy").get<std::string>() << " | "
        << r.at("ranks").dump() << " | " << r.at("nodes").dump() << " |";
    for (const char* ph : phases) {
      const auto& c = r.at(ph);
      out << " " << fmt_fixed(c.at("measured_us").get<double>(), 0) << " / "
          << fmt_fixed(c.at("predicted_us").get<double>(), 0) << " ("
          << fmt_fixed(100.0 * c.at("error").get<double>(), 0) << "%) |";
    }
    out << "\n";
  }
  out << "\n| phase | median abs error | max abs error | median abs error vs measured median |"
         " max abs error vs measured median |\n| --- | --- | --- | --- | --- |\n";
  for (const char* ph : phases) {
    if (!check.at("per_phase").contains(ph)) continue;
    const auto& e = check["per_phase"][ph];
    const auto& m = check["per_phase"][std::string(ph) + "_vs_median"];
    auto pct = [](const nlohmann::json& v) { return fmt_fixed(100.0 * v.get<double>(), 1) + "%"; };
    out << "| " << ph << " | " << pct(e.at("median_abs_error")) << " | "
        << pct(e.at("max_abs_error")) << " | " << pct(m.at("median_abs_error")) << " | "
        << pct(m.at("max_abs_error")) << " |\n";
  }
  out << "\n| file | policy | balancedness measured | simulated |\n| --- | --- | --- | --- |\n";
  for (const auto& b : check.at("balancedness")) {
    std::string file = b.at("file").get<std::string>();
    out << "| " << file.substr(file.find_last_of('/') + 1) << " | "
        << b.at("policy").get<std::string>() << " | "
        << fmt_fixed(b.at("measured").get<double>(), 4) << " | "
        << fmt_fixed(b.at("simulated").get<double>(), 4) << " |\n";
  }
  return out.str();
}

}  // namespace epbench::sim
