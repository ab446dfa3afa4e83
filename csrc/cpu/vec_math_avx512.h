// AVX-512 exp, sigmoid and tanh for float32, shared by the softmax-CE and recurrent kernels.
//
// Include ONLY from *_avx512.cpp files (they are the ones compiled with -mavx512f) and call them
// only after dlk::cpu_has_avx512(). Everything is static inline, so no AVX-512 code leaks into
// a symbol another translation unit could pick up.
//
// exp(x) = 2^n * exp(r), n = round(x / ln 2), r = x - n ln 2 in [-ln2/2, ln2/2] (ln 2 split in
// a high and a low part so r is exact), exp(r) by the Cephes expf minimax polynomial (relative
// error ~1e-7), and 2^n applied with vscalefps, which underflows to 0 and saturates cleanly.
// sigmoid(x) = 1 / (1 + exp(-x)); tanh(x) = 1 - 2 / (exp(2x) + 1): absolute error ~1e-7,
// both saturate exactly at +-large x. A NaN in gives NaN out of all three (as libm and PyTorch).
#pragma once

// GCC 12 warns on the undefined-vector idiom inside its own masked-load intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <cstdint>

#include "cpu/simd_traits.h"

namespace dlk::cpu::avx512 {

static inline __m512 exp_ps(__m512 x) {
  // vmaxps / vminps return their second operand when either is NaN: x goes second so that a
  // NaN passes the clamp (and then every step below) instead of becoming exp(-104) = 0.
  x = _mm512_min_ps(_mm512_set1_ps(88.7f), _mm512_max_ps(_mm512_set1_ps(-104.0f), x));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

static inline __m512 sigmoid_ps(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  return _mm512_div_ps(one, _mm512_add_ps(one, exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

static inline __m512 tanh_ps(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 e = exp_ps(_mm512_add_ps(x, x));
  return _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, one)));
}

// log(x) for finite x > 0: x = m 2^e with m in [0.75, 1.5) (vgetmantps / vgetexpps), then
// log m = 2 atanh(u), u = (m - 1)/(m + 1) in [-0.143, 0.2], by its odd series to u^9 (rel. ~1e-8).
static inline __m512 log_ps(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 m = _mm512_getmant_ps(x, _MM_MANT_NORM_p75_1p5, _MM_MANT_SIGN_src);
  __m512 e = _mm512_getexp_ps(x);
  e = _mm512_mask_add_ps(e, _mm512_cmp_ps_mask(m, one, _CMP_LT_OQ), e, one);
  const __m512 u = _mm512_div_ps(_mm512_sub_ps(m, one), _mm512_add_ps(m, one));
  const __m512 u2 = _mm512_mul_ps(u, u);
  __m512 p = _mm512_set1_ps(1.0f / 9.0f);
  p = _mm512_fmadd_ps(p, u2, _mm512_set1_ps(1.0f / 7.0f));
  p = _mm512_fmadd_ps(p, u2, _mm512_set1_ps(1.0f / 5.0f));
  p = _mm512_fmadd_ps(p, u2, _mm512_set1_ps(1.0f / 3.0f));
  p = _mm512_fmadd_ps(p, u2, one);
  return _mm512_fmadd_ps(e, _mm512_set1_ps(0.693147180559945309f),
                         _mm512_mul_ps(_mm512_add_ps(u, u), p));
}

static inline __mmask16 tail_mask(int64_t remaining) {
  return remaining >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << remaining) - 1u);
}

// In place over n floats.
static inline void sigmoid_inplace(float* x, int64_t n) {
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = tail_mask(n - j);
    _mm512_mask_storeu_ps(x + j, m, sigmoid_ps(_mm512_maskz_loadu_ps(m, x + j)));
  }
}
static inline void tanh_inplace(float* x, int64_t n) {
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = tail_mask(n - j);
    _mm512_mask_storeu_ps(x + j, m, tanh_ps(_mm512_maskz_loadu_ps(m, x + j)));
  }
}
static inline void tanh_to(const float* x, float* y, int64_t n) {
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = tail_mask(n - j);
    _mm512_mask_storeu_ps(y + j, m, tanh_ps(_mm512_maskz_loadu_ps(m, x + j)));
  }
}

// The math a pointwise template takes as a parameter (rnn_math.h's ScalarMath is the libm one).
// Internal linkage, like the functions above: each translation unit keeps its own copy.
namespace {
struct Math {
  static void sigmoid(float* x, int64_t n) { sigmoid_inplace(x, n); }
  static void tanh(float* x, int64_t n) { tanh_inplace(x, n); }
  static void tanh_to(const float* x, float* y, int64_t n) { avx512::tanh_to(x, y, n); }
};
// One register of lanes for pointwise loops fused by hand (lstm_pointwise.h): the SIMD traits
// plus this file's sigmoid and tanh.
struct Lanes : simd::F32x16 {
  static vec sigmoid(vec x) { return sigmoid_ps(x); }
  static vec tanh(vec x) { return tanh_ps(x); }
};
}  // namespace

}  // namespace dlk::cpu::avx512
