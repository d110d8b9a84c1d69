// One policy's run: initial placement (the policy on uniform loads), warm-up steps gathering
// per-expert load statistics over a window, a rebalance with expert migration, measured steps
// (with optional periodic rebalancing), verification, in-run baselines, and the reduction into
// one results "runs[]" entry.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "comm/mpi_comm.hpp"
#include "suite/scenario.hpp"
#include "suite/token_source.hpp"

namespace epbench {

// Collective. Returns the complete run object on rank 0 (empty elsewhere).
nlohmann::json run_policy(const Scenario& scenario, const comm::Topology& topo,
                          const TokenSource& source, const std::string& policy_name, int device);

}  // namespace epbench
