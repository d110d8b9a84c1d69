// Integer CSV reader; see int_csv.hpp.
#include "common/int_csv.hpp"

#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "common/error.hpp"
#include "common/files.hpp"

namespace epbench {
namespace {

std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> fields;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, ',')) fields.push_back(field);
  if (!line.empty() && line.back() == ',') fields.push_back("");
  return fields;
}

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

bool parse_int(const std::string& text, int64_t& value) {
  const std::string t = trim(text);
  if (t.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(t.c_str(), &end, 10);
  if (*end != '\0' || errno == ERANGE) return false;
  value = v;
  return true;
}

}  // namespace

IntCsv read_int_csv(const std::filesystem::path& path) {
  std::istringstream in(read_text_file(path));
  const std::string source = path.string();
  IntCsv csv;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty() || line[0] == '#') continue;
    const auto fields = split_fields(line);
    int64_t first = 0;
    if (csv.rows.empty() && csv.header.empty() && !parse_int(fields[0], first)) {
      for (const auto& f : fields) csv.header.push_back(trim(f));
      continue;
    }
    std::vector<int64_t> row(fields.size());
    for (size_t i = 0; i < fields.size(); ++i)
      require_input(parse_int(fields[i], row[i]),
                    source + ":" + std::to_string(line_no) + ": field " + std::to_string(i + 1) +
                        " is not an integer: \"" + fields[i] + "\"");
    csv.rows.push_back(std::move(row));
    csv.line_of_row.push_back(line_no);
  }
  return csv;
}

}  // namespace epbench
