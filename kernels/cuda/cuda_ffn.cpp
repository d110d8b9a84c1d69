// CudaGroupedFfn: SwiGLU over all local slots of one layer as
//   G = X_s · [W1;W3]_sᵀ   (grouped GEMM, bf16 out, fp32 accumulate)   G: [rows][2F]
//   H = silu(G[:, :F]) ⊙ G[:, F:]   (one fused kernel over all rows)    H: [rows][F]
//   Y = H_s · W2_sᵀ        (grouped GEMM)                               Y: [rows][H]
// W1 and W3 are adjacent in the expert layout, so [W1;W3] is one [2F][H] matrix and the first
// GEMM is a single product per slot. Slots with equal token counts share one GEMM group.
#include "cuda_ffn.hpp"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda_check.hpp"
#include "cuda_device.hpp"
#include "cuda_kernels.hpp"

namespace epbench::kernels {

std::unique_ptr<GroupedFfn> make_cuda_ffn(FfnShape shape, int num_layers, int num_slots,
                                          int device) {
  return std::make_unique<cuda::CudaGroupedFfn>(shape, num_layers, num_slots, device);
}

namespace cuda {

const char* gemm_mode_name(GemmMode mode) {
  switch (mode) {
    case GemmMode::kAuto: return "auto";
    case GemmMode::kGrouped: return "grouped";
    case GemmMode::kPerSlot: return "per-slot";
  }
  return "?";
}

namespace {

// Restores the caller's current device on scope exit.
class DeviceGuard {
 public:
  // Touches the current device only when it differs: a cudaSetDevice back to device 0 would create
  // a context there on every rank (the rank's device is made current once, when resolved).
  explicit DeviceGuard(int device) {
    CHECK_CUDA(cudaGetDevice(&previous_));
    switched_ = previous_ != device;
    if (switched_) CHECK_CUDA(cudaSetDevice(device));
  }
  ~DeviceGuard() {
    if (switched_) CHECK_CUDA_NOEXCEPT(cudaSetDevice(previous_));
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
  bool switched_ = false;
};

// One GEMM stage described for cuBLAS: groups of slots with the same token count.
struct GemmPlan {
  std::vector<cublasOperation_t> trans_a, trans_b;
  std::vector<int> m, n, k, lda, ldb, ldc, group_size;
  std::vector<float> alpha, beta;
};

}  // namespace

struct CudaGroupedFfn::Impl {
  FfnShape shape;
  int num_layers = 0;
  int num_slots = 0;
  int device = 0;
  GemmMode mode = GemmMode::kAuto;  // requested, then resolved by the first forward
  std::vector<DeviceBuffer> weights;  // per layer: [num_slots][3·H·F] bf16
  CublasHandle cublas;
  CudaStream stream;  // for the host-buffer forward()

  // Workspaces, grown by reserve_rows (or on demand).
  DeviceBuffer g, h;  // [rows][2F], [rows][F]
  int64_t workspace_rows = 0;
  // The last prepare_device: GEMM groups, pointer-array count, rows, layer.
  GemmPlan up, down;
  size_t prepared_slots = 0;
  int64_t prepared_rows = 0;
  bool prepared = false;
  // Recorded after every enqueued forward: weight updates wait for it.
  cudaEvent_t last_forward = nullptr;
  // Reference GEMM (reference_gemm_seconds): separate weights [slots][3·H·F], X [rows][H],
  // G1, G3 [rows][F], Y [rows][H]; random bf16, allocated before timing.
  DeviceBuffer ref_weights, ref_x, ref_g1, ref_g3, ref_y;
  int64_t ref_rows = 0;
  EventTimer ref_timer;
  DeviceBuffer x_dev, y_dev;  // forward() staging on the device
  PinnedBuffer x_pinned, y_pinned;
  // Pointer arrays of both stages (A1 B1 C1 A2 B2 C2, num_slots each): device + pinned mirror.
  DeviceBuffer pointers_dev;
  PinnedBuffer pointers_pinned;
  cudaEvent_t pointers_copied = nullptr;  // the pinned mirror may be rewritten once this fired

  size_t slot_elems() const { return shape.weight_elems(); }
  bf16_t* slot_ptr(int layer, int slot) const {
    return weights[layer].as<bf16_t>() + static_cast<size_t>(slot) * slot_elems();
  }
  void check_slot(int layer, int slot, const char* what) const {
    if (layer < 0 || layer >= num_layers || slot < 0 || slot >= num_slots)
      throw std::out_of_range(std::string("CudaGroupedFfn::") + what + ": layer " +
                              std::to_string(layer) + " / slot " + std::to_string(slot) +
                              " outside " + std::to_string(num_layers) + " layers x " +
                              std::to_string(num_slots) + " slots");
  }
  void ensure_workspace(int64_t rows) {
    if (rows <= workspace_rows) return;
    // cudaFree of the old buffers synchronizes the device, so no in-flight work uses them.
    const int64_t grown = std::max<int64_t>(rows, workspace_rows + workspace_rows / 2);
    g = DeviceBuffer(sizeof(bf16_t) * grown * 2 * shape.ffn);
    h = DeviceBuffer(sizeof(bf16_t) * grown * shape.ffn);
    workspace_rows = grown;
  }
  void ensure_staging(int64_t rows) {
    const size_t bytes = sizeof(bf16_t) * rows * shape.hidden;
    if (x_dev.bytes() >= bytes) return;
    x_dev = DeviceBuffer(bytes);
    y_dev = DeviceBuffer(bytes);
    x_pinned = PinnedBuffer(bytes);
    y_pinned = PinnedBuffer(bytes);
  }
  // Reference buffers for `rows` rows (weights once); random values, complete on return.
  void ensure_reference(int64_t rows) {
    cudaStream_t s = static_cast<cudaStream_t>(stream.get());
    const int64_t hidden = shape.hidden, ffn = shape.ffn;
    if (!ref_weights.data()) {
      const int64_t elems = static_cast<int64_t>(slot_elems()) * num_slots;
      ref_weights = DeviceBuffer(sizeof(bf16_t) * elems);
      fill_random_bf16(ref_weights.as<bf16_t>(), elems, 0x5eed, 0.02f, s);
    }
    if (rows > ref_rows) {
      const int64_t grown = std::max<int64_t>(rows, ref_rows + ref_rows / 2);
      ref_x = DeviceBuffer(sizeof(bf16_t) * grown * hidden);
      ref_g1 = DeviceBuffer(sizeof(bf16_t) * grown * ffn);
      ref_g3 = DeviceBuffer(sizeof(bf16_t) * grown * ffn);
      ref_y = DeviceBuffer(sizeof(bf16_t) * grown * hidden);
      fill_random_bf16(ref_x.as<bf16_t>(), grown * hidden, 0x7eed, 1.0f, s);
      ref_rows = grown;
    }
    CHECK_CUDA(cudaStreamSynchronize(s));
  }
  // Pointer arrays of one stage: entry i belongs to the i-th slot of the plan's order.
  struct StagePointers {
    const void* const* a;
    const void* const* b;
    void* const* c;
  };
  void run_stage(const GemmPlan& plan, StagePointers host, StagePointers dev, cudaStream_t s);
  void prepare(int layer, const void* x, const int64_t* offsets, void* y, cudaStream_t s);
  void run_prepared(cudaStream_t s);
  StagePointers stage(void** base, size_t first) const {
    const size_t n = prepared_slots;
    return StagePointers{const_cast<const void* const*>(base + first * n),
                         const_cast<const void* const*>(base + (first + 1) * n),
                         base + (first + 2) * n};
  }
};

void CudaGroupedFfn::Impl::run_stage(const GemmPlan& plan, StagePointers host, StagePointers dev,
                                     cudaStream_t s) {
  cublasHandle_t handle = static_cast<cublasHandle_t>(cublas.get());
  CHECK_CUBLAS(cublasSetStream(handle, s));
  if (mode != GemmMode::kPerSlot) {
    const cublasStatus_t status = cublasGemmGroupedBatchedEx(
        handle, plan.trans_a.data(), plan.trans_b.data(), plan.m.data(), plan.n.data(),
        plan.k.data(), plan.alpha.data(), dev.a, CUDA_R_16BF, plan.lda.data(), dev.b, CUDA_R_16BF,
        plan.ldb.data(), plan.beta.data(), dev.c, CUDA_R_16BF, plan.ldc.data(),
        static_cast<int>(plan.group_size.size()), plan.group_size.data(), CUBLAS_COMPUTE_32F);
    if (status == CUBLAS_STATUS_SUCCESS) {
      mode = GemmMode::kGrouped;
      return;
    }
    if (status != CUBLAS_STATUS_NOT_SUPPORTED || mode == GemmMode::kGrouped)
      CHECK_CUBLAS(status);  // throws, naming the status
    mode = GemmMode::kPerSlot;  // kAuto on a cuBLAS without bf16 grouped GEMM: fall back for good
  }
  const float alpha = 1.0f, beta = 0.0f;
  size_t index = 0;
  for (size_t group = 0; group < plan.group_size.size(); ++group) {
    for (int j = 0; j < plan.group_size[group]; ++j, ++index) {
      CHECK_CUBLAS(cublasGemmEx(handle, plan.trans_a[group], plan.trans_b[group], plan.m[group],
                                plan.n[group], plan.k[group], &alpha, host.a[index], CUDA_R_16BF,
                                plan.lda[group], host.b[index], CUDA_R_16BF, plan.ldb[group],
                                &beta, host.c[index], CUDA_R_16BF, plan.ldc[group],
                                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
  }
}

void CudaGroupedFfn::Impl::prepare(int layer, const void* x, const int64_t* offsets, void* y,
                                   cudaStream_t s) {
  prepared = false;
  if (layer < 0 || layer >= num_layers)
    throw std::out_of_range("CudaGroupedFfn::forward: layer " + std::to_string(layer) +
                            " outside 0.." + std::to_string(num_layers - 1));
  if (offsets[0] != 0)
    throw std::invalid_argument("CudaGroupedFfn::forward: slot_offsets[0] must be 0");
  for (int slot = 0; slot < num_slots; ++slot)
    if (offsets[slot + 1] < offsets[slot])
      throw std::invalid_argument("CudaGroupedFfn::forward: slot_offsets decrease at slot " +
                                  std::to_string(slot));
  const int64_t total_rows = offsets[num_slots];
  prepared_rows = total_rows;
  prepared_slots = 0;
  up = GemmPlan{};
  down = GemmPlan{};
  if (total_rows == 0) {
    prepared = true;
    return;
  }
  if (total_rows > INT32_MAX)
    throw std::invalid_argument("CudaGroupedFfn::forward: more than 2^31-1 rows");
  ensure_workspace(total_rows);

  // Non-empty slots ordered by token count, so equal counts form one GEMM group.
  std::vector<int> order;
  for (int slot = 0; slot < num_slots; ++slot)
    if (offsets[slot + 1] > offsets[slot]) order.push_back(slot);
  auto count = [&](int slot) { return static_cast<int>(offsets[slot + 1] - offsets[slot]); };
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return count(a) < count(b); });

  const int hidden = shape.hidden, ffn = shape.ffn;
  // up: G = X·[W1;W3]ᵀ, down: Y = H·W2ᵀ
  for (size_t i = 0; i < order.size(); ++i) {
    const int rows = count(order[i]);
    if (i > 0 && rows == count(order[i - 1])) {
      ++up.group_size.back();
      ++down.group_size.back();
      continue;
    }
    for (GemmPlan* plan : {&up, &down}) {
      plan->trans_a.push_back(CUBLAS_OP_T);
      plan->trans_b.push_back(CUBLAS_OP_N);
      plan->n.push_back(rows);
      plan->alpha.push_back(1.0f);
      plan->beta.push_back(0.0f);
      plan->group_size.push_back(1);
    }
    // Column-major views: Gᵀ [2F x rows] = [W1;W3] (col-major H x 2F)ᵀ · Xᵀ (H x rows).
    up.m.push_back(2 * ffn), up.k.push_back(hidden);
    up.lda.push_back(hidden), up.ldb.push_back(hidden), up.ldc.push_back(2 * ffn);
    // Yᵀ [H x rows] = W2 (col-major F x H)ᵀ · Hᵀ (F x rows).
    down.m.push_back(hidden), down.k.push_back(ffn);
    down.lda.push_back(ffn), down.ldb.push_back(ffn), down.ldc.push_back(hidden);
  }

  // Pointer arrays: the pinned mirror is rewritten only after its previous upload completed.
  const size_t n = order.size();
  prepared_slots = n;
  CHECK_CUDA(cudaEventSynchronize(pointers_copied));
  void** mirror = static_cast<void**>(pointers_pinned.data());
  const auto* x_rows = static_cast<const bf16_t*>(x);
  auto* y_rows = static_cast<bf16_t*>(y);
  auto* g_rows = g.as<bf16_t>();
  auto* h_rows = h.as<bf16_t>();
  for (size_t i = 0; i < n; ++i) {
    const int slot = order[i];
    const int64_t row = offsets[slot];
    bf16_t* w = slot_ptr(layer, slot);
    mirror[0 * n + i] = w;                                        // A1: [W1;W3]
    mirror[1 * n + i] = const_cast<bf16_t*>(x_rows + row * hidden);  // B1: X_s
    mirror[2 * n + i] = g_rows + row * 2 * ffn;                   // C1: G_s
    mirror[3 * n + i] = w + 2ull * ffn * hidden;                  // A2: W2
    mirror[4 * n + i] = h_rows + row * ffn;                       // B2: H_s
    mirror[5 * n + i] = y_rows + row * hidden;                    // C2: Y_s
  }
  void** device_arrays = pointers_dev.as<void*>();
  if (mode != GemmMode::kPerSlot) {
    CHECK_CUDA(cudaMemcpyAsync(device_arrays, mirror, 6 * n * sizeof(void*),
                               cudaMemcpyHostToDevice, s));
  }
  CHECK_CUDA(cudaEventRecord(pointers_copied, s));
  prepared = true;
}

void CudaGroupedFfn::Impl::run_prepared(cudaStream_t s) {
  if (!prepared) throw std::logic_error("CudaGroupedFfn::run_prepared without prepare_device");
  if (prepared_rows > 0) {
    void** mirror = static_cast<void**>(pointers_pinned.data());
    void** device_arrays = pointers_dev.as<void*>();
    run_stage(up, stage(mirror, 0), stage(device_arrays, 0), s);
    silu_mul(g.as<bf16_t>(), prepared_rows, shape.ffn, h.as<bf16_t>(), s);
    run_stage(down, stage(mirror, 3), stage(device_arrays, 3), s);
  }
  CHECK_CUDA(cudaEventRecord(last_forward, s));
}

CudaGroupedFfn::CudaGroupedFfn(FfnShape shape, int num_layers, int num_slots, int device,
                               GemmMode mode) {
  if (shape.hidden <= 0 || shape.ffn <= 0 || num_layers <= 0 || num_slots <= 0)
    throw std::invalid_argument("CudaGroupedFfn: hidden " + std::to_string(shape.hidden) +
                                ", ffn " + std::to_string(shape.ffn) + ", layers " +
                                std::to_string(num_layers) + " and slots " +
                                std::to_string(num_slots) + " must all be positive");
  if (device < 0) device = current_device();
  DeviceGuard guard(device);
  impl_ = std::make_unique<Impl>();
  impl_->shape = shape;
  impl_->num_layers = num_layers;
  impl_->num_slots = num_slots;
  impl_->device = device;
  impl_->mode = mode;
  const size_t layer_bytes = sizeof(bf16_t) * shape.weight_elems() * num_slots;
  cudaStream_t s = static_cast<cudaStream_t>(impl_->stream.get());
  for (int layer = 0; layer < num_layers; ++layer) {
    impl_->weights.emplace_back(layer_bytes);
    CHECK_CUDA(cudaMemsetAsync(impl_->weights.back().data(), 0, layer_bytes, s));
  }
  impl_->pointers_dev = DeviceBuffer(6 * sizeof(void*) * num_slots);
  impl_->pointers_pinned = PinnedBuffer(6 * sizeof(void*) * num_slots);
  CHECK_CUDA(cudaEventCreateWithFlags(&impl_->pointers_copied, cudaEventDisableTiming));
  CHECK_CUDA(cudaEventCreateWithFlags(&impl_->last_forward, cudaEventDisableTiming));
  CHECK_CUDA(cudaEventRecord(impl_->pointers_copied, s));
  CHECK_CUDA(cudaEventRecord(impl_->last_forward, s));
  CHECK_CUDA(cudaStreamSynchronize(s));  // weights zeroed before any other stream uses them
}

CudaGroupedFfn::~CudaGroupedFfn() {
  if (!impl_) return;
  for (cudaEvent_t event : {impl_->pointers_copied, impl_->last_forward}) {
    if (!event) continue;
    CHECK_CUDA_NOEXCEPT(cudaEventSynchronize(event));
    CHECK_CUDA_NOEXCEPT(cudaEventDestroy(event));
  }
}

FfnShape CudaGroupedFfn::shape() const { return impl_->shape; }
int CudaGroupedFfn::num_layers() const { return impl_->num_layers; }
int CudaGroupedFfn::num_slots() const { return impl_->num_slots; }
int CudaGroupedFfn::device() const { return impl_->device; }
GemmMode CudaGroupedFfn::gemm_mode() const { return impl_->mode; }

// Weight copies run on the FFN's own stream after the last enqueued forward (whatever its
// stream) and are complete on return: a later forward on any stream sees the new weights.
void CudaGroupedFfn::set_slot_weights(int layer, int slot, const bf16_t* weights) {
  impl_->check_slot(layer, slot, "set_slot_weights");
  DeviceGuard guard(impl_->device);
  cudaStream_t s = static_cast<cudaStream_t>(impl_->stream.get());
  CHECK_CUDA(cudaStreamWaitEvent(s, impl_->last_forward, 0));
  CHECK_CUDA(cudaMemcpyAsync(impl_->slot_ptr(layer, slot), weights,
                             sizeof(bf16_t) * impl_->slot_elems(), cudaMemcpyHostToDevice, s));
  CHECK_CUDA(cudaStreamSynchronize(s));
}

void CudaGroupedFfn::get_slot_weights(int layer, int slot, bf16_t* out) const {
  impl_->check_slot(layer, slot, "get_slot_weights");
  DeviceGuard guard(impl_->device);
  cudaStream_t s = static_cast<cudaStream_t>(impl_->stream.get());
  CHECK_CUDA(cudaStreamWaitEvent(s, impl_->last_forward, 0));
  CHECK_CUDA(cudaMemcpyAsync(out, impl_->slot_ptr(layer, slot),
                             sizeof(bf16_t) * impl_->slot_elems(), cudaMemcpyDeviceToHost, s));
  CHECK_CUDA(cudaStreamSynchronize(s));
}

const bf16_t* CudaGroupedFfn::slot_weights_device(int layer, int slot) const {
  impl_->check_slot(layer, slot, "slot_weights_device");
  return impl_->slot_ptr(layer, slot);
}

void CudaGroupedFfn::reserve_rows(int64_t max_total_rows) {
  if (max_total_rows <= 0) return;
  DeviceGuard guard(impl_->device);
  // Device bytes per row: G and H (3F), host-path staging x and y (2H), reference X, G1, G3, Y
  // (2H + 2F), all bf16. A worst case beyond half the free memory is capped there (the rest
  // grows on demand, as before).
  const Impl& im = *impl_;
  const double row_bytes = 2.0 * (5.0 * im.shape.ffn + 4.0 * im.shape.hidden);
  const auto affordable = static_cast<int64_t>(0.5 * double(device_free_bytes()) / row_bytes);
  const int64_t rows = std::min(max_total_rows, std::max<int64_t>(affordable, 1));
  impl_->ensure_workspace(rows);
  impl_->ensure_staging(rows);
  impl_->ensure_reference(rows);
}

void CudaGroupedFfn::forward(int layer, const bf16_t* x, std::span<const int64_t> slot_offsets,
                             bf16_t* y) {
  Impl& im = *impl_;
  if (slot_offsets.size() != static_cast<size_t>(im.num_slots) + 1)
    throw std::invalid_argument("CudaGroupedFfn::forward: slot_offsets has " +
                                std::to_string(slot_offsets.size()) + " entries, expected " +
                                std::to_string(im.num_slots + 1));
  const int64_t rows = slot_offsets.back();
  if (rows <= 0) return;
  DeviceGuard guard(im.device);
  const size_t bytes = sizeof(bf16_t) * rows * im.shape.hidden;
  im.ensure_staging(rows);
  cudaStream_t s = static_cast<cudaStream_t>(im.stream.get());
  std::memcpy(im.x_pinned.data(), x, bytes);
  CHECK_CUDA(cudaMemcpyAsync(im.x_dev.data(), im.x_pinned.data(), bytes, cudaMemcpyHostToDevice, s));
  im.prepare(layer, im.x_dev.data(), slot_offsets.data(), im.y_dev.data(), s);
  im.run_prepared(s);
  CHECK_CUDA(cudaMemcpyAsync(im.y_pinned.data(), im.y_dev.data(), bytes, cudaMemcpyDeviceToHost, s));
  CHECK_CUDA(cudaStreamSynchronize(s));
  std::memcpy(y, im.y_pinned.data(), bytes);
}

void CudaGroupedFfn::forward_device(int layer, const void* x_dev, const int64_t* slot_offsets_host,
                                    void* y_dev, void* stream) {
  DeviceGuard guard(impl_->device);
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  impl_->prepare(layer, x_dev, slot_offsets_host, y_dev, s);
  impl_->run_prepared(s);
}

void CudaGroupedFfn::prepare_device(int layer, const void* x_dev, const int64_t* slot_offsets_host,
                                    void* y_dev, void* stream) {
  DeviceGuard guard(impl_->device);
  impl_->prepare(layer, x_dev, slot_offsets_host, y_dev, static_cast<cudaStream_t>(stream));
}

void CudaGroupedFfn::run_prepared(void* stream) {
  DeviceGuard guard(impl_->device);
  impl_->run_prepared(static_cast<cudaStream_t>(stream));
}

double CudaGroupedFfn::reference_gemm_seconds(std::span<const int64_t> slot_offsets) {
  Impl& im = *impl_;
  if (slot_offsets.size() != static_cast<size_t>(im.num_slots) + 1)
    throw std::invalid_argument("CudaGroupedFfn::reference_gemm_seconds: slot_offsets has " +
                                std::to_string(slot_offsets.size()) + " entries, expected " +
                                std::to_string(im.num_slots + 1));
  DeviceGuard guard(im.device);
  const int64_t rows = slot_offsets.back();
  im.ensure_reference(rows);  // allocation (if any) before the timed region
  cudaStream_t s = static_cast<cudaStream_t>(im.stream.get());
  CHECK_CUDA(cudaStreamWaitEvent(s, im.last_forward, 0));
  const int hidden = im.shape.hidden, ffn = im.shape.ffn;
  void* cublas = im.cublas.get();
  im.ref_timer.start(s);
  for (int slot = 0; slot < im.num_slots; ++slot) {
    const int64_t first = slot_offsets[slot];
    const int n = static_cast<int>(slot_offsets[slot + 1] - first);
    if (n <= 0) continue;
    const bf16_t* w = im.ref_weights.as<bf16_t>() + static_cast<size_t>(slot) * im.slot_elems();
    const bf16_t* x = im.ref_x.as<bf16_t>() + first * hidden;
    bf16_t* g1 = im.ref_g1.as<bf16_t>() + first * ffn;
    bf16_t* g3 = im.ref_g3.as<bf16_t>() + first * ffn;
    // [n,H]x[H,F] twice (W1, W3 are [F][H]), then [n,F]x[F,H] (W2 is [H][F]).
    gemm_bf16_nt(x, w, g1, n, ffn, hidden, cublas, s);
    gemm_bf16_nt(x, w + static_cast<size_t>(ffn) * hidden, g3, n, ffn, hidden, cublas, s);
    gemm_bf16_nt(g1, w + 2ull * ffn * hidden, im.ref_y.as<bf16_t>() + first * hidden, n, hidden,
                 ffn, cublas, s);
  }
  im.ref_timer.stop(s);
  return im.ref_timer.elapsed_ms() * 1e-3;  // waits for the stop event
}

}  // namespace cuda
}  // namespace epbench::kernels
