// 2-D convolution on the CPU: forward, grad-input, grad-weight, grad-bias (formula in conv2d.h).
//
// Rungs of the ladder (2-vCPU AVX-512 Xeon, shared and noisy; table in bench/RESULTS.md):
//   reference  the formula as direct loops over every output and every tap; what a reader
//              checks by eye. A few GFLOP/s at best: scalar, strided, bounds tests per tap.
//   im2col     Caffe's scheme on our GEMM (dlk::cpu::gemm). For one image, one group and a chunk
//              of P output positions, the column matrix col[(c, kh, kw), p] holds the input tap
//              each weight meets at each position; then
//                forward      y[o, p]        = w[o, (c,kh,kw)] . col           (GEMM O x P x K)
//                grad-weight  gw[o, (c,kh,kw)] += gy[o, p] . col^T             (GEMM O x K x P)
//                grad-input   gcol = w^T . gy[:, p], scattered back (col2im)   (GEMM K x P x O)
//              so all the arithmetic runs in the GEMM's register-tiled micro-kernel, and the
//              only extra work is O(K * P) copying per chunk. VGG-like layer: ~0.6-0.7x
//              PyTorch (oneDNN) fwd+bwd, the GEMM itself being the limit.
//   1x1        (inside im2col) a 1x1, stride-1, unpadded convolution *is* a GEMM on the image
//              as it lies in memory (C x H*W): no column matrix at all.
//   winograd   (conv2d_winograd.cpp) 3x3 stride 1, ungrouped: F(2x2, 3x3) does 2.25x fewer
//              multiplies; serves the forward and, as a convolution of gy with the flipped
//              kernel, the grad-input. VGG-like fwd+bwd: ~0.9x PyTorch (grad-weight still im2col).
//              Auto takes it when C and O are >= 16 (below that its transforms dominate).
//
// Why chunks, and why this parallel split:
//   - A whole image's column matrix is K x OH*OW (VGG-like: 576 x 3136 floats = 7.2 MB): built
//     and then read back through memory it costs about as much as the GEMM itself. A chunk of P
//     positions sized to ~512 KiB (a multiple of the GEMM's 32 columns where possible) stays
//     in L2 (2 MiB per core here) between im2col and the GEMM that consumes it.
//     The buffer is per thread and reused across calls (fresh pages cost ~2 us per 4 KiB here),
//     so the workspace is bounded by threads x 512 KiB (or K x 64 elements for huge K).
//   - The per-chunk GEMMs are small (LeNet-like: 32 x 784 x 25) and the GEMM splits its tiles
//     across threads with a barrier per block, which costs more than it gains at that size.
//     So the threads split independent (image, chunk) tasks instead, each running its GEMM
//     single-threaded; grad-weight gives each thread a private accumulator, summed at the end;
//     grad-input splits whole images (chunks of one image overlap in gx through col2im).
//     With too few tasks for the threads (batch 1, one chunk) the loop runs serially and the
//     GEMM threads itself.
#include "cpu/conv2d.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "common/check.h"
#include "common/parallel.h"
#include "cpu/gemm.h"

namespace dlk::cpu {

int64_t conv2d_output_size(int64_t in, int64_t k, int64_t stride, int64_t pad_lo, int64_t pad_hi,
                           int64_t dil) {
  const int64_t span = in + pad_lo + pad_hi - dil * (k - 1) - 1;
  if (span < 0) return 0;
  return span / stride + 1;
}

// ---- rung selection ---------------------------------------------------------------------------
namespace {
std::atomic<int> g_rung{static_cast<int>(Conv2dRung::Auto)};
}

void set_conv2d_rung(Conv2dRung rung) { g_rung.store(static_cast<int>(rung)); }
Conv2dRung conv2d_rung() { return static_cast<Conv2dRung>(g_rung.load()); }

const char* conv2d_rung_name(Conv2dRung rung) {
  switch (rung) {
    case Conv2dRung::Auto: return "auto";
    case Conv2dRung::Reference: return "reference";
    case Conv2dRung::Im2col: return "im2col";
    case Conv2dRung::Winograd: return "winograd";
  }
  return "?";
}

Conv2dRung conv2d_rung_from_name(const std::string& name) {
  for (Conv2dRung r :
       {Conv2dRung::Auto, Conv2dRung::Reference, Conv2dRung::Im2col, Conv2dRung::Winograd})
    if (name == conv2d_rung_name(r)) return r;
  fail("unknown conv2d rung: expected one of 'auto', 'reference', 'im2col', 'winograd', got '",
       name, "'");
}

// ---- reference rung ---------------------------------------------------------------------------
template <typename T>
static void forward_reference(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y) {
  const int64_t Cg = s.C / s.groups, Og = s.O / s.groups;
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t o = 0; o < s.O; ++o) {
      const int64_t c0 = (o / Og) * Cg;
      for (int64_t oh = 0; oh < s.OH; ++oh)
        for (int64_t ow = 0; ow < s.OW; ++ow) {
          T acc = bias ? bias[o] : T(0);
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t kh = 0; kh < s.KH; ++kh)
              for (int64_t kw = 0; kw < s.KW; ++kw) {
                const int64_t ih = oh * s.sh - s.pt + kh * s.dh;
                const int64_t iw = ow * s.sw - s.pl + kw * s.dw;
                if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                acc += x[((n * s.C + c0 + c) * s.H + ih) * s.W + iw] *
                       w[((o * Cg + c) * s.KH + kh) * s.KW + kw];
              }
          y[((n * s.O + o) * s.OH + oh) * s.OW + ow] = acc;
        }
    }
}

// Grad-input and grad-weight as the chain rule of the forward loops: every (output, tap) pair
// that touched x[...] and w[...] sends gy back along the same edge.
template <typename T>
static void backward_reference(const Conv2dShape& s, const T* gy, const T* x, const T* w, T* gx,
                               T* gw) {
  const int64_t Cg = s.C / s.groups, Og = s.O / s.groups;
  if (gx) std::fill(gx, gx + s.N * s.C * s.H * s.W, T(0));
  if (gw) std::fill(gw, gw + s.O * Cg * s.KH * s.KW, T(0));
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t o = 0; o < s.O; ++o) {
      const int64_t c0 = (o / Og) * Cg;
      for (int64_t oh = 0; oh < s.OH; ++oh)
        for (int64_t ow = 0; ow < s.OW; ++ow) {
          const T g = gy[((n * s.O + o) * s.OH + oh) * s.OW + ow];
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t kh = 0; kh < s.KH; ++kh)
              for (int64_t kw = 0; kw < s.KW; ++kw) {
                const int64_t ih = oh * s.sh - s.pt + kh * s.dh;
                const int64_t iw = ow * s.sw - s.pl + kw * s.dw;
                if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                const int64_t xi = ((n * s.C + c0 + c) * s.H + ih) * s.W + iw;
                const int64_t wi = ((o * Cg + c) * s.KH + kh) * s.KW + kw;
                if (gx) gx[xi] += g * w[wi];
                if (gw) gw[wi] += g * x[xi];
              }
        }
    }
}

// ---- im2col rung ------------------------------------------------------------------------------
namespace {

// Per-thread workspace, grown on demand and kept: see the header for why.
struct AlignedBuffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  ~AlignedBuffer() { std::free(ptr); }
  template <typename T>
  T* get(size_t count) {
    const size_t need = count * sizeof(T);
    if (need > bytes) {
      std::free(ptr);
      ptr = nullptr;
      const size_t rounded = (need + 4095) / 4096 * 4096;
      ptr = std::aligned_alloc(4096, rounded);
      if (!ptr) throw std::bad_alloc();
      bytes = rounded;
    }
    return static_cast<T*>(ptr);
  }
};
thread_local AlignedBuffer tls_col;

constexpr size_t kColBudgetBytes = 512 * 1024;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// How the OH*OW output positions of one image are cut into chunks.
struct Chunking {
  int64_t count, size;  // `count` chunks of `size` positions (the last may be shorter)
};

Chunking chunking_for(int64_t positions, int64_t rows, size_t elem_bytes) {
  const int64_t budget = static_cast<int64_t>(kColBudgetBytes / elem_bytes);
  const int64_t max_p = std::max<int64_t>(64, budget / std::max<int64_t>(rows, 1));
  const int64_t count = ceil_div(positions, max_p);
  int64_t size = ceil_div(positions, count);
  // Whole 32-column slivers for the GEMM where that does not add a chunk.
  const int64_t rounded = ceil_div(size, 32) * 32;
  if (ceil_div(positions, rounded) == count) size = rounded;
  return {ceil_div(positions, size), size};
}

bool is_pointwise(const Conv2dShape& s) {
  return s.KH == 1 && s.KW == 1 && s.sh == 1 && s.sw == 1 && s.pt == 0 && s.pb == 0 && s.pl == 0 &&
         s.pr == 0;
}

// Columns ow whose tap kw lands inside the row: 0 <= ow*sw + woff < W.
struct ValidCols {
  int64_t lo, hi;
};
ValidCols valid_cols(const Conv2dShape& s, int64_t kw) {
  const int64_t woff = kw * s.dw - s.pl;
  int64_t lo = woff >= 0 ? 0 : ceil_div(-woff, s.sw);
  int64_t hi = s.W - woff > 0 ? ceil_div(s.W - woff, s.sw) : 0;
  lo = std::min(lo, s.OW);
  hi = std::min(hi, s.OW);
  return {lo, std::max(lo, hi)};
}

// Visits the row segments of the positions [p0, p0 + P) for tap (kh, kw): calls
// seg(dst_offset, ih_or_-1, ow0, ow1, lo, hi) where [lo, hi) is the part of [ow0, ow1) inside
// the image (ih = -1 when the row itself is padding).
template <typename Seg>
void for_segments(const Conv2dShape& s, int64_t kh, const ValidCols& vc, int64_t p0, int64_t P,
                  const Seg& seg) {
  const int64_t end = p0 + P;
  int64_t p = p0;
  while (p < end) {
    const int64_t oh = p / s.OW;
    const int64_t ow0 = p - oh * s.OW;
    const int64_t ow1 = std::min(s.OW, ow0 + (end - p));
    const int64_t ih = oh * s.sh - s.pt + kh * s.dh;
    if (ih < 0 || ih >= s.H) {
      seg(p - p0, int64_t{-1}, ow0, ow1, ow0, ow0);
    } else {
      const int64_t lo = std::max(ow0, vc.lo), hi = std::max(lo, std::min(ow1, vc.hi));
      seg(p - p0, ih, ow0, ow1, lo, hi);
    }
    p += ow1 - ow0;
  }
}

// col[(c*KH + kh)*KW + kw][p - p0] = x_c[ih, iw] (0 outside), for the Cg channels at xg.
template <typename T>
void im2col_chunk(const Conv2dShape& s, const T* xg, int64_t Cg, int64_t p0, int64_t P, T* col) {
  const int64_t HW = s.H * s.W;
  for (int64_t c = 0; c < Cg; ++c) {
    const T* xc = xg + c * HW;
    for (int64_t kh = 0; kh < s.KH; ++kh)
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        T* dst = col + ((c * s.KH + kh) * s.KW + kw) * P;
        const ValidCols vc = valid_cols(s, kw);
        const int64_t woff = kw * s.dw - s.pl;
        const int64_t sw = s.sw;
        for_segments(
            s, kh, vc, p0, P,
            [&](int64_t off, int64_t ih, int64_t ow0, int64_t ow1, int64_t lo, int64_t hi) {
              T* d = dst + off - ow0;  // d[ow]
              for (int64_t ow = ow0; ow < lo; ++ow) d[ow] = T(0);
              if (ih >= 0) {
                const T* src = xc + ih * s.W + woff;  // src[ow * sw]
                if (sw == 1) {
                  std::memcpy(d + lo, src + lo, sizeof(T) * (hi - lo));
                } else {
                  for (int64_t ow = lo; ow < hi; ++ow) d[ow] = src[ow * sw];
                }
              }
              for (int64_t ow = hi; ow < ow1; ++ow) d[ow] = T(0);
            });
      }
  }
}

// The adjoint of im2col_chunk: gx_c[ih, iw] += col[...][p - p0].
template <typename T>
void col2im_chunk(const Conv2dShape& s, const T* col, int64_t Cg, int64_t p0, int64_t P, T* gxg) {
  const int64_t HW = s.H * s.W;
  for (int64_t c = 0; c < Cg; ++c) {
    T* gc = gxg + c * HW;
    for (int64_t kh = 0; kh < s.KH; ++kh)
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        const T* src = col + ((c * s.KH + kh) * s.KW + kw) * P;
        const ValidCols vc = valid_cols(s, kw);
        const int64_t woff = kw * s.dw - s.pl;
        const int64_t sw = s.sw;
        for_segments(s, kh, vc, p0, P,
                     [&](int64_t off, int64_t ih, int64_t ow0, int64_t, int64_t lo, int64_t hi) {
                       if (ih < 0) return;
                       const T* g = src + off - ow0;
                       T* d = gc + ih * s.W + woff;
                       if (sw == 1) {
                         for (int64_t ow = lo; ow < hi; ++ow) d[ow] += g[ow];
                       } else {
                         for (int64_t ow = lo; ow < hi; ++ow) d[ow * sw] += g[ow];
                       }
                     });
      }
  }
}

// Runs f(task) for task in [0, n): split over the threads when there are enough tasks to keep
// them evenly busy (each GEMM inside then runs single-threaded), else serially so that each
// GEMM threads itself.
template <typename F>
void for_tasks(int64_t n, const F& f) {
  const int nt = threads_for_kernel();
  if (nt > 1 && n >= nt && (n % nt == 0 || n >= 4 * nt)) {
    parallel_for(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) f(i);
    });
  } else {
    for (int64_t i = 0; i < n; ++i) f(i);
  }
}

template <typename T>
void forward_im2col(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y) {
  const int64_t Cg = s.C / s.groups, Og = s.O / s.groups, Kg = Cg * s.KH * s.KW;
  const int64_t HW = s.H * s.W, P_all = s.OH * s.OW;
  const bool pointwise = is_pointwise(s);
  const Chunking ch = chunking_for(P_all, pointwise ? 0 : Kg, sizeof(T));
  for_tasks(s.N * ch.count, [&](int64_t task) {
    const int64_t n = task / ch.count, p0 = (task % ch.count) * ch.size;
    const int64_t P = std::min(ch.size, P_all - p0);
    T* col = pointwise ? nullptr : tls_col.get<T>(Kg * P);
    for (int64_t g = 0; g < s.groups; ++g) {
      const T* xg = x + (n * s.C + g * Cg) * HW;
      const T* wg = w + g * Og * Kg;
      T* yg = y + (n * s.O + g * Og) * P_all + p0;
      if (pointwise) {
        gemm<T>(false, false, Og, P, Cg, T(1), wg, Kg, xg + p0, HW, T(0), yg, P_all);
      } else {
        im2col_chunk(s, xg, Cg, p0, P, col);
        gemm<T>(false, false, Og, P, Kg, T(1), wg, Kg, col, P, T(0), yg, P_all);
      }
      if (bias)
        for (int64_t o = 0; o < Og; ++o) {
          const T b = bias[g * Og + o];
          T* row = yg + o * P_all;
          for (int64_t p = 0; p < P; ++p) row[p] += b;
        }
    }
  });
}

template <typename T>
void backward_input_im2col(const Conv2dShape& s, const T* gy, const T* w, T* gx) {
  const int64_t Cg = s.C / s.groups, Og = s.O / s.groups, Kg = Cg * s.KH * s.KW;
  const int64_t HW = s.H * s.W, P_all = s.OH * s.OW;
  const bool pointwise = is_pointwise(s);
  const Chunking ch = chunking_for(P_all, Kg, sizeof(T));
  for_tasks(s.N, [&](int64_t n) {
    if (pointwise) {
      for (int64_t g = 0; g < s.groups; ++g)
        gemm<T>(true, false, Cg, HW, Og, T(1), w + g * Og * Kg, Kg, gy + (n * s.O + g * Og) * P_all,
                P_all, T(0), gx + (n * s.C + g * Cg) * HW, HW);
      return;
    }
    T* gxn = gx + n * s.C * HW;
    std::fill(gxn, gxn + s.C * HW, T(0));
    T* col = tls_col.get<T>(Kg * ch.size);
    for (int64_t q = 0; q < ch.count; ++q) {
      const int64_t p0 = q * ch.size, P = std::min(ch.size, P_all - p0);
      for (int64_t g = 0; g < s.groups; ++g) {
        gemm<T>(true, false, Kg, P, Og, T(1), w + g * Og * Kg, Kg,
                gy + (n * s.O + g * Og) * P_all + p0, P_all, T(0), col, P);
        col2im_chunk(s, col, Cg, p0, P, gxn + g * Cg * HW);
      }
    }
  });
}

template <typename T>
void backward_weight_im2col(const Conv2dShape& s, const T* gy, const T* x, T* gw) {
  const int64_t Cg = s.C / s.groups, Og = s.O / s.groups, Kg = Cg * s.KH * s.KW;
  const int64_t HW = s.H * s.W, P_all = s.OH * s.OW;
  const int64_t wsize = s.O * Kg;
  const bool pointwise = is_pointwise(s);
  const Chunking ch = chunking_for(P_all, pointwise ? 0 : Kg, sizeof(T));
  const int64_t tasks = s.N * ch.count;

  auto run = [&](int64_t b, int64_t e, T* acc) {
    std::fill(acc, acc + wsize, T(0));
    for (int64_t task = b; task < e; ++task) {
      const int64_t n = task / ch.count, p0 = (task % ch.count) * ch.size;
      const int64_t P = std::min(ch.size, P_all - p0);
      T* col = pointwise ? nullptr : tls_col.get<T>(Kg * P);
      for (int64_t g = 0; g < s.groups; ++g) {
        const T* xg = x + (n * s.C + g * Cg) * HW;
        const T* gyg = gy + (n * s.O + g * Og) * P_all + p0;
        if (pointwise) {
          gemm<T>(false, true, Og, Kg, P, T(1), gyg, P_all, xg + p0, HW, T(1), acc + g * Og * Kg,
                  Kg);
        } else {
          im2col_chunk(s, xg, Cg, p0, P, col);
          gemm<T>(false, true, Og, Kg, P, T(1), gyg, P_all, col, P, T(1), acc + g * Og * Kg, Kg);
        }
      }
    }
  };

  const int threads = threads_for_kernel();
  const int nt = (threads > 1 && tasks >= threads && (tasks % threads == 0 || tasks >= 4 * threads))
                     ? threads
                     : 1;
  if (nt == 1) {
    run(0, tasks, gw);
    return;
  }
  // Thread 0 accumulates straight into gw, the others into private copies summed afterwards.
  std::vector<T> partial(static_cast<size_t>(nt - 1) * wsize);
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    run(tasks * t / nt, tasks * (t + 1) / nt, t == 0 ? gw : partial.data() + (t - 1) * wsize);
  }
  for (int t = 1; t < nt; ++t) {
    const T* p = partial.data() + (t - 1) * wsize;
    for (int64_t i = 0; i < wsize; ++i) gw[i] += p[i];
  }
}

}  // namespace

// ---- dispatch ---------------------------------------------------------------------------------
// Auto takes Winograd where it applies and the channel counts make its 16 GEMMs worth
// their transforms; measured on the VGG-like layer it is ~2x the im2col forward.
static bool want_winograd(const Conv2dShape& s) {
  const Conv2dRung r = conv2d_rung();
  if (r == Conv2dRung::Winograd) return true;
  return r == Conv2dRung::Auto && s.C >= 16 && s.O >= 16;
}

template <typename T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y) {
  if (conv2d_rung() == Conv2dRung::Reference) return forward_reference(s, x, w, bias, y);
  if (want_winograd(s) && winograd_applies(s)) return conv2d_forward_winograd(s, x, w, bias, y);
  forward_im2col(s, x, w, bias, y);
}

template <typename T>
void conv2d_backward_input(const Conv2dShape& s, const T* gy, const T* w, T* gx) {
  if (conv2d_rung() == Conv2dRung::Reference)
    return backward_reference<T>(s, gy, nullptr, w, gx, nullptr);
  if (want_winograd(s) && winograd_applies_backward_input(s))
    return conv2d_backward_input_winograd(s, gy, w, gx);
  backward_input_im2col(s, gy, w, gx);
}

template <typename T>
void conv2d_backward_weight(const Conv2dShape& s, const T* gy, const T* x, T* gw) {
  if (conv2d_rung() == Conv2dRung::Reference)
    return backward_reference<T>(s, gy, x, nullptr, nullptr, gw);
  backward_weight_im2col(s, gy, x, gw);
}

// Sixteen independent partial sums per plane: the compiler vectorises them without reordering
// any one sum, and the error grows with P / 16 instead of P.
template <typename T>
void conv2d_backward_bias(int64_t N, int64_t O, int64_t P, const T* gy, T* gb) {
  if (conv2d_rung() == Conv2dRung::Reference) {
    for (int64_t o = 0; o < O; ++o) {
      T acc = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t p = 0; p < P; ++p) acc += gy[(n * O + o) * P + p];
      gb[o] = acc;
    }
    return;
  }
  parallel_for(O, std::max<int64_t>(1, 16384 / std::max<int64_t>(N * P, 1)),
               [&](int64_t b, int64_t e) {
                 for (int64_t o = b; o < e; ++o) {
                   T lanes[16] = {};
                   T tail = 0;
                   for (int64_t n = 0; n < N; ++n) {
                     const T* row = gy + (n * O + o) * P;
                     int64_t p = 0;
                     for (; p + 16 <= P; p += 16)
                       for (int l = 0; l < 16; ++l) lanes[l] += row[p + l];
                     for (; p < P; ++p) tail += row[p];
                   }
                   T acc = tail;
                   for (int l = 0; l < 16; ++l) acc += lanes[l];
                   gb[o] = acc;
                 }
               });
}

#define DLK_CONV2D_INSTANTIATE(T)                                                        \
  template void conv2d_forward<T>(const Conv2dShape&, const T*, const T*, const T*, T*); \
  template void conv2d_backward_input<T>(const Conv2dShape&, const T*, const T*, T*);    \
  template void conv2d_backward_weight<T>(const Conv2dShape&, const T*, const T*, T*);   \
  template void conv2d_backward_bias<T>(int64_t, int64_t, int64_t, const T*, T*);
DLK_CONV2D_INSTANTIATE(float)
DLK_CONV2D_INSTANTIATE(double)
#undef DLK_CONV2D_INSTANTIATE

}  // namespace dlk::cpu
