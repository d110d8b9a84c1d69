// Reading placement problems (expert loads + cluster shape) from JSON or CSV files, and writing
// placements as JSON. Every malformed input becomes an InputError naming the file and the spot.
//
// JSON problem file: {"weight": [[...], ...], "num_replicas": R, "num_groups": G,
//                     "num_nodes": N, "num_gpus": P}  (extra fields ignored; the golden format).
// CSV loads file: one row per layer, one comma-separated load per logical expert; blank lines
//                 and lines starting with '#' are skipped.
// Both: loads finite and >= 0, each layer's total within float32 range (EPLB sums in float32);
// the file limits of common/files.hpp apply (regular file, size cap, no NUL, BOM skipped).
#pragma once

#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

#include "placement/eplb.hpp"

namespace epbench {

// Parses a JSON document already read from `source` (named in errors).
EplbProblem problem_from_json(const nlohmann::json& doc, const std::string& source);
EplbProblem read_problem_json(const std::filesystem::path& path);

// Reads a [layers][experts] load matrix; sets num_layers, num_experts, weight.
void read_loads_csv(const std::filesystem::path& path, EplbProblem& problem);

// InputError when a layer's loads sum beyond float32's range.
void check_float32_sums(const std::vector<double>& weight, int num_rows, int num_cols,
                        const std::string& source);

// Parses a JSON array of arrays of non-negative finite numbers into a row-major matrix.
std::vector<double> parse_load_matrix(const nlohmann::json& rows, const std::string& source,
                                      int& num_rows, int& num_cols);

}  // namespace epbench
