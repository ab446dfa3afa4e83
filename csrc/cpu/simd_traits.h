// Vector traits for code written once for several SIMD widths (GEMM micro-kernels, the FMA
// ceiling loop): the vector type, its lane count and the handful of operations those need.
// Include only from files compiled for the matching instruction set (*_avx2.cpp, *_avx512.cpp).
#pragma once

#include <immintrin.h>

namespace dlk::simd {

#if defined(__AVX512F__)
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
  static vec add(vec a, vec b) { return _mm512_add_ps(a, b); }
  static T first(vec v) { return _mm512_cvtss_f32(v); }
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
  static vec add(vec a, vec b) { return _mm512_add_pd(a, b); }
  static T first(vec v) { return _mm512_cvtsd_f64(v); }
};
#endif

#if defined(__AVX2__) && defined(__FMA__)
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
  static vec add(vec a, vec b) { return _mm256_add_ps(a, b); }
  static T first(vec v) { return _mm256_cvtss_f32(v); }
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
  static vec add(vec a, vec b) { return _mm256_add_pd(a, b); }
  static T first(vec v) { return _mm256_cvtsd_f64(v); }
};
#endif

}  // namespace dlk::simd
