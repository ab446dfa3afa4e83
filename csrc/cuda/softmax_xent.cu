// Fused softmax cross-entropy and log-softmax, forward and backward, float32.
//
// For a row x of C logits and target t (label smoothing eps, q = (1-eps) onehot(t) + eps/C):
//   lse  = log sum_j exp(x_j)                  (kept for backward; no probability matrix)
//   loss = -sum_j q_j log softmax(x)_j = lse - (1-eps) x_t - (eps/C) sum_j x_j
//   dx_j = (exp(x_j - lse) - q_j) * g,  g = grad_loss (none), grad (sum), grad / n_valid (mean)
// Rows whose target equals ignore_index give loss 0 and gradient 0 and do not count in the
// mean (PyTorch's rule: mean over zero valid rows is NaN).
//   log_softmax: y = x - lse;   dx = dy - exp(y) * sum_j dy_j
//
// The ladder (measured throughput: not yet measured: no GPU lent):
//   reference  one thread per row, three passes (max, sum of exp, loss): the formula as
//              written; uncoalesced (neighbouring threads read rows C apart).
//   warp       one warp per row, online softmax (Milakov & Gimelshein 2018): each lane keeps
//              a running (max, sum) over its strided elements, rescaling the sum when the max
//              grows, so the row is read once; lanes merge with __shfl_xor_sync. For C up to
//              ~1024 (e.g. C = 10: eight rows per 256-thread block).
//   block      one 256-thread block per row, float4 loads when the row is 16-byte aligned,
//              warp shuffles then one shared-memory step across warps. For large C (32000).
// Forward reads the logits once; backward reads them once and writes the gradient once, the
// minimum traffic for unfused fwd/bwd. The dispatcher picks warp for C <= 1024, else block.
//   fused      forward and backward in one kernel (llm.c's fused classifier): the second read
//              of a row comes from L2, so DRAM sees one read and one write per logit.
#include <cmath>
#include <string>

#include "cuda/kernels.h"
#include "cuda/runtime.h"

namespace dlk::cuda {
namespace {

constexpr unsigned kFull = 0xffffffffu;

__device__ __forceinline__ void merge(float& m, float& s, float m2, float s2) {
  const float mn = fmaxf(m, m2);
  if (mn == -INFINITY) return;  // both empty
  s = s * __expf(m - mn) + s2 * __expf(m2 - mn);
  m = mn;
}

__device__ __forceinline__ void online_add(float& m, float& s, float v) {
  if (v > m) {
    s = s * __expf(m - v) + 1.f;
    m = v;
  } else {
    s += __expf(v - m);
  }
}

// All-reduce over the TPR threads of a row (a warp, or a whole block when TPR > 32). The
// block variant uses shared memory and must be reached by every thread of the block.
template <int TPR>
__device__ __forceinline__ void row_reduce_pair(float& m, float& s) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float m2 = __shfl_xor_sync(kFull, m, o), s2 = __shfl_xor_sync(kFull, s, o);
    merge(m, s, m2, s2);
  }
  if constexpr (TPR > 32) {
    __shared__ float sm[32], ss[32];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) sm[warp] = m, ss[warp] = s;
    __syncthreads();
    m = lane < TPR / 32 ? sm[lane] : -INFINITY;
    s = lane < TPR / 32 ? ss[lane] : 0.f;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float m2 = __shfl_xor_sync(kFull, m, o), s2 = __shfl_xor_sync(kFull, s, o);
      merge(m, s, m2, s2);
    }
    __syncthreads();  // the shared slots may be reused by the next reduction
  }
}

template <int TPR>
__device__ __forceinline__ float row_reduce_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  if constexpr (TPR > 32) {
    __shared__ float sv[32];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) sv[warp] = v;
    __syncthreads();
    v = lane < TPR / 32 ? sv[lane] : 0.f;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
    __syncthreads();
  }
  return v;
}

// Row index and lane of this thread for TPR threads per row.
template <int TPR>
__device__ __forceinline__ void row_and_lane(int64_t& row, int& lane) {
  if constexpr (TPR > 32) {
    row = blockIdx.x;
    lane = threadIdx.x;
  } else {
    row = int64_t(blockIdx.x) * (blockDim.x / TPR) + threadIdx.x / TPR;
    lane = threadIdx.x % TPR;
  }
}

// Online (max, sum exp) and plain sum over one row, each thread taking every TPR-th element
// (every TPR-th float4 when the row is aligned).
template <int TPR>
__device__ __forceinline__ void row_stats(const float* __restrict__ x, int64_t C, int lane,
                                          float& m, float& s, float& sx) {
  m = -INFINITY, s = 0.f, sx = 0.f;
  if ((C % 4 == 0) && (reinterpret_cast<uintptr_t>(x) % 16 == 0)) {
    const float4* x4 = reinterpret_cast<const float4*>(x);
    for (int64_t i = lane; i < C / 4; i += TPR) {
      const float4 v = x4[i];
      online_add(m, s, v.x), online_add(m, s, v.y), online_add(m, s, v.z), online_add(m, s, v.w);
      sx += (v.x + v.y) + (v.z + v.w);
    }
  } else {
    for (int64_t i = lane; i < C; i += TPR) {
      const float v = x[i];
      online_add(m, s, v);
      sx += v;
    }
  }
  row_reduce_pair<TPR>(m, s);
  sx = row_reduce_sum<TPR>(sx);
}

__device__ __forceinline__ bool target_ok(int64_t t, int64_t C) { return t >= 0 && t < C; }

// ---- cross-entropy forward ------------------------------------------------------------------
template <int TPR>
__global__ void xent_fwd_rows(const float* __restrict__ X, const int64_t* __restrict__ tgt,
                              int64_t N, int64_t C, int64_t ignore_index, float eps,
                              float* __restrict__ loss_rows, float* __restrict__ lse_out,
                              int* __restrict__ bad_row) {
  int64_t row;
  int lane;
  row_and_lane<TPR>(row, lane);
  if (TPR <= 32 && row >= N) return;  // whole warps leave together; no block barrier below
  const float* x = X + row * C;
  float m, s, sx;
  row_stats<TPR>(x, C, lane, m, s, sx);
  if (lane == 0) {
    const float lse = m + __logf(s);
    lse_out[row] = lse;
    const int64_t t = tgt[row];
    float loss = 0.f;
    if (t != ignore_index) {
      if (target_ok(t, C)) {
        loss = lse - (1.f - eps) * x[t] - (eps / float(C)) * sx;
      } else {
        atomicMin(bad_row, int(row < 0x7fffffff ? row : 0x7fffffff));
        loss = NAN;
      }
    }
    loss_rows[row] = loss;
  }
}

__global__ void xent_fwd_reference(const float* __restrict__ X, const int64_t* __restrict__ tgt,
                                   int64_t N, int64_t C, int64_t ignore_index, float eps,
                                   float* __restrict__ loss_rows, float* __restrict__ lse_out,
                                   int* __restrict__ bad_row) {
  const int64_t row = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (row >= N) return;
  const float* x = X + row * C;
  float m = -INFINITY, s = 0.f, sx = 0.f;
  for (int64_t j = 0; j < C; ++j) m = fmaxf(m, x[j]);
  for (int64_t j = 0; j < C; ++j) s += expf(x[j] - m), sx += x[j];
  const float lse = m + logf(s);
  lse_out[row] = lse;
  const int64_t t = tgt[row];
  float loss = 0.f;
  if (t != ignore_index) {
    if (target_ok(t, C)) {
      loss = lse - (1.f - eps) * x[t] - (eps / float(C)) * sx;
    } else {
      atomicMin(bad_row, int(row < 0x7fffffff ? row : 0x7fffffff));
      loss = NAN;
    }
  }
  loss_rows[row] = loss;
}

// Sum (or mean over valid rows) of the per-row losses: one block, fixed order.
__global__ void xent_reduce(const float* __restrict__ loss_rows, const int64_t* __restrict__ tgt,
                            int64_t N, int64_t ignore_index, bool mean, float* __restrict__ out) {
  float s = 0.f, cnt = 0.f;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) {
    s += loss_rows[i];
    cnt += tgt[i] != ignore_index ? 1.f : 0.f;
  }
  s = row_reduce_sum<1024>(s);
  cnt = row_reduce_sum<1024>(cnt);
  if (threadIdx.x == 0) out[0] = mean ? s / cnt : s;
}

// Number of rows that count in the mean, as a float, for the backward scale.
__global__ void xent_count_valid(const int64_t* __restrict__ tgt, int64_t N, int64_t ignore_index,
                                 float* __restrict__ out) {
  float cnt = 0.f;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) cnt += tgt[i] != ignore_index ? 1.f : 0.f;
  cnt = row_reduce_sum<1024>(cnt);
  if (threadIdx.x == 0) out[0] = cnt;
}

// ---- cross-entropy backward -----------------------------------------------------------------
// mode: 0 none (grad per row), 1 sum, 2 mean (grad[0] / count[0]).
template <int TPR>
__global__ void xent_bwd_rows(const float* __restrict__ X, const int64_t* __restrict__ tgt,
                              const float* __restrict__ lse_in, const float* __restrict__ grad,
                              const float* __restrict__ count, int mode, int64_t N, int64_t C,
                              int64_t ignore_index, float eps, float* __restrict__ dX) {
  int64_t row;
  int lane;
  if (TPR == 1) {
    row = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    lane = 0;
  } else {
    row_and_lane<TPR>(row, lane);
  }
  if (row >= N) return;  // no barriers in this kernel
  const int64_t t = tgt[row];
  float g = mode == 0 ? grad[row] : (mode == 1 ? grad[0] : grad[0] / count[0]);
  if (t == ignore_index || !target_ok(t, C)) g = 0.f;
  const float lse = lse_in[row], off = eps / float(C), on = 1.f - eps + off;
  const float* x = X + row * C;
  float* dx = dX + row * C;
  const int step = TPR == 1 ? 1 : TPR;
  if (TPR > 1 && (C % 4 == 0) && (reinterpret_cast<uintptr_t>(x) % 16 == 0) &&
      (reinterpret_cast<uintptr_t>(dx) % 16 == 0)) {
    const float4* x4 = reinterpret_cast<const float4*>(x);
    float4* d4 = reinterpret_cast<float4*>(dx);
    for (int64_t i = lane; i < C / 4; i += step) {
      const float4 v = x4[i];
      const int64_t j = 4 * i;
      float4 r;
      r.x = (__expf(v.x - lse) - (j == t ? on : off)) * g;
      r.y = (__expf(v.y - lse) - (j + 1 == t ? on : off)) * g;
      r.z = (__expf(v.z - lse) - (j + 2 == t ? on : off)) * g;
      r.w = (__expf(v.w - lse) - (j + 3 == t ? on : off)) * g;
      d4[i] = r;
    }
  } else {
    for (int64_t j = lane; j < C; j += step) dx[j] = (__expf(x[j] - lse) - (j == t ? on : off)) * g;
  }
}

// ---- fused forward + backward (llm.c's fused classifier) -----------------------------------
// One kernel reads a row for its (max, sum) and reads it again (from L2 for rows up to a few
// hundred KB) to write the gradient: two passes over DRAM instead of the three of separate
// forward and backward kernels. The upstream gradient is a number (known before the launch), and
// for the mean the valid-row count comes from a tiny kernel launched first.
template <int TPR>
__global__ void xent_fused_rows(const float* __restrict__ X, const int64_t* __restrict__ tgt,
                                int64_t N, int64_t C, int64_t ignore_index, float eps, float grad,
                                const float* __restrict__ count, float* __restrict__ loss_rows,
                                float* __restrict__ lse_out, float* __restrict__ dX,
                                int* __restrict__ bad_row) {
  int64_t row;
  int lane;
  row_and_lane<TPR>(row, lane);
  if (TPR <= 32 && row >= N) return;
  const float* x = X + row * C;
  float m, s, sx;
  row_stats<TPR>(x, C, lane, m, s, sx);
  const float lse = m + __logf(s);
  const int64_t t = tgt[row];
  const bool valid = t != ignore_index && target_ok(t, C);
  if (lane == 0) {
    lse_out[row] = lse;
    float loss = 0.f;
    if (valid) {
      loss = lse - (1.f - eps) * x[t] - (eps / float(C)) * sx;
    } else if (t != ignore_index) {
      atomicMin(bad_row, int(row < 0x7fffffff ? row : 0x7fffffff));
      loss = NAN;
    }
    loss_rows[row] = loss;
  }
  const float g = valid ? (count ? grad / count[0] : grad) : 0.f;
  const float off = eps / float(C), on = 1.f - eps + off;
  float* dx = dX + row * C;
  for (int64_t j = lane; j < C; j += TPR) dx[j] = (__expf(x[j] - lse) - (j == t ? on : off)) * g;
}

// ---- log-softmax ----------------------------------------------------------------------------
template <int TPR>
__global__ void log_softmax_fwd_rows(const float* __restrict__ X, int64_t N, int64_t C,
                                     float* __restrict__ Y) {
  int64_t row;
  int lane;
  row_and_lane<TPR>(row, lane);
  if (TPR <= 32 && row >= N) return;
  const float* x = X + row * C;
  float m, s, sx;
  row_stats<TPR>(x, C, lane, m, s, sx);
  const float lse = m + __logf(s);
  float* y = Y + row * C;
  for (int64_t j = lane; j < C; j += TPR) y[j] = x[j] - lse;
}

template <int TPR>
__global__ void log_softmax_bwd_rows(const float* __restrict__ Y, const float* __restrict__ dY,
                                     int64_t N, int64_t C, float* __restrict__ dX) {
  int64_t row;
  int lane;
  row_and_lane<TPR>(row, lane);
  if (TPR <= 32 && row >= N) return;
  const float* y = Y + row * C;
  const float* dy = dY + row * C;
  float s = 0.f;
  for (int64_t j = lane; j < C; j += TPR) s += dy[j];
  s = row_reduce_sum<TPR>(s);
  float* dx = dX + row * C;
  for (int64_t j = lane; j < C; j += TPR) dx[j] = dy[j] - __expf(y[j]) * s;
}

__global__ void log_softmax_fwd_reference(const float* __restrict__ X, int64_t N, int64_t C,
                                          float* __restrict__ Y) {
  const int64_t row = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (row >= N) return;
  const float* x = X + row * C;
  float m = -INFINITY, s = 0.f;
  for (int64_t j = 0; j < C; ++j) m = fmaxf(m, x[j]);
  for (int64_t j = 0; j < C; ++j) s += expf(x[j] - m);
  const float lse = m + logf(s);
  for (int64_t j = 0; j < C; ++j) Y[row * C + j] = x[j] - lse;
}

__global__ void log_softmax_bwd_reference(const float* __restrict__ Y, const float* __restrict__ dY,
                                          int64_t N, int64_t C, float* __restrict__ dX) {
  const int64_t row = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (row >= N) return;
  float s = 0.f;
  for (int64_t j = 0; j < C; ++j) s += dY[row * C + j];
  for (int64_t j = 0; j < C; ++j) dX[row * C + j] = dY[row * C + j] - expf(Y[row * C + j]) * s;
}

enum class Rung { automatic, reference, warp, block };
Rung g_rung = Rung::automatic;

Rung pick(int64_t C) {
  if (g_rung != Rung::automatic) return g_rung;
  return C <= 1024 ? Rung::warp : Rung::block;
}

constexpr int kBlockRow = 256;   // threads per row in the block rung
constexpr int kWarpBlock = 256;  // block size of the warp rung (8 rows per block)

unsigned rows_grid(int64_t N, Rung r) {
  if (r == Rung::block) return static_cast<unsigned>(N);
  const int per = r == Rung::warp ? kWarpBlock / 32 : kWarpBlock;
  return static_cast<unsigned>((N + per - 1) / per);
}

void check_rows(int64_t N) {
  if (N > 0x7fffffff) throw std::invalid_argument("softmax: more than 2^31 - 1 rows");
}

}  // namespace

void set_softmax_rung(const std::string& name) {
  if (name == "auto")
    g_rung = Rung::automatic;
  else if (name == "reference")
    g_rung = Rung::reference;
  else if (name == "warp")
    g_rung = Rung::warp;
  else if (name == "block")
    g_rung = Rung::block;
  else
    throw std::invalid_argument(
        "softmax rung: expected 'auto', 'reference', 'warp' or 'block', "
        "got '" +
        name + "'");
}

std::string get_softmax_rung() {
  switch (g_rung) {
    case Rung::reference: return "reference";
    case Rung::warp: return "warp";
    case Rung::block: return "block";
    default: return "auto";
  }
}

int64_t softmax_xent_forward(const float* logits, const int64_t* targets, int64_t N, int64_t C,
                             int64_t ignore_index, float eps, Reduction red, float* loss,
                             float* lse, bool check_targets) {
  check_rows(N);
  if (N == 0) {
    if (red != Reduction::none) fill_f32(loss, 1, red == Reduction::mean ? NAN : 0.f);
    return -1;
  }
  Scratch<int> bad{1};
  Scratch<float> rows_buf{red == Reduction::none ? 0 : size_t(N)};
  float* loss_rows = red == Reduction::none ? loss : rows_buf.ptr;
  const int init = 0x7fffffff;
  DLK_CUDA_CHECK(cudaMemcpyAsync(bad.ptr, &init, sizeof(int), cudaMemcpyHostToDevice, stream()));
  const Rung r = pick(C);
  cudaStream_t s = stream();
  if (r == Rung::reference)
    xent_fwd_reference<<<rows_grid(N, r), kWarpBlock, 0, s>>>(logits, targets, N, C, ignore_index,
                                                              eps, loss_rows, lse, bad.ptr);
  else if (r == Rung::warp)
    xent_fwd_rows<32><<<rows_grid(N, r), kWarpBlock, 0, s>>>(logits, targets, N, C, ignore_index,
                                                             eps, loss_rows, lse, bad.ptr);
  else
    xent_fwd_rows<kBlockRow><<<rows_grid(N, r), kBlockRow, 0, s>>>(
        logits, targets, N, C, ignore_index, eps, loss_rows, lse, bad.ptr);
  DLK_CUDA_LAUNCH_CHECK("softmax_xent_forward");
  if (red != Reduction::none) {
    xent_reduce<<<1, 1024, 0, s>>>(loss_rows, targets, N, ignore_index, red == Reduction::mean,
                                   loss);
    DLK_CUDA_LAUNCH_CHECK("xent_reduce");
  }
  if (!check_targets) return -1;
  int first_bad = init;
  DLK_CUDA_CHECK(cudaMemcpyAsync(&first_bad, bad.ptr, sizeof(int), cudaMemcpyDeviceToHost, s));
  DLK_CUDA_CHECK(cudaStreamSynchronize(s));
  return first_bad == init ? -1 : first_bad;
}

void softmax_xent_backward(const float* logits, const int64_t* targets, const float* lse,
                           const float* grad_loss, int64_t N, int64_t C, int64_t ignore_index,
                           float eps, Reduction red, float* dlogits) {
  check_rows(N);
  if (N == 0 || C == 0) return;
  cudaStream_t s = stream();
  Scratch<float> count{1};
  const int mode = red == Reduction::none ? 0 : (red == Reduction::sum ? 1 : 2);
  if (mode == 2) {
    xent_count_valid<<<1, 1024, 0, s>>>(targets, N, ignore_index, count.ptr);
    DLK_CUDA_LAUNCH_CHECK("xent_count_valid");
  }
  const Rung r = pick(C);
  if (r == Rung::reference)
    xent_bwd_rows<1><<<rows_grid(N, r), kWarpBlock, 0, s>>>(
        logits, targets, lse, grad_loss, count.ptr, mode, N, C, ignore_index, eps, dlogits);
  else if (r == Rung::warp)
    xent_bwd_rows<32><<<rows_grid(N, r), kWarpBlock, 0, s>>>(
        logits, targets, lse, grad_loss, count.ptr, mode, N, C, ignore_index, eps, dlogits);
  else
    xent_bwd_rows<kBlockRow><<<rows_grid(N, r), kBlockRow, 0, s>>>(
        logits, targets, lse, grad_loss, count.ptr, mode, N, C, ignore_index, eps, dlogits);
  DLK_CUDA_LAUNCH_CHECK("softmax_xent_backward");
}

int64_t softmax_xent_fused(const float* logits, const int64_t* targets, int64_t N, int64_t C,
                           int64_t ignore_index, float eps, Reduction red, float grad, float* loss,
                           float* lse, float* dlogits, bool check_targets) {
  check_rows(N);
  if (N == 0) {
    if (red != Reduction::none) fill_f32(loss, 1, red == Reduction::mean ? NAN : 0.f);
    return -1;
  }
  cudaStream_t s = stream();
  Scratch<int> bad{1};
  Scratch<float> rows_buf{red == Reduction::none ? 0 : size_t(N)};
  Scratch<float> count{red == Reduction::mean ? size_t(1) : size_t(0)};
  float* loss_rows = red == Reduction::none ? loss : rows_buf.ptr;
  const int init = 0x7fffffff;
  DLK_CUDA_CHECK(cudaMemcpyAsync(bad.ptr, &init, sizeof(int), cudaMemcpyHostToDevice, s));
  if (count.ptr) {
    xent_count_valid<<<1, 1024, 0, s>>>(targets, N, ignore_index, count.ptr);
    DLK_CUDA_LAUNCH_CHECK("xent_count_valid");
  }
  // The reference rung has no fused form; it uses the warp kernel.
  const Rung r = pick(C) == Rung::block ? Rung::block : Rung::warp;
  if (r == Rung::warp)
    xent_fused_rows<32><<<rows_grid(N, r), kWarpBlock, 0, s>>>(logits, targets, N, C, ignore_index,
                                                               eps, grad, count.ptr, loss_rows, lse,
                                                               dlogits, bad.ptr);
  else
    xent_fused_rows<kBlockRow>
        <<<rows_grid(N, r), kBlockRow, 0, s>>>(logits, targets, N, C, ignore_index, eps, grad,
                                               count.ptr, loss_rows, lse, dlogits, bad.ptr);
  DLK_CUDA_LAUNCH_CHECK("softmax_xent_fused");
  if (red != Reduction::none) {
    xent_reduce<<<1, 1024, 0, s>>>(loss_rows, targets, N, ignore_index, red == Reduction::mean,
                                   loss);
    DLK_CUDA_LAUNCH_CHECK("xent_reduce");
  }
  if (!check_targets) return -1;
  int first_bad = init;
  DLK_CUDA_CHECK(cudaMemcpyAsync(&first_bad, bad.ptr, sizeof(int), cudaMemcpyDeviceToHost, s));
  DLK_CUDA_CHECK(cudaStreamSynchronize(s));
  return first_bad == init ? -1 : first_bad;
}

void log_softmax_forward(const float* x, int64_t N, int64_t C, float* y) {
  check_rows(N);
  if (N == 0 || C == 0) return;
  const Rung r = pick(C);
  cudaStream_t s = stream();
  if (r == Rung::reference)
    log_softmax_fwd_reference<<<rows_grid(N, r), kWarpBlock, 0, s>>>(x, N, C, y);
  else if (r == Rung::warp)
    log_softmax_fwd_rows<32><<<rows_grid(N, r), kWarpBlock, 0, s>>>(x, N, C, y);
  else
    log_softmax_fwd_rows<kBlockRow><<<rows_grid(N, r), kBlockRow, 0, s>>>(x, N, C, y);
  DLK_CUDA_LAUNCH_CHECK("log_softmax_forward");
}

void log_softmax_backward(const float* y, const float* dy, int64_t N, int64_t C, float* dx) {
  check_rows(N);
  if (N == 0 || C == 0) return;
  const Rung r = pick(C);
  cudaStream_t s = stream();
  if (r == Rung::reference)
    log_softmax_bwd_reference<<<rows_grid(N, r), kWarpBlock, 0, s>>>(y, dy, N, C, dx);
  else if (r == Rung::warp)
    log_softmax_bwd_rows<32><<<rows_grid(N, r), kWarpBlock, 0, s>>>(y, dy, N, C, dx);
  else
    log_softmax_bwd_rows<kBlockRow><<<rows_grid(N, r), kBlockRow, 0, s>>>(y, dy, N, C, dx);
  DLK_CUDA_LAUNCH_CHECK("log_softmax_backward");
}

}  // namespace dlk::cuda
