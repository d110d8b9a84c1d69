// Results comparison; see compare.hpp for the matching and verdict rules. Metrics are one entry
// each in kMetrics: adding a metric means adding a line there.
#include "results/compare.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "common/error.hpp"
#include "results/schema.hpp"
#include "results/table.hpp"

namespace epbench {
namespace {

using nlohmann::json;

struct MetricDef {
  const char* name;
  bool higher_is_better;
  const char* better;  // verdict word when b is better than a
  const char* worse;
  const char* noise_phase;  // phase whose (p99 - median) / median is the noise; nullptr: none
  double (*value)(const json& summary);
};

double phase_median(const json& summary, const char* phase) {
  return summary["phases_us"][phase]["median"].get<double>();
}

const MetricDef kMetrics[] = {
    {"gate_us", false, "faster", "slower", "gate",
     [](const json& s) { return phase_median(s, "gate"); }},
    {"layout_us", false, "faster", "slower", "layout",
     [](const json& s) { return phase_median(s, "layout"); }},
    {"dispatch_us", false, "faster", "slower", "dispatch",
     [](const json& s) { return phase_median(s, "dispatch"); }},
    {"ffn_us", false, "faster", "slower", "ffn",
     [](const json& s) { return phase_median(s, "ffn"); }},
    {"combine_us", false, "faster", "slower", "combine",
     [](const json& s) { return phase_median(s, "combine"); }},
    {"total_us", false, "faster", "slower", "total",
     [](const json& s) { return phase_median(s, "total"); }},
    {"tokens_per_s", true, "faster", "slower", "total",
     [](const json& s) { return s["tokens_per_s"].get<double>(); }},
    {"balancedness", true, "better", "worse", nullptr,
     [](const json& s) { return s["balancedness"].get<double>(); }},
    {"dispatch_busbw_GBps", true, "faster", "slower", "dispatch",
     [](const json& s) {  // nccl-tests' form; named so from schema version 2 on
       return s.contains("dispatch_busbw_nccl_tests_GBps")
                  ? s["dispatch_busbw_nccl_tests_GBps"].get<double>()
                  : s["dispatch_busbw_GBps"].get<double>();
     }},
    {"tax_total", false, "better", "worse", nullptr,  // version 2 only; noise from its own CI
     [](const json& s) {
       return s.contains("tax") ? s["tax"]["total"]["median"].get<double>()
                                : std::numeric_limits<double>::quiet_NaN();
     }},
};

// The noise of one statistics block relative to its median: version 2 files carry a 95 %
// confidence interval of the median (its half width); version 1 files only p99 - median.
double block_spread(const json& s) {
  const double median = s["median"].get<double>();
  if (median <= 0) return 0.0;
  if (s.contains("ci95"))
    return (s["ci95"][1].get<double>() - s["ci95"][0].get<double>()) / 2.0 / median;
  return (s["p99"].get<double>() - median) / median;
}

double relative_spread(const json& summary, const MetricDef& m) {
  if (std::string(m.name) == "tax_total" && summary.contains("tax"))
    return block_spread(summary["tax"]["total"]);
  if (!m.noise_phase) return 0.0;
  return block_spread(summary["phases_us"][m.noise_phase]);
}

std::string fmt_value(double v) {
  return std::abs(v) >= 1000 ? fmt_fixed(v, 0) : fmt_general(v, 4);
}

std::string letter(size_t i) {
  return i < 26 ? std::string(1, static_cast<char>('A' + i)) : "F" + std::to_string(i + 1);
}

// Shortest trailing path parts that tell the files apart ("dgx-h100/ds-mini_np4.json").
std::vector<std::string> short_names(const std::vector<std::filesystem::path>& paths) {
  for (size_t parts = 1;; ++parts) {
    std::vector<std::string> names;
    bool exhausted = true;
    for (const auto& p : paths) {
      std::vector<std::string> comps;
      for (const auto& c : p) comps.push_back(c.string());
      const size_t take = std::min(parts, comps.size());
      if (take < comps.size()) exhausted = false;
      std::filesystem::path name;
      for (size_t i = comps.size() - take; i < comps.size(); ++i) name /= comps[i];
      names.push_back(name.string());
    }
    if (std::set<std::string>(names.begin(), names.end()).size() == names.size() || exhausted)
      return names;
  }
}

}  // namespace

std::string scenario_key(const json& doc, const json& run) {
  const json& sc = doc["scenario"];
  const json& m = sc["model"];
  std::string key = "policy=" + run["policy"].get<std::string>() +
                    " ranks=" + std::to_string(doc["context"]["num_ranks"].get<int64_t>()) +
                    " tokens/rank=" + std::to_string(sc["tokens_per_rank"].get<int64_t>()) +
                    " layers=" + std::to_string(sc["num_layers"].get<int64_t>()) + " model=H" +
                    std::to_string(m["hidden"].get<int64_t>()) + "/F" +
                    std::to_string(m["ffn"].get<int64_t>()) + "/E" +
                    std::to_string(m["num_experts"].get<int64_t>()) + "/top" +
                    std::to_string(m["top_k"].get<int64_t>()) + "/g" +
                    std::to_string(m["n_group"].get<int64_t>()) + ":" +
                    std::to_string(m["topk_group"].get<int64_t>()) + "/" +
                    m["score"].get<std::string>() + " skew=" + sc["skew"].get<std::string>() +
                    " drift=" + fmt_general(sc["drift"].get<double>(), 6);
  if (!sc["trace"].is_null()) key += " trace=" + sc["trace"].get<std::string>();
  key += " redundant=" + std::to_string(sc["num_redundant_experts"].get<int64_t>()) +
         " replica=" + sc["replica_rule"].get<std::string>() +
         " window=" + std::to_string(sc["window_steps"].get<int64_t>()) +
         " rebalance=" + std::to_string(sc["rebalance_every"].get<int64_t>()) +
         // Files written before the dispatch option existed used the flat dispatch.
         " dispatch=" + sc.value("dispatch", std::string("flat"));
  return key;
}

std::string hardware_label(const json& doc) {
  const json& ctx = doc["context"];
  std::string label = ctx["gpu_models"].empty() ? ctx["cpu_model"].get<std::string>()
                                                : ctx["gpu_models"][0].get<std::string>();
  label += ", " + std::to_string(ctx["num_nodes"].get<int64_t>()) + "x" +
           std::to_string(ctx["ranks_per_node"].get<int64_t>());
  if (ctx["interconnect"].is_string()) label += ", " + ctx["interconnect"].get<std::string>();
  return label;
}

Verdict classify(double a, double b, double spread_a, double spread_b, bool higher_is_better) {
  const double noise = std::max({spread_a, spread_b, kMinRelativeNoise});
  const double diff = b / a - 1.0;
  if (std::abs(diff) <= noise) return Verdict::kSame;
  return (diff > 0) == higher_is_better ? Verdict::kImproved : Verdict::kRegressed;
}

std::vector<std::string> compare_metric_names() {
  std::vector<std::string> names;
  for (const auto& m : kMetrics) names.push_back(m.name);
  return names;
}

Comparison compare_results(std::vector<ResultsFile> files, const std::vector<std::string>& metrics) {
  require_input(files.size() >= 2, "compare needs at least two results files (got " +
                                       std::to_string(files.size()) + ")");
  std::vector<const MetricDef*> selected;
  for (const auto& m : kMetrics)
    if (metrics.empty() || std::find(metrics.begin(), metrics.end(), m.name) != metrics.end())
      selected.push_back(&m);
  for (const auto& name : metrics) {
    const bool known = std::any_of(std::begin(kMetrics), std::end(kMetrics),
                                   [&](const MetricDef& m) { return name == m.name; });
    if (!known) {
      std::string list;
      for (const auto& n : compare_metric_names()) list += (list.empty() ? "" : ", ") + n;
      throw InputError("unknown metric \"" + name + "\" (known: " + list + ")");
    }
  }

  Comparison out;
  out.files = std::move(files);
  const size_t F = out.files.size();
  std::set<int64_t> versions;
  for (const auto& f : out.files) versions.insert(f.doc.value("schema_version", int64_t(0)));
  if (versions.size() > 1)
    out.notes.push_back(
        "files of different schema versions: version 1 phase times are the max over ranks of "
        "each rank's own phase and its total a rank's sum of phases; version 2 phase times are "
        "spans over ranks and total the whole step (results/SCHEMA.md), so version 2 times are "
        "longer for the same run");
  // Scenario keys in order of first appearance, with each file's run for it.
  std::vector<std::string> keys;
  std::map<std::string, std::vector<const json*>> runs_by_key;
  for (size_t f = 0; f < F; ++f) {
    for (const json& run : out.files[f].doc["runs"]) {
      const std::string key = scenario_key(out.files[f].doc, run);
      auto [it, inserted] = runs_by_key.try_emplace(key, std::vector<const json*>(F, nullptr));
      if (inserted) keys.push_back(key);
      if (it->second[f]) {
        out.notes.push_back("duplicate run in " + out.files[f].name + ": " + key +
                            " (the first one is compared)");
        continue;
      }
      it->second[f] = &run;
    }
  }
  for (const std::string& key : keys) {
    const auto& runs = runs_by_key[key];
    const size_t count = std::count_if(runs.begin(), runs.end(), [](auto* r) { return r; });
    if (count < 2) {
      for (size_t f = 0; f < F; ++f)
        if (runs[f]) out.unmatched.push_back("only in " + out.files[f].name + ": " + key);
      continue;
    }
    ComparisonGroup group;
    group.key = key;
    group.baseline = static_cast<size_t>(
        std::find_if(runs.begin(), runs.end(), [](auto* r) { return r; }) - runs.begin());
    for (auto* r : runs) group.present.push_back(r != nullptr);
    const json& base = (*runs[group.baseline])["summary"];
    for (const MetricDef* m : selected) {
      MetricRow row;
      row.metric = m->name;
      const double a = m->value(base);
      for (size_t f = 0; f < F; ++f) {
        if (!runs[f] || std::isnan(m->value((*runs[f])["summary"]))) {
          row.values.emplace_back();
          row.ratios.emplace_back();
          row.verdicts.emplace_back();
          continue;
        }
        const json& summary = (*runs[f])["summary"];
        const double b = m->value(summary);
        row.values.emplace_back(b);
        if (f == group.baseline) {
          row.ratios.emplace_back();
          row.verdicts.emplace_back();
        } else if (std::isnan(a) || a <= 0) {
          row.ratios.emplace_back();
          row.verdicts.emplace_back(b == a ? "same" : "n/a");
        } else {
          row.ratios.emplace_back(b / a);
          const Verdict v = classify(a, b, relative_spread(base, *m),
                                     relative_spread(summary, *m),
                                     m->higher_is_better);
          row.verdicts.emplace_back(v == Verdict::kSame       ? "same"
                                    : v == Verdict::kImproved ? m->better
                                                              : m->worse);
        }
      }
      group.rows.push_back(std::move(row));
    }
    out.groups.push_back(std::move(group));
  }
  return out;
}

std::vector<ResultsFile> load_compare_inputs(const std::vector<std::string>& args,
                                             std::vector<std::string>* skipped) {
  auto loaded = load_results_paths(expand_results_paths(args), skipped);
  std::vector<std::filesystem::path> paths;
  for (const auto& l : loaded) paths.push_back(l.path);
  const auto names = short_names(paths);
  std::vector<ResultsFile> files;
  for (size_t i = 0; i < loaded.size(); ++i) files.push_back({names[i], std::move(loaded[i].doc)});
  return files;
}

Report comparison_report(const Comparison& cmp) {
  Report report;
  report.title = "epbench compare: " + std::to_string(cmp.files.size()) + " files, " +
                 std::to_string(cmp.groups.size()) + " matched scenarios";
  const size_t F = cmp.files.size();
  // Columns for the files that take part in some matched scenario; the others only show up in
  // the legend and the "only in" list, so empty columns do not crowd the tables.
  std::vector<size_t> shown;
  for (size_t f = 0; f < F; ++f)
    if (std::any_of(cmp.groups.begin(), cmp.groups.end(),
                    [&](const ComparisonGroup& g) { return g.present[f]; }))
      shown.push_back(f);
  std::vector<std::string> headers = {"metric"};
  for (size_t f = 0; f < F; ++f) {
    const json& doc = cmp.files[f].doc;
    const json& ctx = doc["context"];
    if (std::find(shown.begin(), shown.end(), f) != shown.end()) {
      headers.push_back(letter(f) + ": " + cmp.files[f].name + " [" + hardware_label(doc) + "]");
      if (f != shown.front()) {
        headers.push_back(letter(f) + "/base");
        headers.push_back(letter(f) + " verdict");
      }
    }
    report.notes.push_back(
        letter(f) + " = " + cmp.files[f].name + ": " + hardware_label(doc) + "; cpu " +
        ctx["cpu_model"].get<std::string>() + "; " + ctx["backend"].get<std::string>() + "/" +
        ctx["comm"].get<std::string>() + "; " + ctx["date_utc"].get<std::string>());
  }
  report.notes.push_back(
      "base = first file holding the scenario (the first column unless noted); ratio = value / base; verdict "
      "\"same\" when |ratio - 1| <= max((p99 - median) / median of either run, " +
      fmt_general(kMinRelativeNoise * 100, 3) + "%), see results/SCHEMA.md");
  for (const auto& group : cmp.groups) {
    ReportSection section;
    section.title = group.key;
    section.headers = headers;
    for (const auto& row : group.rows) {
      std::vector<std::string> cells = {row.metric};
      for (size_t f : shown) {
        cells.push_back(row.values[f] ? fmt_value(*row.values[f]) : "-");
        if (f != shown.front()) {
          cells.push_back(row.ratios[f] ? fmt_fixed(*row.ratios[f], 3)
                          : f == group.baseline ? "base"
                                                : "-");
          cells.push_back(row.verdicts[f]);
        }
      }
      section.rows.push_back(std::move(cells));
    }
    if (group.baseline != 0)
      section.notes.push_back("base is " + letter(group.baseline) + " (" +
                              cmp.files[group.baseline].name + ")");
    for (size_t f = 0; f < F; ++f)
      if (!group.present[f])
        section.notes.push_back("not in " + letter(f) + " (" + cmp.files[f].name + ")");
    report.sections.push_back(std::move(section));
  }
  for (const auto& u : cmp.unmatched) report.footer.push_back(u);
  for (const auto& n : cmp.notes) report.footer.push_back(n);
  return report;
}

}  // namespace epbench
