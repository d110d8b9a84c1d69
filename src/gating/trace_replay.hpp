// Trace replay: recorded per-step, per-expert token counts (CSV, format in docs/gating.md)
// replayed as routing decisions. Each run step takes the recorded step (wrapping around),
// scales its counts to the run's token slots, and deals experts to tokens so the global
// per-expert counts match exactly, each token gets top_k distinct experts (weights 1/top_k).
//
//   step,layer,e0,e1,...,e{E-1}     header; layer "*" in a row = applies to every layer
//   0,*,120,80,...                  non-negative integer counts, at least one > 0 per row
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace epbench::gating {

class TraceReplay {
 public:
  static constexpr int kAllLayers = -1;  // the "*" layer

  struct Row {
    int64_t step = 0;
    int layer = kAllLayers;
    std::vector<int64_t> counts;  // per expert
  };

  // Throws InputError with FILE:LINE on: unreadable or empty file, bad header, ragged or
  // malformed rows, negative / non-integer counts, all-zero rows, duplicate (step, layer),
  // or a header expert count different from num_experts.
  static TraceReplay load(const std::filesystem::path& path, int num_experts);
  // Same, from text already in memory; `source` names it in messages.
  static TraceReplay parse(const std::string& text, const std::string& source, int num_experts);

  int num_experts() const { return num_experts_; }
  int num_steps() const { return static_cast<int>(steps_.size()); }  // distinct recorded steps
  const std::vector<int64_t>& recorded_steps() const { return steps_; }  // ascending

  // Recorded counts used at run step `step` for `layer`: recorded step steps[step % n], the row
  // for that layer or else its "*" row. InputError when neither exists.
  const std::vector<int64_t>& recorded_counts(int step, int layer) const;

  // InputError naming the first recorded step that lacks a row (or a "*" row) for one of the
  // layers 0 .. num_layers-1: checked before a run, so a gap is not found mid-run.
  void check_covers(int num_layers) const;

  // The global per-expert counts route() realizes: the recorded counts scaled to
  // num_global_tokens * top_k slots (largest remainder), capped at num_global_tokens per expert
  // (a token picks an expert at most once) with the excess re-spread proportionally.
  std::vector<int64_t> target_counts(int step, int layer, int64_t num_global_tokens,
                                     int top_k) const;

  // Routes this rank's num_tokens tokens (global tokens rank*num_tokens ..; every rank has the
  // same num_tokens). Over all ranks the per-expert counts equal target_counts(...,
  // num_ranks * num_tokens, top_k). Deterministic in (step, layer, rank, num_ranks, seed).
  void route(int step, int layer, int rank, int num_ranks, int num_tokens, int top_k,
             std::span<int32_t> topk_ids, std::span<float> topk_weights,
             uint64_t seed = 0) const;

 private:
  const Row* find_row(int64_t recorded_step, int layer) const;  // layer's row, else "*", else null

  std::string source_;
  int num_experts_ = 0;
  std::vector<int64_t> steps_;
  std::vector<Row> rows_;
  std::map<std::pair<int64_t, int>, size_t> row_index_;  // (step, layer) -> index in rows_
};

}  // namespace epbench::gating
