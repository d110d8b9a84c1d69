// Expert FFN kernel API: host launchers only, backend-agnostic (no Kokkos, CUDA or MPI types).
// Each rank owns one GroupedFfn holding the weights of its physical expert slots for every layer
// and applies SwiGLU  y = W2 · (silu(W1 x) ⊙ W3 x)  to tokens grouped by slot.
//
// Weights are deterministic from (seed, layer, expert): any rank can rebuild any expert, which
// the dense reference and migration checks rely on. Values are bf16-representable.
// Layout of one expert's weights (3·H·F bf16 values, row-major):
//   w1 [F][H], then w3 [F][H], then w2 [H][F]       (H = hidden, F = expert FFN size)
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>

#include "bf16.hpp"

namespace epbench::kernels {

struct FfnShape {
  int hidden = 0;  // H
  int ffn = 0;     // F (the expert's intermediate size)
  size_t weight_elems() const { return 3ull * hidden * ffn; }
  // Multiply-adds x2 for one token through one expert: three H x F GEMVs.
  double flops_per_token() const { return 6.0 * hidden * ffn; }
};

// Fills `out` (shape.weight_elems() values) with expert (layer, expert)'s weights.
void make_expert_weights(uint64_t seed, int layer, int expert, FfnShape shape, bf16_t* out);

// Dense reference on the host, accumulating in double: y[t][:] for tokens x[t][:], t < n.
void swiglu_reference(const bf16_t* weights, FfnShape shape, const float* x, int num_tokens,
                      float* y);

// Grouped SwiGLU over the slots of one rank.
class GroupedFfn {
 public:
  virtual ~GroupedFfn() = default;
  virtual std::string backend() const = 0;  // "kokkos-serial", "kokkos-cuda", "cuda", ...
  virtual FfnShape shape() const = 0;
  virtual int num_layers() const = 0;
  virtual int num_slots() const = 0;

  // Installs / reads one slot's weights (host memory, layout above). Migration moves these.
  virtual void set_slot_weights(int layer, int slot, const bf16_t* weights) = 0;
  virtual void get_slot_weights(int layer, int slot, bf16_t* out) const = 0;

  // x, y: host buffers [total_tokens][H] of bf16, tokens grouped by slot: rows
  // [slot_offsets[s], slot_offsets[s+1]) belong to slot s (slot_offsets has num_slots()+1
  // entries). Returns when y is complete.
  virtual void forward(int layer, const bf16_t* x, std::span<const int64_t> slot_offsets,
                       bf16_t* y) = 0;

  // Allocates every workspace forward() (and reference_gemm_seconds()) needs for up to
  // `max_total_rows` rows, so that no allocation happens while timing. Default: nothing to do.
  virtual void reserve_rows(int64_t /*max_total_rows*/) {}

  // The FFN's efficiency baseline: the same per-slot GEMM shapes as forward() with these slot
  // offsets ([n_s][H]x[H][2F], then [n_s][F]x[F][H] per slot) on separate weights, with the
  // backend's plain GEMM (no activation, no bf16 conversion, no regrouping), on the activations
  // of the last forward() call. Returns its seconds, complete. Buffers are allocated on first
  // use; call it after forward() in the same (untimed) slot so both see the same conditions.
  virtual double reference_gemm_seconds(std::span<const int64_t> slot_offsets);
};

}  // namespace epbench::kernels
