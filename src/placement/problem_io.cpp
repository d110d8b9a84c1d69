// Problem file readers; formats in problem_io.hpp.
#include "placement/problem_io.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "common/error.hpp"
#include "common/files.hpp"

namespace epbench {
namespace {

void check_load(double x, const std::string& where) {
  require_input(!std::isnan(x), where + " is NaN");
  require_input(std::isfinite(x), where + " is infinite");
  require_input(x >= 0.0, where + " is negative");
}

int int_field(const nlohmann::json& doc, const char* key, const std::string& source) {
  require_input(doc.contains(key), source + ": missing field \"" + key + "\"");
  const auto& v = doc.at(key);
  require_input(v.is_number_integer(), source + ": field \"" + key + "\" must be an integer");
  auto x = v.get<long long>();
  require_input(x > 0 && x <= (1LL << 30),
                source + ": field \"" + key + "\" must be positive, got " + std::to_string(x));
  return static_cast<int>(x);
}

}  // namespace

void check_float32_sums(const std::vector<double>& weight, int num_rows, int num_cols,
                        const std::string& source) {
  // EPLB sums loads in float32 like the reference: a layer whose total exceeds float32's range
  // would overflow to infinity and silently skew the placement.
  constexpr double kFloat32Max = static_cast<double>(std::numeric_limits<float>::max());
  for (int l = 0; l < num_rows; ++l) {
    double total = 0;
    for (int e = 0; e < num_cols; ++e) total += weight[static_cast<size_t>(l) * num_cols + e];
    if (total > kFloat32Max) {
      std::ostringstream msg;
      msg.precision(3);
      msg << source << ": the loads of layer " << l << " sum to " << total
          << ", beyond float32's range (" << kFloat32Max
          << ") in which EPLB adds them: scale the loads down";
      throw InputError(msg.str());
    }
  }
}

std::vector<double> parse_load_matrix(const nlohmann::json& rows, const std::string& source,
                                      int& num_rows, int& num_cols) {
  require_input(rows.is_array(), source + ": \"weight\" must be an array of per-layer arrays");
  require_input(!rows.empty(), source + ": the load matrix has no layers");
  std::vector<double> out;
  num_rows = static_cast<int>(rows.size());
  num_cols = -1;
  for (size_t l = 0; l < rows.size(); ++l) {
    const auto& row = rows[l];
    require_input(row.is_array(), source + ": layer " + std::to_string(l) + " is not an array");
    if (num_cols < 0) num_cols = static_cast<int>(row.size());
    require_input(row.size() == static_cast<size_t>(num_cols),
                  source + ": ragged load matrix: layer " + std::to_string(l) + " has " +
                      std::to_string(row.size()) + " experts, layer 0 has " +
                      std::to_string(num_cols));
    for (size_t e = 0; e < row.size(); ++e) {
      const std::string where =
          source + ": load of layer " + std::to_string(l) + ", expert " + std::to_string(e);
      require_input(row[e].is_number(), where + " is not a number");
      check_load(row[e].get<double>(), where);
      out.push_back(row[e].get<double>());
    }
  }
  require_input(num_cols > 0, source + ": the load matrix has zero experts");
  check_float32_sums(out, num_rows, num_cols, source);
  return out;
}

EplbProblem problem_from_json(const nlohmann::json& doc, const std::string& source) {
  require_input(doc.is_object(), source + ": expected a JSON object");
  require_input(doc.contains("weight"), source + ": missing field \"weight\"");
  EplbProblem p;
  p.weight = parse_load_matrix(doc.at("weight"), source, p.num_layers, p.num_experts);
  p.num_replicas = int_field(doc, "num_replicas", source);
  p.num_groups = int_field(doc, "num_groups", source);
  p.num_nodes = int_field(doc, "num_nodes", source);
  p.num_gpus = int_field(doc, "num_gpus", source);
  return p;
}

EplbProblem read_problem_json(const std::filesystem::path& path) {
  return problem_from_json(read_json_file(path), path.string());
}

void read_loads_csv(const std::filesystem::path& path, EplbProblem& problem) {
  std::istringstream in(read_text_file(path));
  const std::string source = path.string();
  std::string line;
  int line_no = 0, cols = -1, rows = 0;
  std::vector<double> values;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string field;
    int n = 0;
    while (std::getline(fields, field, ',')) {
      const std::string where = source + ":" + std::to_string(line_no) + ": field " +
                                std::to_string(n + 1);
      const char* begin = field.c_str();
      char* end = nullptr;
      errno = 0;
      double x = std::strtod(begin, &end);
      while (end && (*end == ' ' || *end == '\t')) ++end;
      require_input(end != begin && *end == '\0', where + " is not a number: \"" + field + "\"");
      check_load(x, where);
      require_input(errno != ERANGE || x == 0.0, where + " is out of range");
      values.push_back(x);
      ++n;
    }
    if (!line.empty() && line.back() == ',') n = -1;  // trailing comma: an empty last field
    require_input(n > 0, source + ":" + std::to_string(line_no) + ": empty field");
    if (cols < 0) cols = n;
    require_input(n == cols, source + ":" + std::to_string(line_no) + ": ragged rows: " +
                                 std::to_string(n) + " values, the first row has " +
                                 std::to_string(cols));
    ++rows;
  }
  require_input(rows > 0, source + ": no load rows");
  check_float32_sums(values, rows, cols, source);
  problem.num_layers = rows;
  problem.num_experts = cols;
  problem.weight = std::move(values);
}

}  // namespace epbench
