#include "cpu/machine_peak.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <vector>

#include "common/check.h"
#include "common/cpu_features.h"

namespace dlk::cpu {

namespace {
// seconds = inf (or NaN, or a negative time) would make the timing loops below never end or
// never start; threads beyond a few thousand would ask OpenMP for that many threads.
void check_args(const char* what, int threads, double seconds) {
  DLK_CHECK(threads >= 1 && threads <= 4096, what, ": expected 1 <= threads <= 4096, got ",
            threads);
  DLK_CHECK(std::isfinite(seconds) && seconds >= 0.0 && seconds <= 3600.0, what,
            ": expected a finite number of seconds in [0, 3600], got ", seconds);
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

double fma_peak_gflops(int threads, double seconds) {
  check_args("fma_peak_gflops", threads, seconds);
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
  check_args("triad_bandwidth_gbps", threads, seconds);
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
