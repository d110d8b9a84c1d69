// A plain-text table for rank 0's human-readable output: fixed headers, right-aligned cells,
// widths fitted to the content (in the spirit of nccl-tests' columns).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace epbench {

class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void add_row(std::vector<std::string> cells);
  void print(std::ostream& out) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// Fixed-point / general formatting for table cells.
std::string fmt_fixed(double value, int decimals);
std::string fmt_general(double value, int significant = 4);

}  // namespace epbench
