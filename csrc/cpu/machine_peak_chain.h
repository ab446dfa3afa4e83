// The FMA-loop ceiling for one SIMD width V (simd_traits.h): independent FMA chains on
// registers only. Included by machine_peak_avx2.cpp and machine_peak_avx512.cpp.
#pragma once

#include "cpu/simd_traits.h"

namespace dlk::cpu {

// Returns the flops done: lanes x 2 x 12 chains per iteration. 12 chains hide the 4-cycle FMA
// latency on two ports; volatile seeds keep the compiler from folding the loop away, and distinct
// starting values keep it from merging identical chains into one.
template <typename V>
double fma_chains(long iterations) {
  using vec = typename V::vec;
  volatile float seed = 1.0f, mul = 0.999999f;
  const vec m = V::set1(mul);
  vec a0 = V::set1(seed + 0.0f), a1 = V::set1(seed + 1.0f), a2 = V::set1(seed + 2.0f),
      a3 = V::set1(seed + 3.0f), a4 = V::set1(seed + 4.0f), a5 = V::set1(seed + 5.0f),
      a6 = V::set1(seed + 6.0f), a7 = V::set1(seed + 7.0f), a8 = V::set1(seed + 8.0f),
      a9 = V::set1(seed + 9.0f), a10 = V::set1(seed + 10.0f), a11 = V::set1(seed + 11.0f);
  for (long i = 0; i < iterations; ++i) {
    a0 = V::fma(a0, m, m), a1 = V::fma(a1, m, m), a2 = V::fma(a2, m, m), a3 = V::fma(a3, m, m);
    a4 = V::fma(a4, m, m), a5 = V::fma(a5, m, m), a6 = V::fma(a6, m, m), a7 = V::fma(a7, m, m);
    a8 = V::fma(a8, m, m), a9 = V::fma(a9, m, m), a10 = V::fma(a10, m, m), a11 = V::fma(a11, m, m);
  }
  const vec s =
      V::add(V::add(V::add(V::add(a0, a1), V::add(a2, a3)), V::add(V::add(a4, a5), V::add(a6, a7))),
             V::add(V::add(a8, a9), V::add(a10, a11)));
  volatile float sink = V::first(s);
  (void)sink;
  return 12.0 * V::lanes * 2.0 * static_cast<double>(iterations);
}

}  // namespace dlk::cpu
