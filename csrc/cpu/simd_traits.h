// Vector traits for code written once for several SIMD widths (GEMM micro-kernels, the FMA
// ceiling loop, the softmax cross-entropy rows): the vector type, its lane count and the handful
// of operations those need. The float32 traits also carry what a row kernel with a ragged tail
// needs (a lane mask, masked load and store, streaming store, horizontal max, a sum widened to
// double, round-to-nearest and an exact x * 2^n), so softmax_xent_simd.h is one algorithm for
// AVX2 and AVX-512.
// Include only from files compiled for the matching instruction set (*_avx2.cpp, *_avx512.cpp).
#pragma once

#include <immintrin.h>

#include <cstdint>

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

  // Row kernels (softmax_xent_simd.h).
  using mask = __mmask16;
  using dvec = __m512d;
  static mask tail(int64_t n) { return n >= 16 ? mask(0xFFFF) : mask((1u << n) - 1u); }
  static vec load_tail(const T* p, mask m, T fill) {
    return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), m, p);
  }
  static void store_tail(T* p, mask m, vec v) { _mm512_mask_storeu_ps(p, m, v); }
  static void stream(T* p, vec v) { _mm512_stream_ps(p, v); }  // p 64-byte aligned
  static vec sub(vec a, vec b) { return _mm512_sub_ps(a, b); }
  static vec fnma(vec a, vec b, vec c) { return _mm512_fnmadd_ps(a, b, c); }
  // max/min return the second operand when either is NaN.
  static vec max(vec a, vec b) { return _mm512_max_ps(a, b); }
  static vec min(vec a, vec b) { return _mm512_min_ps(a, b); }
  static vec round(vec v) {
    return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  // p * 2^n for integral n: vscalefps is exact, with gradual underflow and overflow to inf.
  static vec ldexp(vec p, vec n) { return _mm512_scalef_ps(p, n); }
  // v with lane `lane` replaced by x.
  static vec with_lane(vec v, int lane, T x) {
    return _mm512_mask_mov_ps(v, mask(1u << lane), _mm512_set1_ps(x));
  }
  // v, with 0 in the lanes where a < b (false for NaN: a NaN lane keeps v).
  static vec zero_if_less(vec v, vec a, vec b) {
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a, b, _CMP_NLT_UQ), v);
  }
  static T reduce_max(vec v) { return _mm512_reduce_max_ps(v); }
  // Small-C rows, one row per lane: int32 offsets and gathers.
  using ivec = __m512i;
  static ivec load_i32(const int32_t* p) { return _mm512_loadu_si512(p); }
  static ivec add_i32(ivec a, int b) { return _mm512_add_epi32(a, _mm512_set1_epi32(b)); }
  static vec gather(const T* base, ivec idx) { return _mm512_i32gather_ps(idx, base, 4); }
  // p[k] = double(a_k) + double(b_k) for all 16 lanes.
  static void store_sum_wide(double* p, vec a, vec b) {
    const __m256 a_hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1));
    const __m256 b_hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(b), 1));
    _mm512_storeu_pd(p, _mm512_add_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(a)),
                                      _mm512_cvtps_pd(_mm512_castps512_ps256(b))));
    _mm512_storeu_pd(p + 8, _mm512_add_pd(_mm512_cvtps_pd(a_hi), _mm512_cvtps_pd(b_hi)));
  }
  // log(x) for x > 0 (NaN gives NaN): x = m 2^e with m in [0.75, 1.5) (vgetmantps /
  // vgetexpps), log m = 2 atanh(u), u = (m - 1)/(m + 1) in [-0.143, 0.2], odd series to u^9.
  static vec log(vec x) {
    const vec one = _mm512_set1_ps(1.0f);
    const vec m = _mm512_getmant_ps(x, _MM_MANT_NORM_p75_1p5, _MM_MANT_SIGN_src);
    vec e = _mm512_getexp_ps(x);
    e = _mm512_mask_add_ps(e, _mm512_cmp_ps_mask(m, one, _CMP_LT_OQ), e, one);
    return log_tail(m, e);
  }
  static vec log_tail(vec m, vec e) {
    const vec one = _mm512_set1_ps(1.0f);
    const vec u = _mm512_div_ps(_mm512_sub_ps(m, one), _mm512_add_ps(m, one));
    const vec u2 = _mm512_mul_ps(u, u);
    vec p = _mm512_set1_ps(1.0f / 9.0f);
    p = _mm512_fmadd_ps(p, u2, _mm512_set1_ps(1.0f / 7.0f));
    p = _mm512_fmadd_ps(p, u2, _mm512_set1_ps(1.0f / 5.0f));
    p = _mm512_fmadd_ps(p, u2, _mm512_set1_ps(1.0f / 3.0f));
    p = _mm512_fmadd_ps(p, u2, one);
    return _mm512_fmadd_ps(e, _mm512_set1_ps(0.693147180559945309f),
                           _mm512_mul_ps(_mm512_add_ps(u, u), p));
  }
  static dvec dzero() { return _mm512_setzero_pd(); }
  // acc += v's lanes widened to double (two halves: lo gets lanes 0-7, hi 8-15).
  static void add_wide(dvec& lo, dvec& hi, vec v) {
    lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    hi = _mm512_add_pd(
        hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
  }
  static double reduce_wide(dvec lo, dvec hi) {
    return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
  }
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

  // Row kernels (softmax_xent_simd.h). A mask is a vector of all-ones / zero int lanes, as
  // vmaskmovps wants (masked-off lanes are neither read nor written, so no fault past a row).
  using mask = __m256i;
  using dvec = __m256d;
  static mask tail(int64_t n) {
    const int k = n >= 8 ? 8 : int(n);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static vec load_tail(const T* p, mask m, T fill) {
    return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
  }
  static void store_tail(T* p, mask m, vec v) { _mm256_maskstore_ps(p, m, v); }
  static void stream(T* p, vec v) { _mm256_stream_ps(p, v); }  // p 32-byte aligned
  static vec sub(vec a, vec b) { return _mm256_sub_ps(a, b); }
  static vec fnma(vec a, vec b, vec c) { return _mm256_fnmadd_ps(a, b, c); }
  // max/min return the second operand when either is NaN.
  static vec max(vec a, vec b) { return _mm256_max_ps(a, b); }
  static vec min(vec a, vec b) { return _mm256_min_ps(a, b); }
  static vec round(vec v) {
    return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  // p * 2^n for integral n in [-252, 254], p in [0.5, 2): two exact factors 2^(n/2) and
  // 2^(n - n/2), each a normal float, so the product rounds once: gradual underflow below
  // 2^-126 and overflow to inf above 2^128, as vscalefps does (2^128 itself is not a float,
  // and exp(88.7) = 0.98 * 2^128 is).
  static vec ldexp(vec p, vec n) {
    const __m256i ni = _mm256_cvtps_epi32(n), n1 = _mm256_srai_epi32(ni, 1);
    const __m256i n2 = _mm256_sub_epi32(ni, n1), bias = _mm256_set1_epi32(127);
    const __m256 f1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    const __m256 f2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, f1), f2);
  }
  static vec with_lane(vec v, int lane, T x) {
    const __m256i hit =
        _mm256_cmpeq_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(lane));
    return _mm256_blendv_ps(v, _mm256_set1_ps(x), _mm256_castsi256_ps(hit));
  }
  // v, with 0 in the lanes where a < b (false for NaN: a NaN lane keeps v).
  static vec zero_if_less(vec v, vec a, vec b) {
    return _mm256_andnot_ps(_mm256_cmp_ps(a, b, _CMP_LT_OQ), v);
  }
  static T reduce_max(vec v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
  }
  // Small-C rows, one row per lane: int32 offsets and gathers.
  using ivec = __m256i;
  static ivec load_i32(const int32_t* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  }
  static ivec add_i32(ivec a, int b) { return _mm256_add_epi32(a, _mm256_set1_epi32(b)); }
  static vec gather(const T* base, ivec idx) { return _mm256_i32gather_ps(base, idx, 4); }
  // p[k] = double(a_k) + double(b_k) for all 8 lanes.
  static void store_sum_wide(double* p, vec a, vec b) {
    _mm256_storeu_pd(p, _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(a)),
                                      _mm256_cvtps_pd(_mm256_castps256_ps128(b))));
    _mm256_storeu_pd(p + 4, _mm256_add_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(a, 1)),
                                          _mm256_cvtps_pd(_mm256_extractf128_ps(b, 1))));
  }
  // log(x) for normal x > 0 (NaN gives NaN), as F32x16::log with the exponent and mantissa
  // taken from the bits: m in [1, 2), halved (and e + 1) where m >= 1.5.
  static vec log(vec x) {
    const __m256i bits = _mm256_castps_si256(x);
    const __m256i e = _mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(127));
    vec m = _mm256_castsi256_ps(_mm256_or_si256(
        _mm256_and_si256(bits, _mm256_set1_epi32(0x007FFFFF)), _mm256_set1_epi32(0x3F800000)));
    const vec big = _mm256_cmp_ps(m, _mm256_set1_ps(1.5f), _CMP_GE_OQ);
    m = _mm256_blendv_ps(m, _mm256_mul_ps(m, _mm256_set1_ps(0.5f)), big);
    const vec ef = _mm256_add_ps(_mm256_cvtepi32_ps(e), _mm256_and_ps(big, _mm256_set1_ps(1.0f)));
    const vec one = _mm256_set1_ps(1.0f);
    const vec u = _mm256_div_ps(_mm256_sub_ps(m, one), _mm256_add_ps(m, one));
    const vec u2 = _mm256_mul_ps(u, u);
    vec p = _mm256_set1_ps(1.0f / 9.0f);
    p = _mm256_fmadd_ps(p, u2, _mm256_set1_ps(1.0f / 7.0f));
    p = _mm256_fmadd_ps(p, u2, _mm256_set1_ps(1.0f / 5.0f));
    p = _mm256_fmadd_ps(p, u2, _mm256_set1_ps(1.0f / 3.0f));
    p = _mm256_fmadd_ps(p, u2, one);
    const vec r = _mm256_fmadd_ps(ef, _mm256_set1_ps(0.693147180559945309f),
                                  _mm256_mul_ps(_mm256_add_ps(u, u), p));
    return _mm256_or_ps(r, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));  // NaN lanes: all ones, a NaN
  }
  static dvec dzero() { return _mm256_setzero_pd(); }
  static void add_wide(dvec& lo, dvec& hi, vec v) {
    lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
  }
  static double reduce_wide(dvec lo, dvec hi) {
    const __m256d s = _mm256_add_pd(lo, hi);
    const __m128d t = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    return _mm_cvtsd_f64(_mm_add_sd(t, _mm_unpackhi_pd(t, t)));
  }
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
