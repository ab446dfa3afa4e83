// 2-D max and average pooling, NCHW, forward and backward, float32.
//
//   y[n,c,oh,ow] = max / mean over the window rows oh*SH - PT + [0, KH), cols ow*SW - PL + [0, KW)
//   (explicit padding per side; OH = (H + PT + PB - KH) / SH + 1, floor). Padding never wins a
//   max; a window lying wholly in the padding gives y = -inf and argmax = -1 (no gradient).
//   Ties: the first maximum in row-major window order wins (strict >), so argmax is
//   deterministic. argmax holds h * W + w within the (n, c) plane.
//   avg: divisor KH*KW (count_include_pad) or the number of in-image elements of the window
//   (0 elements gives 0).
//   Backward (given the geometry) is a gather, not a scatter: each input element sums the gradient
//   of the output windows that cover it (for max: whose argmax is this element). No atomics, so the
//   result is deterministic and overlapping windows (stride < kernel) need no special case.
//
// One rung each (measured throughput: not yet measured: no GPU lent): one thread per output
// (forward) or input (backward) element, consecutive threads along W so loads and stores are
// coalesced; a 2x2/stride-2 forward reads each input once and writes a quarter as much.
#include <cmath>

#include "cuda/kernels.h"
#include "cuda/runtime.h"

namespace dlk::cuda {
namespace {

__global__ void max_fwd(PoolGeom g, const float* __restrict__ x, float* __restrict__ y,
                        int64_t* __restrict__ argmax) {
  const int64_t total = g.N * g.C * g.OH * g.OW;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ow = idx % g.OW, oh = (idx / g.OW) % g.OH, plane = idx / (g.OW * g.OH);
    const float* xp = x + plane * g.H * g.W;
    const int64_t h0 = oh * g.SH - g.PT, w0 = ow * g.SW - g.PL;
    float best = -INFINITY;
    int64_t arg = -1;
    for (int64_t i = 0; i < g.KH; ++i) {
      const int64_t h = h0 + i;
      if (h < 0 || h >= g.H) continue;
      for (int64_t j = 0; j < g.KW; ++j) {
        const int64_t w = w0 + j;
        if (w < 0 || w >= g.W) continue;
        const float v = xp[h * g.W + w];
        if (arg < 0 || v > best) {
          best = v;
          arg = h * g.W + w;
        }
      }
    }
    y[idx] = best;
    argmax[idx] = arg;
  }
}

// Output rows whose window covers input row h: oh*S - P <= h < oh*S - P + K.
__device__ __forceinline__ void covering(int64_t h, int64_t S, int64_t P, int64_t K, int64_t O,
                                         int64_t& lo, int64_t& hi) {
  const int64_t a = h + P - K;
  lo = a < 0 ? 0 : a / S + 1;
  hi = (h + P) / S;
  if (hi > O - 1) hi = O - 1;
}

__global__ void max_bwd(PoolGeom g, const float* __restrict__ dy,
                        const int64_t* __restrict__ argmax, float* __restrict__ dx) {
  const int64_t total = g.N * g.C * g.H * g.W;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t w = idx % g.W, h = (idx / g.W) % g.H, plane = idx / (g.W * g.H);
    int64_t oh_lo, oh_hi, ow_lo, ow_hi;
    covering(h, g.SH, g.PT, g.KH, g.OH, oh_lo, oh_hi);
    covering(w, g.SW, g.PL, g.KW, g.OW, ow_lo, ow_hi);
    const int64_t self = h * g.W + w, base = plane * g.OH * g.OW;
    float s = 0.f;
    for (int64_t oh = oh_lo; oh <= oh_hi; ++oh)
      for (int64_t ow = ow_lo; ow <= ow_hi; ++ow) {
        const int64_t o = base + oh * g.OW + ow;
        if (argmax[o] == self) s += dy[o];
      }
    dx[idx] = s;
  }
}

__device__ __forceinline__ float avg_divisor(const PoolGeom& g, int64_t oh, int64_t ow,
                                             bool include_pad) {
  if (include_pad) return float(g.KH * g.KW);
  const int64_t h0 = oh * g.SH - g.PT, w0 = ow * g.SW - g.PL;
  const int64_t hs = max(h0, int64_t(0)), he = min(h0 + g.KH, g.H);
  const int64_t ws = max(w0, int64_t(0)), we = min(w0 + g.KW, g.W);
  const int64_t cnt = max(he - hs, int64_t(0)) * max(we - ws, int64_t(0));
  return float(cnt);
}

__global__ void avg_fwd(PoolGeom g, const float* __restrict__ x, float* __restrict__ y,
                        bool include_pad) {
  const int64_t total = g.N * g.C * g.OH * g.OW;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ow = idx % g.OW, oh = (idx / g.OW) % g.OH, plane = idx / (g.OW * g.OH);
    const float* xp = x + plane * g.H * g.W;
    const int64_t h0 = oh * g.SH - g.PT, w0 = ow * g.SW - g.PL;
    float s = 0.f;
    for (int64_t i = max(-h0, int64_t(0)); i < g.KH && h0 + i < g.H; ++i)
      for (int64_t j = max(-w0, int64_t(0)); j < g.KW && w0 + j < g.W; ++j)
        s += xp[(h0 + i) * g.W + (w0 + j)];
    const float d = avg_divisor(g, oh, ow, include_pad);
    y[idx] = d > 0.f ? s / d : 0.f;
  }
}

__global__ void avg_bwd(PoolGeom g, const float* __restrict__ dy, float* __restrict__ dx,
                        bool include_pad) {
  const int64_t total = g.N * g.C * g.H * g.W;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t w = idx % g.W, h = (idx / g.W) % g.H, plane = idx / (g.W * g.H);
    int64_t oh_lo, oh_hi, ow_lo, ow_hi;
    covering(h, g.SH, g.PT, g.KH, g.OH, oh_lo, oh_hi);
    covering(w, g.SW, g.PL, g.KW, g.OW, ow_lo, ow_hi);
    const int64_t base = plane * g.OH * g.OW;
    float s = 0.f;
    for (int64_t oh = oh_lo; oh <= oh_hi; ++oh)
      for (int64_t ow = ow_lo; ow <= ow_hi; ++ow) {
        const float d = avg_divisor(g, oh, ow, include_pad);
        if (d > 0.f) s += dy[base + oh * g.OW + ow] / d;
      }
    dx[idx] = s;
  }
}

// Scatter form of the max backward for callers that only have argmax and the input size (the
// CPU interface): dx[argmax] += dy with atomics. Exact when windows do not overlap (each input
// receives at most one term); with overlap the order of the few terms per input may vary.
// Out-of-range indices (other than -1) are skipped and reported through *bad.
__global__ void max_bwd_scatter(int64_t planes, int64_t HW, int64_t OHW,
                                const float* __restrict__ dy, const int64_t* __restrict__ argmax,
                                float* __restrict__ dx, int* __restrict__ bad) {
  const int64_t total = planes * OHW;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t a = argmax[idx];
    if (a == -1) continue;
    if (a < 0 || a >= HW) {
      atomicExch(bad, 1);
      continue;
    }
    atomicAdd(dx + (idx / OHW) * HW + a, dy[idx]);
  }
}

constexpr int kBlock = 256;

}  // namespace

bool max_pool2d_backward_scatter(int64_t planes, int64_t HW, int64_t OHW, const float* dy,
                                 const int64_t* argmax, float* dx) {
  fill_f32(dx, planes * HW, 0.f);
  const int64_t n = planes * OHW;
  if (n == 0) return true;
  Scratch<int> bad{1};
  DLK_CUDA_CHECK(cudaMemsetAsync(bad.ptr, 0, sizeof(int), stream()));
  max_bwd_scatter<<<grid_for(n, kBlock), kBlock, 0, stream()>>>(planes, HW, OHW, dy, argmax, dx,
                                                                bad.ptr);
  DLK_CUDA_LAUNCH_CHECK("max_pool2d_backward_scatter");
  int flag = 0;
  DLK_CUDA_CHECK(cudaMemcpyAsync(&flag, bad.ptr, sizeof(int), cudaMemcpyDeviceToHost, stream()));
  DLK_CUDA_CHECK(cudaStreamSynchronize(stream()));
  return flag == 0;
}

void max_pool2d_forward(const PoolGeom& g, const float* x, float* y, int64_t* argmax) {
  const int64_t n = g.N * g.C * g.OH * g.OW;
  if (n == 0) return;
  max_fwd<<<grid_for(n, kBlock), kBlock, 0, stream()>>>(g, x, y, argmax);
  DLK_CUDA_LAUNCH_CHECK("max_pool2d_forward");
}

void max_pool2d_backward(const PoolGeom& g, const float* dy, const int64_t* argmax, float* dx) {
  const int64_t n = g.N * g.C * g.H * g.W;
  if (n == 0) return;
  max_bwd<<<grid_for(n, kBlock), kBlock, 0, stream()>>>(g, dy, argmax, dx);
  DLK_CUDA_LAUNCH_CHECK("max_pool2d_backward");
}

void avg_pool2d_forward(const PoolGeom& g, const float* x, float* y, bool include_pad) {
  const int64_t n = g.N * g.C * g.OH * g.OW;
  if (n == 0) return;
  avg_fwd<<<grid_for(n, kBlock), kBlock, 0, stream()>>>(g, x, y, include_pad);
  DLK_CUDA_LAUNCH_CHECK("avg_pool2d_forward");
}

void avg_pool2d_backward(const PoolGeom& g, const float* dy, float* dx, bool include_pad) {
  const int64_t n = g.N * g.C * g.H * g.W;
  if (n == 0) return;
  avg_bwd<<<grid_for(n, kBlock), kBlock, 0, stream()>>>(g, dy, dx, include_pad);
  DLK_CUDA_LAUNCH_CHECK("avg_pool2d_backward");
}

}  // namespace dlk::cuda
