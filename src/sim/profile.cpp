// Profiles; see profile.hpp. Fields are listed once (a table of JSON keys and members), so
// reading, writing and checking cannot disagree.
#include "sim/profile.hpp"

#include <cmath>
#include <filesystem>
#include <set>

#include "common/error.hpp"
#include "common/files.hpp"

namespace epbench::sim {
namespace {

struct NumberField {
  const char* key;
  double Profile::*member;
  bool positive;  // else non-negative
};

const std::vector<NumberField>& number_fields() {
  static const std::vector<NumberField> fields = {
      {"gate_fixed_us", &Profile::gate_fixed_us, false},
      {"gate_gflops", &Profile::gate_gflops, true},
      {"layout_fixed_us", &Profile::layout_fixed_us, false},
      {"layout_us_per_row", &Profile::layout_us_per_row, false},
      {"layout_us_per_rank", &Profile::layout_us_per_rank, false},
      {"ffn_fixed_us", &Profile::ffn_fixed_us, false},
      {"ffn_slot_us", &Profile::ffn_slot_us, false},
      {"ffn_gflops", &Profile::ffn_gflops, true},
      {"ffn_weight_GBps", &Profile::ffn_weight_GBps, false},
      {"comm_fixed_us", &Profile::comm_fixed_us, false},
      {"combine_us_per_row", &Profile::combine_us_per_row, false},
      {"migration_fixed_us", &Profile::migration_fixed_us, false},
  };
  return fields;
}

struct LinkField {
  const char* key;
  LinkCost Profile::*member;
};
const LinkField kLinks[] = {{"self", &Profile::self}, {"intra", &Profile::intra},
                            {"inter", &Profile::inter}};

#ifndef EPBENCH_PROFILES_DIR
#define EPBENCH_PROFILES_DIR "results/profiles"
#endif

}  // namespace

nlohmann::json Profile::to_json() const {
  nlohmann::json doc = {{"schema", "epbench.profile"}, {"schema_version", 1}, {"name", name},
                        {"description", description}, {"sources", sources},
                        {"backend", backend}, {"ffn_tile_rows", ffn_tile_rows},
                        {"links_overlap", links_overlap}};
  for (const auto& f : number_fields()) doc[f.key] = this->*f.member;
  for (const auto& l : kLinks)
    doc["links"][l.key] = {{"alpha_us", (this->*l.member).alpha_us},
                           {"GBps", (this->*l.member).GBps}};
  return doc;
}

Profile Profile::from_json(const nlohmann::json& doc, const std::string& source) {
  auto fail = [&](const std::string& what) { throw InputError(source + ": " + what); };
  if (!doc.is_object()) fail("a profile must be a JSON object");
  std::set<std::string> known = {"schema", "schema_version", "name", "description", "sources",
                                 "backend", "ffn_tile_rows", "links_overlap", "links", "fit"};
  for (const auto& f : number_fields()) known.insert(f.key);
  for (const auto& [key, value] : doc.items())
    if (!known.count(key)) fail("unknown profile field \"" + key + "\"");
  Profile p;
  try {
    p.name = doc.at("name").get<std::string>();
    p.description = doc.value("description", std::string());
    p.sources = doc.value("sources", std::vector<std::string>{});
    p.backend = doc.value("backend", std::string("cuda"));
    p.ffn_tile_rows = doc.value("ffn_tile_rows", 1);
    p.links_overlap = doc.value("links_overlap", true);
    for (const auto& f : number_fields()) {
      if (!doc.contains(f.key)) fail("missing profile field \"" + std::string(f.key) + "\"");
      p.*f.member = doc.at(f.key).get<double>();
    }
    for (const auto& l : kLinks) {
      const auto& link = doc.at("links").at(l.key);
      (p.*l.member).alpha_us = link.at("alpha_us").get<double>();
      (p.*l.member).GBps = link.at("GBps").get<double>();
    }
  } catch (const nlohmann::json::exception& e) {
    fail(std::string("bad or missing profile field: ") + e.what());
  }
  try {
    p.validate();
  } catch (const InputError& e) {
    fail(e.what());
  }
  return p;
}

void Profile::validate() const {
  for (const auto& f : number_fields()) {
    const double v = this->*f.member;
    require_input(std::isfinite(v) && (f.positive ? v > 0 : v >= 0),
                  std::string("profile field ") + f.key + " must be " +
                      (f.positive ? "positive" : "non-negative") + ", got " + std::to_string(v));
  }
  for (const auto& l : kLinks) {
    const LinkCost& c = this->*l.member;
    require_input(std::isfinite(c.GBps) && c.GBps > 0 && std::isfinite(c.alpha_us) &&
                      c.alpha_us >= 0,
                  std::string("profile link ") + l.key + ": GBps must be positive and alpha_us "
                  "non-negative");
  }
  require_input(ffn_tile_rows >= 1, "profile field ffn_tile_rows must be >= 1");
  require_input(backend == "cuda" || backend == "kokkos",
                "profile field backend must be \"cuda\" or \"kokkos\", got \"" + backend + "\"");
}

std::vector<std::string> builtin_profile_names() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(EPBENCH_PROFILES_DIR, ec))
    if (entry.path().extension() == ".json") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

Profile load_profile(const std::string& name_or_file) {
  std::filesystem::path path = name_or_file;
  if (name_or_file.find('/') == std::string::npos &&
      name_or_file.find(".json") == std::string::npos) {
    path = std::filesystem::path(EPBENCH_PROFILES_DIR) / (name_or_file + ".json");
    if (!std::filesystem::exists(path)) {
      std::string known;
      for (const auto& n : builtin_profile_names()) known += (known.empty() ? "" : ", ") + n;
      throw InputError("unknown profile \"" + name_or_file + "\" (known: " + known +
                       "; or a profile JSON file)");
    }
  }
  return Profile::from_json(read_json_file(path), path.string());
}

}  // namespace epbench::sim
