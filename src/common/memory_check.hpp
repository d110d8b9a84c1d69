// Memory pre-checks shared by the commands: a command lists what it will allocate, one
// MemoryTerm per buffer that grows with its input (experts, slots, layers, tokens, ...), and
// compares the sum with what the host has available before allocating any of it, so an input
// too big for the machine is one clear refusal (exit 2) rather than bad_alloc or the OOM killer.
// `run`: suite/memory_estimate.hpp; `place`: placement/memory_estimate.hpp.
#pragma once

#include <string>
#include <vector>

namespace epbench {

struct MemoryTerm {
  std::string what;  // "expert weights", "placement", ...
  double bytes = 0;  // a double: products of hostile sizes must not wrap
};

double total_bytes(const std::vector<MemoryTerm>& terms);

// MemAvailable of /proc/meminfo in bytes; 0 when unknown (callers then skip the check).
double available_memory_bytes();

// "about 123 MiB (largest: placement 100 MiB, load matrix 20 MiB)": the total and the two
// largest terms, for the refusal message.
std::string describe_memory(std::vector<MemoryTerm> terms);

// "123 MiB"
std::string format_mib(double bytes);

}  // namespace epbench
