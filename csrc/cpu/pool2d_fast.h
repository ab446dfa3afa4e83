// The fast pooling rung, one plane at a time, written for the auto-vectoriser.
//
// Included twice: by pool2d.cpp (baseline x86-64 / any CPU) and by pool2d_avx512.cpp (compiled
// with AVX-512, where the same loops become 16-lane code with masked selects). Each includer
// defines DLK_POOL_NS so the two copies are distinct functions, never merged by the linker.
//
// Layout of the work: for each output row, the windows fully inside the image (the interior
// columns) are computed tap by tap across the whole row, so the innermost loop runs over ow
// with a fixed tap offset (a unit- or constant-stride load and an elementwise max/add that the
// compiler vectorises); the few edge windows clipped by padding go through the scalar
// per-window code. The 2x2 stride-2 window (the common one) has its own unrolled loop.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "cpu/pool2d.h"

namespace dlk::cpu::DLK_POOL_NS {

// Columns whose window lies wholly inside the row: ow*SW - PW >= 0, ow*SW - PW + KW <= W.
inline void interior_cols(const Pool2dShape& s, int64_t& a, int64_t& b) {
  a = std::min<int64_t>((s.PW + s.SW - 1) / s.SW, s.OW);
  const int64_t last = s.W + s.PW - s.KW;
  b = last < 0 ? a : std::min<int64_t>(last / s.SW + 1, s.OW);
  b = std::max(a, b);
}

// (m, mi) = (v, i) where t. Built with AVX-512 the ternaries become masked vector selects; in
// the baseline build GCC made them branches, which mispredict on every other window of random
// data (the 2x2 max-pool ran at ~4 ns per output, 10x a copy), so there the select is done on
// the bits with the comparison's mask.
template <typename T>
inline void select_if(bool t, T v, int64_t i, T& m, int64_t& mi) {
#if defined(__AVX512F__)
  m = t ? v : m;
  mi = t ? i : mi;
#else
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  U mb, vb;
  std::memcpy(&mb, &m, sizeof(T));
  std::memcpy(&vb, &v, sizeof(T));
  mb ^= (mb ^ vb) & (U(0) - static_cast<U>(t));
  std::memcpy(&m, &mb, sizeof(T));
  mi ^= (mi ^ i) & -static_cast<int64_t>(t);
#endif
}

template <typename T>
inline void max_window(const Pool2dShape& s, const T* xp, int64_t oh, int64_t ow, T& out,
                       int64_t& idx) {
  int64_t hs = oh * s.SH - s.PH, ws = ow * s.SW - s.PW;
  const int64_t he = std::min(hs + s.KH, s.H), we = std::min(ws + s.KW, s.W);
  hs = std::max<int64_t>(hs, 0);
  ws = std::max<int64_t>(ws, 0);
  T m = -std::numeric_limits<T>::infinity();
  int64_t mi = hs * s.W + ws;
  for (int64_t ih = hs; ih < he; ++ih)
    for (int64_t iw = ws; iw < we; ++iw) {
      const T v = xp[ih * s.W + iw];
      if (v > m || v != v) {
        m = v;
        mi = ih * s.W + iw;
      }
    }
  out = m;
  idx = mi;
}

template <typename T>
inline T avg_divisor(const Pool2dShape& s, int64_t oh, int64_t ow, bool cip) {
  if (cip) return T(s.KH * s.KW);
  const int64_t hs = oh * s.SH - s.PH, ws = ow * s.SW - s.PW;
  const int64_t rows = std::min(hs + s.KH, s.H) - std::max<int64_t>(hs, 0);
  const int64_t cols = std::min(ws + s.KW, s.W) - std::max<int64_t>(ws, 0);
  return T(rows * cols);
}

template <typename T>
void max_plane(const Pool2dShape& s, const T* __restrict xp, T* __restrict yp,
               int64_t* __restrict ap) {
  int64_t a, b;
  interior_cols(s, a, b);
  const bool k22 = s.KH == 2 && s.KW == 2 && s.SW == 2;
  for (int64_t oh = 0; oh < s.OH; ++oh) {
    T* __restrict y = yp + oh * s.OW;
    int64_t* __restrict am = ap + oh * s.OW;
    for (int64_t ow = 0; ow < a; ++ow) max_window(s, xp, oh, ow, y[ow], am[ow]);
    for (int64_t ow = b; ow < s.OW; ++ow) max_window(s, xp, oh, ow, y[ow], am[ow]);
    const int64_t hs0 = oh * s.SH - s.PH;
    const int64_t hs = std::max<int64_t>(hs0, 0), he = std::min(hs0 + s.KH, s.H);
    const int64_t off = -s.PW;  // iw = ow * SW + off + kw
    if (k22 && he - hs == 2 && hs == hs0) {
      const T* __restrict r0 = xp + hs * s.W + off;
      const T* __restrict r1 = r0 + s.W;
      const int64_t base = hs * s.W + off;
      for (int64_t ow = a; ow < b; ++ow) {
        const int64_t j = 2 * ow;
        T m = r0[j];
        int64_t mi = base + j;
        const T v1 = r0[j + 1], v2 = r1[j], v3 = r1[j + 1];
        select_if((v1 > m) | (v1 != v1), v1, base + j + 1, m, mi);
        select_if((v2 > m) | (v2 != v2), v2, base + s.W + j, m, mi);
        select_if((v3 > m) | (v3 != v3), v3, base + s.W + j + 1, m, mi);
        y[ow] = m;
        am[ow] = mi;
      }
      continue;
    }
    // Generic interior: the first tap initialises, later taps in scan order replace on a
    // strictly greater value (or NaN), so ties keep the first.
    bool first = true;
    for (int64_t ih = hs; ih < he; ++ih) {
      const T* __restrict row = xp + ih * s.W + off;
      const int64_t rbase = ih * s.W + off;
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        const int64_t sw = s.SW;
        if (first) {
          for (int64_t ow = a; ow < b; ++ow) {
            y[ow] = row[ow * sw + kw];
            am[ow] = rbase + ow * sw + kw;
          }
          first = false;
          continue;
        }
        for (int64_t ow = a; ow < b; ++ow) {
          const T v = row[ow * sw + kw];
          select_if((v > y[ow]) | (v != v), v, rbase + ow * sw + kw, y[ow], am[ow]);
        }
      }
    }
  }
}

template <typename T>
void avg_plane(const Pool2dShape& s, const T* __restrict xp, T* __restrict yp, bool cip) {
  int64_t a, b;
  interior_cols(s, a, b);
  const bool k22 = s.KH == 2 && s.KW == 2 && s.SW == 2;
  for (int64_t oh = 0; oh < s.OH; ++oh) {
    T* __restrict y = yp + oh * s.OW;
    const int64_t hs0 = oh * s.SH - s.PH;
    const int64_t hs = std::max<int64_t>(hs0, 0), he = std::min(hs0 + s.KH, s.H);
    auto edge = [&](int64_t ow) {
      const int64_t ws = std::max<int64_t>(ow * s.SW - s.PW, 0);
      const int64_t we = std::min(ow * s.SW - s.PW + s.KW, s.W);
      T acc = 0;
      for (int64_t ih = hs; ih < he; ++ih)
        for (int64_t iw = ws; iw < we; ++iw) acc += xp[ih * s.W + iw];
      y[ow] = acc / avg_divisor<T>(s, oh, ow, cip);
    };
    for (int64_t ow = 0; ow < a; ++ow) edge(ow);
    for (int64_t ow = b; ow < s.OW; ++ow) edge(ow);
    // Interior windows share one divisor per row: kh*kw, or (rows inside) * kw.
    const T inv = T(1) / (cip ? T(s.KH * s.KW) : T((he - hs) * s.KW));
    const int64_t off = -s.PW;
    if (k22 && he - hs == 2) {
      const T* __restrict r0 = xp + hs * s.W + off;
      const T* __restrict r1 = r0 + s.W;
      for (int64_t ow = a; ow < b; ++ow) {
        const int64_t j = 2 * ow;
        y[ow] = ((r0[j] + r0[j + 1]) + (r1[j] + r1[j + 1])) * inv;
      }
      continue;
    }
    for (int64_t ow = a; ow < b; ++ow) y[ow] = T(0);
    for (int64_t ih = hs; ih < he; ++ih) {
      const T* __restrict row = xp + ih * s.W + off;
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        const int64_t sw = s.SW;
        for (int64_t ow = a; ow < b; ++ow) y[ow] += row[ow * sw + kw];
      }
    }
    for (int64_t ow = a; ow < b; ++ow) y[ow] *= inv;
  }
}

template <typename T>
void avg_plane_backward(const Pool2dShape& s, const T* __restrict gyp, T* __restrict gxp,
                        bool cip) {
  std::memset(gxp, 0, sizeof(T) * s.H * s.W);
  int64_t a, b;
  interior_cols(s, a, b);
  const bool k22 = s.KH == 2 && s.KW == 2 && s.SW == 2;
  for (int64_t oh = 0; oh < s.OH; ++oh) {
    const T* __restrict g = gyp + oh * s.OW;
    const int64_t hs0 = oh * s.SH - s.PH;
    const int64_t hs = std::max<int64_t>(hs0, 0), he = std::min(hs0 + s.KH, s.H);
    auto edge = [&](int64_t ow) {
      const int64_t ws = std::max<int64_t>(ow * s.SW - s.PW, 0);
      const int64_t we = std::min(ow * s.SW - s.PW + s.KW, s.W);
      const T v = g[ow] / avg_divisor<T>(s, oh, ow, cip);
      for (int64_t ih = hs; ih < he; ++ih)
        for (int64_t iw = ws; iw < we; ++iw) gxp[ih * s.W + iw] += v;
    };
    for (int64_t ow = 0; ow < a; ++ow) edge(ow);
    for (int64_t ow = b; ow < s.OW; ++ow) edge(ow);
    const T inv = T(1) / (cip ? T(s.KH * s.KW) : T((he - hs) * s.KW));
    const int64_t off = -s.PW;
    if (k22 && he - hs == 2) {
      T* __restrict r0 = gxp + hs * s.W + off;
      T* __restrict r1 = r0 + s.W;
      for (int64_t ow = a; ow < b; ++ow) {
        const int64_t j = 2 * ow;
        const T v = g[ow] * inv;
        r0[j] += v;
        r0[j + 1] += v;
        r1[j] += v;
        r1[j + 1] += v;
      }
      continue;
    }
    for (int64_t ih = hs; ih < he; ++ih) {
      T* __restrict row = gxp + ih * s.W + off;
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        const int64_t sw = s.SW;
        for (int64_t ow = a; ow < b; ++ow) row[ow * sw + kw] += g[ow] * inv;
      }
    }
  }
}

// gx is zeroed, then each gradient goes to its argmax; out-of-range indices are counted and
// skipped.
template <typename T>
int64_t max_plane_backward(const Pool2dShape& s, const T* __restrict gyp,
                           const int64_t* __restrict ap, T* __restrict gxp) {
  const int64_t hw = s.H * s.W, n = s.OH * s.OW;
  std::memset(gxp, 0, sizeof(T) * hw);
  int64_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = ap[i];
    if (static_cast<uint64_t>(k) >= static_cast<uint64_t>(hw)) {
      ++bad;
      continue;
    }
    gxp[k] += gyp[i];
  }
  return bad;
}

}  // namespace dlk::cpu::DLK_POOL_NS
