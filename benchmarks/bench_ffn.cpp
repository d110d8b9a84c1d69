// Grouped expert FFN throughput (each backend built in) against plain OpenBLAS cblas_sgemm doing
// the same FLOPs in fp32 in the same run: three GEMMs of the FFN's shapes per slot, no
// conversions, no activation. ratio_vs_sgemm = FFN GFLOP/s / sgemm GFLOP/s, from the medians of
// per-iteration times of the two workloads run alternately in the same loop, says how much the backend loses to its own glue (bf16 conversions, SwiGLU,
// Kokkos dispatch). Every FFN result carries `wrong`: tokens off the double reference.
// Run with OPENBLAS_NUM_THREADS=1 (one BLAS thread per rank, as in the suite).
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "backend.hpp"

namespace ek = epbench::kernels;

namespace {

constexpr ek::FfnShape kShape{1024, 512};  // H, F
constexpr int kSlots = 8;
constexpr int kTokensPerSlot = 128;
constexpr int kCheckTokensPerSlot = 4;  // reference check on the first tokens of each slot
constexpr uint64_t kSeed = 7;

double total_flops() { return kShape.flops_per_token() * kSlots * kTokensPerSlot; }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

template <class F>
double time_s(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<float> random_floats(size_t n, float scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// The FLOP-equivalent fp32 workload: per slot G1 = X·W1ᵀ, G3 = X·W3ᵀ ([n][F]), Y = G1·W2ᵀ ([n][H]).
class SgemmWorkload {
 public:
  SgemmWorkload() {
    const size_t H = kShape.hidden, F = kShape.ffn, n = kTokensPerSlot;
    for (int s = 0; s < kSlots; ++s) {
      x_.push_back(random_floats(n * H, 1.0f, 10 + s));
      w1_.push_back(random_floats(F * H, 0.03f, 100 + s));
      w3_.push_back(random_floats(F * H, 0.03f, 200 + s));
      w2_.push_back(random_floats(H * F, 0.04f, 300 + s));
    }
    g1_.resize(n * F);
    g3_.resize(n * F);
    y_.resize(n * H);
  }
  void run() {
    const int H = kShape.hidden, F = kShape.ffn, n = kTokensPerSlot;
    for (int s = 0; s < kSlots; ++s) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, F, H, 1.0f, x_[s].data(), H,
                  w1_[s].data(), H, 0.0f, g1_.data(), F);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, F, H, 1.0f, x_[s].data(), H,
                  w3_[s].data(), H, 0.0f, g3_.data(), F);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, H, F, 1.0f, g1_.data(), F,
                  w2_[s].data(), F, 0.0f, y_.data(), H);
    }
    benchmark::DoNotOptimize(y_.data());
  }

 private:
  std::vector<std::vector<float>> x_, w1_, w3_, w2_;
  std::vector<float> g1_, g3_, y_;
};

// Filled by the benchmarks (last run of each wins), printed in the final summary.
struct FfnResult {
  double gflops = 0.0;
  double sgemm_gflops = 0.0;  // interleaved with the FFN's iterations
  int64_t wrong = 0;
};
double g_sgemm_gflops = 0.0;  // standalone
std::map<std::string, FfnResult> g_results;

void BM_sgemm_equal_flops(benchmark::State& state) {
  SgemmWorkload work;
  work.run();  // warm-up: page in buffers
  std::vector<double> samples;
  for (auto _ : state) samples.push_back(time_s([&] { work.run(); }));
  g_sgemm_gflops = total_flops() / median(samples) * 1e-9;
  state.counters["GFLOP/s"] = g_sgemm_gflops;
  state.counters["median_ms"] = median(samples) * 1e3;
}

void BM_grouped_ffn(benchmark::State& state, const std::string& backend) {
  const int H = kShape.hidden;
  auto ffn = ek::make_grouped_ffn(backend, kShape, /*num_layers=*/1, kSlots);
  std::vector<std::vector<ek::bf16_t>> weights(kSlots,
                                               std::vector<ek::bf16_t>(kShape.weight_elems()));
  for (int s = 0; s < kSlots; ++s) {
    ek::make_expert_weights(kSeed, 0, /*expert=*/s, kShape, weights[s].data());
    ffn->set_slot_weights(0, s, weights[s].data());
  }
  const int64_t total = int64_t{kSlots} * kTokensPerSlot;
  std::vector<int64_t> offsets(kSlots + 1);
  for (int s = 0; s <= kSlots; ++s) offsets[s] = int64_t{s} * kTokensPerSlot;
  const auto xf = random_floats(total * H, 1.0f, 42);
  std::vector<ek::bf16_t> x(xf.size()), y(xf.size());
  for (size_t i = 0; i < xf.size(); ++i) x[i] = ek::float_to_bf16(xf[i]);

  // Check in the same run (also the warm-up).
  ffn->forward(0, x.data(), offsets, y.data());
  int64_t wrong = 0;
  for (int s = 0; s < kSlots; ++s) {
    std::vector<float> xs(size_t{kCheckTokensPerSlot} * H), ref(xs.size());
    for (size_t i = 0; i < xs.size(); ++i) xs[i] = ek::bf16_to_float(x[offsets[s] * H + i]);
    ek::swiglu_reference(weights[s].data(), kShape, xs.data(), kCheckTokensPerSlot, ref.data());
    wrong += ek::count_wrong_tokens(y.data() + offsets[s] * H, ref.data(), kCheckTokensPerSlot, H);
  }

  // Interleaved with the sgemm workload so that both see the same machine load; only the
  // forward time counts as the iteration time.
  SgemmWorkload sgemm;
  sgemm.run();
  std::vector<double> ffn_s, sgemm_s;
  for (auto _ : state) {
    ffn_s.push_back(time_s([&] { ffn->forward(0, x.data(), offsets, y.data()); }));
    sgemm_s.push_back(time_s([&] { sgemm.run(); }));
    state.SetIterationTime(ffn_s.back());
  }

  const double gflops = total_flops() / median(ffn_s) * 1e-9;
  const double sgemm_gflops = total_flops() / median(sgemm_s) * 1e-9;
  g_results[ffn->backend()] = {gflops, sgemm_gflops, wrong};
  state.SetLabel(ffn->backend());
  state.counters["GFLOP/s"] = gflops;
  state.counters["median_ms"] = median(ffn_s) * 1e3;
  state.counters["sgemm_GFLOP/s"] = sgemm_gflops;
  state.counters["ratio_vs_sgemm"] = gflops / sgemm_gflops;
  state.counters["wrong"] = static_cast<double>(wrong);
  state.counters["tokens"] = static_cast<double>(total);
}

}  // namespace

int main(int argc, char** argv) {
  ek::RuntimeScope runtime(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RegisterBenchmark("BM_sgemm_equal_flops", BM_sgemm_equal_flops)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  for (const auto& backend : ek::available_backends())
    if (const std::string why = ek::backend_unusable_reason(backend); !why.empty())
      std::printf("skipping %s\n", why.c_str());
    else
      benchmark::RegisterBenchmark(("BM_grouped_ffn/" + backend).c_str(), BM_grouped_ffn, backend)
        ->Unit(benchmark::kMillisecond)
        ->UseManualTime();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();

  std::printf("\nshape H=%d F=%d, %d slots x %d tokens, %.2f GFLOP per forward\n", kShape.hidden,
              kShape.ffn, kSlots, kTokensPerSlot, total_flops() * 1e-9);
  if (g_sgemm_gflops > 0)
    std::printf("openblas sgemm alone: %.2f GFLOP/s\n", g_sgemm_gflops);
  std::printf("%-16s %10s %16s %15s %7s\n", "backend", "GFLOP/s", "sgemm GFLOP/s", "ratio_vs_sgemm",
              "#wrong");
  int64_t wrong = 0;
  for (const auto& [name, r] : g_results) {
    std::printf("%-16s %10.2f %16.2f %15.2f %7lld\n", name.c_str(), r.gflops, r.sgemm_gflops,
                r.gflops / r.sgemm_gflops, static_cast<long long>(r.wrong));
    wrong += r.wrong;
  }
  std::fflush(stdout);
  return wrong == 0 ? 0 : 2;  // a wrong result fails the smoke test
}
