// 2-D max and average pooling on the CPU (formulas in pool2d.h).
//
// Pooling does a handful of compares or adds per element read: it is memory-bound, and the
// ceiling is the copy bandwidth (~11.5 GB/s on one thread here). Rungs:
//   reference  every output window visited tap by tap with bounds tests (scalar, the formula).
//   fast       per plane (parallel over the N*C planes, a plane stays in L1/L2 while it is
//              worked on): the interior windows of an output row are computed tap by tap across
//              the whole row so the inner loop is a vectorisable max/add over ow (2x2 stride 2
//              unrolled), only the padded edge windows take the scalar path; compiled twice,
//              baseline and AVX-512 (pool2d_fast.h), the wider one picked when the CPU has it.
//   avx2       (pool2d_avx2.cpp) the 2x2 stride-2 float32 max-pool, 8 windows per register; what
//              "fast" runs on a CPU with AVX2 and no AVX-512 (the rest stays on the baseline).
//              Backward zeroes each gx plane while it is cache-resident and scatter-adds into it.
// Why PyTorch is slower here: its NCHW max-pool is a scalar per-output loop with the bounds and
// NaN logic inside the innermost loop (about 0.5 GB/s on this machine, PERF_NOTES.md).
#define DLK_POOL_NS pool_portable
#include "cpu/pool2d.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <type_traits>

#include "common/check.h"
#include "common/cpu_features.h"
#include "common/parallel.h"
#include "cpu/pool2d_fast.h"

namespace dlk::cpu {

#if defined(DLK_X86)
namespace pool_avx512 {
void max_plane_fast(const Pool2dShape&, const float*, float*, int64_t*);
void max_plane_fast(const Pool2dShape&, const double*, double*, int64_t*);
template <typename T>
void avg_plane(const Pool2dShape&, const T*, T*, bool);
void avg_plane_backward_fast(const Pool2dShape&, const float*, float*, bool);
void avg_plane_backward_fast(const Pool2dShape&, const double*, double*, bool);
}  // namespace pool_avx512
namespace pool_avx2 {
void max_plane_fast(const Pool2dShape&, const float*, float*, int64_t*);
}  // namespace pool_avx2
#endif

namespace {
std::atomic<int> g_rung{static_cast<int>(Pool2dRung::Auto)};

// The AVX-512 build of the fast rung: Auto or Fast on a CPU that has it.
bool use_avx512() {
  const Pool2dRung r = static_cast<Pool2dRung>(g_rung.load());
  return (r == Pool2dRung::Auto || r == Pool2dRung::Fast) && cpu_has_avx512();
}

// Planes per thread chunk: at least ~32K elements of input so tiny planes are batched.
int64_t plane_grain(const Pool2dShape& s) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(s.H * s.W, 1));
}
}  // namespace

void set_pool2d_rung(Pool2dRung rung) {
  DLK_CHECK(rung != Pool2dRung::Avx2 || cpu_has_avx2_fma(),
            "pool2d rung avx2: this CPU or build has no AVX2 + FMA");
  g_rung.store(static_cast<int>(rung));
}
Pool2dRung pool2d_rung() { return static_cast<Pool2dRung>(g_rung.load()); }

const char* pool2d_rung_name(Pool2dRung rung) {
  switch (rung) {
    case Pool2dRung::Auto: return "auto";
    case Pool2dRung::Reference: return "reference";
    case Pool2dRung::Fast: return "fast";
    case Pool2dRung::Portable: return "portable";
    case Pool2dRung::Avx2: return "avx2";
  }
  return "?";
}

Pool2dRung pool2d_rung_from_name(const std::string& name) {
  for (Pool2dRung r : {Pool2dRung::Auto, Pool2dRung::Reference, Pool2dRung::Fast,
                       Pool2dRung::Portable, Pool2dRung::Avx2})
    if (name == pool2d_rung_name(r)) return r;
  fail(
      "unknown pool2d rung: expected one of 'auto', 'reference', 'fast', 'portable', 'avx2', got '",
      name, "'");
}

// ---- reference rung ---------------------------------------------------------------------------
template <typename T>
static void max_forward_reference(const Pool2dShape& s, const T* x, T* y, int64_t* argmax) {
  for (int64_t pl = 0; pl < s.N * s.C; ++pl)
    for (int64_t oh = 0; oh < s.OH; ++oh)
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const int64_t o = (pl * s.OH + oh) * s.OW + ow;
        pool_portable::max_window(s, x + pl * s.H * s.W, oh, ow, y[o], argmax[o]);
      }
}

template <typename T>
static int64_t max_backward_reference(const Pool2dShape& s, const T* gy, const int64_t* argmax,
                                      T* gx) {
  const int64_t hw = s.H * s.W, n = s.OH * s.OW;
  std::fill(gx, gx + s.N * s.C * hw, T(0));
  int64_t bad = 0;
  for (int64_t pl = 0; pl < s.N * s.C; ++pl)
    for (int64_t i = 0; i < n; ++i) {
      const int64_t k = argmax[pl * n + i];
      if (k < 0 || k >= hw) {
        ++bad;
        continue;
      }
      gx[pl * hw + k] += gy[pl * n + i];
    }
  return bad;
}

// The window's taps inside the image, as [hs, he) x [ws, we).
static void window(const Pool2dShape& s, int64_t oh, int64_t ow, int64_t& hs, int64_t& he,
                   int64_t& ws, int64_t& we) {
  hs = oh * s.SH - s.PH;
  ws = ow * s.SW - s.PW;
  he = std::min(hs + s.KH, s.H);
  we = std::min(ws + s.KW, s.W);
  hs = std::max<int64_t>(hs, 0);
  ws = std::max<int64_t>(ws, 0);
}

template <typename T>
static void avg_reference(const Pool2dShape& s, const T* x, T* y, const T* gy, T* gx, bool cip) {
  const int64_t hw = s.H * s.W;
  if (gx) std::fill(gx, gx + s.N * s.C * hw, T(0));
  for (int64_t pl = 0; pl < s.N * s.C; ++pl)
    for (int64_t oh = 0; oh < s.OH; ++oh)
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        int64_t hs, he, ws, we;
        window(s, oh, ow, hs, he, ws, we);
        const T div = cip ? T(s.KH * s.KW) : T((he - hs) * (we - ws));
        const int64_t o = (pl * s.OH + oh) * s.OW + ow;
        T acc = 0;
        for (int64_t ih = hs; ih < he; ++ih)
          for (int64_t iw = ws; iw < we; ++iw) {
            if (y) acc += x[pl * hw + ih * s.W + iw];
            if (gx) gx[pl * hw + ih * s.W + iw] += gy[o] / div;
          }
        if (y) y[o] = acc / div;
      }
}

// ---- dispatch ---------------------------------------------------------------------------------
template <typename T>
void max_pool2d_forward(const Pool2dShape& s, const T* x, T* y, int64_t* argmax) {
  if (pool2d_rung() == Pool2dRung::Reference) return max_forward_reference(s, x, y, argmax);
  const Pool2dRung r = pool2d_rung();
  const bool wide = use_avx512();
  // The AVX2 rung has the 2x2 float32 kernel only (pool_avx2 passes the rest to the baseline).
  // (set_pool2d_rung refuses Avx2 on a CPU without it.)
  const bool avx2 =
      std::is_same_v<T, float> && !wide && r != Pool2dRung::Portable && cpu_has_avx2_fma();
  const int64_t hw = s.H * s.W, ohw = s.OH * s.OW;
  parallel_for(s.N * s.C, plane_grain(s), [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
#if defined(DLK_X86)
      if (wide) {
        pool_avx512::max_plane_fast(s, x + pl * hw, y + pl * ohw, argmax + pl * ohw);
        continue;
      }
      if constexpr (std::is_same_v<T, float>) {
        if (avx2) {
          pool_avx2::max_plane_fast(s, x + pl * hw, y + pl * ohw, argmax + pl * ohw);
          continue;
        }
      }
#endif
      pool_portable::max_plane(s, x + pl * hw, y + pl * ohw, argmax + pl * ohw);
    }
  });
}

template <typename T>
int64_t max_pool2d_backward(const Pool2dShape& s, const T* gy, const int64_t* argmax, T* gx) {
  if (pool2d_rung() == Pool2dRung::Reference) return max_backward_reference(s, gy, argmax, gx);
  const int64_t hw = s.H * s.W, ohw = s.OH * s.OW;
  std::atomic<int64_t> bad{0};
  parallel_for(s.N * s.C, plane_grain(s), [&](int64_t b, int64_t e) {
    int64_t mine = 0;
    for (int64_t pl = b; pl < e; ++pl)
      mine += pool_portable::max_plane_backward(s, gy + pl * ohw, argmax + pl * ohw, gx + pl * hw);
    bad += mine;
  });
  return bad.load();
}

template <typename T>
void avg_pool2d_forward(const Pool2dShape& s, const T* x, T* y, bool cip) {
  if (pool2d_rung() == Pool2dRung::Reference)
    return avg_reference<T>(s, x, y, nullptr, nullptr, cip);
  const bool wide = use_avx512();
  const int64_t hw = s.H * s.W, ohw = s.OH * s.OW;
  parallel_for(s.N * s.C, plane_grain(s), [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
#if defined(DLK_X86)
      if (wide) {
        pool_avx512::avg_plane(s, x + pl * hw, y + pl * ohw, cip);
        continue;
      }
#endif
      pool_portable::avg_plane(s, x + pl * hw, y + pl * ohw, cip);
    }
  });
}

template <typename T>
void avg_pool2d_backward(const Pool2dShape& s, const T* gy, T* gx, bool cip) {
  if (pool2d_rung() == Pool2dRung::Reference)
    return avg_reference<T>(s, nullptr, nullptr, gy, gx, cip);
  const bool wide = use_avx512();
  const int64_t hw = s.H * s.W, ohw = s.OH * s.OW;
  parallel_for(s.N * s.C, plane_grain(s), [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
#if defined(DLK_X86)
      if (wide) {
        pool_avx512::avg_plane_backward_fast(s, gy + pl * ohw, gx + pl * hw, cip);
        continue;
      }
#endif
      pool_portable::avg_plane_backward(s, gy + pl * ohw, gx + pl * hw, cip);
    }
  });
}

#define DLK_POOL_INSTANTIATE(T)                                                              \
  template void max_pool2d_forward<T>(const Pool2dShape&, const T*, T*, int64_t*);           \
  template int64_t max_pool2d_backward<T>(const Pool2dShape&, const T*, const int64_t*, T*); \
  template void avg_pool2d_forward<T>(const Pool2dShape&, const T*, T*, bool);               \
  template void avg_pool2d_backward<T>(const Pool2dShape&, const T*, T*, bool);
DLK_POOL_INSTANTIATE(float)
DLK_POOL_INSTANTIATE(double)
#undef DLK_POOL_INSTANTIATE

}  // namespace dlk::cpu
