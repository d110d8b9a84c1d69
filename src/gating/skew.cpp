// The skew distribution table and spec parsing; see skew.hpp.
#include "gating/skew.hpp"

#include <charconv>
#include <cmath>
#include <functional>

#include "common/error.hpp"

namespace epbench::gating {
namespace {

using Params = std::vector<double>;

struct SkewDistribution {
  std::string name;
  std::string usage;  // shown in errors: "zipf:S (S > 0)"
  size_t min_params, max_params;
  bool grouped;
  // Parse-time range checks; returns an empty string when fine, else what is wrong.
  std::function<std::string(const Params&)> check;
  // Unnormalized weight per popularity rank, for `num_experts` experts in `num_groups` groups.
  std::function<std::vector<double>(const Params&, int num_experts, int num_groups)> weights;
};

bool is_integer(double v) { return std::isfinite(v) && v == std::floor(v); }

const std::vector<SkewDistribution>& distributions() {
  static const std::vector<SkewDistribution> table = {
      {"uniform", "uniform", 0, 0, false, [](const Params&) { return std::string(); },
       [](const Params&, int experts, int) { return std::vector<double>(experts, 1.0); }},
      {"zipf", "zipf:S (S > 0)", 1, 1, false,
       [](const Params& p) { return p[0] > 0 ? std::string() : std::string("S must be > 0"); },
       [](const Params& p, int experts, int) {
         std::vector<double> w(experts);
         for (int r = 0; r < experts; ++r) w[r] = std::pow(r + 1.0, -p[0]);
         return w;
       }},
      {"hot", "hot:K:X (K >= 1 integer hot experts, X >= 1 times hotter)", 2, 2, false,
       [](const Params& p) {
         if (!is_integer(p[0]) || p[0] < 1) return std::string("K must be an integer >= 1");
         if (!(p[1] >= 1)) return std::string("X must be >= 1");
         return std::string();
       },
       [](const Params& p, int experts, int) {
         std::vector<double> w(experts, 1.0);
         for (int r = 0; r < static_cast<int>(p[0]); ++r) w[r] = p[1];
         return w;
       }},
      {"group", "group:S[:G] (zipf with S > 0 over whole groups; G groups, default n_group)", 1,
       2, true,
       [](const Params& p) {
         if (!(p[0] > 0)) return std::string("S must be > 0");
         if (p.size() == 2 && (!is_integer(p[1]) || p[1] < 1))
           return std::string("G must be an integer >= 1");
         return std::string();
       },
       [](const Params& p, int experts, int groups) {
         const int per_group = experts / groups;
         std::vector<double> w(experts);
         for (int r = 0; r < experts; ++r) w[r] = std::pow(r / per_group + 1.0, -p[0]);
         return w;
       }},
  };
  return table;
}

const SkewDistribution& find_distribution(const std::string& name, const std::string& spec) {
  for (const auto& d : distributions())
    if (d.name == name) return d;
  throw InputError("skew spec \"" + spec + "\": unknown distribution \"" + name +
                   "\" (known: " + skew_distribution_usage() + ")");
}

std::string format_number(double v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

double parse_number(const std::string& text, const std::string& spec) {
  double value = 0;
  const char* end = text.data() + text.size();
  auto res = std::from_chars(text.data(), end, value);
  require_input(!text.empty() && res.ec == std::errc() && res.ptr == end && std::isfinite(value),
                "skew spec \"" + spec + "\": parameter \"" + text + "\" is not a number");
  return value;
}

}  // namespace

std::string skew_distribution_usage() {
  std::string usage;
  for (const auto& d : distributions()) usage += (usage.empty() ? "" : ", ") + d.usage;
  return usage;
}

SkewSpec SkewSpec::parse(const std::string& spec) {
  std::vector<std::string> fields;
  size_t start = 0;
  while (true) {
    const size_t colon = spec.find(':', start);
    fields.push_back(spec.substr(start, colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  const SkewDistribution& dist = find_distribution(fields[0], spec);
  SkewSpec out;
  out.distribution = dist.name;
  for (size_t i = 1; i < fields.size(); ++i) out.params.push_back(parse_number(fields[i], spec));
  require_input(out.params.size() >= dist.min_params && out.params.size() <= dist.max_params,
                "skew spec \"" + spec + "\": wrong number of parameters (expected " +
                    dist.usage + ")");
  const std::string problem = dist.check(out.params);
  require_input(problem.empty(),
                "skew spec \"" + spec + "\": " + problem + " (expected " + dist.usage + ")");
  return out;
}

std::string SkewSpec::str() const {
  std::string text = distribution;
  for (double p : params) text.append(1, ':').append(format_number(p));
  return text;
}

bool SkewSpec::is_grouped() const { return find_distribution(distribution, str()).grouped; }

int SkewSpec::num_groups(int n_group) const {
  if (!is_grouped()) return 1;
  return params.size() >= 2 ? static_cast<int>(params[1]) : n_group;
}

void SkewSpec::validate_for(int num_experts, int n_group) const {
  const std::string where = "skew spec \"" + str() + "\" with " + std::to_string(num_experts) +
                            " experts: ";
  require_input(num_experts > 0, where + "needs at least one expert");
  if (distribution == "hot")
    require_input(params[0] <= num_experts,
                  where + "K = " + format_number(params[0]) + " hot experts exceeds the experts");
  if (is_grouped()) {
    const int groups = num_groups(n_group);
    require_input(groups > 1, where + "needs more than one group: set n_group > 1 or use group:S:G");
    require_input(num_experts % groups == 0,
                  where + std::to_string(groups) + " groups do not divide the experts");
  }
}

std::vector<double> SkewSpec::rank_popularity(int num_experts, int n_group) const {
  validate_for(num_experts, n_group);
  const auto& dist = find_distribution(distribution, str());
  std::vector<double> w = dist.weights(params, num_experts, num_groups(n_group));
  double total = 0;
  for (double v : w) total += v;
  for (double& v : w) v /= total;
  return w;
}

}  // namespace epbench::gating
