// 2-D convolution, NCHW, float32: forward, grad-input, grad-weight, grad-bias, with stride,
// explicit per-side zero padding, dilation and groups (C and K divisible by G).
//
//   y[n,k,oh,ow] = b[k] + sum_{c in group(k), r, s} w[k, c', r, s] x[n, c, oh*SH - PT + r*DH,
//                                                                      ow*SW - PL + s*DW]
//   OH = (H + PT + PB - DH*(R-1) - 1) / SH + 1 (likewise OW).
// Scheme: im2col + our GEMM (Caffe's). Per image, col (C*R*S x OH*OW) holds every receptive
// field as a column; per group g: y_g = W_g col_g (K/G x C/G*R*S by C/G*R*S x OH*OW).
//   grad-input:  dcol_g = W_g^T dy_g, then col2im as a gather (each input element sums the
//                column entries that read it: deterministic, no atomics).
//   grad-weight: dW_g += dy_g col_g^T, accumulated over the images by GEMM's beta = 1.
//   grad-bias:   one block per output channel sums dy over (n, oh, ow).
// 1x1, stride 1, no padding: col is x itself, no im2col (a plain GEMM).
// The workspace is one image's columns, reused for every image.
//
// Rungs (measured throughput: not yet measured: no GPU lent): this im2col rung only. Known
// next rungs: batching several images per GEMM (fewer, larger launches, matters for small
// images such as LeNet's 28 x 28), and implicit GEMM (the GEMM tile loader gathers the
// receptive fields itself, so col is never written to memory).
#include "cuda/kernels.h"
#include "cuda/runtime.h"

namespace dlk::cuda {
namespace {

#define DLK_GRID_STRIDE(idx, total)                                                 \
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < (total); \
       idx += int64_t(gridDim.x) * blockDim.x)

// col[((c*KH + kh)*KW + kw) * P + p] for one image; p = oh*OW + ow.
__global__ void im2col_kernel(Conv2dShape g, const float* __restrict__ x, float* __restrict__ col) {
  const int64_t P = g.OH * g.OW, total = g.C * g.KH * g.KW * P;
  DLK_GRID_STRIDE(idx, total) {
    const int64_t p = idx % P, crs = idx / P;
    const int64_t s = crs % g.KW, r = (crs / g.KW) % g.KH, c = crs / (g.KW * g.KH);
    const int64_t ow = p % g.OW, oh = p / g.OW;
    const int64_t h = oh * g.sh - g.pt + r * g.dh, w = ow * g.sw - g.pl + s * g.dw;
    col[idx] = (h >= 0 && h < g.H && w >= 0 && w < g.W) ? x[(c * g.H + h) * g.W + w] : 0.f;
  }
}

__global__ void col2im_kernel(Conv2dShape g, const float* __restrict__ col,
                              float* __restrict__ dx) {
  const int64_t P = g.OH * g.OW, total = g.C * g.H * g.W;
  DLK_GRID_STRIDE(idx, total) {
    const int64_t w = idx % g.W, h = (idx / g.W) % g.H, c = idx / (g.W * g.H);
    float sum = 0.f;
    for (int64_t r = 0; r < g.KH; ++r) {
      const int64_t hh = h + g.pt - r * g.dh;
      if (hh < 0 || hh % g.sh) continue;
      const int64_t oh = hh / g.sh;
      if (oh >= g.OH) continue;
      for (int64_t s = 0; s < g.KW; ++s) {
        const int64_t ww = w + g.pl - s * g.dw;
        if (ww < 0 || ww % g.sw) continue;
        const int64_t ow = ww / g.sw;
        if (ow >= g.OW) continue;
        sum += col[((c * g.KH + r) * g.KW + s) * P + oh * g.OW + ow];
      }
    }
    dx[idx] = sum;
  }
}

__global__ void add_bias_kernel(Conv2dShape g, const float* __restrict__ b, float* __restrict__ y) {
  const int64_t P = g.OH * g.OW, total = g.N * g.O * P;
  DLK_GRID_STRIDE(idx, total) y[idx] += b[(idx / P) % g.O];
}

__global__ void bias_grad_kernel(Conv2dShape g, const float* __restrict__ dy,
                                 float* __restrict__ db) {
  __shared__ float part[32];
  const int64_t k = blockIdx.x, P = g.OH * g.OW;
  float s = 0.f;
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t p = threadIdx.x; p < P; p += blockDim.x) s += dy[(n * g.O + k) * P + p];
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = s;
  __syncthreads();
  if (threadIdx.x == 0) {
    float t = 0.f;
    for (int i = 0; i < int(blockDim.x / 32); ++i) t += part[i];
    db[k] = t;
  }
}

constexpr int kBlock = 256;

bool is_pointwise(const Conv2dShape& g) {
  return g.KH == 1 && g.KW == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pb == 0 && g.pl == 0 &&
         g.pr == 0;
}

// The columns of image n: x itself for a pointwise conv, else im2col into ws.
const float* columns(const Conv2dShape& g, const float* x_n, float* ws) {
  if (is_pointwise(g)) return x_n;
  const int64_t total = g.C * g.KH * g.KW * g.OH * g.OW;
  im2col_kernel<<<grid_for(total, kBlock), kBlock, 0, stream()>>>(g, x_n, ws);
  DLK_CUDA_LAUNCH_CHECK("im2col");
  return ws;
}

}  // namespace

void conv2d_forward(const Conv2dShape& g, const float* x, const float* w, const float* b,
                    float* y) {
  const int64_t P = g.OH * g.OW, Cg = g.C / g.groups, Kg = g.O / g.groups, CRS = Cg * g.KH * g.KW;
  if (g.N == 0 || g.O == 0 || P == 0) return;
  Scratch<float> ws{is_pointwise(g) ? size_t(0) : size_t(g.C * g.KH * g.KW * P)};
  for (int64_t n = 0; n < g.N; ++n) {
    const float* col = columns(g, x + n * g.C * g.H * g.W, ws.ptr);
    for (int64_t grp = 0; grp < g.groups; ++grp)
      gemm(false, false, Kg, P, CRS, 1.f, w + grp * Kg * CRS, CRS, col + grp * CRS * P, P, 0.f,
           y + (n * g.O + grp * Kg) * P, P);
  }
  if (b) {
    const int64_t total = g.N * g.O * P;
    add_bias_kernel<<<grid_for(total, kBlock), kBlock, 0, stream()>>>(g, b, y);
    DLK_CUDA_LAUNCH_CHECK("conv2d_add_bias");
  }
}

void conv2d_backward_input(const Conv2dShape& g, const float* dy, const float* w, float* dx) {
  const int64_t P = g.OH * g.OW, Cg = g.C / g.groups, Kg = g.O / g.groups, CRS = Cg * g.KH * g.KW;
  const int64_t CHW = g.C * g.H * g.W;
  if (g.N == 0 || CHW == 0) return;
  const bool pw = is_pointwise(g);
  Scratch<float> ws{pw ? size_t(0) : size_t(g.C * g.KH * g.KW * P)};
  for (int64_t n = 0; n < g.N; ++n) {
    // Pointwise: dcol is dx itself.
    float* dcol = pw ? dx + n * CHW : ws.ptr;
    for (int64_t grp = 0; grp < g.groups; ++grp)
      gemm(true, false, CRS, P, Kg, 1.f, w + grp * Kg * CRS, CRS, dy + (n * g.O + grp * Kg) * P, P,
           0.f, dcol + grp * CRS * P, P);
    if (!pw) {
      col2im_kernel<<<grid_for(CHW, kBlock), kBlock, 0, stream()>>>(g, dcol, dx + n * CHW);
      DLK_CUDA_LAUNCH_CHECK("col2im");
    }
  }
}

void conv2d_backward_weight(const Conv2dShape& g, const float* x, const float* dy, float* dw) {
  const int64_t P = g.OH * g.OW, Cg = g.C / g.groups, Kg = g.O / g.groups, CRS = Cg * g.KH * g.KW;
  if (g.O == 0 || CRS == 0) return;
  if (g.N == 0) {
    fill_f32(dw, g.O * CRS, 0.f);
    return;
  }
  Scratch<float> ws{is_pointwise(g) ? size_t(0) : size_t(g.C * g.KH * g.KW * P)};
  for (int64_t n = 0; n < g.N; ++n) {
    const float* col = columns(g, x + n * g.C * g.H * g.W, ws.ptr);
    for (int64_t grp = 0; grp < g.groups; ++grp)
      gemm(false, true, Kg, CRS, P, 1.f, dy + (n * g.O + grp * Kg) * P, P, col + grp * CRS * P, P,
           n == 0 ? 0.f : 1.f, dw + grp * Kg * CRS, CRS);
  }
}

void conv2d_backward_bias(const Conv2dShape& g, const float* dy, float* db) {
  if (g.O == 0) return;
  bias_grad_kernel<<<static_cast<unsigned>(g.O), kBlock, 0, stream()>>>(g, dy, db);
  DLK_CUDA_LAUNCH_CHECK("conv2d_backward_bias");
}

}  // namespace dlk::cuda
