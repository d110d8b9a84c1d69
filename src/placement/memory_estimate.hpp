// Host memory `epbench place` needs, counted buffer by buffer from the problem's shape (layers L,
// experts E, slots R, GPUs G), so that a problem too big for the host (`--replicas 1073741824`)
// is refused before anything is allocated instead of allocating until bad_alloc. EPLB itself
// bounds no size: its reference accepts more slots per GPU than experts (the golden data has
// 130 slots for 128 experts on one GPU, 24 slots for 2 experts on 8 GPUs), so the bound is what
// the host can hold. Every buffer that grows with L, E, R or G has a term here; when `place`
// or a policy gains one, add its term too.
#pragma once

#include <vector>

#include "common/memory_check.hpp"
#include "placement/eplb.hpp"

namespace epbench {

// Before the policy runs (max_replicas == 0): every term, with the JSON output (json_output,
// `--output`) counted at its smallest width, log2phy padded to ceil(R / E) replicas. After it
// (max_replicas = the placement's max_replicas()): the JSON output alone at its real width, the
// rest being allocated already.
std::vector<MemoryTerm> place_memory_terms(const EplbProblem& problem, bool json_output,
                                           int max_replicas = 0);

// InputError when the terms exceed 90% of available_bytes, naming the total and the largest
// terms. No check when available_bytes <= 0 (unknown).
void require_place_memory(const EplbProblem& problem, bool json_output, int max_replicas,
                          double available_bytes);

}  // namespace epbench
