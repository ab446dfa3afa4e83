// Implicit-GEMM convolution (float32, AVX2 + FMA) for small images: the forward, grad-input and
// grad-weight of stride-1, undilated, ungrouped convolutions, without a column matrix.
//
// The im2col rung copies every input tap into a K x P column matrix (K = C*KH*KW, P = OH*OW)
// and then multiplies it. On LeNet's conv2 (16 -> 32 channels, 14x14, 5x5) those copies were
// about a third of the layer's time. Here the micro-kernel reads the taps where they lie. With
// a stride of 1, the tap (c, kh, kw) of output position (oh, ow) sits at
//   x[c * Hp*Wp + kh * Wp + kw  +  oh * Wp + ow]   (Hp x Wp: the zero-padded image)
// so the offset is a sum of a per-tap term and a per-position term. One 6 x 16 register tile
// then computes
//   acc[i][j] = sum_l  src[tile_off[i] + red_off[l]] * b[l][j]
// where each term broadcasts one input value and multiplies it by 16 packed values of b. The
// forward puts positions in the tile (i) and taps in the reduction (l): b = w^T, 16 output
// channels at a time, and the tile is stored transposed into y[o, p]. Grad-weight swaps the two:
// taps in the tile, positions in the reduction, b = gy^T of one image, summed over the images.
// Both sums run in registers over the whole K or P, and each image (C x Hp x Wp floats; 12.5
// KiB on LeNet's conv2) stays in L1 while its tiles are computed.
//
// Zero padding is a padded copy of each image, so padded taps are multiplied like any other,
// as the column matrix's zeros are (0 * inf = NaN, as on the im2col rung).
//
// Grad-input is the same forward on gy, padded by the kernel size less the padding, with the
// weights flipped; only when every weight is finite (a padded tap's 0 * w is then exactly the
// missing term), else col2im.
//
// Call only when dlk::cpu_has_avx2_fma() and implicit_conv_applies(s).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/parallel.h"
#include "common/workspace.h"
#include "cpu/conv2d.h"

namespace dlk::cpu {

namespace {

constexpr int kMR = 6;   // tile rows: 12 accumulators + 2 b vectors + 1 broadcast of 16 ymm
constexpr int kNR = 16;  // tile columns (output channels): two ymm

// out[i * kNR + j] (+)= sum_{l < L} src[tile_off[i] + red_off[l]] * b[l * kNR + j].
void gather_tile(int64_t L, const float* src, const int64_t* tile_off, const int32_t* red_off,
                 const float* b, float* out, bool accumulate) {
  // Fully unrolled at -O3: the 12 accumulators stay in registers.
  const float* row[kMR];
  __m256 acc[kMR][2];
  for (int i = 0; i < kMR; ++i) {
    row[i] = src + tile_off[i];
    acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  }
  for (int64_t l = 0; l < L; ++l, b += kNR) {
    const int64_t o = red_off[l];
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    for (int i = 0; i < kMR; ++i) {
      const __m256 a = _mm256_broadcast_ss(row[i] + o);
      acc[i][0] = _mm256_fmadd_ps(a, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(a, b1, acc[i][1]);
    }
  }
  for (int i = 0; i < kMR; ++i)
    for (int h = 0; h < 2; ++h) {
      float* d = out + i * kNR + 8 * h;
      _mm256_storeu_ps(d, accumulate ? _mm256_add_ps(_mm256_loadu_ps(d), acc[i][h]) : acc[i][h]);
    }
}

struct Padded {
  int64_t Hp, Wp;
  bool any;
};

Padded padded_size(const Conv2dShape& s) {
  return {s.H + s.pt + s.pb, s.W + s.pl + s.pr, (s.pt | s.pb | s.pl | s.pr) != 0};
}

// Image n's C planes with their zero border (Hp x Wp each), into dst.
void pad_image(const Conv2dShape& s, const Padded& pd, const float* x, float* dst) {
  std::fill(dst, dst + s.C * pd.Hp * pd.Wp, 0.0f);
  for (int64_t c = 0; c < s.C; ++c)
    for (int64_t h = 0; h < s.H; ++h)
      std::memcpy(dst + (c * pd.Hp + h + s.pt) * pd.Wp + s.pl, x + (c * s.H + h) * s.W,
                  sizeof(float) * s.W);
}

// Per tap k = (c, kh, kw): its offset in the padded image.
std::vector<int32_t> tap_offsets(const Conv2dShape& s, const Padded& pd) {
  std::vector<int32_t> off(static_cast<size_t>(s.C * s.KH * s.KW));
  for (int64_t c = 0, k = 0; c < s.C; ++c)
    for (int64_t kh = 0; kh < s.KH; ++kh)
      for (int64_t kw = 0; kw < s.KW; ++kw, ++k)
        off[k] = static_cast<int32_t>((c * pd.Hp + kh) * pd.Wp + kw);
  return off;
}

// Per output position p = (oh, ow): its offset in the padded image.
std::vector<int32_t> position_offsets(const Conv2dShape& s, const Padded& pd) {
  std::vector<int32_t> off(static_cast<size_t>(s.OH * s.OW));
  for (int64_t oh = 0, p = 0; oh < s.OH; ++oh)
    for (int64_t ow = 0; ow < s.OW; ++ow, ++p) off[p] = static_cast<int32_t>(oh * pd.Wp + ow);
  return off;
}

// The 6 tile offsets starting at i0 of `off` (n of them); past the end, the last one again
// (those rows are computed and dropped).
void tile_offsets(const std::vector<int32_t>& off, int64_t i0, int64_t* dst) {
  const int64_t n = static_cast<int64_t>(off.size());
  for (int i = 0; i < kMR; ++i) dst[i] = off[std::min<int64_t>(i0 + i, n - 1)];
}

// The rows of a [R, L] matrix in slivers of 16, L-major: dst[sl][l][j] = a[16 sl + j][l], zero
// past R (b of gather_tile: w^T for the forward, one image's gy^T for grad-weight).
void to_slivers(const float* a, int64_t R, int64_t L, float* dst) {
  const int64_t S = (R + kNR - 1) / kNR;
  if (R % kNR) std::fill(dst + (S - 1) * L * kNR, dst + S * L * kNR, 0.0f);
  for (int64_t r = 0; r < R; ++r) {
    float* d = dst + (r / kNR) * L * kNR + r % kNR;
    for (int64_t l = 0; l < L; ++l) d[l * kNR] = a[r * L + l];
  }
}

// Per-thread buffers, kept across calls (common/workspace.h). The calling thread also takes
// chunks of the parallel loops, so what it holds across them and what a chunk uses are apart.
thread_local Workspace tls_slivers;  // the caller's b operand: w^T or every image's gy^T
thread_local Workspace tls_images;   // the caller's padded images (grad-weight)
thread_local Workspace tls_flipped;  // the caller's flipped weights (grad-input)
thread_local Workspace tls_chunk;    // a chunk's padded image (forward) or sums (grad-weight)

}  // namespace

bool implicit_conv_applies(const Conv2dShape& s) {
  const Padded pd = padded_size(s);
  return s.groups == 1 && s.sh == 1 && s.sw == 1 && s.dh == 1 && s.dw == 1 && s.OH > 0 &&
         s.OW > 0 && s.C * pd.Hp * pd.Wp < (int64_t{1} << 30);
}

void conv2d_forward_implicit_avx2(const Conv2dShape& s, const float* x, const float* w,
                                  const float* bias, float* y, bool relu) {
  const Padded pd = padded_size(s);
  const int64_t K = s.C * s.KH * s.KW, P = s.OH * s.OW, S = (s.O + kNR - 1) / kNR;
  const int64_t image = s.C * s.H * s.W, padded = s.C * pd.Hp * pd.Wp;
  float* wt = tls_slivers.get<float>(static_cast<size_t>(S * K * kNR));
  to_slivers(w, s.O, K, wt);
  const std::vector<int32_t> taps = tap_offsets(s, pd), positions = position_offsets(s, pd);
  parallel_for(s.N, 1, [&](int64_t n0, int64_t n1) {
    float* xp = pd.any ? tls_chunk.get<float>(static_cast<size_t>(padded)) : nullptr;
    alignas(32) float out[kMR * kNR];
    int64_t toff[kMR];
    for (int64_t n = n0; n < n1; ++n) {
      const float* src = x + n * image;
      if (pd.any) {
        pad_image(s, pd, src, xp);
        src = xp;
      }
      for (int64_t sl = 0; sl < S; ++sl) {
        const int64_t o0 = sl * kNR, no = std::min<int64_t>(kNR, s.O - o0);
        for (int64_t p0 = 0; p0 < P; p0 += kMR) {
          tile_offsets(positions, p0, toff);
          gather_tile(K, src, toff, taps.data(), wt + sl * K * kNR, out, false);
          const int64_t np = std::min<int64_t>(kMR, P - p0);
          for (int64_t j = 0; j < no; ++j) {
            const float b = bias ? bias[o0 + j] : 0.0f;
            float* yr = y + (n * s.O + o0 + j) * P + p0;
            for (int64_t i = 0; i < np; ++i) {
              const float v = out[i * kNR + j] + b;
              yr[i] = relu && v < 0.0f ? 0.0f : v;  // a NaN stays NaN
            }
          }
        }
      }
    }
  });
}

bool implicit_conv_backward_input_applies(const Conv2dShape& s, const float* w) {
  if (!implicit_conv_applies(s) || s.pt >= s.KH || s.pb >= s.KH || s.pl >= s.KW || s.pr >= s.KW)
    return false;
  // Its tile holds 16 input channels (C = 1 left 15 of 16 columns idle: 5x slower than col2im)
  // and its sum runs over every tap of the padded gy, H*W positions of it where the true sum has
  // OH*OW: an unpadded 5x5 layer on 14x14 (LeNet's conv2) does twice the work and is no faster
  // than col2im; a "same"-padded one does none extra (1.45x col2im, 16 -> 32 on 28x28).
  if (s.C < 12 || 4 * s.H * s.W > 5 * s.OH * s.OW) return false;
  // Every weight finite: then a padded tap contributes 0 * w = 0, exactly what the sum over the
  // taps inside the image leaves out. With an infinite or NaN weight it would be NaN where the
  // true gradient has no such term, so those go to col2im, which never forms them.
  const int64_t n = s.O * s.C * s.KH * s.KW;
  float acc = 0.0f;
  for (int64_t i = 0; i < n; ++i) acc += w[i] * 0.0f;  // NaN iff some w is inf or NaN
  return acc == 0.0f;
}

void conv2d_backward_input_implicit_avx2(const Conv2dShape& s, const float* gy, const float* w,
                                         float* gx) {
  //   gx[c, ih, iw] = sum_{o, kh, kw} w[o, c, KH-1-kh, KW-1-kw] gy_padded[o, ih + kh, iw + kw]
  float* wf = tls_flipped.get<float>(static_cast<size_t>(s.C * s.O * s.KH * s.KW));
  flip_weights(s, w, wf);
  conv2d_forward_implicit_avx2(grad_input_as_forward(s), gy, wf, nullptr, gx, false);
}

void conv2d_backward_weight_implicit_avx2(const Conv2dShape& s, const float* gy, const float* x,
                                          float* gw) {
  const Padded pd = padded_size(s);
  const int64_t K = s.C * s.KH * s.KW, P = s.OH * s.OW, S = (s.O + kNR - 1) / kNR;
  const int64_t image = s.C * s.H * s.W, padded = s.C * pd.Hp * pd.Wp;
  // Every image's gy^T in slivers of 16 output channels and, with padding, every padded image:
  // built once, read by every tap tile.
  float* gyt = tls_slivers.get<float>(static_cast<size_t>(s.N * S * P * kNR));
  float* xpad = pd.any ? tls_images.get<float>(static_cast<size_t>(s.N * padded)) : nullptr;
  parallel_for(s.N, 1, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      to_slivers(gy + n * s.O * P, s.O, P, gyt + n * S * P * kNR);
      if (pd.any) pad_image(s, pd, x + n * image, xpad + n * padded);
    }
  });
  const std::vector<int32_t> taps = tap_offsets(s, pd), positions = position_offsets(s, pd);
  const int64_t tiles = (K + kMR - 1) / kMR;
  // Images in blocks whose padded planes and gy^T fit in about half of L2, so a block stays
  // there while every tap tile of a range runs over it (tile-major over all 64 images of a LeNet
  // batch streamed 2.4 MB through L2 per tile). Each (tile, sliver) sums the images in order,
  // whatever the thread count.
  const int64_t per_image = (pd.any ? padded : image) + S * P * kNR;
  const int64_t block = std::max<int64_t>(1, 65536 / std::max<int64_t>(per_image, 1));
  parallel_for(tiles, 1, [&](int64_t t0, int64_t t1) {
    float* acc = tls_chunk.get<float>(static_cast<size_t>((t1 - t0) * S * kMR * kNR));
    int64_t toff[kMR];
    for (int64_t nb = 0; nb < s.N; nb += block) {
      const int64_t ne = std::min(s.N, nb + block);
      for (int64_t t = t0; t < t1; ++t) {
        tile_offsets(taps, t * kMR, toff);
        for (int64_t sl = 0; sl < S; ++sl) {
          float* out = acc + ((t - t0) * S + sl) * kMR * kNR;
          for (int64_t n = nb; n < ne; ++n) {
            const float* src = pd.any ? xpad + n * padded : x + n * image;
            gather_tile(P, src, toff, positions.data(), gyt + (n * S + sl) * P * kNR, out, n > 0);
          }
        }
      }
    }
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t k0 = t * kMR, nk = std::min<int64_t>(kMR, K - k0);
      for (int64_t sl = 0; sl < S; ++sl) {
        const float* out = acc + ((t - t0) * S + sl) * kMR * kNR;
        const int64_t o0 = sl * kNR, no = std::min<int64_t>(kNR, s.O - o0);
        for (int64_t j = 0; j < no; ++j)
          for (int64_t i = 0; i < nk; ++i) gw[(o0 + j) * K + k0 + i] = out[i * kNR + j];
      }
    }
  });
}

}  // namespace dlk::cpu
