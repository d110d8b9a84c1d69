// Scenario flags; see scenario_flags.hpp.
#include "app/scenario_flags.hpp"

#include "common/files.hpp"
#include "dispatch/replica_rule.hpp"
#include "gating/skew.hpp"
#include "placement/policy.hpp"

namespace epbench {
namespace {

template <typename T>
CLI::Option* add_override(CLI::App* cmd, ScenarioFlags& opt, const std::string& name,
                          T Scenario::*field, const std::string& help) {
  CLI::Option* o = cmd->add_option(name, opt.flags.*field, help);
  opt.overrides.push_back({o, [&opt, field](Scenario& s) { s.*field = opt.flags.*field; }});
  return o;
}

template <typename T>
void add_model_override(CLI::App* cmd, ScenarioFlags& opt, const std::string& name,
                        T ModelShape::*field, const std::string& help) {
  CLI::Option* o = cmd->add_option(name, opt.flags.model.*field, help);
  opt.overrides.push_back(
      {o, [&opt, field](Scenario& s) { s.model.*field = opt.flags.model.*field; }});
}

}  // namespace

// Refuses a leading minus sign (CLI11 would wrap "-1" for unsigned options and accept negative
// counts): "--seed: must be >= 0, got -1".
const CLI::Validator kNonNegative(
    [](std::string& value) {
      const size_t first = value.find_first_not_of(" \t");
      return first != std::string::npos && value[first] == '-' ? "must be >= 0, got " + value
                                                                 : std::string();
    },
    ">= 0", "non-negative");

Scenario build_scenario(const ScenarioFlags& opt) {
  Scenario s = preset(opt.preset);
  if (!opt.scenario_file.empty()) {
    apply_scenario_json(read_json_file(opt.scenario_file), opt.scenario_file, s);
  }
  for (const auto& [option, apply] : opt.overrides)
    if (option->count() > 0) apply(s);
  s.validate();
  return s;
}

void add_scenario_flags(CLI::App* cmd, ScenarioFlags& o) {
  std::string presets;
  for (const auto& n : preset_names()) presets += (presets.empty() ? "" : ", ") + n;
  cmd->add_option("--preset", o.preset, "Model/scenario preset: " + presets)->capture_default_str();
  cmd->add_option("--scenario", o.scenario_file, "Scenario JSON (fields of results' \"scenario\")");
  add_model_override(cmd, o, "--hidden", &ModelShape::hidden, "Hidden size");
  add_model_override(cmd, o, "--ffn", &ModelShape::ffn, "Expert FFN (intermediate) size");
  add_model_override(cmd, o, "--experts", &ModelShape::num_experts, "Routed experts");
  add_model_override(cmd, o, "--top-k", &ModelShape::top_k, "Experts per token");
  add_model_override(cmd, o, "--groups", &ModelShape::n_group, "Expert groups (n_group)");
  add_model_override(cmd, o, "--topk-groups", &ModelShape::topk_group, "Groups kept per token");
  add_model_override(cmd, o, "--score", &ModelShape::score, "Router score: softmax|sigmoid");
  add_override(cmd, o, "--tokens-per-rank", &Scenario::tokens_per_rank, "Tokens per rank per step");
  add_override(cmd, o, "--layers", &Scenario::num_layers, "MoE layers");
  add_override(cmd, o, "--warmup", &Scenario::warmup_steps, "Warm-up steps (load statistics)");
  add_override(cmd, o, "--steps", &Scenario::measured_steps, "Measured steps");
  add_override(cmd, o, "--skew", &Scenario::skew, gating::skew_distribution_usage());
  add_override(cmd, o, "--drift", &Scenario::drift, "Popularity drift (experts per step)");
  add_override(cmd, o, "--trace", &Scenario::trace, "Replay recorded per-expert counts (CSV)");
  add_override(cmd, o, "--seed", &Scenario::seed, "Seed of weights, tokens and router")
      ->check(kNonNegative);  // "-1" would wrap to 2^64 - 1
  add_override(cmd, o, "--policies", &Scenario::policies,
               "Placement policies (comma list): " + policy_names())
      ->delimiter(',');
  add_override(cmd, o, "--redundant-experts", &Scenario::num_redundant_experts,
               "Extra replica slots in total (default: one per rank)");
  add_override(cmd, o, "--replica-rule", &Scenario::replica_rule, replica_rule_names());
  add_override(cmd, o, "--lplb-topology", &Scenario::lplb_topology,
               "Policy lplb's copies: cube | hypercube | torus | r2o:FILE (docs/lplb.md)");
  add_override(cmd, o, "--window", &Scenario::window_steps, "Load-statistics window in steps");
  add_override(cmd, o, "--rebalance-every", &Scenario::rebalance_every,
               "Rebalance every N measured steps (0: once after warm-up)");
  add_override(cmd, o, "--verify", &Scenario::verify, "all | sample:N tokens per rank, layer and measured step");
  add_override(cmd, o, "--backend", &Scenario::backend, "Expert FFN backend: kokkos | cuda");
  add_override(cmd, o, "--comm", &Scenario::comm, "Communication: mpi | nccl");
  add_override(cmd, o, "--dispatch", &Scenario::dispatch,
               "flat (a row per token and expert) | node-dedup (a row per token and remote node, "
               "forwarded inside the node)");
  add_override(cmd, o, "--label", &Scenario::label, "Free-text label stored in the results");
  add_override(cmd, o, "--max-moved-experts", &Scenario::max_moved_experts,
               "Migration-aware re-placement (policy minmax): move at most N expert weights per "
               "layer and re-placement (-1: no limit)");
  add_override(cmd, o, "--placement-time-budget-ms", &Scenario::placement_time_budget_ms,
               "Wall-clock cap on each re-placement of a search policy (minmax), all layers; 0: "
               "none (deterministic)");
  add_override(cmd, o, "--repeat", &Scenario::repeat,
               "Run every policy N times, interleaved (A B A B ...); samples pooled");
  add_override(cmd, o, "--step-timeout", &Scenario::step_timeout_s,
               "Seconds a rank may take to reach a barrier before the job aborts (exit 3)");
  add_override(cmd, o, "--comm-timeout", &Scenario::comm_timeout_s,
               "Seconds any blocking NCCL call or wait may take before the run aborts (default 300)");
}

}  // namespace epbench
