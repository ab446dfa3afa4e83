// The 2x2 stride-2 unpadded max-pool (LeNet's and VGG's) in AVX2 for float32, for CPUs without
// AVX-512 (AMD Zen 2/3). The baseline build's loop handles one window at a time with its selects
// done on the bits (pool2d_fast.h); here a ymm register holds 8 windows: two loads per input
// row (masked at the row's end), even and odd columns split with shuffles, compare-and-blend in
// scan order (replace on strictly greater or NaN, so ties keep the first tap and NaN wins, as
// every other rung does), argmax built in int32 lanes and widened to int64 on the store. Other
// windows and float64 go to the baseline loop. Called only when dlk::cpu_has_avx2_fma().
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#define DLK_POOL_NS pool_avx2
#include "cpu/pool2d_fast.h"

namespace dlk::cpu::pool_avx2 {

namespace {

// int32 lanes [0, n) all-ones, the rest zero (n clamped to [0, 8]).
__m256i first_lanes(int64_t n) {
  const int k = static_cast<int>(std::clamp<int64_t>(n, 0, 8));
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// (best, idx) = (v, i) in the lanes where v > best or v is NaN.
inline void take_if_greater(__m256 v, __m256i i, __m256& best, __m256i& idx) {
  const __m256 t =
      _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  best = _mm256_blendv_ps(best, v, t);
  idx = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(idx), _mm256_castsi256_ps(i), t));
}

// Lanes 0-7 of (a, b) = x[0..15]: the even elements x[0], x[2], ..., x[14], or the odd ones.
inline __m256 evens(__m256 a, __m256 b) {
  const __m256 s = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
}
inline __m256 odds(__m256 a, __m256 b) {
  const __m256 s = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
}

void max_2x2_f32(const Pool2dShape& s, const float* xp, float* yp, int64_t* ap) {
  const __m256i lane2 = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
  const __m256i one = _mm256_set1_epi32(1), wv = _mm256_set1_epi32(static_cast<int32_t>(s.W));
  for (int64_t oh = 0; oh < s.OH; ++oh) {
    const float* r0 = xp + 2 * oh * s.W;
    const float* r1 = r0 + s.W;
    float* y = yp + oh * s.OW;
    int64_t* am = ap + oh * s.OW;
    for (int64_t ow = 0; ow < s.OW; ow += 8) {
      const int64_t n = std::min<int64_t>(8, s.OW - ow), j = 2 * ow;
      // A full group reads 16 columns and writes 8 outputs in place. A partial one (the row's
      // last) loads under a mask, so nothing past the row or the plane is read, and stores
      // through a buffer: a masked store (vmaskmovps) is microcoded on AMD Zen, ~2x slower
      // than the whole scalar loop here.
      __m256 a0, a1, b0, b1;
      if (n == 8) {
        a0 = _mm256_loadu_ps(r0 + j), a1 = _mm256_loadu_ps(r0 + j + 8);
        b0 = _mm256_loadu_ps(r1 + j), b1 = _mm256_loadu_ps(r1 + j + 8);
      } else {
        const __m256i mlo = first_lanes(2 * n), mhi = first_lanes(2 * n - 8);
        a0 = _mm256_maskload_ps(r0 + j, mlo), a1 = _mm256_maskload_ps(r0 + j + 8, mhi);
        b0 = _mm256_maskload_ps(r1 + j, mlo), b1 = _mm256_maskload_ps(r1 + j + 8, mhi);
      }
      const __m256i i0 =
          _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(2 * oh * s.W + j)), lane2);
      __m256 best = evens(a0, a1);
      __m256i idx = i0;
      take_if_greater(odds(a0, a1), _mm256_add_epi32(i0, one), best, idx);
      take_if_greater(evens(b0, b1), _mm256_add_epi32(i0, wv), best, idx);
      take_if_greater(odds(b0, b1), _mm256_add_epi32(_mm256_add_epi32(i0, wv), one), best, idx);
      const __m256i lo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(idx));
      const __m256i hi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(idx, 1));
      if (n == 8) {
        _mm256_storeu_ps(y + ow, best);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(am + ow), lo);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(am + ow + 4), hi);
        continue;
      }
      alignas(32) float yb[8];
      alignas(32) int64_t ab[8];
      _mm256_store_ps(yb, best);
      _mm256_store_si256(reinterpret_cast<__m256i*>(ab), lo);
      _mm256_store_si256(reinterpret_cast<__m256i*>(ab + 4), hi);
      for (int64_t q = 0; q < n; ++q) {
        y[ow + q] = yb[q];
        am[ow + q] = ab[q];
      }
    }
  }
}

}  // namespace

void max_plane_fast(const Pool2dShape& s, const float* x, float* y, int64_t* am) {
  // Indices in int32 lanes: planes of < 2^31 elements (every image there is).
  const bool k22 = s.KH == 2 && s.KW == 2 && s.SH == 2 && s.SW == 2 && s.PH == 0 && s.PW == 0 &&
                   s.H * s.W < (int64_t{1} << 31);
  if (k22) return max_2x2_f32(s, x, y, am);
  max_plane(s, x, y, am);
}

}  // namespace dlk::cpu::pool_avx2
