// What one or more expert migrations cost: experts and bytes moved, time, and the check of
// the received weights. Filled by suite/migration.cpp, reported by samples.cpp.
#pragma once

#include <cstdint>

namespace epbench {

struct MigrationStats {
  int64_t experts_moved = 0;    // experts sent between ranks (all layers, all ranks)
  int64_t bytes = 0;            // experts_moved x bytes of one expert's weights (bf16)
  int64_t inter_node_bytes = 0;
  double seconds = 0.0;         // max over ranks, from a common barrier
  int64_t checked = 0, wrong = 0;  // received experts compared with the generator (all ranks)

  MigrationStats& operator+=(const MigrationStats& o) {
    experts_moved += o.experts_moved;
    bytes += o.bytes;
    inter_node_bytes += o.inter_node_bytes;
    seconds += o.seconds;
    checked += o.checked;
    wrong += o.wrong;
    return *this;
  }
};

}  // namespace epbench
