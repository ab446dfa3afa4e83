// AVX2 + FMA micro-kernels (8 floats / 4 doubles per register, 16 registers).
// fp32: 6 x 16 tile = 12 accumulators + 2 B vectors + 1 broadcast of the 16 ymm registers.
#include "cpu/gemm_kernels.h"
#include "cpu/gemm_simd_kernel.h"

namespace dlk::cpu {
namespace {

struct F32x8 {
  using T = float;
  using vec = __m256;
  static constexpr int lanes = 8;
  static vec zero() { return _mm256_setzero_ps(); }
  static vec load(const T* p) { return _mm256_load_ps(p); }
  static vec loadu(const T* p) { return _mm256_loadu_ps(p); }
  static void storeu(T* p, vec v) { _mm256_storeu_ps(p, v); }
  static vec set1(T x) { return _mm256_set1_ps(x); }
  static vec fma(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
  static vec mul(vec a, vec b) { return _mm256_mul_ps(a, b); }
};

struct F64x4 {
  using T = double;
  using vec = __m256d;
  static constexpr int lanes = 4;
  static vec zero() { return _mm256_setzero_pd(); }
  static vec load(const T* p) { return _mm256_load_pd(p); }
  static vec loadu(const T* p) { return _mm256_loadu_pd(p); }
  static void storeu(T* p, vec v) { _mm256_storeu_pd(p, v); }
  static vec set1(T x) { return _mm256_set1_pd(x); }
  static vec fma(vec a, vec b, vec c) { return _mm256_fmadd_pd(a, b, c); }
  static vec mul(vec a, vec b) { return _mm256_mul_pd(a, b); }
};

}  // namespace

GemmMicroKernel<float> gemm_ukernel_avx2_f32() {
  return {simd_ukernel_6x2<F32x8>, 6, 16, 256, 512, 1536};
}
GemmMicroKernel<double> gemm_ukernel_avx2_f64() {
  return {simd_ukernel_6x2<F64x4>, 6, 8, 256, 256, 1536};
}

}  // namespace dlk::cpu
