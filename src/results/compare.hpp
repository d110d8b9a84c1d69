// Side-by-side comparison of results files (`epbench compare`): runs are matched across files by
// scenario_key(), the first file holding a scenario is its baseline, and every other file gets a
// ratio and a noise-aware verdict per metric. The result is plain data; comparison_report()
// turns it into a Report for any reporter (table, Markdown, CSV).
//
// Verdict rule (also in results/SCHEMA.md): for a metric with value a (baseline) and b,
//   relative difference d = |b / a - 1|,
//   noise n = max(spread_a, spread_b, 1%), spread = half the 95 % CI of the median / median
//   (schema version 2; version 1 files: (p99 - median) / median) of the phase the
//   metric comes from (gate..total for the phase times, total for tokens/s, dispatch for busbw;
//   balancedness has no spread: its noise is the 1% floor).
//   d <= n -> "same"; otherwise "faster"/"slower" (times, tokens/s, bandwidth) or
//   "better"/"worse" (balancedness), by the metric's direction.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "results/reporters.hpp"

namespace epbench {

// What makes two runs the same experiment: model shape, tokens per rank, layers, skew, drift,
// trace, replica rule, redundant experts, window and rebalance period, policy and rank count.
// Not part of it (they are what a comparison varies or samples): hardware, nodes, backend,
// comm, library versions, seed, warm-up and measured step counts. Readable, e.g.
// "policy=eplb ranks=4 tokens/rank=2048 layers=2 model=H2048/F768/E64/k6/g8:3/softmax ...".
std::string scenario_key(const nlohmann::json& doc, const nlohmann::json& run);

// "NVIDIA H100 80GB HBM3, 1x4, NVLink4" : first GPU model (else the CPU model), nodes x ranks
// per node, interconnect when known.
std::string hardware_label(const nlohmann::json& doc);

struct ResultsFile {
  std::string name;  // shown in headers: the file name, or the path when names repeat
  nlohmann::json doc;
};

enum class Verdict { kSame, kImproved, kRegressed };

// The rule above; `higher_is_better` gives the direction. Baseline value a must be > 0.
Verdict classify(double a, double b, double spread_a, double spread_b, bool higher_is_better);
inline constexpr double kMinRelativeNoise = 0.01;

struct MetricRow {
  std::string metric;                 // e.g. "ffn_us", "tokens_per_s"
  std::vector<std::optional<double>> values;  // per file; empty where the file lacks the run
  std::vector<std::optional<double>> ratios;  // value / baseline value; none for the baseline
  std::vector<std::string> verdicts;          // "same", "faster", ...; "" where no ratio
};

struct ComparisonGroup {
  std::string key;
  size_t baseline = 0;                 // index of the baseline file
  std::vector<bool> present;           // per file
  std::vector<MetricRow> rows;
};

struct Comparison {
  std::vector<ResultsFile> files;
  std::vector<ComparisonGroup> groups;    // scenarios found in two files or more
  std::vector<std::string> unmatched;     // "only in FILE: KEY"
  std::vector<std::string> notes;         // duplicates and the like
};

// Names of the metrics compare knows, in report order.
std::vector<std::string> compare_metric_names();

// Matches and compares; `metrics` filters the rows (empty = all; InputError on unknown names).
// Needs at least two files.
Comparison compare_results(std::vector<ResultsFile> files, const std::vector<std::string>& metrics);

// Loads files and folders as `epbench compare` does (folders: *.json recursively, skipping
// non-results JSON, reported in `skipped`) and names them for the headers.
std::vector<ResultsFile> load_compare_inputs(const std::vector<std::string>& args,
                                             std::vector<std::string>* skipped);

// One section per matched scenario, plus notes listing the unmatched runs.
Report comparison_report(const Comparison& comparison);

}  // namespace epbench
