// What one simulated layer step moves: rows per physical slot and every rank's send/receive rows
// per link class, built one source rank at a time (memory O(ranks + slots), never ranks^2).
//
// Two ways to feed a source rank:
//  - add_source_plan: the real dispatch plan (dispatch/dispatch_plan.hpp) of routed tokens,
//    exactly what `epbench run` sends (used with --routing tokens and for traces);
//  - add_source_counts: per-expert row counts sampled from the router's shares (sample_counts),
//    split among an expert's replicas as the static replica rule does on average (SplitModel):
//    round-robin gives each replica floor(c/n) rows and c mod n of them one more (which ones
//    rotates with a hash, as token ids do); same-node restricts the replicas to the source's
//    node when it holds one;
//  - add_source_slot_rows: rows per physical slot given directly (the batch rules lp, lp-node,
//    lplb: the rule's own split of the sampled counts, batch_split_rows below).
// Node-deduplicated dispatch (DeepEP-style): each token crosses to a remote node once, to the
// gateway rank with the source's local index, which forwards rows inside its node. With counts
// the rows per (source, remote node) are estimated as T (1 - (1 - q)^k), q = the share of the
// source's rows bound for that node (independent picks; group-limited routing correlates them,
// so this over-estimates there).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <span>
#include <vector>

#include "dispatch/batch_split.hpp"
#include "dispatch/dispatch_plan.hpp"
#include "placement/placement.hpp"
#include "sim/cost_model.hpp"

namespace epbench::sim {

// Multinomial sample of `rows` rows over experts with probabilities `shares` (sum 1), a pure
// function of `key`: conditional binomials, exact inversion for small means and a rounded
// normal (continuity-corrected, clamped) above 20 expected rows. Sum of out == rows.
void sample_counts(std::span<const double> shares, int64_t rows, uint64_t key,
                   std::span<int64_t> out);

// Caps every share at 1 / top_k (an expert takes at most one row per token) and spreads the
// excess proportionally over the others (water-filling); input need not be normalized.
std::vector<double> capped_shares(std::span<const double> popularity, int top_k);

// How a static replica rule spreads a source's rows of an expert over its replicas on average.
enum class SplitModel { kRoundRobin, kSameNode };
// The model of a static rule by its registry name (round-robin, same-node); InputError for the
// batch rules, which split through batch_split_rows instead.
SplitModel split_model_of(const std::string& rule_name);

struct SlotRows {
  int32_t slot;
  int64_t rows;
};

// A batch rule's split laid over the ranks as assign_split_slots does it (per expert, each
// source's ranks numbered in rank order over the replicas' quotas), for every rank at once in
// O(ranks x experts + slots): calls emit(rank, rows per slot of that rank) rank by rank.
// rank_expert_rows: [ranks][experts]; source_of_rank: the split's source of every rank.
void batch_split_rows(const Placement& placement, int layer, const BatchSplit& split,
                      std::span<const int64_t> rank_expert_rows,
                      std::span<const int> source_of_rank,
                      const std::function<void(int rank, std::span<const SlotRows>)>& emit);

struct StepTraffic {
  std::vector<int64_t> slot_rows;          // [slots] rows each physical slot receives
  std::vector<RankTraffic> ranks;          // [ranks] dispatch direction (both stages of
                                           // node-dedup: carriers across, forwarding inside)
  std::vector<int64_t> inter_rows_dedup;   // [ranks] rows a node-dedup dispatch sends off-node
  int64_t total_rows = 0;
};

class TrafficBuilder {
 public:
  // node_dedup: model --dispatch node-dedup (gateway forwarding) in `ranks`; inter_rows_dedup
  // is filled either way.
  TrafficBuilder(const Placement& placement, int layer, int ranks_per_node, SplitModel model,
                 int top_k, int64_t tokens_per_rank, bool node_dedup, StepTraffic& out);

  void add_source_counts(int source, std::span<const int64_t> expert_rows, uint64_t rotation_key);
  void add_source_slot_rows(int source, std::span<const SlotRows> rows);
  void add_source_plan(int source, const DispatchPlan& plan);
  void finish();

 private:
  void give(int32_t slot, int64_t rows);  // rows of the current source to a slot
  // Counts sources: rows per remote node estimated, then flushed (add_destination_rows).
  void finish_counted_source(int source);
  void add_destination_rows(int source);  // flushes dest_rows_ / node rows of one source

  const Placement& placement_;
  int layer_, rpn_, top_k_, spr_;
  SplitModel model_;
  int64_t tokens_;
  bool node_dedup_;
  StepTraffic& out_;
  std::vector<int64_t> dest_rows_;      // scratch [ranks], rows of the current source
  std::vector<int32_t> touched_;        // destinations with rows
  std::vector<int32_t> rank_of_slot_;
  std::vector<int64_t> node_dedup_rows_;  // scratch [nodes], per remote node of the source
};

}  // namespace epbench::sim
