// C++ microbenchmark of the CPU GEMM on Google Benchmark: every rung at square sizes and the
// MLP training shapes, reporting GFLOP/s. Build with -DDLK_BUILD_BENCH=ON; run build/.../dlk_bench
// (OMP_NUM_THREADS sets the thread count; --benchmark_filter picks cases). The GFLOP counter is
// a rate: "GFLOP=120/s" reads 120 GFLOP/s.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "common/cpu_features.h"
#include "cpu/gemm.h"

namespace {

using dlk::cpu::GemmRung;

void BM_sgemm(benchmark::State& state, GemmRung rung) {
  const int64_t M = state.range(0), K = state.range(1), N = state.range(2);
  if ((rung == GemmRung::Avx512 && !dlk::cpu_has_avx512()) ||
      (rung == GemmRung::Avx2 && !dlk::cpu_has_avx2_fma())) {
    state.SkipWithError("this CPU lacks the instruction set");
    return;
  }
  std::mt19937 gen(0);
  std::normal_distribution<float> dist;
  std::vector<float> a(M * K), b(K * N), c(M * N);
  for (auto& x : a) x = dist(gen);
  for (auto& x : b) x = dist(gen);
  dlk::cpu::set_gemm_rung(rung);
  for (auto _ : state) {
    dlk::cpu::gemm<float>(false, false, M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f, c.data(), N);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  dlk::cpu::set_gemm_rung(GemmRung::Auto);
  state.counters["GFLOP"] =
      benchmark::Counter(2.0 * M * N * K * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

void square_and_training(benchmark::internal::Benchmark* b) {
  for (int n : {256, 512, 1024, 2048}) b->Args({n, n, n});
  b->Args({128, 784, 1024})->Args({128, 1024, 10})->Args({1024, 128, 784});
  b->ArgNames({"M", "K", "N"})->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

BENCHMARK_CAPTURE(BM_sgemm, avx512, GemmRung::Avx512)->Apply(square_and_training);
BENCHMARK_CAPTURE(BM_sgemm, avx2, GemmRung::Avx2)->Apply(square_and_training);
BENCHMARK_CAPTURE(BM_sgemm, portable, GemmRung::Portable)->Apply(square_and_training);
BENCHMARK_CAPTURE(BM_sgemm, reference, GemmRung::Reference)
    ->Args({256, 256, 256})
    ->ArgNames({"M", "K", "N"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
