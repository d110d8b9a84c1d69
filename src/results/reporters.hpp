// Reporters: one interface, several output formats (in the spirit of nvbench's printer_base).
// A command builds a Report (plain data: titled sections holding a table and notes) and hands it
// to the reporter the user picked with --format; reporters only lay it out.
#pragma once

#include <memory>
#include <ostream>
#include <string>
#include <vector>

namespace epbench {

struct ReportSection {
  std::string title;
  std::vector<std::string> headers;
  std::vector<std::vector<std::string>> rows;  // each as many cells as headers
  std::vector<std::string> notes;              // printed after the table
};

struct Report {
  std::string title;
  std::vector<std::string> notes;  // printed before the sections (legend, rules)
  std::vector<ReportSection> sections;
  std::vector<std::string> footer;  // printed after the sections (e.g. unmatched runs)
};

class Reporter {
 public:
  virtual ~Reporter() = default;
  virtual void write(const Report& report, std::ostream& out) const = 0;
};

// "table" (aligned text, results/table.hpp), "markdown" (GitHub tables) or "csv" (RFC 4180; one
// header row per distinct header set, first column = section title; notes as "# " lines).
// InputError for other names.
std::unique_ptr<Reporter> make_reporter(const std::string& format);
std::string reporter_formats();  // "table|markdown|csv"

}  // namespace epbench
