// AVX2 + FMA exp, sigmoid and tanh for float32 (8 lanes): the recurrent kernels' pointwise math
// on CPUs without AVX-512 (e.g. AMD Zen 2/3), where the scalar libm rung took ~35 % of an LSTM
// cell step.
//
// Include ONLY from *_avx2.cpp files (compiled with -mavx2 -mfma) and call them only after
// dlk::cpu_has_avx2_fma(). Everything is static inline.
//
// exp(x) as vec_math_avx512.h (n = round(x / ln 2), r = x - n ln 2 with ln 2 split in two,
// the Cephes expf polynomial), except that 2^n is built in the exponent bits, so x is clamped
// to [-87, 88] where n + 127 stays in [1, 254]: exp saturates at e^88 ~ 1.7e38 and e^-87 ~
// 1.6e-38, which leaves sigmoid and tanh exact to float32 at +-large x. The clamps keep their
// operand order so that a NaN input stays NaN. Tails of fewer than 8 elements use libm.
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "cpu/simd_traits.h"

namespace dlk::cpu::avx2 {

static inline __m256 exp_ps(__m256 x) {
  // max/min return their second operand when either is NaN: x last, so NaN propagates.
  x = _mm256_min_ps(_mm256_set1_ps(88.0f), _mm256_max_ps(_mm256_set1_ps(-87.0f), x));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static inline __m256 sigmoid_ps(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_div_ps(one, _mm256_add_ps(one, exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

// tanh(x) = 1 - 2 / (e^2x + 1) loses the low bits of a small result to the cancellation (tanh
// 1e-3 was 1e-4 relative off), so below |x| = 0.625 Cephes tanhf's odd polynomial takes over.
static inline __m256 tanh_ps(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 e = exp_ps(_mm256_add_ps(x, x));
  const __m256 large =
      _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(-5.70498872745e-3f);
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
  const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
  const __m256 abs_x = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
  // NaN compares false and keeps the `large` lane, which stays NaN.
  return _mm256_blendv_ps(large, small, _mm256_cmp_ps(abs_x, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
}

// In place over n floats.
static inline void sigmoid_inplace(float* x, int64_t n) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) _mm256_storeu_ps(x + j, sigmoid_ps(_mm256_loadu_ps(x + j)));
  for (; j < n; ++j) x[j] = 1.0f / (1.0f + std::exp(-x[j]));
}
static inline void tanh_inplace(float* x, int64_t n) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) _mm256_storeu_ps(x + j, tanh_ps(_mm256_loadu_ps(x + j)));
  for (; j < n; ++j) x[j] = std::tanh(x[j]);
}
static inline void tanh_to(const float* x, float* y, int64_t n) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) _mm256_storeu_ps(y + j, tanh_ps(_mm256_loadu_ps(x + j)));
  for (; j < n; ++j) y[j] = std::tanh(x[j]);
}

// The math a pointwise template takes as a parameter (rnn_math.h's ScalarMath is the libm one).
// Internal linkage, like the functions above: each translation unit keeps its own copy.
namespace {
struct Math {
  static void sigmoid(float* x, int64_t n) { sigmoid_inplace(x, n); }
  static void tanh(float* x, int64_t n) { tanh_inplace(x, n); }
  static void tanh_to(const float* x, float* y, int64_t n) { avx2::tanh_to(x, y, n); }
};
// One register of lanes for pointwise loops fused by hand (lstm_pointwise.h): the SIMD traits
// plus this file's sigmoid and tanh.
struct Lanes : simd::F32x8 {
  static vec sigmoid(vec x) { return sigmoid_ps(x); }
  static vec tanh(vec x) { return tanh_ps(x); }
};
}  // namespace

}  // namespace dlk::cpu::avx2
