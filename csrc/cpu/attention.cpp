// Fused single-query attention (see attention.h for the formulas and the NaN rules).
#include "cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common/parallel.h"

namespace dlk::cpu {
namespace {

// a · b with eight partial sums, so the loop vectorises without reassociating one sum.
template <typename T>
T dot(const T* a, const T* b, int64_t n) {
  T acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  T total = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; ++i) total += a[i] * b[i];
  return total;
}

// Rows per chunk: at least ~32k multiply-adds, so tiny batches stay on one thread.
int64_t row_grain(int64_t S, int64_t D, int64_t Dv) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, S * (D + Dv)));
}

}  // namespace

template <typename T>
void attention_forward(int64_t N, int64_t S, int64_t D, int64_t Dv, const T* q, const T* k,
                       const T* v, const uint8_t* mask, T* ctx, T* w) {
  parallel_for(N, row_grain(S, D, Dv), [&](int64_t begin, int64_t end) {
    std::vector<double> e(static_cast<size_t>(S));
    for (int64_t n = begin; n < end; ++n) {
      const T* qn = q + n * D;
      const T* kn = k + n * S * D;
      const uint8_t* mn = mask ? mask + n * S : nullptr;
      double top = -std::numeric_limits<double>::infinity();
      bool nan = false;
      for (int64_t s = 0; s < S; ++s) {
        e[s] = (!mn || mn[s]) ? double(dot(qn, kn + s * D, D))
                              : -std::numeric_limits<double>::infinity();
        nan |= std::isnan(e[s]);
        top = std::max(top, e[s]);
      }
      if (nan) top = std::numeric_limits<double>::quiet_NaN();
      double sum = 0;
      for (int64_t s = 0; s < S; ++s) sum += (e[s] = std::exp(e[s] - top));
      T* wn = w + n * S;
      T* cn = ctx + n * Dv;
      std::fill(cn, cn + Dv, T(0));
      for (int64_t s = 0; s < S; ++s) {
        const T ws = T(e[s] / sum);
        wn[s] = ws;
        const T* vs = v + (n * S + s) * Dv;
        for (int64_t j = 0; j < Dv; ++j) cn[j] += ws * vs[j];
      }
    }
  });
}

template <typename T>
void attention_backward(int64_t N, int64_t S, int64_t D, int64_t Dv, const T* g_ctx, const T* g_w,
                        const T* q, const T* k, const T* v, const uint8_t* mask, const T* w, T* g_q,
                        T* g_k, T* g_v) {
  parallel_for(N, row_grain(S, D, Dv), [&](int64_t begin, int64_t end) {
    std::vector<double> dw(static_cast<size_t>(S));
    for (int64_t n = begin; n < end; ++n) {
      const T* gc = g_ctx + n * Dv;
      const T* wn = w + n * S;
      const T* qn = q + n * D;
      double inner = 0;  // sum_s w_s dw_s, over every position (0 * NaN stays NaN)
      for (int64_t s = 0; s < S; ++s) {
        const T* vs = v + (n * S + s) * Dv;
        dw[s] = double(dot(gc, vs, Dv)) + (g_w ? double(g_w[n * S + s]) : 0.0);
        inner += double(wn[s]) * dw[s];
        T* gvs = g_v + (n * S + s) * Dv;
        for (int64_t j = 0; j < Dv; ++j) gvs[j] = wn[s] * gc[j];
      }
      T* gq = g_q + n * D;
      std::fill(gq, gq + D, T(0));
      for (int64_t s = 0; s < S; ++s) {
        const bool on = !mask || mask[n * S + s];
        const T de = on ? T(double(wn[s]) * (dw[s] - inner)) : T(0);
        const T* ks = k + (n * S + s) * D;
        T* gks = g_k + (n * S + s) * D;
        for (int64_t j = 0; j < D; ++j) {
          gq[j] += de * ks[j];
          gks[j] = de * qn[j];
        }
      }
    }
  });
}

#define DLK_INSTANTIATE(T)                                                                        \
  template void attention_forward<T>(int64_t, int64_t, int64_t, int64_t, const T*, const T*,      \
                                     const T*, const uint8_t*, T*, T*);                           \
  template void attention_backward<T>(int64_t, int64_t, int64_t, int64_t, const T*, const T*,     \
                                      const T*, const T*, const T*, const uint8_t*, const T*, T*, \
                                      T*, T*);
DLK_INSTANTIATE(float)
DLK_INSTANTIATE(double)
#undef DLK_INSTANTIATE

}  // namespace dlk::cpu
