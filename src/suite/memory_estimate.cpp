// Per-rank memory estimate of `epbench run`; see memory_estimate.hpp.
#include "suite/memory_estimate.hpp"

#include <algorithm>

#include "common/error.hpp"

namespace epbench {

std::vector<MemoryTerm> rank_memory_terms(const Scenario& s, int num_ranks, bool weights_on_host) {
  // Doubles throughout: the products of hostile sizes must not wrap.
  const double R = num_ranks, L = s.num_layers, E = s.model.num_experts, H = s.model.hidden,
               F = s.model.ffn, T = s.tokens_per_rank, K = s.model.top_k;
  const double redundant = std::max(s.redundant_experts_for(num_ranks), 0);
  const double slots = E + redundant, slots_per_rank = slots / R + 1;
  const double window = s.window_steps > 0 ? s.window_steps : std::max(s.warmup_steps, 1);
  std::vector<MemoryTerm> terms = {
      // fp32 weights, a bf16 snapshot and a bf16 migration transfer per slot and layer.
      {"expert weights", weights_on_host ? L * slots_per_rank * 3.0 * H * F * (4 + 2 + 2) : 0.0},
      // dispatch/combine send, receive, slot and return buffers (bf16), with slack for skew.
      {"token buffers", 12.0 * T * K * H * 2},
      // hidden states, combined output (fp32) and the verification reference (double).
      {"hidden states and verification", T * H * (4 + 4 + 8) + T * K * (4 + 4)},
      // per-layer router weights [hidden][experts] fp32 and one step's logits [tokens][experts].
      {"router", L * H * E * 4 + T * E * 4 + L * E * (8 + 4 + 4)},
      // per-slot allocation headers of the expert FFN (a few views per slot and layer).
      {"per-slot allocations", L * slots_per_rank * 1024.0},
      // per-step [layers][experts] int64 counts: the window, the step, measured, local, global,
      // and the problem's double loads.
      {"load statistics", L * E * 8 * (window + 5)},
      // current and next placement: phy2log and log2phy per slot, logcnt and where each
      // expert's slots start in log2phy per expert (placement/placement.hpp), int32 each.
      {"placements", 2 * L * (slots * 8 + E * 8)},
      // per measured sample: six phase times, layer, rows.
      {"samples", double(s.measured_steps) * L * (6 * 8 + 4 + 8)},
  };
  // Trace replay shuffles every global token of a step.
  if (!s.trace.empty()) terms.push_back({"trace replay", R * T * 8 + E * 16});
  return terms;
}

double rank_memory_bytes(const Scenario& s, int num_ranks, bool weights_on_host) {
  return total_bytes(rank_memory_terms(s, num_ranks, weights_on_host));
}

void require_rank_memory(const Scenario& s, int num_ranks, int ranks_per_node,
                         double available_bytes, bool weights_on_host) {
  const auto terms = rank_memory_terms(s, num_ranks, weights_on_host);
  const double per_rank = available_bytes / std::max(ranks_per_node, 1);
  if (total_bytes(terms) <= 0.9 * per_rank) return;
  throw InputError("scenario needs " + describe_memory(terms) + " per rank but each of the " +
                   std::to_string(ranks_per_node) + " ranks on this node has about " +
                   format_mib(per_rank) +
                   " available: use fewer layers, experts or tokens, or more ranks");
}

}  // namespace epbench
