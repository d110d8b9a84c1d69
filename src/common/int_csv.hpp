// Reading small CSV files of integers (LPLB's r2o matrix, per-batch expert counts): every
// field a base-10 integer, blank lines and lines starting with '#' skipped, an optional header
// line (its first field not a number) returned separately. Errors are InputErrors naming
// FILE:LINE and the field.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace epbench {

struct IntCsv {
  std::vector<std::string> header;           // empty when the file has none
  std::vector<std::vector<int64_t>> rows;
  std::vector<int> line_of_row;              // 1-based line number of each row (for errors)
};

// Rows may differ in length (the caller checks shapes with line numbers from line_of_row).
IntCsv read_int_csv(const std::filesystem::path& path);

}  // namespace epbench
