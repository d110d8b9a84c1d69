// Trace CSV parsing, count scaling and the token dealing of TraceReplay; see trace_replay.hpp.
#include "gating/trace_replay.hpp"

#include <algorithm>
#include <charconv>
#include <numeric>
#include <stdexcept>

#include "common/error.hpp"
#include "common/files.hpp"
#include "gating/hash_rng.hpp"

namespace epbench::gating {
namespace {

std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> fields;
  size_t start = 0;
  while (true) {
    const size_t comma = line.find(',', start);
    std::string f = line.substr(start, comma - start);
    const size_t b = f.find_first_not_of(" \t"), e = f.find_last_not_of(" \t");
    fields.push_back(b == std::string::npos ? std::string() : f.substr(b, e - b + 1));
    if (comma == std::string::npos) return fields;
    start = comma + 1;
  }
}

// Parses a non-negative decimal integer; false on anything else ("1.5", "-3", "", "7x").
bool parse_count(const std::string& text, int64_t& value) {
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
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos || line[0] == '#') continue;
    const std::string where = source + ":" + std::to_string(line_no) + ": ";
    const std::vector<std::string> fields = split_fields(line);
    if (!have_header) {
      require_input(fields.size() >= 3 && fields[0] == "step" && fields[1] == "layer",
                    where + "header must be \"step,layer,e0,e1,...\"");
      const int columns = static_cast<int>(fields.size()) - 2;
      require_input(columns == num_experts, where + "header has " + std::to_string(columns) +
                                                " expert columns, expected " +
                                                std::to_string(num_experts));
      for (int e = 0; e < columns; ++e) {
        const std::string expected = std::string(1, 'e').append(std::to_string(e));
        require_input(fields[2 + e] == expected,
                      where + "header column " + std::to_string(3 + e) + " is \"" +
                          fields[2 + e] + "\", expected \"" + expected + "\"");
      }
      have_header = true;
      continue;
    }
    require_input(fields.size() == size_t(num_experts) + 2,
                  where + "row has " + std::to_string(fields.size()) + " fields, expected " +
                      std::to_string(num_experts + 2) + " (step, layer and one count per expert)");
    Row row;
    require_input(parse_count(fields[0], row.step),
                  where + "step \"" + fields[0] + "\" is not a non-negative integer");
    if (fields[1] != "*") {
      int64_t layer = 0;
      require_input(parse_count(fields[1], layer) && layer <= INT32_MAX,
                    where + "layer \"" + fields[1] + "\" is not a non-negative integer or \"*\"");
      row.layer = static_cast<int>(layer);
    }
    row.counts.resize(num_experts);
    int64_t total = 0;
    for (int e = 0; e < num_experts; ++e) {
      require_input(parse_count(fields[2 + e], row.counts[e]),
                    where + "count for e" + std::to_string(e) + " \"" + fields[2 + e] +
                        "\" is not a non-negative integer");
      require_input(row.counts[e] <= (int64_t{1} << 40),
                    where + "count for e" + std::to_string(e) + " is implausibly large");
      total += row.counts[e];
    }
    require_input(total > 0, where + "all counts are zero");
    for (const Row& other : trace.rows_)
      require_input(other.step != row.step || other.layer != row.layer,
                    where + "duplicate row for step " + fields[0] + " layer " + fields[1]);
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

const std::vector<int64_t>& TraceReplay::recorded_counts(int step, int layer) const {
  require_input(step >= 0, source_ + ": run step " + std::to_string(step) + " must be >= 0");
  const int64_t recorded = steps_[size_t(step) % steps_.size()];
  const Row* fallback = nullptr;
  for (const Row& r : rows_) {
    if (r.step != recorded) continue;
    if (r.layer == layer) return r.counts;
    if (r.layer == kAllLayers) fallback = &r;
  }
  require_input(fallback != nullptr, source_ + ": no row for recorded step " +
                                         std::to_string(recorded) + " and layer " +
                                         std::to_string(layer) + " (nor a \"*\" row)");
  return fallback->counts;
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
