// Kokkos backend of the grouped expert FFN, written once for any Kokkos execution space
// (Serial here; CUDA/HIP/OpenMP with a user's Kokkos). Per forward call:
//   1. x (bf16, host) -> X (fp32, [tokens][H]) in the default memory space (one kernel),
//   2. per slot with n > 0 tokens:  G = X_s · W13ᵀ  ([n][2F], one KokkosBlas::gemm; W13 = [w1; w3]),
//      Hs = silu(G[:, :F]) ⊙ G[:, F:]  ([n][F], fp32),   Y_s = Hs · W2ᵀ  ([n][H], gemm),
//   3. Y (fp32) -> y (bf16, host) (one kernel).
// Weights live per (layer, slot) as fp32 views: bf16 -> fp32 is exact, so get() returns the
// bf16 values that were set. Workspaces only grow.
#include "kokkos/kokkos_ffn.hpp"

#include <Kokkos_Core.hpp>
#include <KokkosBlas3_gemm.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace epbench::kernels::kokkos {
namespace detail {

using ExecSpace = Kokkos::DefaultExecutionSpace;
using MemSpace = ExecSpace::memory_space;
using Matrix = Kokkos::View<float**, Kokkos::LayoutRight, MemSpace>;
using MatrixU = Kokkos::View<float**, Kokkos::LayoutRight, MemSpace,
                             Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
using Bf16Buf = Kokkos::View<uint16_t*, MemSpace>;
using HostBf16 = Kokkos::View<uint16_t*, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
using HostBf16Const =
    Kokkos::View<const uint16_t*, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

// Whether kernels of ExecSpace may read and write host memory directly (Serial, OpenMP, ...).
constexpr bool kExecReadsHost =
    Kokkos::SpaceAccessibility<ExecSpace, Kokkos::HostSpace>::accessible;

// bf16 <-> fp32 inside kernels (bf16.hpp's inline functions are host-only).
KOKKOS_INLINE_FUNCTION float bf16_bits_to_float(uint16_t v) {
  union { uint32_t u; float f; } bits{};
  bits.u = static_cast<uint32_t>(v) << 16;
  return bits.f;
}
KOKKOS_INLINE_FUNCTION uint16_t float_to_bf16_bits(float f) {
  union { float f; uint32_t u; } bits{};
  bits.f = f;
  uint32_t u = bits.u;
  if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x007FFFFFu) != 0)
    return static_cast<uint16_t>((u >> 16) | 0x0040u);  // quiet NaN
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

KOKKOS_INLINE_FUNCTION float device_exp(float v) {
#if KOKKOS_VERSION >= 30700
  return Kokkos::exp(v);
#else
  return Kokkos::Experimental::exp(v);
#endif
}

// The kernels. Free functions in a named namespace: CUDA's extended lambdas may not live in
// private members or unnamed classes.
template <class Bf16View>
void convert_in(const Bf16View& src, float* dst) {
  Kokkos::parallel_for(
      "epbench::bf16_to_fp32", Kokkos::RangePolicy<ExecSpace>(0, src.extent(0)),
      KOKKOS_LAMBDA(const size_t i) { dst[i] = bf16_bits_to_float(src(i)); });
}

template <class Bf16View>
void convert_out(const float* src, const Bf16View& dst) {
  Kokkos::parallel_for(
      "epbench::fp32_to_bf16", Kokkos::RangePolicy<ExecSpace>(0, dst.extent(0)),
      KOKKOS_LAMBDA(const size_t i) { dst(i) = float_to_bf16_bits(src[i]); });
}

// h[t][f] = silu(g[t][f]) * g[t][F + f]  for g = [n][2F] (W1 x | W3 x), h = [n][F].
void swiglu(const MatrixU& g, const MatrixU& h) {
  const int64_t n = static_cast<int64_t>(h.extent(0)), F = static_cast<int64_t>(h.extent(1));
  Kokkos::parallel_for(
      "epbench::swiglu",
      Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2>, Kokkos::IndexType<int64_t>>({0, 0}, {n, F}),
      KOKKOS_LAMBDA(const int64_t t, const int64_t f) {
        const float a = g(t, f);
        h(t, f) = a / (1.0f + device_exp(-a)) * g(t, F + f);
      });
}

}  // namespace detail

namespace {

using namespace detail;

void check_index(const char* what, int value, int bound) {
  if (value < 0 || value >= bound)
    throw std::out_of_range(std::string("kokkos GroupedFfn: ") + what + " " +
                            std::to_string(value) + " out of range [0, " + std::to_string(bound) +
                            ")");
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class KokkosGroupedFfn final : public GroupedFfn {
 public:
  KokkosGroupedFfn(FfnShape shape, int num_layers, int num_slots)
      : shape_(shape), num_layers_(num_layers), num_slots_(num_slots) {
    const int H = shape.hidden, F = shape.ffn;
    weights_.reserve(static_cast<size_t>(num_layers) * num_slots);
    for (int i = 0; i < num_layers * num_slots; ++i)
      weights_.push_back({Matrix("w13", 2 * F, H), Matrix("w2", H, F)});
  }

  std::string backend() const override {
    return "kokkos-" + lower(ExecSpace::name());
  }
  FfnShape shape() const override { return shape_; }
  int num_layers() const override { return num_layers_; }
  int num_slots() const override { return num_slots_; }

  void set_slot_weights(int layer, int slot, const bf16_t* weights) override {
    if (weights == nullptr) throw std::invalid_argument("set_slot_weights: weights is null");
    SlotWeights& w = at(layer, slot);
    const size_t n = shape_.weight_elems();
    const size_t n13 = 2 * static_cast<size_t>(shape_.hidden) * shape_.ffn;
    Bf16Buf staged = stage_in(HostBf16Const(weights, n), "weights", weight_stage_);
    detail::convert_in(Kokkos::subview(staged, std::make_pair(size_t{0}, n13)), w.w13.data());
    detail::convert_in(Kokkos::subview(staged, std::make_pair(n13, n)), w.w2.data());
    Kokkos::fence();
  }

  void get_slot_weights(int layer, int slot, bf16_t* out) const override {
    if (out == nullptr) throw std::invalid_argument("get_slot_weights: out is null");
    const SlotWeights& w = at(layer, slot);
    const size_t n = shape_.weight_elems();
    const size_t n13 = 2 * static_cast<size_t>(shape_.hidden) * shape_.ffn;
    Bf16Buf buf("get_slot_weights", n);
    detail::convert_out(w.w13.data(), Kokkos::subview(buf, std::make_pair(size_t{0}, n13)));
    detail::convert_out(w.w2.data(), Kokkos::subview(buf, std::make_pair(n13, n)));
    Kokkos::deep_copy(HostBf16(out, n), buf);  // fences
  }

  void forward(int layer, const bf16_t* x, std::span<const int64_t> slot_offsets,
               bf16_t* y) override {
    check_index("layer", layer, num_layers_);
    if (slot_offsets.size() != static_cast<size_t>(num_slots_) + 1)
      throw std::invalid_argument("forward: slot_offsets has " +
                                  std::to_string(slot_offsets.size()) + " entries, expected " +
                                  std::to_string(num_slots_ + 1));
    if (slot_offsets[0] < 0) throw std::invalid_argument("forward: slot_offsets[0] < 0");
    int64_t max_tokens = 0;
    for (int s = 0; s < num_slots_; ++s) {
      const int64_t n = slot_offsets[s + 1] - slot_offsets[s];
      if (n < 0)
        throw std::invalid_argument("forward: slot_offsets decrease at slot " + std::to_string(s));
      max_tokens = std::max(max_tokens, n);
    }
    const int64_t first = slot_offsets[0];
    const int64_t total = slot_offsets[num_slots_] - first;
    if (total == 0) return;
    if (x == nullptr || y == nullptr) throw std::invalid_argument("forward: x or y is null");

    const int H = shape_.hidden, F = shape_.ffn;
    const size_t elems = static_cast<size_t>(total) * H;
    grow(x_, elems, "x");
    grow(y_, elems, "y");
    grow(g_, static_cast<size_t>(max_tokens) * 2 * F, "g");
    grow(h_, static_cast<size_t>(max_tokens) * F, "h");

    Bf16Buf x_in = stage_in(HostBf16Const(x + first * H, elems), "x_bf16", io_stage_);
    detail::convert_in(x_in, x_.data());

    for (int s = 0; s < num_slots_; ++s) {
      const int64_t n = slot_offsets[s + 1] - slot_offsets[s];
      if (n == 0) continue;
      const SlotWeights& w = at(layer, s);
      const size_t row0 = static_cast<size_t>(slot_offsets[s] - first) * H;
      MatrixU xs(x_.data() + row0, n, H), ys(y_.data() + row0, n, H);
      MatrixU g(g_.data(), n, 2 * F), h(h_.data(), n, F);
      KokkosBlas::gemm("N", "T", 1.0f, xs, w.w13, 0.0f, g);
      detail::swiglu(g, h);
      KokkosBlas::gemm("N", "T", 1.0f, h, w.w2, 0.0f, ys);
    }

    if constexpr (kExecReadsHost) {
      detail::convert_out(y_.data(), HostBf16(y + first * H, elems));
      ExecSpace().fence();
    } else {
      grow(io_stage_, elems, "y_bf16");
      auto y_out = Kokkos::subview(io_stage_, std::make_pair(size_t{0}, elems));
      detail::convert_out(y_.data(), y_out);
      Kokkos::deep_copy(HostBf16(y + first * H, elems), y_out);
    }
  }

  double reference_gemm_seconds(std::span<const int64_t> slot_offsets) override {
    if (slot_offsets.size() != static_cast<size_t>(num_slots_) + 1)
      throw std::invalid_argument("reference_gemm_seconds: slot_offsets has the wrong size");
    const int H = shape_.hidden, F = shape_.ffn;
    if (reference_weights_.empty())  // separate weights, one layer's slots (values irrelevant)
      for (int s = 0; s < num_slots_; ++s) {
        SlotWeights w{Matrix("ref_w13", 2 * F, H), Matrix("ref_w2", H, F)};
        Kokkos::deep_copy(w.w13, 0.01f);
        Kokkos::deep_copy(w.w2, 0.01f);
        reference_weights_.push_back(w);
      }
    const int64_t first = slot_offsets[0];
    int64_t max_tokens = 0;
    for (int s = 0; s < num_slots_; ++s)
      max_tokens = std::max(max_tokens, slot_offsets[s + 1] - slot_offsets[s]);
    const size_t elems = static_cast<size_t>(slot_offsets[num_slots_] - first) * H;
    grow(x_, elems, "x");
    grow(ref_y_, elems, "ref_y");
    grow(ref_g_, static_cast<size_t>(max_tokens) * 2 * F, "ref_g");
    ExecSpace().fence();
    const auto t0 = std::chrono::steady_clock::now();
    for (int s = 0; s < num_slots_; ++s) {
      const int64_t n = slot_offsets[s + 1] - slot_offsets[s];
      if (n == 0) continue;
      const SlotWeights& w = reference_weights_[s];
      const size_t row0 = static_cast<size_t>(slot_offsets[s] - first) * H;
      MatrixU xs(x_.data() + row0, n, H), ys(ref_y_.data() + row0, n, H);
      MatrixU g(ref_g_.data(), n, 2 * F);
      MatrixU h(ref_g_.data(), n, F);  // the first F columns' storage, as [n][F]
      KokkosBlas::gemm("N", "T", 1.0f, xs, w.w13, 0.0f, g);
      KokkosBlas::gemm("N", "T", 1.0f, h, w.w2, 0.0f, ys);
    }
    ExecSpace().fence();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

 private:
  struct SlotWeights {
    Matrix w13;  // [2F][H]: w1 rows, then w3 rows
    Matrix w2;   // [H][F]
  };

  SlotWeights& at(int layer, int slot) {
    check_index("layer", layer, num_layers_);
    check_index("slot", slot, num_slots_);
    return weights_[static_cast<size_t>(layer) * num_slots_ + slot];
  }
  const SlotWeights& at(int layer, int slot) const {
    return const_cast<KokkosGroupedFfn*>(this)->at(layer, slot);
  }

  template <class View>
  static void grow(View& v, size_t elems, const char* label) {
    if (v.extent(0) < elems) {
      v = View();  // free first: the peak stays at one buffer
      v = View(Kokkos::view_alloc(Kokkos::WithoutInitializing, std::string(label)), elems);
    }
  }

  // Host bf16 values readable by kernels: the host view itself when ExecSpace reads host memory,
  // else a copy in `stage` (grown as needed). Templated so that the unused branch is discarded.
  template <class HostView>
  static Bf16Buf stage_in(const HostView& host, const char* label, Bf16Buf& stage) {
    if constexpr (kExecReadsHost && std::is_same_v<MemSpace, Kokkos::HostSpace>) {
      // Const-cast only to give the host view the buffer's type; kernels never write it.
      return Bf16Buf(const_cast<uint16_t*>(host.data()), host.extent(0));
    } else {
      grow(stage, host.extent(0), label);
      auto dst = Kokkos::subview(stage, std::make_pair(size_t{0}, host.extent(0)));
      Kokkos::deep_copy(dst, host);
      return dst;
    }
  }

  FfnShape shape_;
  int num_layers_;
  int num_slots_;
  std::vector<SlotWeights> weights_;
  Kokkos::View<float*, MemSpace> x_, y_, g_, h_;  // workspaces, grow only
  std::vector<SlotWeights> reference_weights_;     // reference_gemm_seconds() only
  Kokkos::View<float*, MemSpace> ref_y_, ref_g_;
  Bf16Buf io_stage_, weight_stage_;               // used when kernels cannot read host memory
};

}  // namespace

std::unique_ptr<GroupedFfn> make_kokkos_ffn(FfnShape shape, int num_layers, int num_slots) {
  if (!Kokkos::is_initialized())
    throw std::runtime_error(
        "kokkos backend: Kokkos is not initialized (create an epbench::kernels::RuntimeScope "
        "first)");
  return std::make_unique<KokkosGroupedFfn>(shape, num_layers, num_slots);
}

bool is_initialized() { return Kokkos::is_initialized(); }
void initialize(int& argc, char** argv) { Kokkos::initialize(argc, argv); }
void finalize() { Kokkos::finalize(); }

std::string version_string() {
  return std::to_string(KOKKOS_VERSION / 10000) + "." + std::to_string(KOKKOS_VERSION / 100 % 100) +
         "." + std::to_string(KOKKOS_VERSION % 100);
}
std::string execution_space_name() { return ExecSpace::name(); }

}  // namespace epbench::kernels::kokkos
