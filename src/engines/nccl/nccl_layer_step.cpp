// Device-resident NCCL layer step; see nccl_layer_step.hpp. Mirrors LayerStepper::run
// (layer_step.cpp) phase by phase: the host plan and counts are the same, only the rows live
// on the GPU and move with NCCL instead of MPI. No allocation inside a timed phase; the FFN
// phase holds device work only (its maps and GEMM plan are made in the layout phase).
#include "engines/nccl/nccl_layer_step.hpp"

#include <cuda_runtime.h>

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "comm/nccl/nccl_comm.hpp"
#include "cuda/cuda_check.hpp"
#include "cuda/cuda_device.hpp"
#include "cuda/cuda_ffn.hpp"
#include "cuda/cuda_kernels.hpp"

namespace epbench {

namespace kc = kernels::cuda;
using kernels::bf16_t;

namespace {

// Grow-only buffers of exactly the bytes asked for (callers add headroom where they want it).
// Never zero bytes, so every pointer handed to a kernel or to NCCL is a valid allocation.
template <class Buffer>
void reserve_exact(Buffer& buffer, size_t bytes) {
  bytes = std::max<size_t>(bytes, 256);
  if (buffer.bytes() < bytes || !buffer.data()) buffer = Buffer(bytes);
}

int32_t to_row_index(int64_t row) {
  if (row < 0 || row > INT32_MAX)
    throw std::runtime_error("nccl layer step: more than 2^31-1 rows on one rank");
  return static_cast<int32_t>(row);
}

int select_device(int device) {
  if (device < 0) return kc::current_device();
  kc::set_device(device);
  return device;
}

// NCCL runs one rank per GPU: two ranks on one device hang or fail deep inside NCCL. Every rank
// gathers (host, device UUID) of all ranks and, on a duplicate, every rank throws the same
// clear message before any NCCL call.
void require_one_gpu_per_rank(int device, int rank, int num_ranks) {
  constexpr int kKeyBytes = 128;
  char key[kKeyBytes] = {};
  char host[64] = "?";
  gethostname(host, sizeof host - 1);
  std::snprintf(key, sizeof key, "%s/%s", host, kc::device_uuid(device).c_str());
  std::vector<char> keys(static_cast<size_t>(kKeyBytes) * num_ranks);
  CHECK_MPI(MPI_Allgather(key, kKeyBytes, MPI_CHAR, keys.data(), kKeyBytes, MPI_CHAR,
                          MPI_COMM_WORLD));
  for (int a = 0; a < num_ranks; ++a)
    for (int b = a + 1; b < num_ranks; ++b)
      if (std::strncmp(&keys[size_t(a) * kKeyBytes], &keys[size_t(b) * kKeyBytes], kKeyBytes) == 0)
        throw std::runtime_error(
            "--comm nccl needs one GPU per rank, but ranks " + std::to_string(a) + " and " +
            std::to_string(b) + " share GPU " + std::string(&keys[size_t(a) * kKeyBytes]) +
            " (host/UUID; rank " + std::to_string(rank) + " uses device " +
            std::to_string(device) + "): start one rank per GPU, or use --comm mpi to share one");
}

}  // namespace

struct NcclLayerEngine::Impl {
  Impl(const comm::Topology& topology, int hidden_size, const std::string& replica_rule,
       int device_arg, std::chrono::milliseconds timeout)
      : topo(topology), hidden(hidden_size), planner(replica_rule),
        device(select_device(device_arg)) {
    int world = 0;
    CHECK_MPI(MPI_Comm_size(MPI_COMM_WORLD, &world));
    if (world != topo.num_ranks)
      throw std::logic_error("nccl layer engine: topology has " + std::to_string(topo.num_ranks) +
                             " ranks, MPI_COMM_WORLD " + std::to_string(world));
    require_one_gpu_per_rank(device, topo.rank, topo.num_ranks);
    comm::NcclUniqueIdBytes id{};
    if (topo.rank == 0) id = comm::nccl_unique_id();
    CHECK_MPI(MPI_Bcast(id.data(), static_cast<int>(id.size()), MPI_BYTE, 0, MPI_COMM_WORLD));
    nccl = std::make_unique<comm::NcclComm>(id, topo.num_ranks, topo.rank, device, timeout);
  }

  void run(const LayerStepInput& in, kernels::GroupedFfn& ffn, LayerStepOutput& out);
  void reserve(int64_t tokens, int top_k, int slots_per_rank, kc::CudaGroupedFfn* ffn);
  // Buffers whose size follows the rows received: recv_buf, x_slot, y_slot and the FFN's G/H.
  void reserve_received(int64_t rows, kc::CudaGroupedFfn& ffn, bool exact);

  // Byte counts and offsets of `rows` per rank, for NcclComm::all_to_allv.
  void to_bytes(std::span<const int64_t> rows, std::vector<size_t>& counts,
                std::vector<size_t>& offsets) const {
    const size_t row_bytes = static_cast<size_t>(hidden) * sizeof(bf16_t);
    counts.resize(rows.size());
    offsets.resize(rows.size());
    size_t offset = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      counts[i] = static_cast<size_t>(rows[i]) * row_bytes;
      offsets[i] = offset;
      offset += counts[i];
    }
  }

  const comm::Topology& topo;
  int hidden;
  DispatchPlanner planner;
  int device;
  kc::CudaStream stream;                 // declared before nccl: destroyed after it
  std::unique_ptr<comm::NcclComm> nccl;
  kc::EventTimer layout_timer, dispatch_timer, ffn_timer, combine_timer;

  // Device buffers (bf16 rows of `hidden` values unless noted), reused across steps.
  kc::DeviceBuffer hidden_f32;      // [T][H] fp32, the caller's input
  kc::DeviceBuffer hidden_bf16;     // [T][H]
  kc::DeviceBuffer gate_weights;    // [T][k] fp32
  kc::DeviceBuffer send_rows_map;   // [T][k] int32: send-buffer row of (t, k)
  kc::DeviceBuffer send_buf;        // [T*k] rows by destination rank, then slot
  kc::DeviceBuffer ret_buf;         // [T*k] returned outputs, send order
  kc::DeviceBuffer combined_bf16;   // [T][H]
  kc::DeviceBuffer regroup_map;     // [recv] int32: received row -> slot-major row
  kc::DeviceBuffer ungroup_map;     // [recv] int32: slot-major row -> received row
  kc::DeviceBuffer recv_buf;        // [recv] by source rank, then slot; later the FFN output
  kc::DeviceBuffer x_slot, y_slot;  // [recv] slot-major FFN input / output
  int64_t received_capacity = 0;    // rows recv_buf, x_slot, y_slot and the FFN hold

  // Pinned host mirrors (asynchronous uploads inside the layout phase).
  kc::PinnedBuffer send_rows_host;  // [T*k] int32
  kc::PinnedBuffer maps_host;       // [2][max recv] int32: regroup, ungroup
  kc::PinnedBuffer combined_host;   // [T][H] bf16, for the copy back
  int64_t map_capacity = 0;         // rows the maps hold

  std::vector<int64_t> recv_slot_rows, recv_rows, slot_offsets;
  std::vector<size_t> send_bytes, send_offsets, recv_bytes, recv_offsets;
};

NcclLayerEngine::NcclLayerEngine(const comm::Topology& topology, int hidden,
                                 const std::string& rule,
                                 int device, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>(topology, hidden, rule, device, timeout)) {}

NcclLayerEngine::~NcclLayerEngine() = default;

void NcclLayerEngine::run(const LayerStepInput& in, kernels::GroupedFfn& ffn,
                          LayerStepOutput& out) {
  impl_->run(in, ffn, out);
}

void NcclLayerEngine::reserve(int64_t tokens_per_rank, int top_k, int slots_per_rank,
                              kernels::GroupedFfn& ffn) {
  impl_->reserve(tokens_per_rank, top_k, slots_per_rank,
                 dynamic_cast<kc::CudaGroupedFfn*>(&ffn));
}

void NcclLayerEngine::Impl::reserve_received(int64_t rows, kc::CudaGroupedFfn& ffn, bool exact) {
  if (rows <= received_capacity) return;
  const int64_t capacity = exact ? rows : rows + rows / 4;
  const size_t row_bytes = static_cast<size_t>(hidden) * sizeof(bf16_t);
  const size_t bytes = static_cast<size_t>(capacity) * row_bytes;
  for (kc::DeviceBuffer* buffer : {&recv_buf, &x_slot, &y_slot}) reserve_exact(*buffer, bytes);
  ffn.reserve_rows(capacity);
  received_capacity = capacity;
}

// Worst case of one step: T*k rows sent; at most min(k, slots) rows per token from each of the
// R ranks received. The small buffers (maps) always take the worst case; the row buffers take it
// when it needs at most half the free device memory, else they grow between phases.
void NcclLayerEngine::Impl::reserve(int64_t tokens, int top_k, int slots_per_rank,
                                    kc::CudaGroupedFfn* ffn) {
  if (!ffn) throw std::logic_error("--comm nccl needs the cuda backend's expert FFN");
  kc::set_device(device);
  const int64_t T = tokens, K = top_k;
  const size_t row_bytes = static_cast<size_t>(hidden) * sizeof(bf16_t);
  const int64_t send_rows = T * K;
  const int64_t recv_rows_max =
      int64_t{topo.num_ranks} * T * std::min<int64_t>(K, slots_per_rank);
  to_row_index(recv_rows_max);
  reserve_exact(hidden_f32, static_cast<size_t>(T) * hidden * sizeof(float));
  reserve_exact(hidden_bf16, static_cast<size_t>(T) * row_bytes);
  reserve_exact(combined_bf16, static_cast<size_t>(T) * row_bytes);
  reserve_exact(combined_host, static_cast<size_t>(T) * row_bytes);
  reserve_exact(gate_weights, static_cast<size_t>(send_rows) * sizeof(float));
  reserve_exact(send_rows_map, static_cast<size_t>(send_rows) * sizeof(int32_t));
  reserve_exact(send_rows_host, static_cast<size_t>(send_rows) * sizeof(int32_t));
  reserve_exact(send_buf, static_cast<size_t>(send_rows) * row_bytes);
  reserve_exact(ret_buf, static_cast<size_t>(send_rows) * row_bytes);
  if (recv_rows_max > map_capacity) {
    const size_t map_bytes = static_cast<size_t>(recv_rows_max) * sizeof(int32_t);
    reserve_exact(regroup_map, map_bytes);
    reserve_exact(ungroup_map, map_bytes);
    reserve_exact(maps_host, 2 * map_bytes);
    map_capacity = recv_rows_max;
  }
  const kernels::FfnShape shape = ffn->shape();
  const double worst_bytes = double(recv_rows_max) * (3.0 * row_bytes + 6.0 * shape.ffn);
  if (worst_bytes <= 0.5 * double(kc::device_free_bytes()))
    reserve_received(recv_rows_max, *ffn, /*exact=*/true);
}

void NcclLayerEngine::Impl::run(const LayerStepInput& in, kernels::GroupedFfn& ffn,
                                LayerStepOutput& out) {
  auto* cuda_ffn = dynamic_cast<kc::CudaGroupedFfn*>(&ffn);
  if (!cuda_ffn)
    throw std::logic_error("--comm nccl needs the cuda backend's expert FFN, got backend \"" +
                           ffn.backend() + "\"");
  const Placement& placement = *in.placement;
  const int H = hidden;
  const int R = topo.num_ranks;
  const int spr = placement.slots_per_gpu();
  const int K = in.top_k;
  const int64_t T = static_cast<int64_t>(in.hidden.size()) / H;
  const size_t row_bytes = static_cast<size_t>(H) * sizeof(bf16_t);
  if (cuda_ffn->device() != device)
    throw std::logic_error("nccl layer engine on device " + std::to_string(device) +
                           ", expert FFN on device " + std::to_string(cuda_ffn->device()));
  if (cuda_ffn->shape().hidden != H || cuda_ffn->num_slots() != spr)
    throw std::logic_error("nccl layer engine: expert FFN shape does not match the layer");
  if (static_cast<int64_t>(in.topk_ids.size()) != T * K ||
      static_cast<int64_t>(in.topk_weights.size()) != T * K)
    throw std::logic_error("nccl layer engine: top-k arrays do not match [T][top_k]");
  to_row_index(T * K);
  void* s = stream.get();

  // ---- staging (untimed): worst-case buffers, the caller's host inputs onto the device --------
  // A GPU-resident model has the hidden states (bf16) and the router's weights on the device
  // already; the benchmark's come from the host, so their upload is not part of any phase.
  reserve(T, K, spr, cuda_ffn);  // allocates only when this step is larger than any before
  if (T > 0) {
    kc::copy_async(hidden_f32.data(), in.hidden.data(), in.hidden.size_bytes(), s);
    kc::float_to_bf16_device(hidden_f32.as<float>(), T * H, hidden_bf16.as<bf16_t>(), s);
    kc::copy_async(gate_weights.data(), in.topk_weights.data(), in.topk_weights.size_bytes(), s);
  }
  nccl->wait(s);

  // Phases are separated by barriers outside the timed regions, as in LayerStepper. Each phase's
  // time is the CUDA-event time on the stream from its start to its stop event, waited for with
  // NcclComm::wait (bounded; aborts the communicator on error or timeout).
  // The start stamp is the host time when the phase's first GPU work is enqueued; its end is
  // start + the event time, on this rank's host clock (measure/ aligns ranks' clocks).
  auto phase_start = [&](kc::EventTimer& timer, const char* name) {
    const double t = in.sync->phase(name);
    timer.start(s);
    return t;
  };
  auto phase_seconds = [&](kc::EventTimer& timer) {
    timer.stop(s);
    nccl->wait(s);
    return timer.elapsed_ms() * 1e-3;
  };

  // ---- layout: plan, permute, count exchange, regroup maps, FFN GEMM plan ----------------------
  out.start.layout = phase_start(layout_timer, "layout");
  PlanTiming plan_timing;
  DispatchPlan plan =
      planner.plan(placement, in.layer, in.topk_ids, K, in.first_token_id, topo, plan_timing);
  record_plan_stats(plan_timing, plan, out);
  const int64_t rows = plan.total_rows();
  auto* send_rows = static_cast<int32_t*>(send_rows_host.data());
  for (int64_t r = 0; r < rows; ++r) send_rows[r] = to_row_index(plan.send_position[r]);
  if (rows > 0) {
    kc::copy_async(send_rows_map.data(), send_rows, rows * sizeof(int32_t), s);
    kc::permute_tokens(hidden_bf16.as<bf16_t>(), static_cast<int>(T), H, K,
                       send_rows_map.as<int32_t>(), send_buf.as<bf16_t>(), s);
  }
  // The count exchange overlaps the permute on the GPU.
  recv_slot_rows.assign(static_cast<size_t>(R) * spr, 0);
  CHECK_MPI(MPI_Alltoall(plan.send_slot_rows.data(), spr, MPI_INT64_T, recv_slot_rows.data(), spr,
                         MPI_INT64_T, MPI_COMM_WORLD));
  recv_rows.assign(R, 0);
  for (int src = 0; src < R; ++src)
    for (int slot = 0; slot < spr; ++slot)
      recv_rows[src] += recv_slot_rows[static_cast<size_t>(src) * spr + slot];
  int64_t total_recv = 0;
  for (int64_t n : recv_rows) total_recv += n;
  to_row_index(total_recv);
  if (total_recv > map_capacity)  // cannot happen: the worst case bounds every step
    throw std::logic_error("nccl layer engine: received rows exceed the worst case");
  to_bytes(plan.send_rows, send_bytes, send_offsets);
  to_bytes(recv_rows, recv_bytes, recv_offsets);
  RegroupPlan regroup = build_regroup_plan(recv_slot_rows, R, spr);
  slot_offsets = regroup.slot_offsets;
  auto* regroup_host = static_cast<int32_t*>(maps_host.data());
  int32_t* ungroup_host = regroup_host + total_recv;
  for (int64_t i = 0; i < total_recv; ++i) {
    const int32_t received = static_cast<int32_t>(regroup.recv_position[i]);
    regroup_host[received] = static_cast<int32_t>(i);
    ungroup_host[i] = received;
  }
  const size_t map_bytes = static_cast<size_t>(total_recv) * sizeof(int32_t);
  kc::copy_async(regroup_map.data(), regroup_host, map_bytes, s);
  kc::copy_async(ungroup_map.data(), ungroup_host, map_bytes, s);
  const bool fits = total_recv <= received_capacity;
  if (fits)
    cuda_ffn->prepare_device(in.layer, x_slot.data(), slot_offsets.data(), y_slot.data(), s);
  out.seconds.layout = phase_seconds(layout_timer);
  if (!fits) {  // only when the worst case was too large to reserve: grow between phases
    reserve_received(total_recv, *cuda_ffn, /*exact=*/false);
    cuda_ffn->prepare_device(in.layer, x_slot.data(), slot_offsets.data(), y_slot.data(), s);
    nccl->wait(s);
  }

  // ---- dispatch -------------------------------------------------------------------------------
  out.start.dispatch = phase_start(dispatch_timer, "dispatch");
  nccl->all_to_allv(send_buf.data(), send_bytes, send_offsets, recv_buf.data(), recv_bytes,
                    recv_offsets, s);
  out.seconds.dispatch = phase_seconds(dispatch_timer);

  // ---- expert FFN: regroup by local slot, grouped SwiGLU, ungroup (device work only) ----------
  out.start.ffn = phase_start(ffn_timer, "ffn");
  if (total_recv > 0) {
    // A gather by row map is permute_tokens with k = 1: out[map[i]] = in[i].
    kc::permute_tokens(recv_buf.as<bf16_t>(), static_cast<int>(total_recv), H, 1,
                       regroup_map.as<int32_t>(), x_slot.as<bf16_t>(), s);
    cuda_ffn->run_prepared(s);
    // Back into received order; recv_buf is free once x_slot holds its rows.
    kc::permute_tokens(y_slot.as<bf16_t>(), static_cast<int>(total_recv), H, 1,
                       ungroup_map.as<int32_t>(), recv_buf.as<bf16_t>(), s);
  }
  out.seconds.ffn = phase_seconds(ffn_timer);

  // ---- combine: return the rows, weighted sum at home -------------------------------------------
  out.start.combine = phase_start(combine_timer, "combine");
  nccl->all_to_allv(recv_buf.data(), recv_bytes, recv_offsets, ret_buf.data(), send_bytes,
                    send_offsets, s);
  // out[t] = bf16(sum_k w[t,k] * y[row(t,k)]), fp32 accumulation (LayerStepper keeps the fp32
  // sum; the one bf16 rounding is far inside the verification tolerance).
  if (T > 0)
    kc::unpermute_combine(ret_buf.as<bf16_t>(), static_cast<int>(T), H, K,
                          send_rows_map.as<int32_t>(), gate_weights.as<float>(),
                          combined_bf16.as<bf16_t>(), s);
  out.seconds.combine = phase_seconds(combine_timer);
  // The efficiency baseline on the same slot shapes, after the step's end (the combine's), so
  // that the step never contains it (its own events).
  out.reference_gemm_seconds =
      in.reference_gemm && total_recv > 0 ? ffn.reference_gemm_seconds(slot_offsets) : 0.0;

  // ---- copy back for verification (untimed) ---------------------------------------------------
  const size_t combined_bytes = static_cast<size_t>(T) * row_bytes;
  out.combined.resize(static_cast<size_t>(T) * H);
  if (T > 0) {
    kc::copy_async(combined_host.data(), combined_bf16.data(), combined_bytes, s);
    nccl->wait(s);
    const auto* bits = static_cast<const bf16_t*>(combined_host.data());
    for (size_t i = 0; i < out.combined.size(); ++i)
      out.combined[i] = kernels::bf16_to_float(bits[i]);
  }

  out.inter_node_rows_dedup = inter_node_rows_dedup(plan, topo.node_of_rank, topo.rank);
  out.rows_sent = rows;
  out.rows_received = total_recv;
  out.send_rows = plan.send_rows;
  // Combine mirrors dispatch: each rank returns the rows it received to their senders.
  const NodeSplitBytes dispatch_bytes =
      off_rank_bytes(plan.send_rows, topo.node_of_rank, topo.rank, int64_t(row_bytes));
  const NodeSplitBytes combine_bytes =
      off_rank_bytes(recv_rows, topo.node_of_rank, topo.rank, int64_t(row_bytes));
  out.dispatch_intra_node_bytes = dispatch_bytes.intra;
  out.dispatch_inter_node_bytes = dispatch_bytes.inter;
  out.combine_intra_node_bytes = combine_bytes.intra;
  out.combine_inter_node_bytes = combine_bytes.inter;
  out.dispatch_inter_node_metadata_bytes = 0;
}

std::unique_ptr<LayerEngine> make_nccl_layer_engine(const comm::Topology& topology, int hidden,
                                                    const std::string& rule, int device,
                                                    std::chrono::milliseconds timeout) {
  return std::make_unique<NcclLayerEngine>(topology, hidden, rule, device, timeout);
}

}  // namespace epbench
