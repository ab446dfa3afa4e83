// AVX-512 micro-kernels (16 floats / 8 doubles per register, 32 registers).
// fp32: 12 x 32 tile = 24 accumulators + 2 B vectors + 1 broadcast of the 32 zmm registers,
// the same register budget as BLIS's Skylake-X sgemm kernel, transposed for row-major C.
#include "cpu/gemm_kernels.h"
#include "cpu/gemm_simd_kernel.h"

namespace dlk::cpu {
namespace {

struct F32x16 {
  using T = float;
  using vec = __m512;
  static constexpr int lanes = 16;
  static vec zero() { return _mm512_setzero_ps(); }
  static vec load(const T* p) { return _mm512_load_ps(p); }
  static vec loadu(const T* p) { return _mm512_loadu_ps(p); }
  static void storeu(T* p, vec v) { _mm512_storeu_ps(p, v); }
  static vec set1(T x) { return _mm512_set1_ps(x); }
  static vec fma(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
  static vec mul(vec a, vec b) { return _mm512_mul_ps(a, b); }
};

struct F64x8 {
  using T = double;
  using vec = __m512d;
  static constexpr int lanes = 8;
  static vec zero() { return _mm512_setzero_pd(); }
  static vec load(const T* p) { return _mm512_load_pd(p); }
  static vec loadu(const T* p) { return _mm512_loadu_pd(p); }
  static void storeu(T* p, vec v) { _mm512_storeu_pd(p, v); }
  static vec set1(T x) { return _mm512_set1_pd(x); }
  static vec fma(vec a, vec b, vec c) { return _mm512_fmadd_pd(a, b, c); }
  static vec mul(vec a, vec b) { return _mm512_mul_pd(a, b); }
};

}  // namespace

GemmMicroKernel<float> gemm_ukernel_avx512_f32() {
  return {simd_ukernel_12x2<F32x16>, 12, 32, 384, 480, 1536};
}
GemmMicroKernel<double> gemm_ukernel_avx512_f64() {
  return {simd_ukernel_12x2<F64x8>, 12, 16, 256, 480, 1536};
}

}  // namespace dlk::cpu
