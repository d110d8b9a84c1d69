// Scenario presets, validation and JSON; see scenario.hpp.
#include "suite/scenario.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/error.hpp"
#include "common/json_check.hpp"
#include "gating/skew.hpp"
#include "gating/skews/skew_distribution.hpp"
#include "dispatch/replica_rule.hpp"
#include "placement/policies/lplb.hpp"
#include "placement/policy.hpp"

namespace epbench {
// Skew counts (hot K, group G) are bounded at parse time, before the model is known, by the
// largest model a run accepts.
static_assert(gating::kMaxSkewCount >= kMaxExperts);
namespace {

struct Preset {
  const char* name;
  ModelShape model;
  int tokens_per_rank;
  int num_layers;
  const char* skew;
  const char* verify;
};

// Real model shapes plus a small one that runs in seconds on 2 cores. Verification samples are
// per rank, layer and measured step, sized so the host reference (expert weights regenerated,
// one double-precision FFN per checked (token, k)) costs a fraction of the step it checks.
const std::vector<Preset>& presets() {
  static const std::vector<Preset> table = {
      {"small", {256, 512, 16, 2, 4, 2, "softmax"}, 256, 2, "zipf:1.2", "sample:32"},
      {"deepseek-v3", {7168, 2048, 256, 8, 8, 4, "sigmoid"}, 4096, 1, "zipf:1.2", "sample:4"},
      {"qwen3-30b-a3b", {2048, 768, 128, 8, 1, 1, "softmax"}, 4096, 1, "zipf:1.2", "sample:8"},
      {"mixtral-8x7b", {4096, 14336, 8, 2, 1, 1, "softmax"}, 2048, 1, "zipf:1.2", "sample:2"},
  };
  return table;
}

}  // namespace

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& p : presets()) names.push_back(p.name);
  return names;
}

Scenario preset(const std::string& name) {
  for (const auto& p : presets())
    if (name == p.name) {
      Scenario s;
      s.name = p.name;
      s.model = p.model;
      s.tokens_per_rank = p.tokens_per_rank;
      s.num_layers = p.num_layers;
      s.skew = p.skew;
      s.verify = p.verify;
      return s;
    }
  std::string known;
  for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
  throw InputError("unknown preset \"" + name + "\" (known: " + known + ")");
}

void Scenario::validate() const {
  auto positive = [](int v, const char* what) {
    require_input(v > 0, std::string(what) + " must be positive, got " + std::to_string(v));
  };
  positive(model.hidden, "hidden size");
  positive(model.ffn, "expert FFN size");
  positive(model.num_experts, "number of experts");
  positive(model.top_k, "top-k");
  positive(model.n_group, "number of expert groups");
  positive(model.topk_group, "top-k groups");
  positive(tokens_per_rank, "tokens per rank");
  positive(num_layers, "number of layers");
  positive(measured_steps, "measured steps");
  require_input(warmup_steps >= 0, "warm-up steps must be >= 0");
  require_input(model.top_k <= model.num_experts,
                "top-k (" + std::to_string(model.top_k) + ") exceeds the number of experts (" +
                    std::to_string(model.num_experts) + ")");
  require_input(model.topk_group <= model.n_group,
                "top-k groups (" + std::to_string(model.topk_group) +
                    ") exceeds the number of groups (" + std::to_string(model.n_group) + ")");
  require_input(model.num_experts % model.n_group == 0,
                std::to_string(model.num_experts) + " experts are not divisible by " +
                    std::to_string(model.n_group) + " groups");
  require_input(model.top_k <= model.topk_group * (model.num_experts / model.n_group),
                "top-k (" + std::to_string(model.top_k) + ") exceeds the experts in " +
                    std::to_string(model.topk_group) + " selected groups");
  require_input(model.num_experts <= kMaxExperts,
                std::to_string(model.num_experts) + " experts is more than the supported " +
                    std::to_string(kMaxExperts));
  require_input(num_redundant_experts >= -1,
                "redundant experts must be >= 0 (or -1: one per rank), got " +
                    std::to_string(num_redundant_experts));
  validate_skew();
  require_input(model.score == "softmax" || model.score == "sigmoid",
                "unknown score function \"" + model.score + "\" (known: softmax, sigmoid)");
  // A drift of E experts per step is a full rotation (the same as 0); more is meaningless, and
  // unbounded, drift * step overflows to infinity (NaN ranks in the router).
  require_input(std::isfinite(drift) && drift >= 0.0 && drift <= model.num_experts,
                "drift must be a number in [0, " + std::to_string(model.num_experts) +
                    "] (experts per step; " + std::to_string(model.num_experts) +
                    " is a full rotation), got " + nlohmann::json(drift).dump());
  require_input(!policies.empty(), "no placement policy given");
  for (const auto& p : policies) find_policy(p);
  find_replica_rule(replica_rule);
  require_input(window_steps >= 0 && window_steps <= std::max(warmup_steps, measured_steps),
                "window steps must be between 0 and the number of steps");
  require_input(rebalance_every >= 0, "rebalance-every must be >= 0");
  const bool balances = std::any_of(policies.begin(), policies.end(),
                                    [](const std::string& p) { return p != "none"; });
  require_input(!balances || warmup_steps > 0,
                "load-based policies need at least one warm-up step to gather load statistics");
  require_input(backend == "kokkos" || backend == "cuda",
                "unknown backend \"" + backend + "\" (known: kokkos, cuda)");
  require_input(comm == "mpi" || comm == "nccl", "unknown comm \"" + comm + "\" (known: mpi, nccl)");
  require_input(!(comm == "nccl" && backend != "cuda"), "--comm nccl needs --backend cuda");
  require_input(dispatch == "flat" || dispatch == "node-dedup",
                "unknown dispatch \"" + dispatch + "\" (known: flat, node-dedup)");
  require_input(dispatch == "flat" || comm == "mpi", "--dispatch node-dedup needs --comm mpi");
  check_lplb_topology_name(lplb_topology);
  require_input(repeat >= 1 && repeat <= 1000, "--repeat must be between 1 and 1000");
  require_input(max_moved_experts >= -1,
                "--max-moved-experts must be >= 0 (or -1 for no limit)");
  require_input(std::isfinite(placement_time_budget_ms) && placement_time_budget_ms >= 0 &&
                    placement_time_budget_ms <= 3.6e6,
                "--placement-time-budget-ms must be between 0 (no limit) and 3600000 (an hour)");
  require_input(std::isfinite(step_timeout_s) && step_timeout_s > 0,
                "--step-timeout must be a number of seconds > 0");
  require_input(std::isfinite(comm_timeout_s) && comm_timeout_s > 0,
                "--comm-timeout must be a positive number of seconds");
  verify_sample();
}

void Scenario::validate_skew() const {
  // Checked even when a trace replaces the router: what the results record must be valid.
  const gating::SkewSpec spec = gating::SkewSpec::parse(skew);
  spec.validate_for(model.num_experts, model.n_group);
  // The router takes log(popularity), so every expert needs a finite, positive share. The
  // parse-time bounds guarantee it for every model a run accepts (a unit test checks them at
  // 65,536 experts); this stays as the safety net should a distribution or bound change.
  const std::vector<double> popularity = spec.rank_popularity(model.num_experts, model.n_group);
  for (size_t r = 0; r < popularity.size(); ++r)
    require_input(std::isfinite(popularity[r]) && popularity[r] > 0.0,
                  "skew \"" + skew + "\" gives popularity rank " + std::to_string(r) +
                      " a share of " + nlohmann::json(popularity[r]).dump() +
                      " (overflow or underflow): use a milder parameter");
}

int Scenario::verify_sample() const {
  if (verify == "all") return 0;
  if (verify.rfind("sample:", 0) == 0) {
    try {
      size_t used = 0;
      int n = std::stoi(verify.substr(7), &used);
      if (used == verify.size() - 7 && n > 0) return n;
    } catch (const std::exception&) {
    }
  }
  throw InputError("bad --verify \"" + verify + "\" (use all or sample:N with N > 0)");
}

void Scenario::validate_trace_steps(int recorded_steps) const {
  const bool fits = std::any_of(policies.begin(), policies.end(),
                                [](const std::string& p) { return p != "none"; });
  const int needed = warmup_steps + measured_steps;
  require_input(!fits || needed <= recorded_steps,
                "trace " + trace + " has " + std::to_string(recorded_steps) +
                    " recorded steps, but " + std::to_string(warmup_steps) + " warm-up + " +
                    std::to_string(measured_steps) + " measured steps need " +
                    std::to_string(needed) +
                    ": replay would wrap onto the steps the placement was fitted on (in-sample); "
                    "record more steps or lower --warmup/--steps");
}

int Scenario::redundant_experts_for(int num_ranks) const {
  return num_redundant_experts >= 0 ? num_redundant_experts : num_ranks;
}

int Scenario::slots_for(const std::string& policy, int num_ranks, int num_nodes) const {
  const int E = model.num_experts;
  if (policy == "none") return E;
  if (policy == "lplb") return lplb_num_slots(lplb_topology, E, num_ranks, num_nodes);
  return E + redundant_experts_for(num_ranks);
}

void Scenario::validate_for(int num_ranks, int num_nodes) const {
  validate();
  const int E = model.num_experts;
  // In 64 bits: E + redundant must not wrap (--redundant-experts 2147483646).
  const int64_t all_slots = int64_t{E} + redundant_experts_for(num_ranks);
  require_input(all_slots <= std::numeric_limits<int>::max(),
                std::to_string(E) + " experts + " + std::to_string(redundant_experts_for(num_ranks)) +
                    " redundant = " + std::to_string(all_slots) + " replicas, more than " +
                    std::to_string(std::numeric_limits<int>::max()));
  for (const auto& p : policies) {
    if (p == "lplb") {
      // The topology (and its r2o file) against the job's shape, before any collective.
      const int copies = (slots_for(p, num_ranks, num_nodes) - E) / num_ranks;
      require_input(E % num_ranks == 0 && E / num_ranks >= copies,
                    "policy lplb: " + std::to_string(E) + " experts on " +
                        std::to_string(num_ranks) +
                        " ranks: needs a multiple of the ranks with >= " + std::to_string(copies) +
                        " experts per rank (topology " + lplb_topology + ")");
    } else if (p == "none") {
      require_input(E % num_ranks == 0, "policy none: " + std::to_string(E) +
                                            " experts are not divisible by " +
                                            std::to_string(num_ranks) + " ranks");
    } else {
      const int slots = E + redundant_experts_for(num_ranks);
      require_input(slots % num_ranks == 0,
                    "policy " + p + ": " + std::to_string(E) + " experts + " +
                        std::to_string(redundant_experts_for(num_ranks)) +
                        " redundant = " + std::to_string(slots) +
                        " replicas, not a multiple of " + std::to_string(num_ranks) + " ranks");
    }
  }
}

nlohmann::json Scenario::to_json() const {
  return {{"name", name},
          {"model",
           {{"hidden", model.hidden}, {"ffn", model.ffn}, {"num_experts", model.num_experts},
            {"top_k", model.top_k}, {"n_group", model.n_group},
            {"topk_group", model.topk_group}, {"score", model.score}}},
          {"tokens_per_rank", tokens_per_rank}, {"num_layers", num_layers},
          {"warmup_steps", warmup_steps}, {"measured_steps", measured_steps}, {"skew", skew},
          {"drift", drift}, {"trace", trace.empty() ? nlohmann::json(nullptr) : nlohmann::json(trace)},
          {"seed", seed}, {"replica_rule", replica_rule},
          {"num_redundant_experts", num_redundant_experts}, {"window_steps", window_steps},
          {"rebalance_every", rebalance_every}, {"verify", verify}, {"policies", policies},
          {"dispatch", dispatch}, {"lplb_topology", lplb_topology}, {"repeat", repeat}, {"max_moved_experts", max_moved_experts},
          {"placement_time_budget_ms", placement_time_budget_ms},
          {"phase_barriers", phase_barriers},
          {"step_timeout_s", step_timeout_s}};
}

void apply_scenario_json(const nlohmann::json& doc, const std::string& source, Scenario& s) {
  // Every field through the typed reader: integers must be JSON integers that fit their type
  // (no truncation of 64.9, no wrap of 4294967297 or -1), numbers finite, unknown keys refused
  // at every level.
  const JsonChecker c(source);
  c.object(doc, "");
  c.known_keys(doc, "", {"name", "preset", "model", "tokens_per_rank", "num_layers",
                         "warmup_steps", "measured_steps", "skew", "drift", "trace", "seed",
                         "policies", "num_redundant_experts", "replica_rule", "window_steps",
                         "rebalance_every", "verify", "label", "dispatch", "repeat",
                         "max_moved_experts", "placement_time_budget_ms", "phase_barriers",
                         "step_timeout_s", "lplb_topology"},
               "scenario field");
  if (doc.contains("preset")) s = preset(c.string(doc, "", "preset"));
  auto str = [&](const nlohmann::json& obj, const std::string& path, const char* key,
                 std::string& field) {
    if (obj.contains(key)) field = c.string(obj, path, key);
  };
  auto count = [&](const nlohmann::json& obj, const std::string& path, const char* key, int& field,
                   int min) {
    if (obj.contains(key)) field = c.int32(obj.at(key), join_path(path, key), min);
  };
  str(doc, "", "name", s.name);
  if (doc.contains("model")) {
    const nlohmann::json& m = c.object(doc, "", "model");
    c.known_keys(m, "model",
                 {"hidden", "ffn", "num_experts", "top_k", "n_group", "topk_group", "score"},
                 "model field");
    count(m, "model", "hidden", s.model.hidden, 1);
    count(m, "model", "ffn", s.model.ffn, 1);
    count(m, "model", "num_experts", s.model.num_experts, 1);
    count(m, "model", "top_k", s.model.top_k, 1);
    count(m, "model", "n_group", s.model.n_group, 1);
    count(m, "model", "topk_group", s.model.topk_group, 1);
    str(m, "model", "score", s.model.score);
  }
  count(doc, "", "tokens_per_rank", s.tokens_per_rank, 1);
  count(doc, "", "num_layers", s.num_layers, 1);
  count(doc, "", "warmup_steps", s.warmup_steps, 0);
  count(doc, "", "measured_steps", s.measured_steps, 1);
  str(doc, "", "skew", s.skew);
  if (doc.contains("drift")) s.drift = c.number(doc, "", "drift", 0.0);
  if (doc.contains("trace") && !doc.at("trace").is_null()) str(doc, "", "trace", s.trace);
  if (doc.contains("seed")) s.seed = c.unsigned_integer(doc.at("seed"), "seed");
  if (doc.contains("policies")) s.policies = c.strings(doc.at("policies"), "policies");
  count(doc, "", "num_redundant_experts", s.num_redundant_experts, -1);
  str(doc, "", "replica_rule", s.replica_rule);
  count(doc, "", "window_steps", s.window_steps, 0);
  count(doc, "", "rebalance_every", s.rebalance_every, 0);
  str(doc, "", "verify", s.verify);
  str(doc, "", "label", s.label);
  str(doc, "", "dispatch", s.dispatch);
  count(doc, "", "repeat", s.repeat, 1);
  count(doc, "", "max_moved_experts", s.max_moved_experts, -1);
  if (doc.contains("placement_time_budget_ms"))
    s.placement_time_budget_ms = c.number(doc, "", "placement_time_budget_ms", 0.0);
  if (doc.contains("phase_barriers")) s.phase_barriers = c.boolean(doc, "", "phase_barriers");
  if (doc.contains("step_timeout_s")) s.step_timeout_s = c.number(doc, "", "step_timeout_s", 0.0);
  str(doc, "", "lplb_topology", s.lplb_topology);
}

}  // namespace epbench
