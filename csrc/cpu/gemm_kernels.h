// The micro-kernels behind the GEMM driver, one per instruction set and type.
//
// A micro-kernel multiplies a packed MR x kc sliver of A (stored k-major: MR values per k) by a
// packed kc x NR sliver of B (NR values per k) and writes C[0:MR, 0:NR] = alpha * AB + beta * C
// (beta == 0: C is not read). Its C tile lives in registers for the whole kc loop: that is
// where the speed comes from. Edge tiles are handled by the driver.
#pragma once

#include <cstdint>

#include "cpu/activation.h"

namespace dlk::cpu {

template <typename T>
using GemmMicroKernelFn = void (*)(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, T alpha,
                                   T beta);

// y[0:n] = act(y[0:n] + bias) in place, bias advancing by bias_stride (0 or 1) or null
// (bias_activation.h), with this rung's vector sigmoid/tanh: the GEMM's epilogue.
template <typename T>
using GemmEpilogueFn = void (*)(Activation act, int64_t n, const T* bias, int64_t bias_stride,
                                T* y);

// The same tile reading op(A) and B in place (B not transposed, rows of unit stride; A as is or
// transposed by the template flag): small products skip the packing (gemm.cpp, gemm_unpacked).
template <typename T>
using GemmUnpackedFn = void (*)(int64_t kc, const T* a, int64_t lda, const T* b, int64_t ldb, T* c,
                                int64_t ldc, T alpha, T beta);

// A micro-kernel with the blocking its driver should use around it:
// kc (K block; A and B slivers of kc stay in L1), nc (N block; the packed B block of kc x nc
// stays in L2), mc (M block; the packed A panel of mc x kc is reused from L3).
template <typename T>
struct GemmMicroKernel {
  GemmMicroKernelFn<T> fn;
  int mr, nr;
  int64_t kc, nc, mc;
  GemmEpilogueFn<T> epilogue;
  GemmUnpackedFn<T> unpacked = nullptr, unpacked_ta = nullptr;  // null: always pack
  // Tiles of fewer rows over the packed slivers (lda = mr, ldb = nr), for the last rows of M;
  // short_fn[i] computes short_rows[i] rows (ascending; null: none).
  GemmUnpackedFn<T> short_fn[2] = {nullptr, nullptr};
  int short_rows[2] = {0, 0};
};

GemmMicroKernel<float> gemm_ukernel_portable_f32();
GemmMicroKernel<double> gemm_ukernel_portable_f64();
#if defined(DLK_X86)
// Unpacked skinny products (gemm_small.h) built for each ISA; false: shape not skinny.
template <typename T>
bool gemm_small_avx2(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                     int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);
template <typename T>
bool gemm_small_avx512(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                       int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

GemmMicroKernel<float> gemm_ukernel_avx2_f32();
GemmMicroKernel<double> gemm_ukernel_avx2_f64();
GemmMicroKernel<float> gemm_ukernel_avx512_f32();
GemmMicroKernel<double> gemm_ukernel_avx512_f64();
#endif

}  // namespace dlk::cpu
