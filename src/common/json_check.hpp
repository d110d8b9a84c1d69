// Typed, range-checked reading of JSON fields: the one validation layer every JSON input goes
// through (scenario files, placement problems, results files). Each accessor checks presence,
// type and range and fails with InputError("SOURCE: PATH: problem"), e.g.
//   "s.json: model.hidden: expected an integer in [1, 2147483647], got number 64.9".
// Messages never serialize a whole sub-document (describe_json is bounded and non-recursive),
// so a hostile file (60,000 nested arrays, a 30,000-character string) costs nothing to report.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace epbench {

// "PATH.key" ("key" at the top), "PATH[i]".
std::string join_path(const std::string& path, const std::string& key);
std::string index_path(const std::string& path, size_t i);

// "\"text\"" with JSON escapes, cut after 40 characters ("\"abc... (30000 characters)\"").
std::string quote_for_message(const std::string& text);

// A short description of a value for messages: "number 64.9", "string \"abc...\"",
// "array of 3 entries", "object with 2 keys", "null (...)". Bounded length, no recursion.
std::string describe_json(const nlohmann::json& value);

class JsonChecker {
 public:
  explicit JsonChecker(std::string source) : source_(std::move(source)) {}
  const std::string& source() const { return source_; }

  [[noreturn]] void fail(const std::string& path, const std::string& what) const;
  void require(bool ok, const std::string& path, const std::string& what) const {
    if (!ok) fail(path, what);
  }

  // The value at obj[key]; fails "missing" when absent (obj must be an object).
  const nlohmann::json& field(const nlohmann::json& obj, const std::string& path,
                              const char* key) const;
  // Fails when `obj` has a key not in `known` ("PATH."key": unknown KIND (known: ...)").
  void known_keys(const nlohmann::json& obj, const std::string& path,
                  const std::vector<std::string>& known, const std::string& kind = "field") const;

  void object(const nlohmann::json& v, const std::string& path) const;
  const nlohmann::json& object(const nlohmann::json& obj, const std::string& path,
                               const char* key) const;
  // An integer (JSON integer syntax, not 64.9 or 1e3) in [min, max].
  int64_t integer(const nlohmann::json& v, const std::string& path, int64_t min,
                  int64_t max = std::numeric_limits<int64_t>::max()) const;
  int64_t integer(const nlohmann::json& obj, const std::string& path, const char* key,
                  int64_t min, int64_t max = std::numeric_limits<int64_t>::max()) const;
  // An integer that fits `int` (the type most sizes have in memory) in [min, max].
  int int32(const nlohmann::json& v, const std::string& path, int min,
            int max = std::numeric_limits<int>::max()) const;
  // A non-negative integer up to 2^64 - 1 (seeds).
  uint64_t unsigned_integer(const nlohmann::json& v, const std::string& path) const;
  // A finite number in [min, max].
  double number(const nlohmann::json& v, const std::string& path, double min,
                double max = std::numeric_limits<double>::max()) const;
  double number(const nlohmann::json& obj, const std::string& path, const char* key, double min,
                double max = std::numeric_limits<double>::max()) const;
  std::string string(const nlohmann::json& v, const std::string& path) const;
  std::string string(const nlohmann::json& obj, const std::string& path, const char* key) const;
  void string_or_null(const nlohmann::json& obj, const std::string& path, const char* key) const;
  bool boolean(const nlohmann::json& v, const std::string& path) const;
  bool boolean(const nlohmann::json& obj, const std::string& path, const char* key) const;
  std::string one_of(const nlohmann::json& obj, const std::string& path, const char* key,
                     std::initializer_list<const char*> options) const;
  // An array; size -1 = any size, else exactly `size` entries (size_rule explains why).
  const nlohmann::json& array(const nlohmann::json& v, const std::string& path, int64_t size = -1,
                              const std::string& size_rule = "") const;
  const nlohmann::json& array(const nlohmann::json& obj, const std::string& path, const char* key,
                              int64_t size = -1, const std::string& size_rule = "") const;
  std::vector<std::string> strings(const nlohmann::json& v, const std::string& path) const;
  std::vector<std::string> strings(const nlohmann::json& obj, const std::string& path,
                                   const char* key, int64_t size = -1,
                                   const std::string& size_rule = "") const;
  std::vector<int64_t> integers(const nlohmann::json& obj, const std::string& path,
                                const char* key, int64_t size, const std::string& size_rule,
                                int64_t min) const;

 private:
  std::string source_;
};

}  // namespace epbench
