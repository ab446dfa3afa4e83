// The vector rungs of softmax_xent.cpp, written once over simd_traits.h (F32x8 for AVX2,
// F32x16 for AVX-512). Include only from softmax_xent_avx2.cpp / softmax_xent_avx512.cpp.
//
// Accuracy (issue 12 item 6): the float32 gradient is within 1.2e-7 of float64, relative to its
// largest entry, for logits scaled up to 1000, with and without label smoothing; PyTorch's
// float32 is 1e-8 to 6e-7 there without smoothing and up to 1e-4 with it (32000 classes), and
// these kernels were 1e-5 to 1e-4 (tests/test_softmax_xent_accuracy.py). What it takes:
//  - lse is kept in double. A float32 lse near 1000 is off by up to half an ulp, 3e-5, and
//    softmax = exp(x - lse) inherits that as a relative error: this was the whole 1e-5 to 1e-4
//    error of the old kernels (both rungs). The backward splits lse into hi = float(lse) and
//    lo = float(lse - hi) and takes exp((x - hi) - lo): x - hi is exact where it matters (x and
//    hi within a factor of two, Sterbenz), so the exponent is off by ~|x - lse| 2^-24, as in
//    PyTorch's exp(log_softmax), and exp((x - m) - log s) needs no second pass over the row.
//  - sum exp(x - m) and sum x run in float over blocks of at most 8 vectors per accumulator, then
//    in double: a float running sum over 1000 terms a lane was ~1e-6 off.
//  - exp below: Cody-Waite reduction, a degree-6 polynomial (approximation error 4e-9, below
//    float32's half ulp), Horner ending in fma(q, r, 1) so the last rounding is the only big one,
//    and an exact 2^n (vscalefps, or two exact factors on AVX2): <= 1 ulp measured over
//    [-87, 88.72], 0 below -87 (no subnormal results: see exp_v), inf above 88.72, NaN in
//    gives NaN out.
//  - the loss is log s + (1 - eps)(m - x_t) + eps (m - mean x), not lse - x_t: the latter
//    cancels two numbers near lse.
#pragma once

// GCC 12 warns on the undefined-vector idiom inside its own masked-load intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "cpu/simd_traits.h"

namespace dlk::cpu::xent_simd {

// exp(x) = 2^n exp(r), n = round(x / ln 2), r = x - n ln 2 in [-ln2/2, ln2/2] with ln 2 = hi + lo
// (hi has 10 significant bits, so n * hi is exact and x - n hi loses nothing), exp(r) by
// 1 + r + c2 r^2 + ... + c6 r^6 (least squares on Chebyshev nodes for the relative error,
// coefficients rounded to float32; relative error 3.8e-9 on the interval).
// Results below exp(-87) ~ 1.6e-38 are flushed to 0 instead of going subnormal: a subnormal
// result costs a microcode assist (exp ran 2.6x slower on AMD Zen for such inputs, and Intel's
// penalty is larger), and logits of scale 100-1000 send most of a row there; a probability below
// 1.6e-38 changes no float32 sum or gradient. The clamp keeps n in [-126, 128] (2^n p stays
// normal: at n = -126, r > 0.33 and p > 1); exp(89) overflows to inf.
template <class V>
static inline typename V::vec exp_v(typename V::vec x_in) {
  using vec = typename V::vec;
  const vec lowest = V::set1(-87.0f);
  // x second: max/min return it when it is NaN, and the NaN flows through to the result.
  const vec x = V::min(V::set1(89.0f), V::max(lowest, x_in));
  const vec n = V::round(V::mul(x, V::set1(1.44269504088896341f)));
  vec r = V::fnma(n, V::set1(0.693359375f), x);
  r = V::fnma(n, V::set1(-2.12194440e-4f), r);
  vec p = V::set1(1.3751407e-3f);
  p = V::fma(p, r, V::set1(8.368916e-3f));
  p = V::fma(p, r, V::set1(4.1669533e-2f));
  p = V::fma(p, r, V::set1(1.6666518e-1f));
  p = V::fma(p, r, V::set1(4.9999988e-1f));
  p = V::fma(p, r, V::set1(1.0f));
  p = V::fma(p, r, V::set1(1.0f));
  return V::zero_if_less(V::ldexp(p, n), x_in, lowest);
}

// Float partial sums cover at most this many vectors per accumulator before they are added to
// the double accumulators: a float sum of k positive terms is within (k - 1) ulp.
constexpr int64_t kBlockVectors = 8;

struct RowStats {
  float m;       // max_j x_j (NaN rows: whatever; the sum below is NaN then)
  double s;      // sum_j exp(x_j - m), >= 1 for a finite row
  double sum_x;  // sum_j x_j (only when asked)
};

// Sum over the row of f(v) where v are the loaded vectors (tail lanes loaded as `fill`, which f
// must map to 0): floats per block of kBlockVectors vectors (two accumulators), then double.
// With `prefetch`, the same offsets of that other array (the next row) are prefetched into L2.
template <class V, class F>
static inline double blocked_sum(const float* x, int64_t C, float fill, F&& f,
                                 const float* prefetch = nullptr) {
  constexpr int64_t L = V::lanes;
  typename V::dvec lo = V::dzero(), hi = V::dzero();
  int64_t j = 0;
  while (j + L <= C) {
    const int64_t end = std::min(C - C % L, j + 2 * kBlockVectors * L);
    typename V::vec s0 = V::zero(), s1 = V::zero();
    for (; j + 2 * L <= end; j += 2 * L) {
      if (prefetch)
        for (int64_t k = 0; k < 2 * L; k += 16)  // one 64-byte line per 16 floats
          _mm_prefetch(reinterpret_cast<const char*>(prefetch + j + k), _MM_HINT_T1);
      s0 = V::add(s0, f(V::loadu(x + j)));
      s1 = V::add(s1, f(V::loadu(x + j + L)));
    }
    if (j < end) {
      s0 = V::add(s0, f(V::loadu(x + j)));
      j += L;
    }
    V::add_wide(lo, hi, V::add(s0, s1));
  }
  if (j < C) V::add_wide(lo, hi, f(V::load_tail(x + j, V::tail(C - j), fill)));
  return V::reduce_wide(lo, hi);
}

// Two passes over the row: max (and sum of x), then the sum of exp(x - max), reading the row
// back from L1/L2 (a 32000-float row is 128 KiB). The first pass waits on memory, the second
// on the exp; so the second prefetches `next` (the next row, or nullptr) into L2, and the next
// row's first pass finds it there. At 512x32000 on the (loaded) AMD, the forward's best of 15
// went from 29-31 ms to 21-25 ms; cache-resident rows take ~10 ms, so there is more to find.
template <class V>
static inline RowStats row_stats(const float* x, int64_t C, bool want_sum_x,
                                 const float* next = nullptr) {
  constexpr int64_t L = V::lanes;
  const float ninf = -std::numeric_limits<float>::infinity();
  typename V::vec vmax = V::set1(ninf);
  int64_t j = 0;
  for (; j + L <= C; j += L) vmax = V::max(vmax, V::loadu(x + j));
  if (j < C) vmax = V::max(vmax, V::load_tail(x + j, V::tail(C - j), ninf));
  RowStats st{V::reduce_max(vmax), 0.0, 0.0};
  if (want_sum_x) st.sum_x = blocked_sum<V>(x, C, 0.0f, [](typename V::vec v) { return v; });
  const typename V::vec vm = V::set1(st.m);
  // Tail lanes hold -inf: exp(-inf - m) = 0 for finite m (a row with m = +-inf is NaN anyway).
  st.s =
      blocked_sum<V>(x, C, ninf, [&](typename V::vec v) { return exp_v<V>(V::sub(v, vm)); }, next);
  return st;
}

// Forward over rows [i0, i1): lse_i = m + log s in double; loss as in the header comment.
template <class V>
static inline void forward_rows(int64_t i0, int64_t i1, int64_t C, const float* x, const int64_t* t,
                                int64_t ign, double eps, float* loss, double* lse) {
  for (int64_t i = i0; i < i1; ++i) {
    const float* row = x + i * C;
    const RowStats st = row_stats<V>(row, C, eps != 0, i + 1 < i1 ? row + C : nullptr);
    const double log_s = std::log(st.s), m = st.m;
    lse[i] = m + log_s;
    if (t[i] == ign) {
      loss[i] = 0.0f;
      continue;
    }
    double l = log_s + (1 - eps) * (m - double(row[t[i]]));
    if (eps != 0) l += eps * (m - st.sum_x / double(C));
    loss[i] = float(l);
  }
}

// Rows of at most kSmallC classes, V::lanes rows at a time: lane r holds row i + r and the loop
// runs over classes with gathers, so max, sum and log are vertical (per-row horizontal
// reductions were a ~50 ns latency chain per row at C = 10 on the Xeon, a few ns after).
// Sums of at most 32 terms a lane stay in float (within 31 ulp, ~1e-7 typical); log s in float
// is within ~2e-7 absolute for s <= 32; lse = m + log s is formed in double.
constexpr int64_t kSmallC = 32;

template <class V>
static inline void forward_small_c(int64_t i0, int64_t i1, int64_t C, const float* x,
                                   const int64_t* t, int64_t ign, double eps, float* loss,
                                   double* lse) {
  using vec = typename V::vec;
  constexpr int L = V::lanes;
  const vec w_t = V::set1(float(1 - eps)), w_s = V::set1(float(eps));
  const vec inv_c = V::set1(float(1.0 / double(C)));
  alignas(64) int32_t roff[L], toff[L];
  alignas(64) float keep[L];
  alignas(64) double wide[L];
  vec v[kSmallC];
  for (int64_t i = i0; i < i1; i += L) {
    const int rows = int(std::min<int64_t>(L, i1 - i));
    const float* xb = x + i * C;
    for (int r = 0; r < L; ++r) {
      // Idle lanes (past the last row) re-read row i: finite work that is never stored.
      // Ignored rows read their class 0 and get loss 0.
      const bool in = r < rows, use = in && t[i + r] != ign;
      roff[r] = in ? int32_t(r * C) : 0;
      toff[r] = use ? int32_t(r * C + t[i + r]) : 0;
      keep[r] = use ? 1.0f : 0.0f;
    }
    const typename V::ivec offs = V::load_i32(roff);
    v[0] = V::gather(xb, offs);
    vec vmax = v[0], vsx = v[0];
    for (int64_t j = 1; j < C; ++j) {
      v[j] = V::gather(xb, V::add_i32(offs, int(j)));
      vmax = V::max(vmax, v[j]);
      vsx = V::add(vsx, v[j]);
    }
    vec s = V::zero();  // a NaN anywhere in a row makes its s NaN, whatever max kept
    for (int64_t j = 0; j < C; ++j) s = V::add(s, exp_v<V>(V::sub(v[j], vmax)));
    const vec log_s = V::log(s);
    V::store_sum_wide(wide, vmax, log_s);
    std::copy(wide, wide + rows, lse + i);
    // log s + (1 - eps)(m - x_t) + eps (m - sum/C): m - x_t is exact where x_t is near m, where
    // lse - x_t would cancel two float32 numbers near lse.
    const vec xt = V::gather(xb, V::load_i32(toff));
    vec lv = V::fma(w_t, V::sub(vmax, xt), log_s);
    // Only with smoothing: a -inf logit makes sum x = -inf, and 0 * inf would be NaN.
    if (eps != 0) lv = V::fma(w_s, V::fnma(vsx, inv_c, vmax), lv);
    lv = V::zero_if_less(lv, V::loadu(keep), V::set1(0.5f));
    V::store_tail(loss + i, V::tail(rows), lv);
  }
}

// y_j = a * exp(x_j - lse) + (j == t ? bt : b) over a row, exp((x - hi) - lo) (header comment).
// The target's term goes into the fma's addend, so dx_t = a e_t + bt rounds once (it is a
// difference of two numbers near a when p_t is near 1). With `stream`, whole aligned vectors go
// out as non-temporal stores: a dlogits bigger than the caches is not read back soon, and
// streaming skips the read-for-ownership of every line (a third of the backward's traffic).
template <class V>
static inline void row_scaled_exp(const float* x, double lse, float a, float b, int64_t t, float bt,
                                  float* y, int64_t C, bool stream) {
  using vec = typename V::vec;
  constexpr int64_t L = V::lanes;
  const float hi = float(lse), lo = float(lse - double(hi));
  const vec vhi = V::set1(hi), vlo = V::set1(lo), va = V::set1(a), vb = V::set1(b);
  auto value = [&](vec v, int64_t j) {
    const vec e = exp_v<V>(V::sub(V::sub(v, vhi), vlo));
    const vec bias = t >= j && t < j + L ? V::with_lane(vb, int(t - j), bt) : vb;
    return V::fma(va, e, bias);
  };
  int64_t j = 0;
  const auto addr = reinterpret_cast<uintptr_t>(y);
  if (stream && addr % 4 == 0) {
    // A masked head up to the first vector-aligned address, then aligned streaming stores.
    constexpr int64_t bytes = L * 4;
    const int64_t head = std::min<int64_t>(C, int64_t((bytes - addr % bytes) % bytes) / 4);
    if (head > 0) {
      const auto m = V::tail(head);
      V::store_tail(y, m, value(V::load_tail(x, m, 0.0f), 0));
    }
    for (j = head; j + L <= C; j += L) V::stream(y + j, value(V::loadu(x + j), j));
  }
  for (; j + L <= C; j += L) V::storeu(y + j, value(V::loadu(x + j), j));
  if (j < C) {
    const auto m = V::tail(C - j);
    V::store_tail(y + j, m, value(V::load_tail(x + j, m, 0.0f), j));
  }
}

// dx_ij = s_i (softmax_ij - eps / C - (1 - eps)[j == t_i]), s_i = scale * row_scale[i].
template <class V>
static inline void backward_rows(int64_t i0, int64_t i1, int64_t C, const float* x,
                                 const int64_t* t, const double* lse, int64_t ign, double eps,
                                 const float* row_scale, double scale, float* dx, bool stream) {
  for (int64_t i = i0; i < i1; ++i) {
    float* drow = dx + i * C;
    if (t[i] == ign) {
      std::fill(drow, drow + C, 0.0f);
      continue;
    }
    const double s = scale * (row_scale ? double(row_scale[i]) : 1.0), b = -s * eps / double(C);
    row_scaled_exp<V>(x + i * C, lse[i], float(s), float(b), t[i], float(b - s * (1 - eps)), drow,
                      C, stream);
  }
}

// y = (x - hi) - lo with lse = hi + lo in double, so y is exact to float32's rounding of y itself.
template <class V>
static inline void log_softmax_rows(int64_t i0, int64_t i1, int64_t C, const float* x, float* y) {
  constexpr int64_t L = V::lanes;
  for (int64_t i = i0; i < i1; ++i) {
    const float* row = x + i * C;
    float* yrow = y + i * C;
    const RowStats st = row_stats<V>(row, C, false, i + 1 < i1 ? row + C : nullptr);
    const double lse = double(st.m) + std::log(st.s);
    const float hi = float(lse), lo = float(lse - double(hi));
    const typename V::vec vhi = V::set1(hi), vlo = V::set1(lo);
    int64_t j = 0;
    for (; j + L <= C; j += L) V::storeu(yrow + j, V::sub(V::sub(V::loadu(row + j), vhi), vlo));
    if (j < C) {
      const auto m = V::tail(C - j);
      V::store_tail(yrow + j, m, V::sub(V::sub(V::load_tail(row + j, m, 0.0f), vhi), vlo));
    }
  }
}

// gx = gy - exp(y) * sum_j gy_j; gx may be gy itself (the sum is read before any write).
template <class V>
static inline void log_softmax_backward_rows(int64_t i0, int64_t i1, int64_t C, const float* gy,
                                             const float* y, float* gx) {
  constexpr int64_t L = V::lanes;
  for (int64_t i = i0; i < i1; ++i) {
    const float* g = gy + i * C;
    const float* yr = y + i * C;
    float* out = gx + i * C;
    const typename V::vec sg =
        V::set1(float(blocked_sum<V>(g, C, 0.0f, [](typename V::vec v) { return v; })));
    int64_t j = 0;
    for (; j + L <= C; j += L)
      V::storeu(out + j, V::fnma(exp_v<V>(V::loadu(yr + j)), sg, V::loadu(g + j)));
    if (j < C) {
      const auto m = V::tail(C - j);
      V::store_tail(
          out + j, m,
          V::fnma(exp_v<V>(V::load_tail(yr + j, m, 0.0f)), sg, V::load_tail(g + j, m, 0.0f)));
    }
  }
}

// y = exp(x) elementwise with the kernel's exp (for the accuracy tests).
template <class V>
static inline void exp_array(int64_t n, const float* x, float* y) {
  constexpr int64_t L = V::lanes;
  int64_t j = 0;
  for (; j + L <= n; j += L) V::storeu(y + j, exp_v<V>(V::loadu(x + j)));
  if (j < n) {
    const auto m = V::tail(n - j);
    V::store_tail(y + j, m, exp_v<V>(V::load_tail(x + j, m, 0.0f)));
  }
}

}  // namespace dlk::cpu::xent_simd
