// The FMA-loop ceiling on avx512: independent FMA chains on registers only.
#include <immintrin.h>

#include "cpu/machine_peak.h"

namespace dlk::cpu {

double fma_peak_chain_avx512(long iterations) {
  // 16 lanes x 2 flops x 12 chains per iteration; 12 chains hide the 4-cycle FMA latency on two
  // ports. volatile seeds keep the compiler from folding the loop away.
  volatile float seed = 1.0f, mul = 0.999999f;
  const __m512 m = _mm512_set1_ps(mul);
  // Distinct starting values: identical chains would be merged into one by the compiler.
  __m512 a0 = _mm512_set1_ps(seed + 0.0f), a1 = _mm512_set1_ps(seed + 1.0f), a2 = _mm512_set1_ps(seed + 2.0f), a3 = _mm512_set1_ps(seed + 3.0f), a4 = _mm512_set1_ps(seed + 4.0f), a5 = _mm512_set1_ps(seed + 5.0f), a6 = _mm512_set1_ps(seed + 6.0f), a7 = _mm512_set1_ps(seed + 7.0f), a8 = _mm512_set1_ps(seed + 8.0f), a9 = _mm512_set1_ps(seed + 9.0f), a10 = _mm512_set1_ps(seed + 10.0f), a11 = _mm512_set1_ps(seed + 11.0f);
  for (long i = 0; i < iterations; ++i) {
    a0 = _mm512_fmadd_ps(a0, m, m); a1 = _mm512_fmadd_ps(a1, m, m); a2 = _mm512_fmadd_ps(a2, m, m); a3 = _mm512_fmadd_ps(a3, m, m);
    a4 = _mm512_fmadd_ps(a4, m, m); a5 = _mm512_fmadd_ps(a5, m, m); a6 = _mm512_fmadd_ps(a6, m, m); a7 = _mm512_fmadd_ps(a7, m, m);
    a8 = _mm512_fmadd_ps(a8, m, m); a9 = _mm512_fmadd_ps(a9, m, m); a10 = _mm512_fmadd_ps(a10, m, m); a11 = _mm512_fmadd_ps(a11, m, m);
  }
  const __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)), _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)),
                 _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11))));
  volatile float sink = _mm512_reduce_add_ps(s);
  (void)sink;
  return 12.0 * 16 * 2.0 * static_cast<double>(iterations);
}

}  // namespace dlk::cpu
