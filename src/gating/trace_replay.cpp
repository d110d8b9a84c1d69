// Trace CSV parsing, count scaling and the token dealing of TraceReplay; see trace_replay.hpp.
#include "gating/trace_replay.hpp"

#include <algorithm>
#include <charconv>
#include <numeric>
#include <stdexcept>
#include <string_view>

#include "common/error.hpp"
#include "common/files.hpp"
#include "gating/hash_rng.hpp"

namespace epbench::gating {
namespace {

// Splits a line at commas into trimmed views of it (no copies: rows are the bulk of a trace).
void split_fields(std::string_view line, std::vector<std::string_view>& fields) {
  fields.clear();
  size_t start = 0;
  while (true) {
    const size_t comma = line.find(',', start);
    std::string_view f = line.substr(start, comma == std::string_view::npos ? comma : comma - start);
    const size_t b = f.find_first_not_of(" \t"), e = f.find_last_not_of(" \t");
    fields.push_back(b == std::string_view::npos ? std::string_view() : f.substr(b, e - b + 1));
    if (comma == std::string_view::npos) return;
    start = comma + 1;
  }
}

// Parses a non-negative decimal integer; false on anything else ("1.5", "-3", "", "7x").
bool parse_count(std::string_view text, int64_t& value) {
  const char* end = text.data() + text.size();
  auto res = std::from_chars(text.data(), end, value);
  return !text.empty() && res.ec == std::errc() && res.ptr == end && value >= 0;
}

// Splits `total` proportionally to `weights` (largest remainder, ties to the lower index).
std::vector<int64_t> apportion(const std::vector<int64_t>& weights, int64_t total) {
  const int64_t weight_sum = std::accumulate(weights.begin(), weights.end(), int64_t{0});
  std::vector<int64_t> share(weights.size(), 0);
  if (weight_sum <= 0 || total <= 0) return share;
  std::vector<int64_t> remainder(weights.size());
  int64_t assigned = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    const __int128 scaled = static_cast<__int128>(weights[i]) * total;
    share[i] = static_cast<int64_t>(scaled / weight_sum);
    remainder[i] = static_cast<int64_t>(scaled % weight_sum);
    assigned += share[i];
  }
  std::vector<size_t> order(weights.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return remainder[a] > remainder[b]; });
  for (size_t i = 0; assigned < total; ++i, ++assigned) ++share[order[i % order.size()]];
  return share;
}

}  // namespace

TraceReplay TraceReplay::load(const std::filesystem::path& path, int num_experts) {
  return parse(read_text_file(path), path.string(), num_experts);
}

TraceReplay TraceReplay::parse(const std::string& text, const std::string& source,
                               int num_experts) {
  require_input(num_experts > 0, source + ": num_experts must be positive");
  TraceReplay trace;
  trace.source_ = source;
  trace.num_experts_ = num_experts;
  bool have_header = false;
  size_t line_no = 0, pos = 0;
  std::vector<std::string_view> fields;
  const std::string_view all(text);
  while (pos < all.size()) {
    size_t eol = all.find('\n', pos);
    if (eol == std::string_view::npos) eol = all.size();
    std::string_view line = all.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos || line[0] == '#') continue;
    // Messages are built only on failure: a row is parsed in time linear in its length.
    auto fail = [&](const std::string& what) {
      throw InputError(source + ":" + std::to_string(line_no) + ": " + what);
    };
    auto quoted = [](std::string_view f) {
      std::string q(1, '"');
      q.append(f.substr(0, 40)).push_back('"');
      return q;
    };
    split_fields(line, fields);
    if (!have_header) {
      if (!(fields.size() >= 3 && fields[0] == "step" && fields[1] == "layer"))
        fail("header must be \"step,layer,e0,e1,...\"");
      const int columns = static_cast<int>(fields.size()) - 2;
      if (columns != num_experts)
        fail("header has " + std::to_string(columns) + " expert columns, expected " +
             std::to_string(num_experts));
      for (int e = 0; e < columns; ++e) {
        const std::string expected = "e" + std::to_string(e);
        if (fields[2 + e] != expected)
          fail("header column " + std::to_string(3 + e) + " is " + quoted(fields[2 + e]) +
               ", expected \"" + expected + "\"");
      }
      have_header = true;
      continue;
    }
    if (fields.size() != size_t(num_experts) + 2)
      fail("row has " + std::to_string(fields.size()) + " fields, expected " +
           std::to_string(num_experts + 2) + " (step, layer and one count per expert)");
    Row row;
    if (!parse_count(fields[0], row.step))
      fail("step " + quoted(fields[0]) + " is not a non-negative integer");
    if (fields[1] != "*") {
      int64_t layer = 0;
      if (!(parse_count(fields[1], layer) && layer <= INT32_MAX))
        fail("layer " + quoted(fields[1]) + " is not a non-negative integer or \"*\"");
      row.layer = static_cast<int>(layer);
    }
    row.counts.resize(num_experts);
    int64_t total = 0;
    for (int e = 0; e < num_experts; ++e) {
      if (!parse_count(fields[2 + e], row.counts[e]))
        fail("count for e" + std::to_string(e) + " " + quoted(fields[2 + e]) +
             " is not a non-negative integer");
      if (row.counts[e] > (int64_t{1} << 40))
        fail("count for e" + std::to_string(e) + " is implausibly large");
      total += row.counts[e];
    }
    if (total <= 0) fail("all counts are zero");
    // An index instead of a scan of the earlier rows: parsing stays O(rows log rows).
    if (!trace.row_index_.emplace(std::make_pair(row.step, row.layer), trace.rows_.size()).second)
      fail("duplicate row for step " + std::string(fields[0]) + " layer " + std::string(fields[1]));
    trace.rows_.push_back(std::move(row));
  }
  require_input(line_no > 0, source + ": empty trace file");
  require_input(have_header, source + ": no header line (expected \"step,layer,e0,e1,...\")");
  require_input(!trace.rows_.empty(), source + ": trace has a header but no data rows");
  for (const Row& r : trace.rows_) trace.steps_.push_back(r.step);
  std::sort(trace.steps_.begin(), trace.steps_.end());
  trace.steps_.erase(std::unique(trace.steps_.begin(), trace.steps_.end()), trace.steps_.end());
  return trace;
}

const TraceReplay::Row* TraceReplay::find_row(int64_t recorded_step, int layer) const {
  auto it = row_index_.find({recorded_step, layer});
  if (it == row_index_.end()) it = row_index_.find({recorded_step, kAllLayers});
  return it == row_index_.end() ? nullptr : &rows_[it->second];
}

const std::vector<int64_t>& TraceReplay::recorded_counts(int step, int layer) const {
  require_input(step >= 0, source_ + ": run step " + std::to_string(step) + " must be >= 0");
  const int64_t recorded = steps_[size_t(step) % steps_.size()];
  const Row* row = find_row(recorded, layer);
  require_input(row != nullptr, source_ + ": no row for recorded step " +
                                    std::to_string(recorded) + " and layer " +
                                    std::to_string(layer) + " (nor a \"*\" row)");
  return row->counts;
}

void TraceReplay::check_covers(int num_layers) const {
  for (const int64_t step : steps_)
    for (int layer = 0; layer < num_layers; ++layer)
      require_input(find_row(step, layer) != nullptr,
                    source_ + ": recorded step " + std::to_string(step) + " has no row for layer " +
                        std::to_string(layer) + " (nor a \"*\" row); the run has " +
                        std::to_string(num_layers) + " layers");
}

std::vector<int64_t> TraceReplay::target_counts(int step, int layer, int64_t num_global_tokens,
                                                int top_k) const {
  require_input(top_k > 0 && top_k <= num_experts_,
                source_ + ": top_k " + std::to_string(top_k) + " must be in [1, " +
                    std::to_string(num_experts_) + "]");
  require_input(num_global_tokens >= 0, source_ + ": token count must be >= 0");
  const std::vector<int64_t>& recorded = recorded_counts(step, layer);
  std::vector<int64_t> target = apportion(recorded, num_global_tokens * top_k);
  // Water-filling: cap at one slot per token, re-spread the excess over uncapped experts in
  // proportion to their recorded counts (evenly when those are all zero).
  while (true) {
    int64_t excess = 0;
    for (int64_t& c : target)
      if (c > num_global_tokens) { excess += c - num_global_tokens; c = num_global_tokens; }
    if (excess == 0) return target;
    std::vector<int64_t> weights(num_experts_, 0);
    bool any_weight = false;
    for (int e = 0; e < num_experts_; ++e)
      if (target[e] < num_global_tokens && recorded[e] > 0) { weights[e] = recorded[e]; any_weight = true; }
    if (!any_weight)
      for (int e = 0; e < num_experts_; ++e) weights[e] = target[e] < num_global_tokens ? 1 : 0;
    const std::vector<int64_t> extra = apportion(weights, excess);
    for (int e = 0; e < num_experts_; ++e) target[e] += extra[e];
  }
}

void TraceReplay::route(int step, int layer, int rank, int num_ranks, int num_tokens, int top_k,
                        std::span<int32_t> topk_ids, std::span<float> topk_weights,
                        uint64_t seed) const {
  require_input(num_ranks > 0 && rank >= 0 && rank < num_ranks && num_tokens >= 0,
                source_ + ": bad replay shape rank " + std::to_string(rank) + " of " +
                    std::to_string(num_ranks) + " with " + std::to_string(num_tokens) + " tokens");
  if (topk_ids.size() != size_t(num_tokens) * top_k || topk_weights.size() != topk_ids.size())
    throw std::invalid_argument("TraceReplay::route: buffers do not match " +
                                std::to_string(num_tokens) + " tokens x top_k " +
                                std::to_string(top_k));
  const int64_t global_tokens = int64_t(num_ranks) * num_tokens;
  const std::vector<int64_t> target = target_counts(step, layer, global_tokens, top_k);
  if (num_tokens == 0) return;

  // Slot sequence: experts in a shuffled order, expert e repeated target[e] times. Slot j goes to
  // token position j % T, choice j / T; a run of <= T slots never hits one position twice.
  const uint64_t key = hash_key({seed, uint64_t(step), uint64_t(layer) + 1});
  std::vector<int> expert_order(num_experts_);
  std::iota(expert_order.begin(), expert_order.end(), 0);
  for (size_t i = expert_order.size(); i > 1; --i)
    std::swap(expert_order[i - 1],
              expert_order[splitmix64(hash_key({key, stream_tag(RngStream::kTraceExperts), i})) % i]);
  std::vector<int64_t> run_end(num_experts_);  // cumulative slot ends in expert_order
  int64_t acc = 0;
  for (int i = 0; i < num_experts_; ++i) run_end[i] = (acc += target[expert_order[i]]);

  // Global token g sits at position position_of[g] (a seeded shuffle, so ranks mix experts).
  std::vector<int64_t> position_of(global_tokens);
  std::iota(position_of.begin(), position_of.end(), int64_t{0});
  for (int64_t i = global_tokens; i > 1; --i)
    std::swap(position_of[i - 1],
              position_of[splitmix64(hash_key({key, stream_tag(RngStream::kTraceTokens),
                                               uint64_t(i)})) % uint64_t(i)]);
  const float weight = 1.0f / float(top_k);
  for (int t = 0; t < num_tokens; ++t) {
    const int64_t position = position_of[int64_t(rank) * num_tokens + t];
    for (int c = 0; c < top_k; ++c) {
      const int64_t slot = int64_t(c) * global_tokens + position;
      const size_t run = std::upper_bound(run_end.begin(), run_end.end(), slot) - run_end.begin();
      topk_ids[size_t(t) * top_k + c] = expert_order[run];
      topk_weights[size_t(t) * top_k + c] = weight;
    }
  }
}

}  // namespace epbench::gating
