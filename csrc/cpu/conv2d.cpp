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
//   image      (inside im2col) few positions per image (LeNet conv2: 10 x 10 = 100) make a
//   blocks     thin GEMM (32 x 100 x 400) whose packing and edge tiles outweigh its arithmetic.
//              So the column matrices of several images go side by side, col[k, (n, p)], until
//              a block has >= 512 columns (within a 1 MiB per-thread budget for the columns
//              plus the block's output rows): forward GEMMs into out[O, n*P] and scatters the
//              rows to y; grad-input gathers gy's rows into [O, n*P] first and col2im's each
//              image; grad-weight builds the transposed matrix row[(n, p), k] ("im2row") so its
//              GEMM gy[O, n*P] . row is untransposed (gy . col^T packs slower; 16 x 25 x 784:
//              1.7x). Whole-image columns are built row by row of output (no per-segment
//              division / memcpy call); the forward writes them straight into the GEMM's
//              packed layout for B (gemm_prepacked), so the GEMM does not copy them again,
//              and its epilogue adds the bias and ReLU (~3 % on LeNet's conv2 on a Zen 3). LeNet,
//              batch 64, 1 thread, ms per call (process CPU time, median of 3 x 21, shared
//              machine), per-image chunks -> image blocks:
//                conv2 16->32 14x14: fwd 9.0 -> 6.2, grad-weight 8.9 -> 6.1, grad-input 8.2 -> 5.1
//                conv1 1->16 28x28:  fwd 2.5 -> 2.5, grad-weight 5.1 -> 4.2, grad-input 2.4 -> 2.0
//              (conv1 has 784 positions: one image per block; it gains from im2row and the row
//              walk only). The copies are still ~1/3 of the time and the GEMMs run at 30-60
//              GFLOP/s on these thin shapes. 512 columns and 1 MiB measured better than 256 /
//              1 MiB and 1024 / 2 MiB. Rung 'im2col_per_image' keeps one image per GEMM.
//   1x1        (inside im2col) a 1x1, stride-1, unpadded convolution *is* a GEMM on the image
//              as it lies in memory (C x H*W): no column matrix at all.
//   implicit   (conv2d_implicit_avx2.cpp) float32 AVX2, stride 1, undilated, ungrouped: forward
//              and grad-weight as a GEMM whose micro-kernel reads the taps in place (their offset
//              is a per-tap plus a per-position term), no column matrix. On LeNet's layers it is
//              1.3-1.9x the im2col forward and grad-weight; Auto takes it for small images on
//              CPUs without AVX-512 (want_implicit). Grad-input is the same forward on the
//              padded gy with flipped weights, when every weight is finite (else a padded tap's
//              0 * inf would put a NaN where col2im, which never forms that term, has none).
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
#include "common/workspace.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <vector>

#include "common/check.h"
#include "common/cpu_features.h"
#include "common/parallel.h"
#include "cpu/bias_activation.h"
#include "cpu/gemm.h"
#include "cpu/rnn_math.h"

namespace dlk::cpu {

int64_t conv2d_output_size(int64_t in, int64_t k, int64_t stride, int64_t pad_lo, int64_t pad_hi,
                           int64_t dil) {
  const int64_t span = in + pad_lo + pad_hi - dil * (k - 1) - 1;
  if (span < 0) return 0;
  return span / stride + 1;
}

Conv2dShape grad_input_as_forward(const Conv2dShape& s) {
  Conv2dShape t = s;
  t.C = s.O, t.O = s.C, t.H = s.OH, t.W = s.OW, t.OH = s.H, t.OW = s.W;
  t.pt = s.KH - 1 - s.pt, t.pb = s.KH - 1 - s.pb, t.pl = s.KW - 1 - s.pl, t.pr = s.KW - 1 - s.pr;
  return t;
}

template <typename T>
void flip_weights(const Conv2dShape& s, const T* w, T* flipped) {
  const int64_t taps = s.KH * s.KW;
  for (int64_t o = 0; o < s.O; ++o)
    for (int64_t c = 0; c < s.C; ++c)
      for (int64_t k = 0; k < taps; ++k)
        flipped[(c * s.O + o) * taps + (taps - 1 - k)] = w[(o * s.C + c) * taps + k];
}
template void flip_weights<float>(const Conv2dShape&, const float*, float*);
template void flip_weights<double>(const Conv2dShape&, const double*, double*);

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
    case Conv2dRung::Im2colPerImage: return "im2col_per_image";
    case Conv2dRung::Implicit: return "implicit";
  }
  return "?";
}

Conv2dRung conv2d_rung_from_name(const std::string& name) {
  for (Conv2dRung r : {Conv2dRung::Auto, Conv2dRung::Reference, Conv2dRung::Im2col,
                       Conv2dRung::Winograd, Conv2dRung::Im2colPerImage, Conv2dRung::Implicit})
    if (name == conv2d_rung_name(r)) return r;
  fail(
      "unknown conv2d rung: expected one of 'auto', 'reference', 'im2col', 'winograd', "
      "'im2col_per_image', 'implicit', got '",
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
thread_local Workspace tls_col;

constexpr size_t kColBudgetBytes = 512 * 1024;
constexpr int64_t kBlockColumns = 512;
constexpr size_t kBlockBudgetBytes = 1024 * 1024;
// Deterministic grad-weight: tasks are summed in this many fixed groups (enough for the
// threads of a large machine; each costs a weight-sized buffer).
constexpr int64_t kDeterministicGroups = 16;

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

// Rows oh whose tap kh lands inside the image: 0 <= oh*sh + hoff < H.
ValidCols valid_rows(const Conv2dShape& s, int64_t kh) {
  const int64_t hoff = kh * s.dh - s.pt;
  int64_t lo = hoff >= 0 ? 0 : ceil_div(-hoff, s.sh);
  int64_t hi = s.H - hoff > 0 ? ceil_div(s.H - hoff, s.sh) : 0;
  lo = std::min(lo, s.OH);
  hi = std::min(hi, s.OH);
  return {lo, std::max(lo, hi)};
}

// One row of the column matrix: tap (kh, kw) of channel plane xc at every output position,
// dst[oh * OW + ow].
template <typename T>
void im2col_tap_row(const Conv2dShape& s, const T* xc, int64_t kh, int64_t kw, T* dst) {
  const int64_t OW = s.OW, sw = s.sw;
  const ValidCols vr = valid_rows(s, kh);
  const int64_t hoff = kh * s.dh - s.pt;
  const ValidCols vc = valid_cols(s, kw);
  const int64_t woff = kw * s.dw - s.pl;
  std::fill(dst, dst + vr.lo * OW, T(0));
  const int64_t lo = vc.lo, hi = vc.hi, row_step = s.sh * s.W;
  const T* src = xc + (vr.lo * s.sh + hoff) * s.W + woff;  // src[ow * sw], row vr.lo
  for (int64_t oh = vr.lo; oh < vr.hi; ++oh, src += row_step) {
    T* __restrict__ d = dst + oh * OW;
    const T* __restrict__ r = src;
    for (int64_t ow = 0; ow < lo; ++ow) d[ow] = T(0);
    if (sw == 1) {
      for (int64_t ow = lo; ow < hi; ++ow) d[ow] = r[ow];
    } else {
      for (int64_t ow = lo; ow < hi; ++ow) d[ow] = r[ow * sw];
    }
    for (int64_t ow = hi; ow < OW; ++ow) d[ow] = T(0);
  }
  std::fill(dst + vr.hi * OW, dst + s.OH * OW, T(0));
}

// im2col_chunk for a whole image (p0 = 0, P = OH*OW), walking output rows directly: small
// images (LeNet: rows of 10) have so many short segments that the generic walk's per-segment
// division and memcpy call cost more than the copying.
template <typename T>
void im2col_image(const Conv2dShape& s, const T* xg, int64_t Cg, T* col, int64_t ld) {
  const int64_t HW = s.H * s.W;
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t kh = 0; kh < s.KH; ++kh)
      for (int64_t kw = 0; kw < s.KW; ++kw)
        im2col_tap_row(s, xg + c * HW, kh, kw, col + ((c * s.KH + kh) * s.KW + kw) * ld);
}

// Row k of a matrix (cols values) into its slivers of NR columns in the packed layout, the last
// one zero-padded.
template <int NR, typename T>
void deal_row(const T* row, int64_t cols, const PackedBLayout<T>& layout, int64_t k, T* dst) {
  const int64_t full = cols / NR * NR;
  T* d = dst + layout.at(k, 0);
  const int64_t sliver_step = layout.at(k, NR) - layout.at(k, 0);
  for (int64_t j = 0; j < full; j += NR, d += sliver_step) std::memcpy(d, row + j, sizeof(T) * NR);
  if (full < cols) {
    for (int64_t i = 0; i < cols - full; ++i) d[i] = row[full + i];
    for (int64_t i = cols - full; i < NR; ++i) d[i] = T(0);
  }
}

// The column matrix of nb whole images side by side (col[k, j * OH*OW + p]), written straight
// into the GEMM's packed layout for B: each row is built in `row` (nb * OH*OW values, in L1)
// and dealt out to the slivers, so the GEMM reads B as it lies instead of copying a column
// matrix that, for a block of LeNet's conv2 (400 x 600 values), does not fit this L2.
template <typename T>
void im2col_packed(const Conv2dShape& s, const T* xg, int64_t nb, int64_t Cg,
                   const PackedBLayout<T>& layout, T* dst, T* row) {
  const int64_t HW = s.H * s.W, P = s.OH * s.OW, cols = nb * P, nr = layout.nr;
  DLK_CHECK(nr == 32 || nr == 16 || nr == 8 || nr == 4, "conv2d: no packing for tile width ", nr);
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t kh = 0; kh < s.KH; ++kh)
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        const int64_t k = (c * s.KH + kh) * s.KW + kw;
        for (int64_t j = 0; j < nb; ++j)
          im2col_tap_row(s, xg + j * s.C * HW + c * HW, kh, kw, row + j * P);
        switch (nr) {  // whole slivers as copies of constant size (a call each was slower)
          case 32: deal_row<32>(row, cols, layout, k, dst); break;
          case 16: deal_row<16>(row, cols, layout, k, dst); break;
          case 8: deal_row<8>(row, cols, layout, k, dst); break;
          default: deal_row<4>(row, cols, layout, k, dst);  // nr 4: the portable f64 tile
        }
      }
}

// The adjoint of im2col_image.
template <typename T>
void col2im_image(const Conv2dShape& s, const T* col, int64_t Cg, T* gxg, int64_t ld) {
  const int64_t HW = s.H * s.W, OW = s.OW, sw = s.sw;
  for (int64_t c = 0; c < Cg; ++c) {
    T* gc = gxg + c * HW;
    for (int64_t kh = 0; kh < s.KH; ++kh) {
      const ValidCols vr = valid_rows(s, kh);
      const int64_t hoff = kh * s.dh - s.pt;
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        const T* src = col + ((c * s.KH + kh) * s.KW + kw) * ld;
        const ValidCols vc = valid_cols(s, kw);
        const int64_t woff = kw * s.dw - s.pl;
        for (int64_t oh = vr.lo; oh < vr.hi; ++oh) {
          const T* g = src + oh * OW;
          T* d = gc + (oh * s.sh + hoff) * s.W + woff;  // d[ow * sw]
          if (sw == 1) {
            for (int64_t ow = vc.lo; ow < vc.hi; ++ow) d[ow] += g[ow];
          } else {
            for (int64_t ow = vc.lo; ow < vc.hi; ++ow) d[ow * sw] += g[ow];
          }
        }
      }
    }
  }
}

// The transpose of im2col_image ("im2row"): row[p][(c*KH + kh)*KW + kw] = x_c[ih, iw] (0
// outside), one row of Kg = Cg*KH*KW taps per output position. Grad-weight multiplies
// gy[o, p] . row[p, k] as a plain (untransposed) GEMM, which packs faster than gy . col^T.
// One output row oh of im2row for taps of width KW (a compile-time constant where it is 3, 5
// or 7, so the copy of a position's KW taps unrolls): positions whose taps all lie inside the
// image row are copied without bound tests, the rest (padding columns) test each tap.
template <int KWc, typename T>
void im2row_row(const Conv2dShape& s, const T* xg, int64_t Cg, int64_t oh, T* row) {
  const int64_t KW = KWc > 0 ? KWc : s.KW;
  const int64_t HW = s.H * s.W, Kg = Cg * s.KH * KW, OW = s.OW, sw = s.sw, dw = s.dw;
  const int64_t iw_first = -s.pl, span = (KW - 1) * dw;
  // Positions [lo, hi) whose KW taps are all inside: iw0 >= 0 and iw0 + span < W.
  const int64_t lo = std::min(OW, ceil_div(std::max<int64_t>(0, -iw_first), sw));
  const int64_t hi = std::max(
      lo,
      std::min(OW, s.W - span - iw_first > 0 ? ceil_div(s.W - span - iw_first, sw) : int64_t{0}));
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t kh = 0; kh < s.KH; ++kh) {
      T* d = row + oh * OW * Kg + (c * s.KH + kh) * KW;  // d[ow * Kg + kw]
      const int64_t ih = oh * s.sh - s.pt + kh * s.dh;
      if (ih < 0 || ih >= s.H) {
        for (int64_t ow = 0; ow < OW; ++ow)
          for (int64_t kw = 0; kw < KW; ++kw) d[ow * Kg + kw] = T(0);
        continue;
      }
      const T* src = xg + c * HW + ih * s.W + iw_first;  // src[ow * sw + kw * dw]
      auto edge = [&](int64_t ow) {
        for (int64_t kw = 0; kw < KW; ++kw) {
          const int64_t iw = iw_first + ow * sw + kw * dw;
          d[ow * Kg + kw] = (iw >= 0 && iw < s.W) ? src[ow * sw + kw * dw] : T(0);
        }
      };
      for (int64_t ow = 0; ow < lo; ++ow) edge(ow);
      if (dw == 1) {
        for (int64_t ow = lo; ow < hi; ++ow)
          for (int64_t kw = 0; kw < KW; ++kw) d[ow * Kg + kw] = src[ow * sw + kw];
      } else {
        for (int64_t ow = lo; ow < hi; ++ow)
          for (int64_t kw = 0; kw < KW; ++kw) d[ow * Kg + kw] = src[ow * sw + kw * dw];
      }
      for (int64_t ow = hi; ow < OW; ++ow) edge(ow);
    }
}

// The transpose of im2col_image ("im2row"): row[p][(c*KH + kh)*KW + kw] = x_c[ih, iw] (0
// outside), one row of Kg = Cg*KH*KW taps per output position. Grad-weight multiplies
// gy[o, p] . row[p, k] as a plain (untransposed) GEMM, which packs faster than gy . col^T.
template <typename T>
void im2row_image(const Conv2dShape& s, const T* xg, int64_t Cg, T* row) {
  for (int64_t oh = 0; oh < s.OH; ++oh) {
    switch (s.KW) {
      case 3: im2row_row<3>(s, xg, Cg, oh, row); break;
      case 5: im2row_row<5>(s, xg, Cg, oh, row); break;
      case 7: im2row_row<7>(s, xg, Cg, oh, row); break;
      default: im2row_row<0>(s, xg, Cg, oh, row); break;
    }
  }
}

// col[(c*KH + kh)*KW + kw][p - p0] = x_c[ih, iw] (0 outside), for the Cg channels at xg; the
// rows of col are ld apart (ld = P for one image; images side by side use a wider ld).
template <typename T>
void im2col_chunk(const Conv2dShape& s, const T* xg, int64_t Cg, int64_t p0, int64_t P, T* col,
                  int64_t ld) {
  if (p0 == 0 && P == s.OH * s.OW) return im2col_image(s, xg, Cg, col, ld);
  const int64_t HW = s.H * s.W;
  for (int64_t c = 0; c < Cg; ++c) {
    const T* xc = xg + c * HW;
    for (int64_t kh = 0; kh < s.KH; ++kh)
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        T* dst = col + ((c * s.KH + kh) * s.KW + kw) * ld;
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
void col2im_chunk(const Conv2dShape& s, const T* col, int64_t Cg, int64_t p0, int64_t P, T* gxg,
                  int64_t ld) {
  if (p0 == 0 && P == s.OH * s.OW) return col2im_image(s, col, Cg, gxg, ld);
  const int64_t HW = s.H * s.W;
  for (int64_t c = 0; c < Cg; ++c) {
    T* gc = gxg + c * HW;
    for (int64_t kh = 0; kh < s.KH; ++kh)
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        const T* src = col + ((c * s.KH + kh) * s.KW + kw) * ld;
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

// How the batch is cut into tasks: blocks of `images` images (the last may be shorter), each
// image's positions cut into `ch` chunks. Blocks of more than one image only arise when a whole
// image is one chunk.
struct Blocking {
  int64_t images, blocks;
  Chunking ch;
  int64_t tasks() const { return blocks * ch.count; }
};

// Few positions per image (LeNet conv2: 10 x 10 = 100) make a thin GEMM whose packing and edge
// tiles cost more than its arithmetic, so the column matrices of several images are laid side
// by side until a block has >= kBlockColumns columns, while the block's columns plus its output
// (or gathered gy) rows, (rows + out_rows) x images x P, stay within kBlockBudgetBytes.
// `rows` = 0 marks the pointwise shortcut (no column matrix): blocks of one image then.
// `threads` sizes the blocks (at least one per thread); deterministic grad-weight passes a
// fixed count, since the blocks set the order of its sums.
Blocking blocking_for(const Conv2dShape& s, int64_t rows, int64_t out_rows, size_t elem_bytes,
                      int threads = threads_for_kernel()) {
  const int64_t P_all = s.OH * s.OW;
  const Chunking ch = chunking_for(P_all, rows, elem_bytes);
  int64_t images = 1;
  if (rows > 0 && ch.count == 1 && P_all < kBlockColumns &&
      conv2d_rung() != Conv2dRung::Im2colPerImage) {
    const int64_t budget = static_cast<int64_t>(kBlockBudgetBytes / elem_bytes);
    const int64_t fit = budget / std::max<int64_t>((rows + out_rows) * P_all, 1);
    images = std::clamp<int64_t>(ceil_div(kBlockColumns, std::max<int64_t>(P_all, 1)), 1,
                                 std::max<int64_t>(fit, 1));
    // Keep at least one block per thread, then even out the block sizes.
    images = std::min(images, std::max<int64_t>(1, s.N / threads));
    images = ceil_div(s.N, ceil_div(s.N, images));
  }
  return {images, ceil_div(s.N, images), ch};
}

// Offset (in elements) of a second array after `count` elements, rounded to 64 bytes.
template <typename T>
int64_t aligned_after(int64_t count) {
  constexpr int64_t per = 64 / sizeof(T);
  return ceil_div(count, per) * per;
}

template <typename T>
void forward_im2col(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y, bool relu) {
  const int64_t Cg = s.C / s.groups, Og = s.O / s.groups, Kg = Cg * s.KH * s.KW;
  const int64_t HW = s.H * s.W, P_all = s.OH * s.OW;
  const bool pointwise = is_pointwise(s);
  const Blocking bl = blocking_for(s, pointwise ? 0 : Kg, Og, sizeof(T));
  const Chunking ch = bl.ch;
  for_tasks(bl.tasks(), [&](int64_t task) {
    const int64_t n0 = (task / ch.count) * bl.images, p0 = (task % ch.count) * ch.size;
    const int64_t nb = std::min(bl.images, s.N - n0);
    const int64_t P = std::min(ch.size, P_all - p0), cols = nb * P;
    // One image: the GEMM writes y in place. Several: into out[Og, cols], scattered after.
    // Whole images build the column matrix in the GEMM's own layout for B (then `col` holds
    // it, and `row` one row of it), the bias and ReLU riding on the GEMM's epilogue.
    const bool packed = !pointwise && ch.count == 1 && conv2d_rung() != Conv2dRung::Im2colPerImage;
    const PackedBLayout<T> layout(packed ? Kg : 0, packed ? cols : 0);
    const int64_t col_size = pointwise ? 0
                             : packed  ? aligned_after<T>(layout.size()) + aligned_after<T>(cols)
                                       : aligned_after<T>(Kg * cols);
    T* col = pointwise ? nullptr : tls_col.get<T>(col_size + (nb > 1 ? Og * cols : 0));
    T* row = packed ? col + aligned_after<T>(layout.size()) : nullptr;
    T* out = col + col_size;
    for (int64_t g = 0; g < s.groups; ++g) {
      const T* xg = x + (n0 * s.C + g * Cg) * HW;
      const T* wg = w + g * Og * Kg;
      T* yg = y + (n0 * s.O + g * Og) * P_all + p0;
      T* c = nb == 1 ? yg : out;
      const int64_t ldc = nb == 1 ? P_all : cols;
      if (pointwise) {
        gemm<T>(false, false, Og, P, Cg, T(1), wg, Kg, xg + p0, HW, T(0), yg, P_all);
      } else if (packed) {
        im2col_packed(s, xg, nb, Cg, layout, col, row);
        gemm_prepacked<T>(Og, T(1), wg, Kg, layout, col, T(0), c, ldc,
                          bias ? bias + g * Og : nullptr, true,
                          relu ? Activation::Relu : Activation::None);
      } else {
        for (int64_t j = 0; j < nb; ++j)
          im2col_chunk(s, xg + j * s.C * HW, Cg, p0, P, col + j * P, cols);
        gemm<T>(false, false, Og, cols, Kg, T(1), wg, Kg, col, cols, T(0), c, ldc);
      }
      if (nb > 1)
        for (int64_t j = 0; j < nb; ++j)
          for (int64_t o = 0; o < Og; ++o)
            std::memcpy(yg + (j * s.O + o) * P_all, out + o * cols + j * P, sizeof(T) * P);
      // Bias and ReLU while this block of y is still in cache (the packed path's epilogue
      // applied them already).
      if (!packed && (bias || relu))
        for (int64_t j = 0; j < nb; ++j)
          for (int64_t o = 0; o < Og; ++o)
            bias_activation_run<ScalarMath>(relu ? Activation::Relu : Activation::None, P,
                                            bias ? bias + g * Og + o : nullptr, 0,
                                            yg + (j * s.O + o) * P_all);
    }
  });
}

// gyb[o, j*P + p] = gy[n0 + j, o0 + o, p0 + p]: a block's gy rows side by side, as its columns.
template <typename T>
void gather_gy(const Conv2dShape& s, const T* gy_at, int64_t Og, int64_t nb, int64_t P, T* gyb) {
  const int64_t P_all = s.OH * s.OW, cols = nb * P;
  for (int64_t o = 0; o < Og; ++o)
    for (int64_t j = 0; j < nb; ++j)
      std::memcpy(gyb + o * cols + j * P, gy_at + (j * s.O + o) * P_all, sizeof(T) * P);
}

template <typename T>
void backward_input_im2col(const Conv2dShape& s, const T* gy, const T* w, T* gx) {
  const int64_t Cg = s.C / s.groups, Og = s.O / s.groups, Kg = Cg * s.KH * s.KW;
  const int64_t HW = s.H * s.W, P_all = s.OH * s.OW;
  const bool pointwise = is_pointwise(s);
  // Tasks are whole blocks of images: chunks of one image overlap in gx through col2im.
  const Blocking bl = blocking_for(s, Kg, Og, sizeof(T));
  const Chunking ch = bl.ch;
  for_tasks(bl.blocks, [&](int64_t block) {
    const int64_t n0 = block * bl.images, nb = std::min(bl.images, s.N - n0);
    if (pointwise && nb == 1) {
      for (int64_t g = 0; g < s.groups; ++g)
        gemm<T>(true, false, Cg, HW, Og, T(1), w + g * Og * Kg, Kg,
                gy + (n0 * s.O + g * Og) * P_all, P_all, T(0), gx + (n0 * s.C + g * Cg) * HW, HW);
      return;
    }
    T* gxn = gx + n0 * s.C * HW;
    std::fill(gxn, gxn + nb * s.C * HW, T(0));
    const int64_t col_size = aligned_after<T>(Kg * nb * ch.size);
    T* col = tls_col.get<T>(col_size + (nb > 1 ? Og * nb * ch.size : 0));
    T* gyb = col + col_size;
    for (int64_t q = 0; q < ch.count; ++q) {
      const int64_t p0 = q * ch.size, P = std::min(ch.size, P_all - p0), cols = nb * P;
      for (int64_t g = 0; g < s.groups; ++g) {
        const T* gyg = gy + (n0 * s.O + g * Og) * P_all + p0;
        if (nb == 1) {
          gemm<T>(true, false, Kg, P, Og, T(1), w + g * Og * Kg, Kg, gyg, P_all, T(0), col, P);
        } else {
          gather_gy(s, gyg, Og, nb, P, gyb);
          gemm<T>(true, false, Kg, cols, Og, T(1), w + g * Og * Kg, Kg, gyb, cols, T(0), col, cols);
        }
        for (int64_t j = 0; j < nb; ++j)
          col2im_chunk(s, col + j * P, Cg, p0, P, gxn + (j * s.C + g * Cg) * HW, cols);
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
  const bool deterministic = deterministic_algorithms();
  const Blocking bl = deterministic ? blocking_for(s, pointwise ? 0 : Kg, Og, sizeof(T), 1)
                                   : blocking_for(s, pointwise ? 0 : Kg, Og, sizeof(T));
  const Chunking ch = bl.ch;
  const int64_t tasks = bl.tasks();

  auto run = [&](int64_t b, int64_t e, T* acc) {
    std::fill(acc, acc + wsize, T(0));
    for (int64_t task = b; task < e; ++task) {
      const int64_t n0 = (task / ch.count) * bl.images, p0 = (task % ch.count) * ch.size;
      const int64_t nb = std::min(bl.images, s.N - n0);
      const int64_t P = std::min(ch.size, P_all - p0), cols = nb * P;
      const int64_t col_size = pointwise ? 0 : aligned_after<T>(Kg * cols);
      T* col = pointwise ? nullptr : tls_col.get<T>(col_size + (nb > 1 ? Og * cols : 0));
      T* gyb = col + col_size;
      for (int64_t g = 0; g < s.groups; ++g) {
        const T* xg = x + (n0 * s.C + g * Cg) * HW;
        const T* gyg = gy + (n0 * s.O + g * Og) * P_all + p0;
        T* accg = acc + g * Og * Kg;
        if (pointwise) {
          gemm<T>(false, true, Og, Kg, P, T(1), gyg, P_all, xg + p0, HW, T(1), accg, Kg);
          continue;
        }
        if (ch.count > 1) {  // a chunk of one image
          im2col_chunk(s, xg, Cg, p0, P, col, P);
          gemm<T>(false, true, Og, Kg, P, T(1), gyg, P_all, col, P, T(1), accg, Kg);
        } else {  // whole images: the transposed column matrix, an untransposed GEMM
          for (int64_t j = 0; j < nb; ++j) im2row_image(s, xg + j * s.C * HW, Cg, col + j * P * Kg);
          if (nb > 1) gather_gy(s, gyg, Og, nb, P, gyb);
          gemm<T>(false, false, Og, Kg, cols, T(1), nb > 1 ? gyb : gyg, nb > 1 ? cols : P_all, col,
                  Kg, T(1), accg, Kg);
        }
      }
    }
  };

  const int threads = threads_for_kernel();
  if (deterministic) {
    // A fixed number of groups of consecutive tasks, each summed into its own buffer in task
    // order, then the buffers added in group order: the same sums in the same order for any
    // thread count. Costs (groups - 1) weight-sized buffers and their sum, and the blocks are
    // sized as for one thread (fewer, larger GEMMs).
    const int64_t groups = std::min<int64_t>(tasks, kDeterministicGroups);
    if (groups <= 1) {
      run(0, tasks, gw);
      return;
    }
    std::vector<T> partial(static_cast<size_t>(groups - 1) * wsize);
    const int nt = static_cast<int>(std::min<int64_t>(threads, groups));
    parallel_chunks(groups, nt, [&](int64_t g) {
      run(tasks * g / groups, tasks * (g + 1) / groups,
          g == 0 ? gw : partial.data() + (g - 1) * wsize);
    });
    for (int64_t g = 1; g < groups; ++g) {
      const T* p = partial.data() + (g - 1) * wsize;
      for (int64_t i = 0; i < wsize; ++i) gw[i] += p[i];
    }
    return;
  }
  const int nt = (threads > 1 && tasks >= threads && (tasks % threads == 0 || tasks >= 4 * threads))
                     ? threads
                     : 1;
  if (nt == 1) {
    run(0, tasks, gw);
    return;
  }
  // Chunk 0 accumulates straight into gw, the others into private copies summed afterwards.
  std::vector<T> partial(static_cast<size_t>(nt - 1) * wsize);
  parallel_chunks(nt, nt, [&](int64_t t) {
    run(tasks * t / nt, tasks * (t + 1) / nt, t == 0 ? gw : partial.data() + (t - 1) * wsize);
  });
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

// Typed forwarders: want_implicit<T> is false for every T but float.
template <typename T>
static void implicit_forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y,
                             bool relu) {
  if constexpr (std::is_same_v<T, float>) conv2d_forward_implicit_avx2(s, x, w, bias, y, relu);
}
// False (nothing done) where the grad-input form does not apply.
template <typename T>
static bool implicit_backward_input(const Conv2dShape& s, const T* gy, const T* w, T* gx) {
  if constexpr (std::is_same_v<T, float>) {
    if (!implicit_conv_backward_input_applies(s, w)) return false;
    conv2d_backward_input_implicit_avx2(s, gy, w, gx);
    return true;
  }
  return false;
}
template <typename T>
static void implicit_backward_weight(const Conv2dShape& s, const T* gy, const T* x, T* gw) {
  if constexpr (std::is_same_v<T, float>) conv2d_backward_weight_implicit_avx2(s, gy, x, gw);
}

// The implicit-GEMM rung: float32 on a CPU with AVX2, for the shapes it covers. Auto takes it
// on CPUs without AVX-512 (where it was measured: 1.3-1.9x the im2col forward and grad-weight
// on LeNet's layers and 5x5 layers up to 32 -> 64 channels of 14x14 or 16 channels of 28x28, 1
// and 2 threads) for images whose padded planes fit in a quarter of L2, batches of 4 or more (its
// forward splits the batch over the threads) and kernels larger than 1x1 (a 1x1 is a plain GEMM
// already). The choice never depends on the thread count, so deterministic mode stays bitwise.
template <typename T>
static bool want_implicit(const Conv2dShape& s) {
  if constexpr (!std::is_same_v<T, float>) {
    return false;
  } else {
#if defined(DLK_X86)
    static const bool avx2 = cpu_has_avx2_fma(), avx512 = best_isa() == Isa::Avx512;
    if (!avx2 || !implicit_conv_applies(s)) return false;
    const Conv2dRung r = conv2d_rung();
    if (r == Conv2dRung::Implicit) return true;
    const int64_t image_bytes = s.C * (s.H + s.pt + s.pb) * (s.W + s.pl + s.pr) * 4;
    return r == Conv2dRung::Auto && !avx512 && s.KH * s.KW > 1 && image_bytes <= 131072 &&
           s.N >= 4;
#else
    return false;
#endif
  }
}

// An empty batch has nothing to compute (and the blocking code would divide by its size):
// the outputs are empty, or for grad-weight a sum over nothing, zero.
template <typename T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y,
                    Activation act) {
  if (s.N == 0) return;
  const bool relu = act == Activation::Relu;
  const bool reference = conv2d_rung() == Conv2dRung::Reference;
  if (reference)
    forward_reference(s, x, w, bias, y);
  else if (want_winograd(s) && winograd_applies(s))
    conv2d_forward_winograd(s, x, w, bias, y, relu);
  else if (want_implicit<T>(s))
    implicit_forward(s, x, w, bias, y, relu);
  else
    forward_im2col(s, x, w, bias, y, relu);
  // What the passes above did not apply: everything on the reference rung, tanh and sigmoid.
  if (act != Activation::None && (!relu || reference)) {
    const int64_t P = s.OH * s.OW;
    parallel_for(s.N * s.O, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        bias_activation_run<ScalarMath, T>(act, P, nullptr, 0, y + i * P);
    });
  }
}

template <typename T>
void conv2d_backward_input(const Conv2dShape& s, const T* gy, const T* w, T* gx) {
  if (s.N == 0) return;
  if (conv2d_rung() == Conv2dRung::Reference)
    return backward_reference<T>(s, gy, nullptr, w, gx, nullptr);
  if (want_winograd(s) && winograd_applies_backward_input(s))
    return conv2d_backward_input_winograd(s, gy, w, gx);
  if (want_implicit<T>(s) && implicit_backward_input(s, gy, w, gx)) return;
  backward_input_im2col(s, gy, w, gx);
}

template <typename T>
void conv2d_backward_weight(const Conv2dShape& s, const T* gy, const T* x, T* gw) {
  if (s.N == 0) {
    std::fill(gw, gw + s.O * (s.C / s.groups) * s.KH * s.KW, T(0));
    return;
  }
  if (conv2d_rung() == Conv2dRung::Reference)
    return backward_reference<T>(s, gy, x, nullptr, nullptr, gw);
  if (want_implicit<T>(s)) return implicit_backward_weight(s, gy, x, gw);
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

#define DLK_CONV2D_INSTANTIATE(T)                                                       \
  template void conv2d_forward<T>(const Conv2dShape&, const T*, const T*, const T*, T*, \
                                  Activation);                                          \
  template void conv2d_backward_input<T>(const Conv2dShape&, const T*, const T*, T*);   \
  template void conv2d_backward_weight<T>(const Conv2dShape&, const T*, const T*, T*);  \
  template void conv2d_backward_bias<T>(int64_t, int64_t, int64_t, const T*, T*);
DLK_CONV2D_INSTANTIATE(float)
DLK_CONV2D_INSTANTIATE(double)
#undef DLK_CONV2D_INSTANTIATE

}  // namespace dlk::cpu
