// The fast pooling rung compiled for AVX-512 (see pool2d_fast.h): the same loops, 16 float
// lanes with mask-register selects. Called only when dlk::cpu_has_avx512().
//
// Plus hand-written float kernels for the common 2x2 stride-2 unpadded window. Its output rows
// are short (14 or 28 outputs on LeNet/VGG-sized maps), too short for the auto-vectorised row
// loop (whose 16-lane body never runs on 14 outputs); here one masked iteration covers up to 16
// outputs: two masked loads per input row, even/odd lanes split with vpermt2ps, compare-and-
// select in mask registers, argmax built in int32 lanes and widened to int64 on the store.
#include <immintrin.h>

#define DLK_POOL_NS pool_avx512
#include "cpu/pool2d_fast.h"

namespace dlk::cpu::pool_avx512 {

namespace {

bool is_2x2_stride2(const Pool2dShape& s) {
  return s.KH == 2 && s.KW == 2 && s.SH == 2 && s.SW == 2 && s.PH == 0 && s.PW == 0 &&
         s.H * s.W < (int64_t{1} << 31);
}

// Mask of the first n lanes (none for n <= 0, all for n >= 16).
__mmask16 first_lanes(int64_t n) {
  if (n <= 0) return 0;
  return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u);
}

void max_2x2_f32(const Pool2dShape& s, const float* xp, float* yp, int64_t* ap) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512i lane2 =
      _mm512_slli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 1);
  const __m512i one = _mm512_set1_epi32(1), wv = _mm512_set1_epi32(static_cast<int32_t>(s.W));
  for (int64_t oh = 0; oh < s.OH; ++oh) {
    const float* r0 = xp + 2 * oh * s.W;
    const float* r1 = r0 + s.W;
    float* y = yp + oh * s.OW;
    int64_t* am = ap + oh * s.OW;
    for (int64_t ow = 0; ow < s.OW; ow += 16) {
      const int64_t n = std::min<int64_t>(16, s.OW - ow);
      const __mmask16 m = first_lanes(n), mlo = first_lanes(2 * n), mhi = first_lanes(2 * n - 16);
      const int64_t j = 2 * ow;
      const __m512 a0 = _mm512_maskz_loadu_ps(mlo, r0 + j);
      const __m512 a1 = _mm512_maskz_loadu_ps(mhi, r0 + j + 16);
      const __m512 b0 = _mm512_maskz_loadu_ps(mlo, r1 + j);
      const __m512 b1 = _mm512_maskz_loadu_ps(mhi, r1 + j + 16);
      const __m512 v0 = _mm512_permutex2var_ps(a0, even, a1);
      const __m512 v1 = _mm512_permutex2var_ps(a0, odd, a1);
      const __m512 v2 = _mm512_permutex2var_ps(b0, even, b1);
      const __m512 v3 = _mm512_permutex2var_ps(b0, odd, b1);
      const __m512i i0 =
          _mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(2 * oh * s.W + j)), lane2);
      __m512 best = v0;
      __m512i idx = i0;
      // Replace on strictly greater or NaN (v != v), in scan order: ties keep the first tap.
      __mmask16 t =
          _mm512_cmp_ps_mask(v1, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v1, v1, _CMP_UNORD_Q);
      best = _mm512_mask_mov_ps(best, t, v1);
      idx = _mm512_mask_mov_epi32(idx, t, _mm512_add_epi32(i0, one));
      t = _mm512_cmp_ps_mask(v2, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v2, v2, _CMP_UNORD_Q);
      best = _mm512_mask_mov_ps(best, t, v2);
      idx = _mm512_mask_mov_epi32(idx, t, _mm512_add_epi32(i0, wv));
      t = _mm512_cmp_ps_mask(v3, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v3, v3, _CMP_UNORD_Q);
      best = _mm512_mask_mov_ps(best, t, v3);
      idx = _mm512_mask_mov_epi32(idx, t, _mm512_add_epi32(_mm512_add_epi32(i0, wv), one));
      _mm512_mask_storeu_ps(y + ow, m, best);
      _mm512_mask_storeu_epi64(am + ow, __mmask8(m & 0xFF),
                               _mm512_cvtepi32_epi64(_mm512_castsi512_si256(idx)));
      _mm512_mask_storeu_epi64(am + ow + 8, __mmask8(m >> 8),
                               _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(idx, 1)));
    }
  }
}

// Non-overlapping full windows: every covered gx element is written once (gy / 4), so no
// zero-fill pass; only an odd last row / column (outside every window) is zeroed.
void avg_2x2_backward_f32(const Pool2dShape& s, const float* gyp, float* gxp) {
  const __m512i dup_lo = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  const __m512i dup_hi = _mm512_add_epi32(dup_lo, _mm512_set1_epi32(8));
  const __m512 quarter = _mm512_set1_ps(0.25f);
  for (int64_t oh = 0; oh < s.OH; ++oh) {
    const float* g = gyp + oh * s.OW;
    float* r0 = gxp + 2 * oh * s.W;
    float* r1 = r0 + s.W;
    for (int64_t ow = 0; ow < s.OW; ow += 16) {
      const int64_t n = std::min<int64_t>(16, s.OW - ow);
      const __mmask16 m = first_lanes(n), mlo = first_lanes(2 * n), mhi = first_lanes(2 * n - 16);
      const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, g + ow), quarter);
      const __m512 lo = _mm512_permutexvar_ps(dup_lo, v), hi = _mm512_permutexvar_ps(dup_hi, v);
      const int64_t j = 2 * ow;
      _mm512_mask_storeu_ps(r0 + j, mlo, lo);
      _mm512_mask_storeu_ps(r0 + j + 16, mhi, hi);
      _mm512_mask_storeu_ps(r1 + j, mlo, lo);
      _mm512_mask_storeu_ps(r1 + j + 16, mhi, hi);
    }
    if (s.W > 2 * s.OW) r0[s.W - 1] = r1[s.W - 1] = 0.0f;
  }
  if (s.H > 2 * s.OH) std::memset(gxp + (s.H - 1) * s.W, 0, sizeof(float) * s.W);
}

}  // namespace

void max_plane_fast(const Pool2dShape& s, const float* x, float* y, int64_t* am) {
  if (is_2x2_stride2(s)) return max_2x2_f32(s, x, y, am);
  max_plane(s, x, y, am);
}
void max_plane_fast(const Pool2dShape& s, const double* x, double* y, int64_t* am) {
  max_plane(s, x, y, am);
}
void avg_plane_backward_fast(const Pool2dShape& s, const float* gy, float* gx, bool cip) {
  if (is_2x2_stride2(s)) return avg_2x2_backward_f32(s, gy, gx);
  avg_plane_backward(s, gy, gx, cip);
}
void avg_plane_backward_fast(const Pool2dShape& s, const double* gy, double* gx, bool cip) {
  avg_plane_backward(s, gy, gx, cip);
}

template void avg_plane<float>(const Pool2dShape&, const float*, float*, bool);
template void avg_plane<double>(const Pool2dShape&, const double*, double*, bool);

}  // namespace dlk::cpu::pool_avx512
