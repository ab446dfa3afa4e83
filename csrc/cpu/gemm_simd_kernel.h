// One micro-kernel for every SIMD width: V is a small traits type (gemm_avx2.cpp,
// gemm_avx512.cpp) with the vector type, its lane count and load/store/fma. Included only from
// files compiled with the matching instruction set.
//
// The 12 x (2 * lanes) tile of C is held in 24 vector registers. Each step over k loads two
// vectors of packed B, broadcasts 12 scalars of packed A (folded into the FMA as a memory
// operand) and issues 24 independent FMAs: enough independent chains to keep both FMA ports
// busy through their 4-cycle latency, with 14 loads per 24 FMAs, under the two load ports.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace dlk::cpu {

// MR rows, two vectors of B per row. The accumulators are named variables, not an
// array: with an array GCC spilled accumulators or B vectors to the stack, and a reload per FMA
// made the loop load-bound at ~60 % of the FMA ceiling.
#define DLK_ROWS12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define DLK_ROWS8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define DLK_ROWS6(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define DLK_ROWS4(X) X(0) X(1) X(2) X(3)
#define DLK_ROWS2(X) X(0) X(1)

// simd_ukernel_12x2: 24 accumulators, for AVX-512's 32 registers.
#define DLK_UKERNEL_NAME simd_ukernel_12x2
#define DLK_UKERNEL_NAME_UNPACKED simd_ukernel_12x2_unpacked
#define DLK_ROWS DLK_ROWS12
#define DLK_MR 12
#include "cpu/gemm_simd_kernel_body.h"
#undef DLK_UKERNEL_NAME
#undef DLK_UKERNEL_NAME_UNPACKED
#undef DLK_ROWS
#undef DLK_MR

// simd_ukernel_6x2: 12 accumulators, for AVX2's 16 registers.
#define DLK_UKERNEL_NAME simd_ukernel_6x2
#define DLK_UKERNEL_NAME_UNPACKED simd_ukernel_6x2_unpacked
#define DLK_ROWS DLK_ROWS6
#define DLK_MR 6
#include "cpu/gemm_simd_kernel_body.h"
#undef DLK_UKERNEL_NAME
#undef DLK_UKERNEL_NAME_UNPACKED
#undef DLK_ROWS
#undef DLK_MR

// Fewer rows, for the last sliver of an M that is not a multiple of the tile's (a batch of 32
// is five 6-row slivers and 2 rows): the full tile there computes 4 rows of zero padding, a ninth
// of a 32-row product. These read the packed sliver of the full tile (lda = its MR) and only
// have the unpacked form.
#define DLK_UKERNEL_NAME_UNPACKED simd_ukernel_8x2_unpacked
#define DLK_ROWS DLK_ROWS8
#include "cpu/gemm_simd_kernel_body.h"
#undef DLK_UKERNEL_NAME_UNPACKED
#undef DLK_ROWS

#define DLK_UKERNEL_NAME_UNPACKED simd_ukernel_4x2_unpacked
#define DLK_ROWS DLK_ROWS4
#include "cpu/gemm_simd_kernel_body.h"
#undef DLK_UKERNEL_NAME_UNPACKED
#undef DLK_ROWS

#define DLK_UKERNEL_NAME_UNPACKED simd_ukernel_2x2_unpacked
#define DLK_ROWS DLK_ROWS2
#include "cpu/gemm_simd_kernel_body.h"
#undef DLK_UKERNEL_NAME_UNPACKED
#undef DLK_ROWS

// Two rows over two neighbouring B slivers (2 x 4 vectors). The 2 x 2 tile keeps 4 accumulators
// in flight, half of what two FMA ports of 4-cycle latency need: it ran at about half speed, 4.5 %
// of a char-LSTM training step's cycles for the last 2 rows of each 32-row recurrent product.
// With 8 accumulators + 4 B vectors + 2 broadcasts it fits AVX2's 16 registers.
template <typename V>
void simd_ukernel_2x4_pair(int64_t kc, const typename V::T* a, int64_t lda, const typename V::T* b,
                           const typename V::T* b_next, int64_t ldb, typename V::T* c, int64_t ldc,
                           typename V::T alpha, typename V::T beta) {
  using T = typename V::T;
  using vec = typename V::vec;
  constexpr int L = V::lanes;
  vec c00 = V::zero(), c01 = V::zero(), c02 = V::zero(), c03 = V::zero();
  vec c10 = V::zero(), c11 = V::zero(), c12 = V::zero(), c13 = V::zero();
  for (int64_t k = 0; k < kc; ++k) {
    const vec b0 = V::loadu(b), b1 = V::loadu(b + L);
    const vec b2 = V::loadu(b_next), b3 = V::loadu(b_next + L);
    const vec a0 = V::set1(a[k * lda]), a1 = V::set1(a[k * lda + 1]);
    c00 = V::fma(a0, b0, c00);
    c01 = V::fma(a0, b1, c01);
    c02 = V::fma(a0, b2, c02);
    c03 = V::fma(a0, b3, c03);
    c10 = V::fma(a1, b0, c10);
    c11 = V::fma(a1, b1, c11);
    c12 = V::fma(a1, b2, c12);
    c13 = V::fma(a1, b3, c13);
    b += ldb;
    b_next += ldb;
  }
  const vec va = V::set1(alpha);
  const vec acc[2][4] = {{c00, c01, c02, c03}, {c10, c11, c12, c13}};
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j) {
      T* cij = c + i * ldc + j * L;
      V::storeu(cij, beta == T(0) ? V::mul(va, acc[i][j])
                                  : V::fma(va, acc[i][j], V::mul(V::set1(beta), V::loadu(cij))));
    }
}

}  // namespace dlk::cpu
