// One policy's run: initial placement (the policy on uniform loads), warm-up steps gathering
// per-expert load statistics over a window, a rebalance with expert migration, measured steps
// (with optional periodic rebalancing), each interleaved with a balanced reference step and
// verified on a sample of tokens; then the samples are gathered on rank 0. Repetitions of the
// same policy are reduced together by summarize_policy().
#pragma once

#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "comm/mpi_comm.hpp"
#include "comm/step_sync.hpp"
#include "measure/samples.hpp"
#include "placement/placement.hpp"
#include "suite/scenario.hpp"
#include "suite/token_source.hpp"

namespace epbench {

// What every policy run of one `epbench run` shares.
struct RunControl {
  const comm::StepSync* sync = nullptr;
  std::vector<double> clock_offsets;  // comm::clock_offsets()
  int device = 0;
  int repetition = 0;                 // for progress and the timeout message
  bool show_progress = false;         // rank 0: step i/N with an ETA on stderr (a terminal)
};

struct PolicyRun {
  GatheredRun gathered;  // rank 0 only
  nlohmann::json info;   // rank 0: policy, placement and routing facts (see policy_run.cpp)
};

// Collective.
// Balance a re-placement gains on the statistics window's loads (the policy's own model: an
// expert's load split equally among its copies): the mean over layers of the balancedness of
// `before` and of `after`. weight: [layers][experts].
std::pair<double, double> window_balancedness(const Placement& before, const Placement& after,
                                              std::span<const double> weight);

PolicyRun run_policy(const Scenario& scenario, const comm::Topology& topo,
                     const TokenSource& source, const std::string& policy_name,
                     const RunControl& control);

// Rank 0: the results "runs[]" entry from the repetitions of one policy.
nlohmann::json summarize_policy(const std::vector<PolicyRun>& repetitions,
                                const Scenario& scenario, const comm::Topology& topo);

}  // namespace epbench
