// Typed JSON field reading; see json_check.hpp.
#include "common/json_check.hpp"

#include <algorithm>
#include <cmath>

#include "common/error.hpp"

namespace epbench {

using nlohmann::json;

std::string join_path(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

std::string index_path(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

std::string quote_for_message(const std::string& s) {
  constexpr size_t kMaxChars = 40;
  // Escape only a prefix: the cost and the length stay bounded.
  std::string text = json(s.substr(0, kMaxChars)).dump(-1, ' ', false,
                                                       json::error_handler_t::replace);
  if (s.size() > kMaxChars)
    text.insert(text.size() - 1, "... (" + std::to_string(s.size()) + " characters)");
  return text;
}

std::string describe_json(const json& v) {
  constexpr size_t kMaxChars = 40;
  switch (v.type()) {
    case json::value_t::null:
      return "null (a NaN or infinity written as null?)";
    case json::value_t::object:
      return "object with " + std::to_string(v.size()) + " keys";
    case json::value_t::array:
      return "array of " + std::to_string(v.size()) + " entries";
    case json::value_t::string:
      return "string " + quote_for_message(v.get_ref<const std::string&>());
    default:  // number, boolean, binary: short by nature
      return std::string(v.type_name()) + " " + v.dump().substr(0, kMaxChars);
  }
}

void JsonChecker::fail(const std::string& path, const std::string& what) const {
  throw InputError(source_ + ": " + (path.empty() ? "(top level)" : path) + ": " + what);
}

const json& JsonChecker::field(const json& obj, const std::string& path, const char* key) const {
  const auto it = obj.find(key);
  if (it == obj.end()) fail(join_path(path, key), "missing");
  return *it;
}

void JsonChecker::known_keys(const json& obj, const std::string& path,
                             const std::vector<std::string>& known,
                             const std::string& kind) const {
  for (const auto& [key, value] : obj.items()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    fail(join_path(path, quote_for_message(key)), "unknown " + kind + " (known: " + list + ")");
  }
}

void JsonChecker::object(const json& v, const std::string& path) const {
  if (!v.is_object()) fail(path, "expected an object, got " + describe_json(v));
}

const json& JsonChecker::object(const json& obj, const std::string& path, const char* key) const {
  const json& v = field(obj, path, key);
  object(v, join_path(path, key));
  return v;
}

int64_t JsonChecker::integer(const json& v, const std::string& path, int64_t min,
                             int64_t max) const {
  const bool no_max = max == std::numeric_limits<int64_t>::max();
  const std::string range = no_max ? ">= " + std::to_string(min)
                                   : "in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  if (!v.is_number_integer()) fail(path, "expected an integer, got " + describe_json(v));
  if (v.is_number_unsigned() &&
      v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    fail(path, "must be " + range + ", got " + describe_json(v));
  const int64_t x = v.get<int64_t>();
  if (x < min || x > max) fail(path, "must be " + range + ", got " + std::to_string(x));
  return x;
}

int64_t JsonChecker::integer(const json& obj, const std::string& path, const char* key,
                             int64_t min, int64_t max) const {
  return integer(field(obj, path, key), join_path(path, key), min, max);
}

int JsonChecker::int32(const json& v, const std::string& path, int min, int max) const {
  return static_cast<int>(integer(v, path, min, max));
}

uint64_t JsonChecker::unsigned_integer(const json& v, const std::string& path) const {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
  fail(path, "expected an integer in [0, 18446744073709551615], got " + describe_json(v));
}

double JsonChecker::number(const json& v, const std::string& path, double min, double max) const {
  if (!v.is_number()) fail(path, "expected a number, got " + describe_json(v));
  const double x = v.get<double>();
  if (!(std::isfinite(x) && x >= min && x <= max)) {
    std::string range = "a finite number >= " + json(min).dump();
    if (max < std::numeric_limits<double>::max()) range += " and <= " + json(max).dump();
    fail(path, "must be " + range + ", got " + describe_json(v));
  }
  return x;
}

double JsonChecker::number(const json& obj, const std::string& path, const char* key, double min,
                           double max) const {
  return number(field(obj, path, key), join_path(path, key), min, max);
}

std::string JsonChecker::string(const json& v, const std::string& path) const {
  if (!v.is_string()) fail(path, "expected a string, got " + describe_json(v));
  return v.get<std::string>();
}

std::string JsonChecker::string(const json& obj, const std::string& path, const char* key) const {
  return string(field(obj, path, key), join_path(path, key));
}

void JsonChecker::string_or_null(const json& obj, const std::string& path, const char* key) const {
  const json& v = field(obj, path, key);
  if (!v.is_string() && !v.is_null())
    fail(join_path(path, key), "expected a string or null, got " + describe_json(v));
}

bool JsonChecker::boolean(const json& v, const std::string& path) const {
  if (!v.is_boolean()) fail(path, "expected true or false, got " + describe_json(v));
  return v.get<bool>();
}

bool JsonChecker::boolean(const json& obj, const std::string& path, const char* key) const {
  return boolean(field(obj, path, key), join_path(path, key));
}

std::string JsonChecker::one_of(const json& obj, const std::string& path, const char* key,
                                std::initializer_list<const char*> options) const {
  const std::string value = string(obj, path, key);
  std::string list;
  for (const char* o : options) {
    if (value == o) return value;
    list += (list.empty() ? "\"" : ", \"") + std::string(o) + "\"";
  }
  fail(join_path(path, key), quote_for_message(value) + " is not one of " + list);
}

const json& JsonChecker::array(const json& v, const std::string& path, int64_t size,
                               const std::string& size_rule) const {
  if (!v.is_array()) fail(path, "expected an array, got " + describe_json(v));
  if (size >= 0 && static_cast<int64_t>(v.size()) != size)
    fail(path, "has " + std::to_string(v.size()) + " entries, expected " + std::to_string(size) +
                   " (" + size_rule + ")");
  return v;
}

const json& JsonChecker::array(const json& obj, const std::string& path, const char* key,
                               int64_t size, const std::string& size_rule) const {
  return array(field(obj, path, key), join_path(path, key), size, size_rule);
}

std::vector<std::string> JsonChecker::strings(const json& v, const std::string& path) const {
  const json& arr = array(v, path);
  std::vector<std::string> out;
  for (size_t i = 0; i < arr.size(); ++i) out.push_back(string(arr[i], index_path(path, i)));
  return out;
}

std::vector<std::string> JsonChecker::strings(const json& obj, const std::string& path,
                                              const char* key, int64_t size,
                                              const std::string& size_rule) const {
  array(obj, path, key, size, size_rule);
  return strings(obj.at(key), join_path(path, key));
}

std::vector<int64_t> JsonChecker::integers(const json& obj, const std::string& path,
                                           const char* key, int64_t size,
                                           const std::string& size_rule, int64_t min) const {
  const json& arr = array(obj, path, key, size, size_rule);
  std::vector<int64_t> out;
  for (size_t i = 0; i < arr.size(); ++i)
    out.push_back(integer(arr[i], index_path(join_path(path, key), i), min));
  return out;
}

}  // namespace epbench
