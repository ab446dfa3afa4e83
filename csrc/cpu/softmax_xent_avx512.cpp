// The AVX-512 rung of softmax_xent.cpp (float32): 16 lanes, masked tails, polynomial exp.
// Compiled with -mavx512f...; called only when dlk::cpu_has_avx512().
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

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

// y_j = a * exp(x_j - l) + b over a row.
inline void row_scaled_exp(const float* x, float l, float a, float b, float* y, int64_t C) {
  const __m512 vl = _mm512_set1_ps(l), va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b);
  int64_t j = 0;
  for (; j + 16 <= C; j += 16)
    _mm512_storeu_ps(y + j, _mm512_fmadd_ps(va, exp_ps(_mm512_sub_ps(_mm512_loadu_ps(x + j), vl)), vb));
  if (j < C) {
    const __mmask16 m = tail_mask(C - j);
    const __m512 e = exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), vl));
    _mm512_mask_storeu_ps(y + j, m, _mm512_fmadd_ps(va, e, vb));
  }
}
}  // namespace

void softmax_xent_forward_avx512(int64_t N, int64_t C, const float* x, const int64_t* t,
                                 int64_t ign, double eps, float* loss, float* lse) {
  parallel_for(N, row_grain(C), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* row = x + i * C;
      float sx = 0;
      const double l = row_lse(row, C, eps != 0 ? &sx : nullptr);
      lse[i] = float(l);
      loss[i] = t[i] == ign ? 0.0f
                            : float((1 - eps) * (l - double(row[t[i]])) +
                                    eps * (l - double(sx) / double(C)));
    }
  });
}

void softmax_xent_backward_avx512(int64_t N, int64_t C, const float* x, const int64_t* t,
                                  const float* lse, int64_t ign, double eps,
                                  const float* row_scale, double scale, float* dx) {
  parallel_for(N, row_grain(C), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      float* drow = dx + i * C;
      if (t[i] == ign) {
        std::fill(drow, drow + C, 0.0f);
        continue;
      }
      const double s = scale * (row_scale ? double(row_scale[i]) : 1.0);
      row_scaled_exp(x + i * C, lse[i], float(s), float(-s * eps / double(C)), drow, C);
      drow[t[i]] -= float(s * (1 - eps));
    }
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

void log_softmax_backward_avx512(int64_t N, int64_t C, const float* gy, const float* y,
                                 float* gx) {
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
