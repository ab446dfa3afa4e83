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

}  // namespace dlk::cpu
