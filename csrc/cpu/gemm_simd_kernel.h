// One micro-kernel template for every SIMD width: V is a small traits type (gemm_avx2.cpp,
// gemm_avx512.cpp) with the vector type, its lane count and load/store/fma. Included only from
// files compiled with the matching instruction set.
//
// The MR x (NV * lanes) tile of C is held in MR * NV vector registers. Each step over k loads
// NV vectors of packed B, broadcasts MR scalars of packed A and issues MR * NV independent FMAs:
// enough independent chains to keep both FMA ports busy through their 4-cycle latency.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace dlk::cpu {

template <typename V, int MR, int NV>
void simd_ukernel(int64_t kc, const typename V::T* a, const typename V::T* b, typename V::T* c,
                  int64_t ldc, typename V::T alpha, typename V::T beta) {
  using T = typename V::T;
  constexpr int L = V::lanes;
  typename V::vec acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = V::zero();

  // Bring the C tile towards L1 while the k loop runs, so the final update does not stall.
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);

  for (int64_t k = 0; k < kc; ++k) {
    typename V::vec bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = V::load(b + v * L);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const typename V::vec ai = V::set1(a[i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = V::fma(ai, bv[v], acc[i][v]);
    }
    a += MR;
    b += NV * L;
  }

  const typename V::vec va = V::set1(alpha);
  if (beta == T(0)) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) V::storeu(c + i * ldc + v * L, V::mul(va, acc[i][v]));
  } else {
    const typename V::vec vb = V::set1(beta);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        T* ci = c + i * ldc + v * L;
        V::storeu(ci, V::fma(va, acc[i][v], V::mul(vb, V::loadu(ci))));
      }
  }
}

}  // namespace dlk::cpu
