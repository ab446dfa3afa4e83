// The AVX-512 rung of softmax_xent.cpp (float32, 16 lanes): softmax_xent_simd.h over
// simd::F32x16 (the same algorithm as the AVX2 rung), plus a small-C forward that takes 16 rows
// at a time with gathers. Compiled with -mavx512f...; called only when dlk::cpu_has_avx512().
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "common/parallel.h"
#include "cpu/softmax_xent_simd.h"
#include "cpu/vec_math_avx512.h"

namespace dlk::cpu {

namespace {
using namespace avx512;
using V = simd::F32x16;

int64_t row_grain(int64_t C) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(C, 1)); }

// Rows of at most kSmallC classes, 16 rows at a time: lane r holds row i0 + r and the loop runs
// over classes with gathers, so max, sum and log are vertical (no per-row horizontal reductions,
// whose latency chain dominated at C = 10: ~50 ns a row before, a few ns after).
constexpr int64_t kSmallC = 32;

void forward_small_c(int64_t i0, int64_t i1, int64_t C, const float* x, const int64_t* t,
                     int64_t ign, double eps, float* loss, double* lse) {
  const __m512i rows =
      _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                         _mm512_set1_epi32(static_cast<int>(C)));
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  const __m512 w_t = _mm512_set1_ps(float(1 - eps)), w_s = _mm512_set1_ps(float(eps));
  const __m512 inv_c = _mm512_set1_ps(float(1.0 / double(C)));
  __m512 v[kSmallC];
  for (int64_t i = i0; i < i1; i += 16) {
    const __mmask16 rm = tail_mask(i1 - i);
    const float* xb = x + i * C;
    __m512 vmax = ninf, vsx = _mm512_setzero_ps();
    for (int64_t j = 0; j < C; ++j) {
      v[j] = _mm512_mask_i32gather_ps(ninf, rm, _mm512_add_epi32(rows, _mm512_set1_epi32(int(j))),
                                      xb, 4);
      vmax = _mm512_max_ps(vmax, v[j]);
      vsx = _mm512_add_ps(vsx, v[j]);
    }
    vmax = _mm512_mask_mov_ps(_mm512_setzero_ps(), rm, vmax);  // idle lanes: finite garbage
    __m512 s = _mm512_setzero_ps();
    // At most 32 terms a lane: a float sum is within 31 ulp (~1e-7 typical).
    for (int64_t j = 0; j < C; ++j)
      s = _mm512_add_ps(s, xent_simd::exp_v<V>(_mm512_sub_ps(v[j], vmax)));
    s = _mm512_mask_mov_ps(_mm512_set1_ps(1.0f), rm, s);
    const __m512 log_s = log_ps(s);
    // lse = m + log s in double (a float32 lse near 1000 would be off by 3e-5: see
    // softmax_xent_simd.h), 8 rows per half.
    const __m256 m_hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(vmax), 1));
    const __m256 ls_hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(log_s), 1));
    _mm512_mask_storeu_pd(lse + i, __mmask8(rm),
                          _mm512_add_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(vmax)),
                                        _mm512_cvtps_pd(_mm512_castps512_ps256(log_s))));
    _mm512_mask_storeu_pd(lse + i + 8, __mmask8(rm >> 8),
                          _mm512_add_pd(_mm512_cvtps_pd(m_hi), _mm512_cvtps_pd(ls_hi)));
    // Targets: int64 -> int32 lane offsets; ignored rows read class 0 and get loss 0.
    const __m256i tlo = _mm512_cvtepi64_epi32(_mm512_maskz_loadu_epi64(__mmask8(rm), t + i));
    const __m256i thi =
        _mm512_cvtepi64_epi32(_mm512_maskz_loadu_epi64(__mmask8(rm >> 8), t + i + 8));
    const __m512i tv = _mm512_inserti64x4(_mm512_castsi256_si512(tlo), thi, 1);
    const __mmask16 keep = rm & _mm512_cmpneq_epi32_mask(tv, _mm512_set1_epi32(int(ign)));
    const __m512 xt =
        _mm512_mask_i32gather_ps(_mm512_setzero_ps(), keep, _mm512_add_epi32(rows, tv), xb, 4);
    // log s + (1 - eps)(m - x_t) + eps (m - sum/C): m - x_t is exact where x_t is near m, where
    // lse - x_t would cancel two float32 numbers near lse.
    __m512 lv = _mm512_fmadd_ps(w_t, _mm512_sub_ps(vmax, xt), log_s);
    // Only with smoothing: a -inf logit makes sum x = -inf, and 0 * inf would be NaN.
    if (eps != 0) lv = _mm512_fmadd_ps(w_s, _mm512_fnmadd_ps(vsx, inv_c, vmax), lv);
    _mm512_mask_storeu_ps(loss + i, rm, _mm512_maskz_mov_ps(keep, lv));
  }
}
}  // namespace

void softmax_xent_forward_avx512(int64_t N, int64_t C, const float* x, const int64_t* t,
                                 int64_t ign, double eps, float* loss, double* lse) {
  if (C <= kSmallC && C * int64_t{16} < (int64_t{1} << 31)) {
    // Chunks of whole 16-row groups per thread.
    const int64_t groups = (N + 15) / 16;
    parallel_for(groups, std::max<int64_t>(1, 32768 / (16 * C)), [&](int64_t g0, int64_t g1) {
      forward_small_c(g0 * 16, std::min(N, g1 * 16), C, x, t, ign, eps, loss, lse);
    });
    return;
  }
  parallel_for(N, row_grain(C), [&](int64_t begin, int64_t end) {
    xent_simd::forward_rows<V>(begin, end, C, x, t, ign, eps, loss, lse);
  });
}

void softmax_xent_backward_avx512(int64_t N, int64_t C, const float* x, const int64_t* t,
                                  const double* lse, int64_t ign, double eps,
                                  const float* row_scale, double scale, float* dx) {
  const bool stream = N * C * int64_t{4} > (int64_t{16} << 20);  // measured ~10 % at 512x32000
  parallel_for(N, row_grain(C), [&](int64_t begin, int64_t end) {
    xent_simd::backward_rows<V>(begin, end, C, x, t, lse, ign, eps, row_scale, scale, dx, stream);
    if (stream) _mm_sfence();  // order the streamed lines before the caller reads dx
  });
}

void log_softmax_forward_avx512(int64_t N, int64_t C, const float* x, float* y) {
  parallel_for(N, row_grain(C), [&](int64_t begin, int64_t end) {
    xent_simd::log_softmax_rows<V>(begin, end, C, x, y);
  });
}

void log_softmax_backward_avx512(int64_t N, int64_t C, const float* gy, const float* y, float* gx) {
  parallel_for(N, row_grain(C), [&](int64_t begin, int64_t end) {
    xent_simd::log_softmax_backward_rows<V>(begin, end, C, gy, y, gx);
  });
}

void xent_exp_avx512(int64_t n, const float* x, float* y) { xent_simd::exp_array<V>(n, x, y); }

}  // namespace dlk::cpu
