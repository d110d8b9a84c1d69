// Skew spec parsing and target shares against the registry in gating/skews/; see skew.hpp.
#include "gating/skew.hpp"

#include <charconv>
#include <cmath>

#include "common/error.hpp"
#include "gating/shares.hpp"
#include "gating/skews/skew_distribution.hpp"

namespace epbench::gating {
namespace {

const SkewDistribution& find_distribution(const std::string& name, const std::string& spec) {
  for (const SkewDistribution* d : skew_distributions())
    if (d->name == name) return *d;
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
  for (const SkewDistribution* d : skew_distributions())
    usage += (usage.empty() ? "" : ", ") + d->usage;
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
  require_input(
      out.params.size() >= dist.min_params && out.params.size() <= dist.max_params,
      "skew spec \"" + spec + "\": wrong number of parameters (expected " + dist.usage + ")");
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
  if (params.size() < 2) return n_group;
  // parse() bounds G; a spec built by hand must not convert an out-of-range double to int.
  const std::string problem = check_count(params[1], "G");
  require_input(problem.empty(), "skew spec \"" + str() + "\": " + problem);
  return static_cast<int>(params[1]);
}

void SkewSpec::validate_for(int num_experts, int n_group) const {
  const std::string where =
      "skew spec \"" + str() + "\" with " + std::to_string(num_experts) + " experts: ";
  require_input(num_experts > 0, where + "needs at least one expert");
  const SkewDistribution& dist = find_distribution(distribution, str());
  // The parse-time checks again, for specs built by hand rather than parsed.
  require_input(params.size() >= dist.min_params && params.size() <= dist.max_params,
                where + "wrong number of parameters (expected " + dist.usage + ")");
  const std::string bad = dist.check(params);
  require_input(bad.empty(), where + bad + " (expected " + dist.usage + ")");
  if (dist.check_for_experts) {
    const std::string problem = dist.check_for_experts(params, num_experts);
    require_input(problem.empty(), where + problem);
  }
  if (is_grouped()) {
    const int groups = num_groups(n_group);
    require_input(groups > 1,
                  where + "needs more than one group: set n_group > 1 or use group:S:G");
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

std::vector<double> SkewSpec::rank_target_shares(int num_experts, int n_group, int top_k) const {
  require_input(top_k >= 1 && top_k <= num_experts, "skew spec \"" + str() + "\": top_k " +
                                                        std::to_string(top_k) + " must be in [1, " +
                                                        std::to_string(num_experts) + "]");
  return water_fill_shares(rank_popularity(num_experts, n_group), top_k);
}

}  // namespace epbench::gating
