// The AVX-512 rung of softmax_xent.cpp (float32): 16 lanes, masked tails, polynomial exp.
// Compiled with -mavx512f...; called only when dlk::cpu_has_avx512().
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "common/parallel.h"
#include "cpu/vec_math_avx512.h"

namespace dlk::cpu {

namespace {
using namespace avx512;

int64_t row_grain(int64_t C) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(C, 1)); }

// Row max and (when wanted) row sum in one pass, then sum of exp(x - max) in a second pass that
// reads the row back from cache. Returns lse; *sum_x gets sum_j x_j when sum_x != nullptr.
inline float row_lse(const float* x, int64_t C, float* sum_x) {
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  __m512 vmax = ninf, vsx = _mm512_setzero_ps();
  int64_t j = 0;
  for (; j + 16 <= C; j += 16) {
    const __m512 v = _mm512_loadu_ps(x + j);
    vmax = _mm512_max_ps(vmax, v);
    vsx = _mm512_add_ps(vsx, v);
  }
  if (j < C) {
    const __mmask16 m = tail_mask(C - j);
    vmax = _mm512_max_ps(vmax, _mm512_mask_loadu_ps(ninf, m, x + j));
    vsx = _mm512_add_ps(vsx, _mm512_maskz_loadu_ps(m, x + j));
  }
  const float mx = _mm512_reduce_max_ps(vmax);
  if (sum_x) *sum_x = _mm512_reduce_add_ps(vsx);
  const __m512 vm = _mm512_set1_ps(mx);
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  j = 0;
  for (; j + 32 <= C; j += 32) {
    s0 = _mm512_add_ps(s0, exp_ps(_mm512_sub_ps(_mm512_loadu_ps(x + j), vm)));
    s1 = _mm512_add_ps(s1, exp_ps(_mm512_sub_ps(_mm512_loadu_ps(x + j + 16), vm)));
  }
  for (; j < C; j += 16) {
    const __mmask16 m = tail_mask(C - j);
    const __m512 e = exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), vm));
    s0 = _mm512_mask_add_ps(s0, m, s0, e);
  }
  return mx + std::log(_mm512_reduce_add_ps(_mm512_add_ps(s0, s1)));
}

// y_j = a * exp(x_j - l) + b - (j == t ? d : 0) over a row. The target's correction is applied
// in the vector (a scalar fix-up after the store would stall on store-to-load forwarding).
// With `stream`, whole aligned vectors go out as non-temporal stores: a dlogits bigger than the
// caches is not read back soon, and streaming skips the read-for-ownership of every line
// (a third of the backward's DRAM traffic).
inline __m512 scaled_exp(const float* x, int64_t j, __mmask16 m, __m512 vl, __m512 va, __m512 vb,
                         int64_t t, __m512 vd) {
  const __m512 e = exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), vl));
  __m512 v = _mm512_fmadd_ps(va, e, vb);
  if (t >= j && t < j + 16) v = _mm512_mask_sub_ps(v, __mmask16(1u << (t - j)), v, vd);
  return v;
}

inline void row_scaled_exp(const float* x, float l, float a, float b, int64_t t, float d, float* y,
                           int64_t C, bool stream) {
  const __m512 vl = _mm512_set1_ps(l), va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b);
  const __m512 vd = _mm512_set1_ps(d);
  int64_t j = 0;
  const auto addr = reinterpret_cast<uintptr_t>(y);
  if (stream && addr % 4 == 0) {
    // A masked head up to the first 64-byte boundary, then aligned streaming stores.
    const int64_t head = std::min<int64_t>(C, ((64 - addr % 64) % 64) / 4);
    if (head > 0) {
      const __mmask16 m = tail_mask(head);
      _mm512_mask_storeu_ps(y, m, scaled_exp(x, 0, m, vl, va, vb, t, vd));
    }
    for (j = head; j + 16 <= C; j += 16)
      _mm512_stream_ps(y + j, scaled_exp(x, j, 0xFFFF, vl, va, vb, t, vd));
  }
  for (; j < C; j += 16) {
    const __mmask16 m = tail_mask(C - j);
    _mm512_mask_storeu_ps(y + j, m, scaled_exp(x, j, m, vl, va, vb, t, vd));
  }
}

// Rows of at most kSmallC classes, 16 rows at a time: lane r holds row i0 + r and the loop runs
// over classes with gathers, so max, sum and log are vertical (no per-row horizontal reductions,
// whose latency chain dominated at C = 10: ~50 ns a row before, a few ns after).
constexpr int64_t kSmallC = 32;

void forward_small_c(int64_t i0, int64_t i1, int64_t C, const float* x, const int64_t* t,
                     int64_t ign, double eps, float* loss, float* lse) {
  const __m512i rows =
      _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                         _mm512_set1_epi32(static_cast<int>(C)));
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  const __m512 w_t = _mm512_set1_ps(float(1 - eps)),
               w_mean = _mm512_set1_ps(float(eps / double(C)));
  const __m512 w_lse = _mm512_set1_ps(1.0f);
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
    for (int64_t j = 0; j < C; ++j) s = _mm512_add_ps(s, exp_ps(_mm512_sub_ps(v[j], vmax)));
    s = _mm512_mask_mov_ps(_mm512_set1_ps(1.0f), rm, s);
    const __m512 l = _mm512_add_ps(vmax, log_ps(s));
    _mm512_mask_storeu_ps(lse + i, rm, l);
    // Targets: int64 -> int32 lane offsets; ignored rows read class 0 and get loss 0.
    const __m256i tlo = _mm512_cvtepi64_epi32(_mm512_maskz_loadu_epi64(__mmask8(rm), t + i));
    const __m256i thi =
        _mm512_cvtepi64_epi32(_mm512_maskz_loadu_epi64(__mmask8(rm >> 8), t + i + 8));
    const __m512i tv = _mm512_inserti64x4(_mm512_castsi256_si512(tlo), thi, 1);
    const __mmask16 keep = rm & _mm512_cmpneq_epi32_mask(tv, _mm512_set1_epi32(int(ign)));
    const __m512 xt =
        _mm512_mask_i32gather_ps(_mm512_setzero_ps(), keep, _mm512_add_epi32(rows, tv), xb, 4);
    // (1 - eps)(lse - x_t) + eps (lse - sum/C) = lse - (1 - eps) x_t - (eps / C) sum
    __m512 lv = _mm512_fnmadd_ps(w_t, xt, _mm512_mul_ps(w_lse, l));
    lv = _mm512_fnmadd_ps(w_mean, vsx, lv);
    _mm512_mask_storeu_ps(loss + i, rm, _mm512_maskz_mov_ps(keep, lv));
  }
}
}  // namespace

void softmax_xent_forward_avx512(int64_t N, int64_t C, const float* x, const int64_t* t,
                                 int64_t ign, double eps, float* loss, float* lse) {
  if (C <= kSmallC && C * int64_t{16} < (int64_t{1} << 31)) {
    // Chunks of whole 16-row groups per thread.
    const int64_t groups = (N + 15) / 16;
    parallel_for(groups, std::max<int64_t>(1, 32768 / (16 * C)), [&](int64_t g0, int64_t g1) {
      forward_small_c(g0 * 16, std::min(N, g1 * 16), C, x, t, ign, eps, loss, lse);
    });
    return;
  }
  parallel_for(N, row_grain(C), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* row = x + i * C;
      float sx = 0;
      const double l = row_lse(row, C, eps != 0 ? &sx : nullptr);
      lse[i] = float(l);
      loss[i] =
          t[i] == ign
              ? 0.0f
              : float((1 - eps) * (l - double(row[t[i]])) + eps * (l - double(sx) / double(C)));
    }
  });
}

void softmax_xent_backward_avx512(int64_t N, int64_t C, const float* x, const int64_t* t,
                                  const float* lse, int64_t ign, double eps, const float* row_scale,
                                  double scale, float* dx) {
  const bool stream = N * C * int64_t{4} > (int64_t{16} << 20);  // measured ~10 % at 512x32000
  parallel_for(N, row_grain(C), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      float* drow = dx + i * C;
      if (t[i] == ign) {
        std::fill(drow, drow + C, 0.0f);
        continue;
      }
      const double s = scale * (row_scale ? double(row_scale[i]) : 1.0);
      row_scaled_exp(x + i * C, lse[i], float(s), float(-s * eps / double(C)), t[i],
                     float(s * (1 - eps)), drow, C, stream);
    }
    if (stream) _mm_sfence();  // order the streamed lines before the caller reads dx
  });
}

void log_softmax_forward_avx512(int64_t N, int64_t C, const float* x, float* y) {
  parallel_for(N, row_grain(C), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* row = x + i * C;
      float* yrow = y + i * C;
      const __m512 vl = _mm512_set1_ps(row_lse(row, C, nullptr));
      for (int64_t j = 0; j < C; j += 16) {
        const __mmask16 m = tail_mask(C - j);
        _mm512_mask_storeu_ps(yrow + j, m, _mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + j), vl));
      }
    }
  });
}

void log_softmax_backward_avx512(int64_t N, int64_t C, const float* gy, const float* y, float* gx) {
  parallel_for(N, row_grain(C), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* g = gy + i * C;
      const float* yr = y + i * C;
      float* out = gx + i * C;
      __m512 acc = _mm512_setzero_ps();
      for (int64_t j = 0; j < C; j += 16)
        acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(tail_mask(C - j), g + j));
      const __m512 sg = _mm512_set1_ps(_mm512_reduce_add_ps(acc));
      for (int64_t j = 0; j < C; j += 16) {
        const __mmask16 m = tail_mask(C - j);
        const __m512 e = exp_ps(_mm512_maskz_loadu_ps(m, yr + j));
        _mm512_mask_storeu_ps(out + j, m, _mm512_fnmadd_ps(e, sg, _mm512_maskz_loadu_ps(m, g + j)));
      }
    }
  });
}

}  // namespace dlk::cpu
