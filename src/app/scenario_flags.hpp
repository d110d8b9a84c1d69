// The scenario flags shared by `epbench run` and `epbench simulate`: --preset, --scenario FILE and
// the override flags (model shape, sizes, skew, policies, replica rule, dispatch, ...), and the
// scenario they build (preset, then the file, then the flags given; validated).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "suite/scenario.hpp"

namespace epbench {

struct ScenarioFlags {
  std::string preset = "small", scenario_file;
  Scenario flags;  // values of the override flags
  std::vector<std::pair<CLI::Option*, std::function<void(Scenario&)>>> overrides;
};

// Refuses a leading minus sign (CLI11 would wrap "-1" for unsigned options).
extern const CLI::Validator kNonNegative;

// Registers the flags on `cmd`; `flags` must outlive the command (it holds the parsed values).
void add_scenario_flags(CLI::App* cmd, ScenarioFlags& flags);
// Preset -> scenario file -> flags that were given; Scenario::validate(). InputError on bad input.
Scenario build_scenario(const ScenarioFlags& flags);

}  // namespace epbench
