// `epbench calibrate`: fits a Profile's cost-model parameters to measured results files, and
// checks a profile by simulating measured runs (held-out files) and comparing phase by phase.
//
// Fit (docs/simulate.md): one point per (file, policy run, rank, layer): the rank's own median
// phase time over that layer's samples against what the cost model says the rank did (rows per
// slot, bytes sent and received per link class, peers). Each phase is a linear model in its
// parameters; they are found by least squares on relative error with non-negative coefficients
// (a negative one is dropped and the rest refitted). Parameters a file set cannot separate
// (e.g. inter-node links without multi-node files) keep the values of the base profile.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/profile.hpp"

namespace epbench::sim {

struct MeasuredFile {
  std::string path;
  nlohmann::json doc;
};

// InputError when a file lacks the per-rank samples the fit needs or is itself simulated.
Profile fit_profile(const std::vector<MeasuredFile>& files, const Profile& base,
                    const std::string& name);

// Simulates every policy run of every file with `profile` (same scenario, ranks, nodes, routing
// replayed exactly with --routing tokens) and compares per phase (median over samples of the
// max over ranks) and balancedness. Returns {"rows": [{file, policy, phase, measured_us,
// predicted_us, error}], "balancedness": [...], "per_phase": {phase: {median_abs_error,
// max_abs_error}}}.
nlohmann::json check_profile(const std::vector<MeasuredFile>& files, const Profile& profile);

// The check as a markdown table (one row per file x policy, one column pair per phase).
std::string check_markdown(const nlohmann::json& check);

}  // namespace epbench::sim
