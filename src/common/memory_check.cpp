// Memory pre-check helpers; see memory_check.hpp.
#include "common/memory_check.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>

namespace epbench {

double total_bytes(const std::vector<MemoryTerm>& terms) {
  double total = 0;
  for (const auto& t : terms) total += t.bytes;
  return total;
}

double available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  double kib = 0;
  while (in >> key) {
    if (key == "MemAvailable:") {
      in >> kib;
      break;
    }
    in.ignore(1 << 12, '\n');
  }
  return kib > 0 ? kib * 1024.0 : 0.0;
}

std::string format_mib(double bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0f MiB", bytes / (1 << 20));
  return buf;
}

std::string describe_memory(std::vector<MemoryTerm> terms) {
  std::sort(terms.begin(), terms.end(),
            [](const MemoryTerm& a, const MemoryTerm& b) { return a.bytes > b.bytes; });
  std::string text = "about " + format_mib(total_bytes(terms)) + " (largest: ";
  for (size_t i = 0; i < std::min<size_t>(2, terms.size()); ++i)
    text += (i ? ", " : "") + terms[i].what + " " + format_mib(terms[i].bytes);
  return text + ")";
}

}  // namespace epbench
