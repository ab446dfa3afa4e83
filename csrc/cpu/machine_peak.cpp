#include "cpu/machine_peak.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

#include "common/check.h"
#include "common/cpu_features.h"

namespace dlk::cpu {

namespace {
double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

double fma_peak_gflops(int threads, double seconds) {
  DLK_CHECK(threads >= 1, "fma_peak_gflops: expected threads >= 1, got ", threads);
#if defined(DLK_X86)
  const Isa isa = best_isa();
  if (isa == Isa::Portable) return 0.0;
  auto chain = isa == Isa::Avx512 ? fma_peak_chain_avx512 : fma_peak_chain_avx2;
  chain(1000000);  // warm up: wake the vector units to full frequency
  // Time batches until `seconds` pass; report the best batch rate (the least disturbed one).
  const long batch = 20000000;
  double best = 0.0;
  const double t_end = now() + seconds;
  while (now() < t_end) {
    double flops = 0.0;
    const double t0 = now();
#pragma omp parallel num_threads(threads) reduction(+ : flops)
    flops += chain(batch / threads);
    best = std::max(best, flops / (now() - t0) / 1e9);
  }
  return best;
#else
  return 0.0;
#endif
}

double triad_bandwidth_gbps(int threads, double seconds) {
  DLK_CHECK(threads >= 1, "triad_bandwidth_gbps: expected threads >= 1, got ", threads);
  const long n = 1L << 25;  // 3 x 128 MiB of floats: far beyond any cache
  std::unique_ptr<float[]> a(new float[n]), b(new float[n]), c(new float[n]);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (long i = 0; i < n; ++i) a[i] = 0.f, b[i] = 1.f, c[i] = 2.f;  // first touch, per thread
  double best = 0.0;
  const double t_end = now() + seconds;
  do {
    const double t0 = now();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (long i = 0; i < n; ++i) a[i] = b[i] + 0.5f * c[i];
    best = std::max(best, 3.0 * n * sizeof(float) / (now() - t0) / 1e9);
  } while (now() < t_end);
  return best;
}

}  // namespace dlk::cpu
