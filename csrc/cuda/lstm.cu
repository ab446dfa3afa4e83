// Fused LSTM step (pointwise part) forward/backward and the sequence drivers, float32.
//
// Gate order i, f, g, o; one bias per gate (the notes' formulation). With a = pre-activations
// (x W_x^T + h_{t-1} W_h^T + b, one N x 4H matrix from the GEMMs):
//   i = s(a_i + p_i c_{t-1})   f = s(a_f + p_f c_{t-1})   g = tanh(a_g)
//   c_t = f c_{t-1} + i g      o = s(a_o + p_o c_t)       h_t = o tanh(c_t)
// p_* are the peephole weights (Gers & Schmidhuber; absent = 0). Coupled: i = 1 - f, and only
// G = 3 gates [f, g, o] are stored (as in the CPU kernels: no dead input-gate parameters).
// Backward, with dh (from the output and the next step) and dc_next (from the next step):
//   da_o = dh tanh(c_t) o(1-o)
//   dc   = dc_next + dh o (1 - tanh^2 c_t) + da_o p_o
//   da_g = dc i (1 - g^2);  di = dc g;  df = dc c_{t-1}  (coupled: df -= di, di = 0)
//   da_i = di i(1-i);  da_f = df f(1-f);  dc_{t-1} = dc f + da_i p_i + da_f p_f
//   dp_i = sum_n da_i c_{t-1},  dp_f = sum_n da_f c_{t-1},  dp_o = sum_n da_o c_t
//
// Sequence driver (cuDNN's recipe): the input projection of all T steps is one GEMM
// (T*N x I by I x 4H), then per step one recurrent GEMM (N x H by H x 4H, beta = 1 onto the
// projection) and one fused pointwise kernel. Backward through time: per step one pointwise
// kernel and one GEMM (dA_t W_h) for dh_{t-1}; the weight gradients, the bias gradient and dx
// are then three large GEMMs / one column sum over all T steps at once.
//
// Rungs (measured throughput: not yet measured: no GPU lent): the pointwise kernels are one
// thread per (n, j) element reading the 4 gates of that element (coalesced across j); the
// recurrent GEMM uses the GEMM dispatcher. A persistent kernel keeping W_h on chip (for N = 1)
// is the known next rung and is not written yet.
#include "cuda/kernels.h"
#include "cuda/runtime.h"

namespace dlk::cuda {
namespace {

__device__ __forceinline__ float sigmoidf(float x) { return 1.f / (1.f + __expf(-x)); }

// Slot offsets of the gates within a row of G = 4H ([i, f, g, o]) or 3H when coupled ([f, g, o]).
struct Slots {
  int64_t G, f, g, o;
  __host__ __device__ Slots(bool coupled, int64_t H)
      : G(coupled ? 3 * H : 4 * H), f(coupled ? 0 : H), g(f + H), o(f + 2 * H) {}
};

__global__ void lstm_fwd_kernel(const float* __restrict__ gates, const float* __restrict__ bias,
                                const float* __restrict__ c_prev, const float* __restrict__ peep,
                                bool coupled, int64_t N, int64_t H, float* __restrict__ h_out,
                                float* __restrict__ c_out, float* __restrict__ act) {
  const Slots k(coupled, H);
  const int64_t total = N * H;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = idx / H, j = idx % H;
    const float* a = gates + n * k.G;
    float af = a[k.f + j], ag = a[k.g + j], ao = a[k.o + j];
    if (bias) af += bias[k.f + j], ag += bias[k.g + j], ao += bias[k.o + j];
    const float cp = c_prev[idx];
    if (peep) af += peep[H + j] * cp;
    const float f = sigmoidf(af);
    float i;
    if (coupled) {
      i = 1.f - f;
    } else {
      float ai = a[j] + (bias ? bias[j] : 0.f);
      if (peep) ai += peep[j] * cp;
      i = sigmoidf(ai);
    }
    const float g = tanhf(ag);
    const float c = f * cp + i * g;
    if (peep) ao += peep[2 * H + j] * c;
    const float o = sigmoidf(ao);
    c_out[idx] = c;
    h_out[idx] = o * tanhf(c);
    float* s = act + n * k.G;
    if (!coupled) s[j] = i;
    s[k.f + j] = f, s[k.g + j] = g, s[k.o + j] = o;
  }
}

__global__ void lstm_bwd_kernel(const float* __restrict__ dh_a, const float* __restrict__ dh_b,
                                const float* __restrict__ dc_next, const float* __restrict__ c_prev,
                                const float* __restrict__ c_cur, const float* __restrict__ act,
                                const float* __restrict__ peep, bool coupled, int64_t N, int64_t H,
                                float* __restrict__ dgates, float* __restrict__ dc_prev) {
  const Slots k(coupled, H);
  const int64_t total = N * H;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = idx / H, j = idx % H;
    const float* s = act + n * k.G;
    const float f = s[k.f + j], g = s[k.g + j], o = s[k.o + j];
    const float i = coupled ? 1.f - f : s[j];
    const float cp = c_prev[idx], c = c_cur[idx], tc = tanhf(c);
    float dh = 0.f;
    if (dh_a) dh += dh_a[idx];
    if (dh_b) dh += dh_b[idx];
    const float da_o = dh * tc * o * (1.f - o);
    float dc = (dc_next ? dc_next[idx] : 0.f) + dh * o * (1.f - tc * tc);
    if (peep) dc += da_o * peep[2 * H + j];
    const float da_g = dc * i * (1.f - g * g);
    float di = dc * g, df = dc * cp;
    float da_i = 0.f;
    if (coupled) {
      df -= di;
    } else {
      da_i = di * i * (1.f - i);
    }
    const float da_f = df * f * (1.f - f);
    float dcp = dc * f;
    if (peep) dcp += da_i * peep[j] + da_f * peep[H + j];
    dc_prev[idx] = dcp;
    float* d = dgates + n * k.G;
    if (!coupled) d[j] = da_i;
    d[k.f + j] = da_f, d[k.g + j] = da_g, d[k.o + j] = da_o;
  }
}

constexpr int kBlock = 256;

// Rows of the "previous state" matrix for every step: step t's h_{t-1} (or c_{t-1}) in a
// T x N x H array, h0 for the first step processed.
void gather_prev(const RnnDims& d, const float* s0, const float* seq, bool reverse, float* out) {
  const size_t step = size_t(d.N * d.H);
  for (int64_t t = 0; t < d.T; ++t) {
    const int64_t src_t = reverse ? t + 1 : t - 1;
    const bool first = reverse ? (t == d.T - 1) : (t == 0);
    copy_bytes(out + t * step, first ? s0 : seq + src_t * step, step * sizeof(float));
  }
}

}  // namespace

void lstm_pointwise_forward(const float* gates, const float* bias, const float* c_prev,
                            const float* peep, bool coupled, int64_t N, int64_t H, float* h,
                            float* c, float* act) {
  const int64_t n = N * H;
  if (n == 0) return;
  lstm_fwd_kernel<<<grid_for(n, kBlock), kBlock, 0, stream()>>>(gates, bias, c_prev, peep, coupled,
                                                                N, H, h, c, act);
  DLK_CUDA_LAUNCH_CHECK("lstm_pointwise_forward");
}

void lstm_pointwise_backward(const float* dh_a, const float* dh_b, const float* dc_next,
                             const float* c_prev, const float* c, const float* act,
                             const float* peep, bool coupled, int64_t N, int64_t H, float* dgates,
                             float* dc_prev) {
  const int64_t n = N * H;
  if (n == 0) return;
  lstm_bwd_kernel<<<grid_for(n, kBlock), kBlock, 0, stream()>>>(
      dh_a, dh_b, dc_next, c_prev, c, act, peep, coupled, N, H, dgates, dc_prev);
  DLK_CUDA_LAUNCH_CHECK("lstm_pointwise_backward");
}

void lstm_sequence_forward(const RnnDims& d, const float* x, const float* h0, const float* c0,
                           const float* w_x, const float* w_h, const float* b, const float* peep,
                           bool coupled, bool reverse, float* hs, float* cs, float* act) {
  const int64_t T = d.T, N = d.N, I = d.I, H = d.H, G = Slots(coupled, H).G;
  if (T == 0 || N == 0 || H == 0) return;
  Scratch<float> xp{size_t(T * N * G)};
  // All input projections at once: XP = X W_x^T (T*N x 4H).
  gemm(false, true, T * N, G, I, 1.f, x, I, w_x, I, 0.f, xp.ptr, G);
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = reverse ? T - 1 - s : s;
    const float* h_prev = s == 0 ? h0 : hs + (reverse ? t + 1 : t - 1) * N * H;
    const float* c_prev = s == 0 ? c0 : cs + (reverse ? t + 1 : t - 1) * N * H;
    float* a = xp.ptr + t * N * G;
    gemm(false, true, N, G, H, 1.f, h_prev, H, w_h, H, 1.f, a, G);  // a += h_{t-1} W_h^T
    lstm_pointwise_forward(a, b, c_prev, peep, coupled, N, H, hs + t * N * H, cs + t * N * H,
                           act + t * N * G);
  }
}

void lstm_sequence_backward(const RnnDims& d, const float* dhs, const float* dh_last,
                            const float* dc_last, const float* x, const float* h0, const float* c0,
                            const float* w_x, const float* w_h, const float* peep, bool coupled,
                            bool reverse, const float* hs, const float* cs, const float* act,
                            float* dx, float* dh0, float* dc0, float* dw_x, float* dw_h, float* db,
                            float* dpeep) {
  const Slots k(coupled, d.H);
  const int64_t T = d.T, N = d.N, I = d.I, H = d.H, G = k.G;
  const int64_t NH = N * H;
  if (T == 0 || N == 0 || H == 0) {
    // Nothing ran: gradients are zero, and the initial states pass dc_last through.
    fill_f32(dx, T * N * I, 0.f);
    fill_f32(dw_x, G * I, 0.f);
    fill_f32(dw_h, G * H, 0.f);
    fill_f32(db, G, 0.f);
    if (dpeep) fill_f32(dpeep, 3 * H, 0.f);
    if (dh_last)
      copy_bytes(dh0, dh_last, size_t(NH) * sizeof(float));
    else
      fill_f32(dh0, NH, 0.f);
    if (dc_last)
      copy_bytes(dc0, dc_last, size_t(NH) * sizeof(float));
    else
      fill_f32(dc0, NH, 0.f);
    return;
  }
  Scratch<float> dA{size_t(T * N * G)}, hprev{size_t(T * NH)}, cprev{size_t(T * NH)};
  Scratch<float> dh_rec{size_t(NH)}, dc_a{size_t(NH)}, dc_b{size_t(NH)};
  gather_prev(d, h0, hs, reverse, hprev.ptr);
  gather_prev(d, c0, cs, reverse, cprev.ptr);
  const float* dc_next = dc_last;  // may be null
  float* dc_bufs[2] = {dc_a.ptr, dc_b.ptr};
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = reverse ? s : T - 1 - s;  // reverse of the forward order
    float* dc_out = dc_bufs[s & 1];
    lstm_pointwise_backward(dhs + t * NH, s == 0 ? dh_last : dh_rec.ptr, dc_next,
                            cprev.ptr + t * NH, cs + t * NH, act + t * N * G, peep, coupled, N, H,
                            dA.ptr + t * N * G, dc_out);
    // dh_{t-1} (recurrent part) = dA_t W_h  (N x 4H by 4H x H)
    gemm(false, false, N, H, G, 1.f, dA.ptr + t * N * G, G, w_h, H, 0.f, dh_rec.ptr, H);
    dc_next = dc_out;
  }
  copy_bytes(dh0, dh_rec.ptr, size_t(NH) * sizeof(float));
  copy_bytes(dc0, dc_next, size_t(NH) * sizeof(float));
  const int64_t R = T * N;
  gemm(true, false, G, H, R, 1.f, dA.ptr, G, hprev.ptr, H, 0.f, dw_h, H);  // dW_h = dA^T Hprev
  gemm(true, false, G, I, R, 1.f, dA.ptr, G, x, I, 0.f, dw_x, I);          // dW_x = dA^T X
  gemm(false, false, R, I, G, 1.f, dA.ptr, G, w_x, I, 0.f, dx, I);         // dX = dA W_x
  column_sum(dA.ptr, G, nullptr, 0, R, G, db, false);
  if (dpeep) {
    if (coupled)
      fill_f32(dpeep, H, 0.f);  // no input gate
    else
      column_sum(dA.ptr, G, cprev.ptr, H, R, H, dpeep, false);          // dp_i
    column_sum(dA.ptr + k.f, G, cprev.ptr, H, R, H, dpeep + H, false);  // dp_f
    column_sum(dA.ptr + k.o, G, cs, H, R, H, dpeep + 2 * H, false);     // dp_o
  }
}

}  // namespace dlk::cuda
