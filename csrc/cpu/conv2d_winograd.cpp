// Winograd F(2x2, 3x3) for 3x3, stride-1, undilated, ungrouped convolutions (Lavin & Gray 2015).
//
// Each 2x2 output tile is A^T [ (G g G^T) . (B^T d B) ] A, with d the 4x4 input patch under
// the tile and g the 3x3 kernel: 16 multiplies per tile and channel pair instead of 36 (2.25x
// fewer). Summed over input channels, the elementwise products become 16 independent GEMMs
// over (output channel x input channel) . (input channel x tile):
//   U[xi][o][c]  = (G g_oc G^T)[xi]          weight transform, once per call
//   V[xi][c][t]  = (B^T d_ct B)[xi]          input transform, per chunk of tiles
//   M[xi][o][t]  = sum_c U[xi][o][c] V[xi][c][t]   16 GEMMs O x T x C on dlk::cpu::gemm
//   y tile       = A^T M[.][o][t] A (+ bias)  output transform
// Chunks of T tiles keep V and M (16 x C x T and 16 x O x T) in L2, per thread, reused across
// calls; (image, chunk) tasks are split over the threads as in the im2col rung.
// Grad-input of a stride-1 convolution is itself a stride-1 convolution of gy with the kernel
// flipped and its channel axes swapped, padded by 2 - pad: the same code serves it.
#include <algorithm>
#include <cstdlib>
#include <new>
#include <vector>

#include "common/parallel.h"
#include "common/workspace.h"
#include "cpu/conv2d.h"
#include "cpu/gemm.h"

namespace dlk::cpu {

namespace {

thread_local Workspace tls_u, tls_v, tls_m, tls_rows;

constexpr size_t kTileBudgetBytes = 1024 * 1024;

// U = G g G^T for one 3x3 kernel g (row-major), into u[xi * stride].
template <typename T>
void weight_transform(const T* g, T* u, int64_t stride) {
  T t[4][3];  // G g
  for (int j = 0; j < 3; ++j) {
    const T a = g[j], b = g[3 + j], c = g[6 + j];
    t[0][j] = a;
    t[1][j] = T(0.5) * (a + b + c);
    t[2][j] = T(0.5) * (a - b + c);
    t[3][j] = c;
  }
  for (int i = 0; i < 4; ++i) {
    const T a = t[i][0], b = t[i][1], c = t[i][2];
    u[(i * 4 + 0) * stride] = a;
    u[(i * 4 + 1) * stride] = T(0.5) * (a + b + c);
    u[(i * 4 + 2) * stride] = T(0.5) * (a - b + c);
    u[(i * 4 + 3) * stride] = c;
  }
}

// Calls seg(ty, tx0, tx1, tb) for the tile-row pieces of tiles [t0, t0 + n): tiles
// ty * TW + tx for tx in [tx0, tx1), at chunk offset tb + tx.
template <typename Seg>
void for_row_segments(int64_t t0, int64_t n, int64_t TW, const Seg& seg) {
  int64_t t = t0;
  while (t < t0 + n) {
    const int64_t ty = t / TW, tx0 = t % TW;
    const int64_t tx1 = std::min(TW, tx0 + (t0 + n - t));
    seg(ty, tx0, tx1, t - t0 - tx0);
    t += tx1 - tx0;
  }
}

// The forward pass of a convolution that winograd_applies() accepts. `w` is O x C x 3 x 3.
template <typename T>
void winograd_run(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y, bool relu) {
  // max(v, 0) keeping a NaN, applied as the output transform stores (conv + bias + ReLU).
  const auto out = [relu](T v) { return relu && v < T(0) ? T(0) : v; };
  const int64_t C = s.C, O = s.O, H = s.H, W = s.W, OH = s.OH, OW = s.OW;
  const int64_t TH = (OH + 1) / 2, TW = (OW + 1) / 2, tiles = TH * TW;
  const int64_t max_t = std::max<int64_t>(
      32, static_cast<int64_t>(kTileBudgetBytes / sizeof(T)) / (16 * std::max(C, O)));
  const int64_t n_chunks = (tiles + max_t - 1) / max_t;
  const int64_t chunk = (tiles + n_chunks - 1) / n_chunks;

  T* u = tls_u.get<T>(16 * O * C);
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < C; ++c) weight_transform(w + (o * C + c) * 9, u + o * C + c, O * C);

  auto task = [&](int64_t id) {
    const int64_t n = id / n_chunks, t0 = (id % n_chunks) * chunk;
    const int64_t T_ = std::min(chunk, tiles - t0);
    T* v = tls_v.get<T>(16 * C * T_);
    T* m = tls_m.get<T>(16 * O * T_);
    const int64_t row_len = 2 * TW + 2;
    T* rows = tls_rows.get<T>(4 * row_len);
    // Input transform, V[xi][c][t], one tile row segment at a time: the interior tiles'
    // loop over tx is unit-stride in V and stride-2 in x, so it vectorises across tiles.
    for (int64_t c = 0; c < C; ++c) {
      const T* xc = x + (n * C + c) * H * W;
      T* vc = v + c * T_;
      for_row_segments(t0, T_, TW, [&](int64_t ty, int64_t tx0, int64_t tx1, int64_t tb) {
        // The 4 input rows under this tile row, zero-padded, columns 2*tx0 .. 2*tx1 + 2 of
        // the padded image: every tile then takes the same branch-free vector loop.
        const int64_t h0 = 2 * ty - s.pt;
        const int64_t c0 = 2 * tx0 - s.pl, width = 2 * (tx1 - tx0) + 2;
        for (int i = 0; i < 4; ++i) {
          T* dst = rows + i * row_len;
          const int64_t ih = h0 + i;
          if (ih < 0 || ih >= H) {
            std::fill(dst, dst + width, T(0));
            continue;
          }
          const T* src = xc + ih * W;
          const int64_t lo = std::min(std::max<int64_t>(0, -c0), width);
          const int64_t hi = std::max(lo, std::min(width, W - c0));
          std::fill(dst, dst + lo, T(0));
          std::copy(src + c0 + lo, src + c0 + hi, dst + lo);
          std::fill(dst + hi, dst + width, T(0));
        }
        const int64_t a = tx0, b = tx1;
        const T* __restrict r0 = rows - 2 * tx0;  // r0[2 * tx] is the tile's first column
        const T* __restrict r1 = r0 + row_len;
        const T* __restrict r2 = r1 + row_len;
        const T* __restrict r3 = r2 + row_len;
        T* __restrict out = vc + tb;
        const int64_t xs = C * T_;
#pragma GCC ivdep
        for (int64_t tx = a; tx < b; ++tx) {
          const int64_t j = 2 * tx;
          // B^T d (rows), then B (columns), as straight-line code the vectoriser takes.
          const T d00 = r0[j], d01 = r0[j + 1], d02 = r0[j + 2], d03 = r0[j + 3];
          const T d10 = r1[j], d11 = r1[j + 1], d12 = r1[j + 2], d13 = r1[j + 3];
          const T d20 = r2[j], d21 = r2[j + 1], d22 = r2[j + 2], d23 = r2[j + 3];
          const T d30 = r3[j], d31 = r3[j + 1], d32 = r3[j + 2], d33 = r3[j + 3];
          const T t00 = d00 - d20, t10 = d10 + d20, t20 = d20 - d10, t30 = d10 - d30;
          const T t01 = d01 - d21, t11 = d11 + d21, t21 = d21 - d11, t31 = d11 - d31;
          const T t02 = d02 - d22, t12 = d12 + d22, t22 = d22 - d12, t32 = d12 - d32;
          const T t03 = d03 - d23, t13 = d13 + d23, t23 = d23 - d13, t33 = d13 - d33;
          out[0 * xs + tx] = t00 - t02;
          out[1 * xs + tx] = t01 + t02;
          out[2 * xs + tx] = t02 - t01;
          out[3 * xs + tx] = t01 - t03;
          out[4 * xs + tx] = t10 - t12;
          out[5 * xs + tx] = t11 + t12;
          out[6 * xs + tx] = t12 - t11;
          out[7 * xs + tx] = t11 - t13;
          out[8 * xs + tx] = t20 - t22;
          out[9 * xs + tx] = t21 + t22;
          out[10 * xs + tx] = t22 - t21;
          out[11 * xs + tx] = t21 - t23;
          out[12 * xs + tx] = t30 - t32;
          out[13 * xs + tx] = t31 + t32;
          out[14 * xs + tx] = t32 - t31;
          out[15 * xs + tx] = t31 - t33;
        }
      });
    }
    for (int xi = 0; xi < 16; ++xi)
      gemm<T>(false, false, O, T_, C, T(1), u + xi * O * C, C, v + xi * C * T_, T_, T(0),
              m + xi * O * T_, T_);
    // Output transform: y = A^T M A, A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]; loads unit-stride
    // across tiles, stores stride 2 into the two output rows.
    const int64_t xs = O * T_;
    for (int64_t o = 0; o < O; ++o) {
      T* yo = y + (n * O + o) * OH * OW;
      const T b = bias ? bias[o] : T(0);
      const T* mo = m + o * T_;
      for_row_segments(t0, T_, TW, [&](int64_t ty, int64_t tx0, int64_t tx1, int64_t tb) {
        const T* __restrict q = mo + tb;
        const int64_t oh = 2 * ty;
        auto tile = [&](int64_t tx, T r[2][2]) {
          T p[2][4];
#pragma GCC unroll 4
          for (int k = 0; k < 4; ++k) {
            p[0][k] = q[k * xs + tx] + q[(4 + k) * xs + tx] + q[(8 + k) * xs + tx];
            p[1][k] = q[(4 + k) * xs + tx] - q[(8 + k) * xs + tx] - q[(12 + k) * xs + tx];
          }
#pragma GCC unroll 2
          for (int i = 0; i < 2; ++i) {
            r[i][0] = p[i][0] + p[i][1] + p[i][2] + b;
            r[i][1] = p[i][1] - p[i][2] - p[i][3] + b;
          }
        };
        // Full tiles: both rows and both columns inside the output.
        const int64_t full_end = (oh + 1 < OH) ? std::min(tx1, OW / 2) : tx0;
        const int64_t fe = std::max(tx0, full_end);
        T* __restrict y0 = yo + oh * OW;
        T* __restrict y1 = y0 + OW;
#pragma GCC ivdep
        for (int64_t tx = tx0; tx < fe; ++tx) {
          const T q0 = q[0 * xs + tx];
          const T q1 = q[1 * xs + tx];
          const T q2 = q[2 * xs + tx];
          const T q3 = q[3 * xs + tx];
          const T q4 = q[4 * xs + tx];
          const T q5 = q[5 * xs + tx];
          const T q6 = q[6 * xs + tx];
          const T q7 = q[7 * xs + tx];
          const T q8 = q[8 * xs + tx];
          const T q9 = q[9 * xs + tx];
          const T q10 = q[10 * xs + tx];
          const T q11 = q[11 * xs + tx];
          const T q12 = q[12 * xs + tx];
          const T q13 = q[13 * xs + tx];
          const T q14 = q[14 * xs + tx];
          const T q15 = q[15 * xs + tx];
          const T p00 = q0 + q4 + q8, p10 = q4 - q8 - q12;
          const T p01 = q1 + q5 + q9, p11 = q5 - q9 - q13;
          const T p02 = q2 + q6 + q10, p12 = q6 - q10 - q14;
          const T p03 = q3 + q7 + q11, p13 = q7 - q11 - q15;
          y0[2 * tx] = out(p00 + p01 + p02 + b);
          y0[2 * tx + 1] = out(p01 - p02 - p03 + b);
          y1[2 * tx] = out(p10 + p11 + p12 + b);
          y1[2 * tx + 1] = out(p11 - p12 - p13 + b);
        }
        for (int64_t tx = fe; tx < tx1; ++tx) {
          T r[2][2];
          tile(tx, r);
          for (int i = 0; i < 2 && oh + i < OH; ++i)
            for (int jj = 0; jj < 2 && 2 * tx + jj < OW; ++jj)
              yo[(oh + i) * OW + 2 * tx + jj] = out(r[i][jj]);
        }
      });
    }
  };

  const int64_t n_tasks = s.N * n_chunks;
  const int nt = threads_for_kernel();
  if (nt > 1 && n_tasks >= nt && (n_tasks % nt == 0 || n_tasks >= 4 * nt)) {
    parallel_for(n_tasks, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) task(i);
    });
  } else {
    for (int64_t i = 0; i < n_tasks; ++i) task(i);
  }
}

}  // namespace

bool winograd_applies(const Conv2dShape& s) {
  return s.groups == 1 && s.KH == 3 && s.KW == 3 && s.sh == 1 && s.sw == 1 && s.dh == 1 &&
         s.dw == 1;
}

bool winograd_applies_backward_input(const Conv2dShape& s) {
  return winograd_applies(s) && s.pt <= 2 && s.pb <= 2 && s.pl <= 2 && s.pr <= 2;
}

template <typename T>
void conv2d_forward_winograd(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y,
                             bool relu) {
  winograd_run(s, x, w, bias, y, relu);
}

// gx = conv(gy, w'), w'[c][o] = w[o][c] rotated by 180 degrees, padding 2 - pad per side.
template <typename T>
void conv2d_backward_input_winograd(const Conv2dShape& s, const T* gy, const T* w, T* gx) {
  std::vector<T> wt(static_cast<size_t>(s.C) * s.O * 9);
  flip_weights(s, w, wt.data());
  winograd_run(grad_input_as_forward(s), gy, wt.data(), static_cast<const T*>(nullptr), gx, false);
}

template void conv2d_forward_winograd<float>(const Conv2dShape&, const float*, const float*,
                                             const float*, float*, bool);
template void conv2d_forward_winograd<double>(const Conv2dShape&, const double*, const double*,
                                              const double*, double*, bool);
template void conv2d_backward_input_winograd<float>(const Conv2dShape&, const float*, const float*,
                                                    float*);
template void conv2d_backward_input_winograd<double>(const Conv2dShape&, const double*,
                                                     const double*, double*);

}  // namespace dlk::cpu
