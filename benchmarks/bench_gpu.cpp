// GPU micro-benchmarks of the CUDA backend (CUDA-event timing, L2 flushed before every sample,
// one untimed warm-up run; Google Benchmark's manual time):
//   BM_GroupedFfn    SwiGLU over 8 local experts (DeepSeek-V3 expert: hidden 7168, ffn 2048),
//                    8n rows split equally (skew:0) or zipf(1)-skewed (skew:1, same total),
//                    TFLOP/s and the ratio to one dense cuBLAS bf16 GEMM of equal FLOPs
//                    ([8n x 7168] · [7168 x 6144]); target >= 0.75 at >= 512 tokens per expert;
//                    vs_slot_gemm: against reference_gemm_seconds (plain per-slot GEMMs).
//   BM_Permute       tokens -> per-expert rows (top-8), BM_Combine: the weighted inverse.
//                    GB/s = (bytes read + bytes written) / time, and the ratio to cudaMemcpy
//                    device-to-device moving the same traffic; target >= 0.75.
//   BM_Router        logits GEMM + sigmoid group-limited top-8 (256 experts, 8 groups, 4 kept).
// Every row carries `wrong`: tokens failing the correctness check of the same run. A CUDA or
// cuBLAS error in one benchmark marks that row as an error (SkipWithError), the others still run.
// --benchmark_list_tests works without a GPU. A --benchmark_filter that matches nothing is an
// error (exit 1). Without a usable CUDA device it lists what the filter selects, prints
// "no CUDA device: skipped" and exits 0, or 1 under EPBENCH_REQUIRE_GPU=1.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "cuda/cuda_device.hpp"
#include "cuda/cuda_ffn.hpp"
#include "cuda/cuda_kernels.hpp"
#include "expert_ffn.hpp"
#include "reference.hpp"

namespace {

namespace kc = epbench::kernels::cuda;
namespace kn = epbench::kernels;
using kn::bf16_t;

constexpr kn::FfnShape kDeepSeekV3Expert{7168, 2048};
constexpr int kLocalExperts = 8;
constexpr int kTopK = 8;
constexpr int kNumExperts = 256;

// Host weights of expert `slot` (layer 0, seed 7), generated once per process: every FFN row
// installs and checks the same 8 experts.
const std::vector<bf16_t>& expert_weights(int slot) {
  static std::vector<std::vector<bf16_t>> cache(kLocalExperts);
  if (cache[slot].empty()) {
    cache[slot].resize(kDeepSeekV3Expert.weight_elems());
    kn::make_expert_weights(7, 0, slot, kDeepSeekV3Expert, cache[slot].data());
  }
  return cache[slot];
}

// Google Benchmark does not catch exceptions (one would abort the process and leave its JSON
// unparsable): every benchmark body runs through this, which turns a throw into a row error.
template <class Body>
void guarded(benchmark::State& state, Body&& body) {
  try {
    body();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// Rows per expert: equal, or zipf(1) over the experts with the same total (largest remainders).
std::vector<int64_t> slot_offsets_for(int tokens_per_expert, bool skewed) {
  std::vector<int64_t> counts(kLocalExperts, tokens_per_expert);
  if (skewed) {
    const int64_t total = int64_t{kLocalExperts} * tokens_per_expert;
    double harmonic = 0;
    for (int s = 0; s < kLocalExperts; ++s) harmonic += 1.0 / (s + 1);
    int64_t assigned = 0;
    for (int s = 0; s < kLocalExperts; ++s) {
      counts[s] = std::max<int64_t>(1, std::llround(total / harmonic / (s + 1)));
      assigned += counts[s];
    }
    counts[0] += total - assigned;  // the hottest expert absorbs the rounding
  }
  std::vector<int64_t> offsets(kLocalExperts + 1, 0);
  for (int s = 0; s < kLocalExperts; ++s) offsets[s + 1] = offsets[s] + counts[s];
  return offsets;
}

// Times `work` once per benchmark iteration with CUDA events after an L2 flush.
template <class Work>
void run_timed(benchmark::State& state, void* stream, kc::L2Flusher& flusher, Work&& work) {
  kc::EventTimer timer;
  work();  // warm-up (first launch, cuBLAS heuristics), not reported
  for (auto _ : state) {
    flusher.flush(stream);
    timer.start(stream);
    work();
    timer.stop(stream);
    state.SetIterationTime(timer.elapsed_ms() * 1e-3);
  }
}

// Median over a few event-timed runs, for the in-row reference numbers.
template <class Work>
double median_ms(void* stream, kc::L2Flusher& flusher, Work&& work, int samples = 7) {
  kc::EventTimer timer;
  work();
  std::vector<double> ms;
  for (int i = 0; i < samples; ++i) {
    flusher.flush(stream);
    timer.start(stream);
    work();
    timer.stop(stream);
    ms.push_back(timer.elapsed_ms());
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

void grouped_ffn(benchmark::State& state) {
  const int tokens_per_expert = static_cast<int>(state.range(0));
  const auto mode = state.range(1) == 0 ? kc::GemmMode::kGrouped : kc::GemmMode::kPerSlot;
  const bool skewed = state.range(2) != 0;
  const kn::FfnShape shape = kDeepSeekV3Expert;
  const std::vector<int64_t> offsets = slot_offsets_for(tokens_per_expert, skewed);
  const int64_t rows = offsets.back();
  const int device = kc::current_device();
  kc::CudaStream stream;
  kc::L2Flusher flusher(device);
  kc::CublasHandle cublas;

  kc::CudaGroupedFfn ffn(shape, 1, kLocalExperts, device, mode);
  for (int slot = 0; slot < kLocalExperts; ++slot)
    ffn.set_slot_weights(0, slot, expert_weights(slot).data());
  ffn.reserve_rows(rows);
  kc::DeviceBuffer x(sizeof(bf16_t) * rows * shape.hidden), y(sizeof(bf16_t) * rows * shape.hidden);
  kc::fill_random_bf16(x.as<bf16_t>(), rows * shape.hidden, 3, 1.0f, stream.get());

  run_timed(state, stream.get(), flusher,
            [&] { ffn.forward_device(0, x.data(), offsets.data(), y.data(), stream.get()); });

  // Dense reference of equal FLOPs: [rows x H] · [H x 3F].
  kc::DeviceBuffer a(sizeof(bf16_t) * rows * shape.hidden),
      b(sizeof(bf16_t) * int64_t{3} * shape.ffn * shape.hidden),
      c(sizeof(bf16_t) * rows * 3 * shape.ffn);
  kc::fill_random_bf16(a.as<bf16_t>(), rows * shape.hidden, 4, 1.0f, stream.get());
  kc::fill_random_bf16(b.as<bf16_t>(), int64_t{3} * shape.ffn * shape.hidden, 5, 0.01f, stream.get());
  const double dense_ms = median_ms(stream.get(), flusher, [&] {
    kc::gemm_bf16_nt(a.as<bf16_t>(), b.as<bf16_t>(), c.as<bf16_t>(), static_cast<int>(rows),
                     3 * shape.ffn, shape.hidden, cublas.get(), stream.get());
  });
  const double ffn_ms = median_ms(stream.get(), flusher, [&] {
    ffn.forward_device(0, x.data(), offsets.data(), y.data(), stream.get());
  });
  stream.synchronize();
  std::vector<double> slot_gemm_s;
  for (int i = 0; i < 7; ++i) slot_gemm_s.push_back(ffn.reference_gemm_seconds(offsets));
  std::nth_element(slot_gemm_s.begin(), slot_gemm_s.begin() + 3, slot_gemm_s.end());

  // Correctness: two tokens per expert against the double-precision reference.
  stream.synchronize();
  std::vector<bf16_t> x_host(rows * shape.hidden), y_host(rows * shape.hidden);
  x.download(x_host.data(), x_host.size() * sizeof(bf16_t));
  y.download(y_host.data(), y_host.size() * sizeof(bf16_t));
  int64_t wrong = 0;
  std::vector<float> xf(shape.hidden), yref(shape.hidden);
  for (int slot = 0; slot < kLocalExperts; ++slot) {
    const std::vector<bf16_t>& w = expert_weights(slot);
    for (int64_t row : {offsets[slot], offsets[slot + 1] - 1}) {
      for (int h = 0; h < shape.hidden; ++h) xf[h] = kn::bf16_to_float(x_host[row * shape.hidden + h]);
      kn::swiglu_reference(w.data(), shape, xf.data(), 1, yref.data());
      wrong += kn::count_wrong_tokens(&y_host[row * shape.hidden], yref.data(), 1, shape.hidden);
    }
  }

  const double flops = static_cast<double>(rows) * shape.flops_per_token();
  state.counters["TFLOP/s"] = benchmark::Counter(flops * 1e-12, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["dense_TFLOP/s"] = flops * 1e-12 / (dense_ms * 1e-3);
  state.counters["vs_dense"] = dense_ms / ffn_ms;
  state.counters["vs_slot_gemm"] = slot_gemm_s[3] * 1e3 / ffn_ms;
  state.counters["hottest_rows"] = static_cast<double>(offsets[1] - offsets[0]);
  state.counters["wrong"] = static_cast<double>(wrong);
  state.SetLabel(kc::gemm_mode_name(ffn.gemm_mode()));
}

void BM_GroupedFfn(benchmark::State& state) { guarded(state, [&] { grouped_ffn(state); }); }

// Routing of `tokens` tokens to kTopK distinct experts out of kNumExperts, rows by expert.
struct PermuteSetup {
  int tokens;
  int hidden;
  kc::DeviceBuffer x, rows, weights, permuted, out;
  std::vector<bf16_t> x_host;
  std::vector<int32_t> rows_host;
  std::vector<float> weights_host;

  PermuteSetup(int num_tokens, int hidden_size, void* stream)
      : tokens(num_tokens), hidden(hidden_size) {
    const int64_t n = int64_t{tokens} * kTopK;
    std::mt19937 rng(17);
    std::vector<int32_t> ids(n);
    weights_host.resize(n);
    std::vector<int> experts(kNumExperts);
    for (int t = 0; t < tokens; ++t) {
      std::iota(experts.begin(), experts.end(), 0);
      std::shuffle(experts.begin(), experts.end(), rng);
      for (int j = 0; j < kTopK; ++j) {
        ids[int64_t{t} * kTopK + j] = experts[j];
        weights_host[int64_t{t} * kTopK + j] = 1.0f / kTopK;
      }
    }
    kc::DeviceBuffer ids_dev(sizeof(int32_t) * n), counts(sizeof(int32_t) * kNumExperts),
        offsets(sizeof(int64_t) * (kNumExperts + 1));
    ids_dev.upload(ids.data(), sizeof(int32_t) * n);
    rows = kc::DeviceBuffer(sizeof(int32_t) * n);
    kc::histogram(ids_dev.as<int32_t>(), n, kNumExperts, counts.as<int32_t>(), stream);
    kc::exclusive_scan(counts.as<int32_t>(), kNumExperts, offsets.as<int64_t>(), stream);
    kc::assign_rows(ids_dev.as<int32_t>(), n, kNumExperts, offsets.as<int64_t>(),
                    rows.as<int32_t>(), stream);
    weights = kc::DeviceBuffer(sizeof(float) * n);
    weights.upload(weights_host.data(), sizeof(float) * n);
    x = kc::DeviceBuffer(sizeof(bf16_t) * tokens * hidden);
    kc::fill_random_bf16(x.as<bf16_t>(), int64_t{tokens} * hidden, 9, 1.0f, stream);
    permuted = kc::DeviceBuffer(sizeof(bf16_t) * n * hidden);
    out = kc::DeviceBuffer(sizeof(bf16_t) * tokens * hidden);
    kc::device_synchronize();
    rows_host.resize(n);
    rows.download(rows_host.data(), sizeof(int32_t) * n);
    x_host.resize(int64_t{tokens} * hidden);
    x.download(x_host.data(), sizeof(bf16_t) * x_host.size());
  }
  int64_t row_bytes() const { return int64_t{hidden} * sizeof(bf16_t); }
  // Traffic of both kernels: tokens rows one way, tokens*k rows the other.
  double traffic_bytes() const { return double(row_bytes()) * tokens * (1 + kTopK); }
};

// cudaMemcpy device-to-device with the same traffic (it reads and writes `bytes` each).
double memcpy_ms(double traffic_bytes, void* stream, kc::L2Flusher& flusher) {
  const size_t bytes = static_cast<size_t>(traffic_bytes / 2);
  kc::DeviceBuffer src(bytes), dst(bytes);
  return median_ms(stream, flusher, [&] { kc::copy_async(dst.data(), src.data(), bytes, stream); });
}

void permute(benchmark::State& state) {
  kc::CudaStream stream;
  kc::L2Flusher flusher(kc::current_device());
  PermuteSetup setup(static_cast<int>(state.range(0)), kDeepSeekV3Expert.hidden, stream.get());
  auto work = [&] {
    kc::permute_tokens(setup.x.as<bf16_t>(), setup.tokens, setup.hidden, kTopK,
                       setup.rows.as<int32_t>(), setup.permuted.as<bf16_t>(), stream.get());
  };
  run_timed(state, stream.get(), flusher, work);
  const double kernel_ms = median_ms(stream.get(), flusher, work);
  const double copy_ms = memcpy_ms(setup.traffic_bytes(), stream.get(), flusher);

  stream.synchronize();
  std::vector<bf16_t> permuted(setup.rows_host.size() * setup.hidden);
  setup.permuted.download(permuted.data(), permuted.size() * sizeof(bf16_t));
  int64_t wrong = 0;
  for (size_t i = 0; i < setup.rows_host.size(); ++i)
    wrong += std::memcmp(&permuted[size_t(setup.rows_host[i]) * setup.hidden],
                         &setup.x_host[(i / kTopK) * setup.hidden], setup.row_bytes()) != 0;

  state.counters["GB/s"] = benchmark::Counter(setup.traffic_bytes() * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
  state.counters["vs_memcpy"] = copy_ms / kernel_ms;
  state.counters["wrong"] = static_cast<double>(wrong);
}

void BM_Permute(benchmark::State& state) { guarded(state, [&] { permute(state); }); }

void combine(benchmark::State& state) {
  kc::CudaStream stream;
  kc::L2Flusher flusher(kc::current_device());
  PermuteSetup setup(static_cast<int>(state.range(0)), kDeepSeekV3Expert.hidden, stream.get());
  kc::permute_tokens(setup.x.as<bf16_t>(), setup.tokens, setup.hidden, kTopK,
                     setup.rows.as<int32_t>(), setup.permuted.as<bf16_t>(), stream.get());
  auto work = [&] {
    kc::unpermute_combine(setup.permuted.as<bf16_t>(), setup.tokens, setup.hidden, kTopK,
                          setup.rows.as<int32_t>(), setup.weights.as<float>(),
                          setup.out.as<bf16_t>(), stream.get());
  };
  run_timed(state, stream.get(), flusher, work);
  const double kernel_ms = median_ms(stream.get(), flusher, work);
  const double copy_ms = memcpy_ms(setup.traffic_bytes(), stream.get(), flusher);

  // Weights sum to 1 and every expert "output" is the token itself: out must equal x.
  stream.synchronize();
  std::vector<bf16_t> out(setup.x_host.size());
  setup.out.download(out.data(), out.size() * sizeof(bf16_t));
  int64_t wrong = 0;
  for (int t = 0; t < setup.tokens; ++t)
    for (int h = 0; h < setup.hidden; ++h) {
      const float got = kn::bf16_to_float(out[size_t(t) * setup.hidden + h]);
      const float want = kn::bf16_to_float(setup.x_host[size_t(t) * setup.hidden + h]);
      if (std::abs(got - want) > std::abs(want) * 0.0079f + 1e-6f) {
        ++wrong;
        break;
      }
    }

  state.counters["GB/s"] = benchmark::Counter(setup.traffic_bytes() * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
  state.counters["vs_memcpy"] = copy_ms / kernel_ms;
  state.counters["wrong"] = static_cast<double>(wrong);
}

void BM_Combine(benchmark::State& state) { guarded(state, [&] { combine(state); }); }

void router(benchmark::State& state) {
  kc::RouterShape shape;
  shape.num_tokens = static_cast<int>(state.range(0));
  shape.hidden = kDeepSeekV3Expert.hidden;
  shape.num_experts = kNumExperts;
  shape.top_k = kTopK;
  shape.n_group = 8;
  shape.topk_group = 4;
  shape.score = kc::RouterScore::kSigmoid;
  kc::CudaStream stream;
  kc::L2Flusher flusher(kc::current_device());
  kc::CublasHandle cublas;
  const int64_t t = shape.num_tokens;
  kc::DeviceBuffer x(sizeof(bf16_t) * t * shape.hidden),
      wr(sizeof(bf16_t) * int64_t{shape.hidden} * shape.num_experts),
      logits(sizeof(float) * t * shape.num_experts), ids(sizeof(int32_t) * t * shape.top_k),
      weights(sizeof(float) * t * shape.top_k);
  kc::fill_random_bf16(x.as<bf16_t>(), t * shape.hidden, 1, 1.0f, stream.get());
  kc::fill_random_bf16(wr.as<bf16_t>(), int64_t{shape.hidden} * shape.num_experts, 2, 0.02f,
                       stream.get());
  run_timed(state, stream.get(), flusher, [&] {
    kc::router_forward(shape, x.as<bf16_t>(), wr.as<bf16_t>(), nullptr, logits.as<float>(),
                       ids.as<int32_t>(), weights.as<float>(), cublas.get(), stream.get());
  });
  // Sanity: ids in range and distinct per token, weights sum to 1.
  stream.synchronize();
  std::vector<int32_t> ids_host(t * shape.top_k);
  std::vector<float> w_host(ids_host.size());
  ids.download(ids_host.data(), ids_host.size() * sizeof(int32_t));
  weights.download(w_host.data(), w_host.size() * sizeof(float));
  int64_t wrong = 0;
  for (int64_t i = 0; i < t; ++i) {
    std::vector<int32_t> row(ids_host.begin() + i * shape.top_k, ids_host.begin() + (i + 1) * shape.top_k);
    std::sort(row.begin(), row.end());
    float sum = 0;
    for (int j = 0; j < shape.top_k; ++j) sum += w_host[i * shape.top_k + j];
    const bool ok = row.front() >= 0 && row.back() < shape.num_experts &&
                    std::adjacent_find(row.begin(), row.end()) == row.end() &&
                    std::abs(sum - 1.0f) < 1e-4f;
    wrong += !ok;
  }
  state.counters["tokens/s"] = benchmark::Counter(double(t), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["wrong"] = static_cast<double>(wrong);
}

void BM_Router(benchmark::State& state) { guarded(state, [&] { router(state); }); }

BENCHMARK(BM_GroupedFfn)
    ->ArgNames({"tokens_per_expert", "per_slot", "skew"})
    ->ArgsProduct({{128, 512, 2048}, {0, 1}, {0, 1}})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Permute)->ArgName("tokens")->Arg(512)->Arg(2048)->Arg(4096)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Combine)->ArgName("tokens")->Arg(512)->Arg(2048)->Arg(4096)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Router)->ArgName("tokens")->Arg(4096)->Arg(16384)->UseManualTime()->Unit(benchmark::kMicrosecond);

bool gpu_required() {
  const char* value = std::getenv("EPBENCH_REQUIRE_GPU");
  return value != nullptr && *value != '\0' && std::string(value) != "0";
}

bool list_only(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--benchmark_list_tests" || arg == "--benchmark_list_tests=true" ||
        arg == "--benchmark_list_tests=1")
      return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const bool have_gpu = kc::cuda_device_available();
  const bool listing = list_only(argc, argv);
  // Without a GPU, list what the filter selects instead of running it: the names still show,
  // and a filter matching nothing still fails.
  std::vector<char*> args(argv, argv + argc);
  std::string list_flag = "--benchmark_list_tests=true";
  if (!have_gpu && !listing) args.push_back(list_flag.data());
  int count = static_cast<int>(args.size());
  args.push_back(nullptr);
  if (have_gpu && !listing) {
    const int device = kc::select_device_for_local_rank();
    benchmark::AddCustomContext("device", kc::device_description(device));
    benchmark::AddCustomContext("cuda", kc::cuda_versions());
  }
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;
  const size_t matched = benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (matched == 0) {
    std::fprintf(stderr, "bench_gpu: --benchmark_filter=\"%s\" matches no benchmark\n",
                 benchmark::GetBenchmarkFilter().c_str());
    return 1;
  }
  if (!have_gpu && !listing) {
    std::printf("no CUDA device: skipped\n");
    std::fprintf(stderr, "bench_gpu: %s\n", kc::cuda_unavailable_reason().c_str());
    return gpu_required() ? 1 : 0;
  }
  return 0;
}
