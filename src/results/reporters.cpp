// Reporters; see reporters.hpp. One small class per format, one registry to pick them.
#include "results/reporters.hpp"

#include <functional>

#include "common/error.hpp"
#include "results/table.hpp"

namespace epbench {
namespace {

class TableReporter final : public Reporter {
 public:
  void write(const Report& report, std::ostream& out) const override {
    if (!report.title.empty()) out << "# " << report.title << "\n";
    for (const auto& n : report.notes) out << "# " << n << "\n";
    for (const auto& s : report.sections) {
      out << "\n## " << s.title << "\n";
      Table table(s.headers);
      for (const auto& row : s.rows) table.add_row(row);
      table.print(out);
      for (const auto& n : s.notes) out << "# " << n << "\n";
    }
    if (!report.footer.empty()) out << "\n";
    for (const auto& n : report.footer) out << n << "\n";
  }
};

class MarkdownReporter final : public Reporter {
 public:
  void write(const Report& report, std::ostream& out) const override {
    if (!report.title.empty()) out << "# " << report.title << "\n\n";
    for (const auto& n : report.notes) out << "- " << escape(n) << "\n";
    for (const auto& s : report.sections) {
      out << "\n## " << escape(s.title) << "\n\n";
      row(out, s.headers);
      out << "|";
      for (size_t c = 0; c < s.headers.size(); ++c) out << (c == 0 ? " :--- |" : " ---: |");
      out << "\n";
      for (const auto& r : s.rows) row(out, r);
      if (!s.notes.empty()) out << "\n";
      for (const auto& n : s.notes) out << "- " << escape(n) << "\n";
    }
    if (!report.footer.empty()) out << "\n";
    for (const auto& n : report.footer) out << "- " << escape(n) << "\n";
  }

 private:
  static std::string escape(const std::string& text) {
    std::string out;
    for (char ch : text) {
      if (ch == '|') out += '\\';
      out += ch;
    }
    return out;
  }
  static void row(std::ostream& out, const std::vector<std::string>& cells) {
    out << "|";
    for (const auto& c : cells) out << " " << escape(c) << " |";
    out << "\n";
  }
};

class CsvReporter final : public Reporter {
 public:
  void write(const Report& report, std::ostream& out) const override {
    for (const auto& n : report.notes) out << "# " << n << "\n";
    const std::vector<std::string>* last_headers = nullptr;
    for (const auto& s : report.sections) {
      if (!last_headers || *last_headers != s.headers) {
        out << "section";
        for (const auto& h : s.headers) out << "," << quote(h);
        out << "\n";
        last_headers = &s.headers;
      }
      for (const auto& r : s.rows) {
        out << quote(s.title);
        for (const auto& c : r) out << "," << quote(c);
        out << "\n";
      }
      for (const auto& n : s.notes) out << "# " << n << "\n";
    }
    for (const auto& n : report.footer) out << "# " << n << "\n";
  }

 private:
  static std::string quote(const std::string& cell) {
    if (cell.find_first_of(",\"\n\r") == std::string::npos) return cell;
    std::string out = "\"";
    for (char ch : cell) {
      if (ch == '"') out += '"';
      out += ch;
    }
    return out + "\"";
  }
};

struct ReporterEntry {
  const char* name;
  std::function<std::unique_ptr<Reporter>()> make;
};

const std::vector<ReporterEntry>& registry() {
  static const std::vector<ReporterEntry> entries = {
      {"table", [] { return std::make_unique<TableReporter>(); }},
      {"markdown", [] { return std::make_unique<MarkdownReporter>(); }},
      {"csv", [] { return std::make_unique<CsvReporter>(); }},
  };
  return entries;
}

}  // namespace

std::unique_ptr<Reporter> make_reporter(const std::string& format) {
  for (const auto& e : registry())
    if (format == e.name) return e.make();
  throw InputError("unknown output format \"" + format + "\" (expected " + reporter_formats() +
                   ")");
}

std::string reporter_formats() {
  std::string out;
  for (const auto& e : registry()) {
    if (!out.empty()) out += '|';
    out += e.name;
  }
  return out;
}

}  // namespace epbench
