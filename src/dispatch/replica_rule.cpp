// The replica rule table; see replica_rule.hpp. Each entry's factory lives in its rule's file.
#include "dispatch/replica_rule.hpp"

#include <stdexcept>

#include "common/error.hpp"
#include "dispatch/rules/rules.hpp"

namespace epbench {

const std::vector<ReplicaRuleEntry>& replica_rules() {
  static const std::vector<ReplicaRuleEntry> rules = {
      {"round-robin", "replica = global token id mod replica count", make_round_robin_rule},
      {"same-node", "round-robin among the replicas on the token's node when it has any",
       make_same_node_rule},
      {"lp", "per batch: exact min-max split of each expert's rows among its replicas",
       make_lp_rule},
      {"lp-node", "as lp, each node's tokens filling the replicas on their node first",
       make_lp_node_rule},
      {"lplb", "DeepSeek LPLB's LP: flows along first-replica -> copy edges, rounded per edge",
       make_lplb_rule},
  };
  return rules;
}

std::string replica_rule_names() {
  std::string names;
  for (const auto& r : replica_rules()) names += (names.empty() ? "" : ", ") + r.name;
  return names;
}

const ReplicaRuleEntry& find_replica_rule(const std::string& name) {
  for (const auto& r : replica_rules())
    if (r.name == name) return r;
  throw InputError("unknown replica rule \"" + name + "\" (known: " + replica_rule_names() + ")");
}

std::unique_ptr<ReplicaRule> make_replica_rule(const std::string& name) {
  return find_replica_rule(name).make();
}

void count_expert_rows(std::span<const int32_t> topk_ids, std::span<int64_t> rows) {
  for (int32_t e : topk_ids) {
    if (e < 0 || size_t(e) >= rows.size())
      throw std::logic_error("count_expert_rows: expert id out of range");
    ++rows[e];
  }
}

}  // namespace epbench
