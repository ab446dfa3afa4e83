// The fused pointwise halves of an LSTM step, forward and backward, templated on the math
// (rnn_math.h ScalarMath, or the AVX-512 one in lstm_avx512.cpp). Included by lstm.cpp and
// lstm_avx512.cpp; internal linkage so each build keeps its own copy.
//
// Forward, per element (a = pre-activations from the GEMMs, b = bias, p = peephole):
//   i = s(a_i + b_i [+ p_i c']), f = s(a_f + b_f [+ p_f c']), g = tanh(a_g + b_g)
//   c = f c' + i g        (coupled: i = 1 - f)
//   o = s(a_o + b_o [+ p_o c]),  h = o tanh(c)
// Backward, with dh (total) and dc (from step t+1) in:
//   do = dh tanh(c); da_o = do o (1 - o); dc += dh o (1 - tanh^2 c) [+ da_o p_o]
//   da_i = dc g i (1 - i); da_f = dc c' f (1 - f)   (coupled: da_f = dc (c' - g) f (1 - f))
//   da_g = dc i (1 - g^2); dc' = dc f [+ da_i p_i + da_f p_f]
#pragma once

#include <algorithm>
#include <cstdint>

#include "common/parallel.h"
#include "cpu/lstm.h"

namespace {

using dlk::cpu::LstmVariant;

inline int64_t lstm_row_grain(int64_t GH) { return std::max<int64_t>(1, 8192 / GH); }

// g[N, G*H] holds the pre-activations without bias on entry, the activated gates on exit.
template <typename T, typename Math>
void lstm_pointwise_forward(int64_t N, int64_t H, LstmVariant v, const T* b, const T* p,
                            const T* cprev, T* g, T* c, T* tc, T* h) {
  const bool coupled = v == LstmVariant::Coupled, peep = v == LstmVariant::Peephole;
  const int64_t G = coupled ? 3 : 4, GH = G * H;
  dlk::parallel_for(N, lstm_row_grain(GH), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      T* gr = g + n * GH;
      const T* cp = cprev + n * H;
      T* cr = c + n * H;
      T* tcr = tc + n * H;
      T* hr = h + n * H;
      for (int64_t k = 0; k < GH; ++k) gr[k] += b[k];
      T *gi = coupled ? nullptr : gr, *gf = coupled ? gr : gr + H;
      T *gg = gf + H, *go = gg + H;
      if (peep) {
        for (int64_t j = 0; j < H; ++j) {
          gi[j] += p[j] * cp[j];
          gf[j] += p[H + j] * cp[j];
        }
      }
      if (coupled) {
        Math::sigmoid(gf, H);
        Math::tanh(gg, H);
        for (int64_t j = 0; j < H; ++j) cr[j] = gf[j] * cp[j] + (T(1) - gf[j]) * gg[j];
      } else {
        Math::sigmoid(gi, 2 * H);  // i and f are adjacent
        Math::tanh(gg, H);
        for (int64_t j = 0; j < H; ++j) cr[j] = gf[j] * cp[j] + gi[j] * gg[j];
      }
      if (peep) {
        for (int64_t j = 0; j < H; ++j) go[j] += p[2 * H + j] * cr[j];
      }
      Math::sigmoid(go, H);
      Math::tanh_to(cr, tcr, H);
      for (int64_t j = 0; j < H; ++j) hr[j] = go[j] * tcr[j];
    }
  });
}

// The standard variant's forward in one pass per row: each register of lanes goes from the four
// pre-activations to i, f, g, o, c, tanh(c) and h without leaving the registers. The general
// loop above makes seven passes over the row (bias, sigmoid of i|f, tanh of g, c, sigmoid of o,
// tanh(c), h). The last H % lanes columns take Math's one-element calls.
template <typename L, typename Math>
void lstm_pointwise_forward_standard(int64_t N, int64_t H, const float* b, const float* cprev,
                                     float* g, float* c, float* tc, float* h) {
  const int64_t GH = 4 * H, full = H / L::lanes * L::lanes;
  dlk::parallel_for(N, lstm_row_grain(GH), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      float* gi = g + n * GH;
      float *gf = gi + H, *gg = gf + H, *go = gg + H;
      const float* cp = cprev + n * H;
      float* cr = c + n * H;
      float* tcr = tc + n * H;
      float* hr = h + n * H;
      for (int64_t j = 0; j < full; j += L::lanes) {
        const auto i = L::sigmoid(L::add(L::loadu(gi + j), L::loadu(b + j)));
        const auto f = L::sigmoid(L::add(L::loadu(gf + j), L::loadu(b + H + j)));
        const auto gv = L::tanh(L::add(L::loadu(gg + j), L::loadu(b + 2 * H + j)));
        const auto o = L::sigmoid(L::add(L::loadu(go + j), L::loadu(b + 3 * H + j)));
        const auto cv = L::fma(f, L::loadu(cp + j), L::mul(i, gv));
        const auto t = L::tanh(cv);
        L::storeu(gi + j, i);
        L::storeu(gf + j, f);
        L::storeu(gg + j, gv);
        L::storeu(go + j, o);
        L::storeu(cr + j, cv);
        L::storeu(tcr + j, t);
        L::storeu(hr + j, L::mul(o, t));
      }
      for (int64_t j = full; j < H; ++j) {
        float i = gi[j] + b[j], f = gf[j] + b[H + j], gv = gg[j] + b[2 * H + j];
        float o = go[j] + b[3 * H + j];
        Math::sigmoid(&i, 1);
        Math::sigmoid(&f, 1);
        Math::tanh(&gv, 1);
        Math::sigmoid(&o, 1);
        gi[j] = i, gf[j] = f, gg[j] = gv, go[j] = o;
        cr[j] = f * cp[j] + i * gv;
        Math::tanh_to(cr + j, tcr + j, 1);
        hr[j] = o * tcr[j];
      }
    }
  });
}

// One row of the backward, with the variant fixed at compile time: a run-time `if (peep)` or
// `if (!coupled)` in the loop body is control flow that keeps GCC from vectorising it (it
// ran scalar, ~5 % of a char-LSTM training step).
template <typename T, bool kCoupled, bool kPeep>
void lstm_pointwise_backward_row(int64_t H, const T* p, const T* gr, const T* cp, const T* tcr,
                                 const T* dyr, const T* dhr, T* dcr, T* dr) {
  const T* gi = gr;
  const T* gf = kCoupled ? gr : gr + H;
  const T *gg = gf + H, *go = gg + H;
  T* di = dr;
  T* df = kCoupled ? dr : dr + H;
  T *dgg = df + H, *dgo = dgg + H;
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    const T dh = (dyr ? dyr[j] : T(0)) + (dhr ? dhr[j] : T(0));
    const T o = go[j], t = tcr[j], f = gf[j], gv = gg[j], cpj = cp[j];
    const T dao = dh * t * o * (T(1) - o);
    T dct = dcr[j] + dh * o * (T(1) - t * t);
    if constexpr (kPeep) dct += dao * p[2 * H + j];
    const T i = kCoupled ? T(1) - f : gi[j];
    const T daf = kCoupled ? dct * (cpj - gv) * f * (T(1) - f) : dct * cpj * f * (T(1) - f);
    const T dag = dct * i * (T(1) - gv * gv);
    T dcp = dct * f;
    if constexpr (!kCoupled) {
      const T dai = dct * gv * i * (T(1) - i);
      di[j] = dai;
      if constexpr (kPeep) dcp += dai * p[j] + daf * p[H + j];
    }
    df[j] = daf;
    dgg[j] = dag;
    dgo[j] = dao;
    dcr[j] = dcp;
  }
}

// dy (may be null) + dh_next is the gradient reaching h_t; dc holds dc_t on entry and dc_{t-1}
// on exit; dg[N, G*H] receives the gradient of the pre-activations.
template <typename T>
void lstm_pointwise_backward(int64_t N, int64_t H, LstmVariant v, const T* p, const T* g,
                             const T* cprev, const T* tc, const T* dy, const T* dh_next, T* dc,
                             T* dg) {
  const bool coupled = v == LstmVariant::Coupled, peep = v == LstmVariant::Peephole;
  const int64_t G = coupled ? 3 : 4, GH = G * H;
  const auto row = coupled ? lstm_pointwise_backward_row<T, true, false>
                   : peep  ? lstm_pointwise_backward_row<T, false, true>
                           : lstm_pointwise_backward_row<T, false, false>;
  dlk::parallel_for(N, lstm_row_grain(GH), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n)
      row(H, p, g + n * GH, cprev + n * H, tc + n * H, dy ? dy + n * H : nullptr,
          dh_next ? dh_next + n * H : nullptr, dc + n * H, dg + n * GH);
  });
}

}  // namespace
