// Memory estimate of `epbench place`; see memory_estimate.hpp.
#include "placement/memory_estimate.hpp"

#include <algorithm>
#include <cmath>
#include <thread>

#include "common/error.hpp"

namespace epbench {

std::vector<MemoryTerm> place_memory_terms(const EplbProblem& p, bool json_output,
                                           int max_replicas) {
  // Doubles throughout: the products of hostile sizes must not wrap.
  const double L = p.num_layers, E = std::max(p.num_experts, 1), R = p.num_replicas,
               G = p.num_gpus;
  // The padded log2phy of the JSON document is at least ceil(R / E) wide (the mean count).
  const double width = max_replicas > 0 ? max_replicas : std::ceil(R / E);
  // Per value of the JSON document: a json node (16 bytes) and its text in dump(1)'s
  // one-value-per-line form (digits, comma, newline, indentation).
  const double json_value = 16.0 + 16.0;
  const MemoryTerm output = {
      "JSON output", json_output ? L * (R + E + E * width + G + 1) * json_value : 0.0};
  if (max_replicas > 0) return {output};

  const double hardware = std::max(1u, std::thread::hardware_concurrency());
  const double threads = std::clamp(p.num_threads > 0 ? p.num_threads : hardware, 1.0,
                                    std::max(L, 1.0));
  std::vector<MemoryTerm> terms = {
      {"load matrix", L * E * 8},
      // Placement: phy2log and log2phy per slot, logcnt and log2phy starts per expert (int32).
      {"placement", L * (R * 8 + E * 8)},
      // The policy's phy2log rows, and EPLB's start beside a search policy's own (minmax).
      {"policy rows", 2 * L * R * 4},
      // Per worker thread, one layer's scratch: EPLB's per-slot loads, packing order and
      // heaps (~48 bytes a slot), per-expert maps (~32 bytes an expert); with --current,
      // minmax's [GPUs][experts] table of what each GPU held.
      {"per-thread scratch",
       threads * (R * 48 + E * 32 + (p.current ? G * E : 0.0))},
      // Per-GPU loads before and after, per layer (the table, the bounds, the JSON).
      {"per-GPU loads", 2 * L * G * 8},
      output,
  };
  if (p.current) terms.push_back({"current placement", L * (R * 8 + E * 8)});
  return terms;
}

void require_place_memory(const EplbProblem& p, bool json_output, int max_replicas,
                          double available_bytes) {
  if (available_bytes <= 0) return;
  const auto terms = place_memory_terms(p, json_output, max_replicas);
  if (total_bytes(terms) <= 0.9 * available_bytes) return;
  throw InputError(std::to_string(p.num_layers) + " layers x " + std::to_string(p.num_experts) +
                   " experts -> " + std::to_string(p.num_replicas) + " replicas on " +
                   std::to_string(p.num_gpus) + " GPUs needs " + describe_memory(terms) +
                   " but this host has about " + format_mib(available_bytes) +
                   " available: use fewer replicas, GPUs or layers");
}

}  // namespace epbench
