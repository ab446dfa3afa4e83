// Fused GRU step (pointwise parts) and sequence drivers, forward and backward, float32.
//
// Gate order [r, z, n] in every 3H block; xp = x W_ih^T + b for all steps in one GEMM (b holds
// every bias of the notes' formulation, and all but b_hn of reset_after).
//   notes:        r = s(a_r),  z = s(a_z),  n = tanh(xp_n + (r h_{t-1}) W_hn^T),
//                 a_{r,z} = xp_{r,z} + h_{t-1} W_h{r,z}^T;  h_t = (1 - z) h_{t-1} + z n;
//                 aux = r h_{t-1} (the input of the candidate's recurrent GEMM).
//   reset_after:  hp = h_{t-1} W_hh^T + [0, 0, b_hn] (N x 3H, one GEMM), r = s(xp_r + hp_r),
//                 z = s(xp_z + hp_z), n = tanh(xp_n + r hp_n);  h_t = (1 - z) n + z h_{t-1}
//                 (cuDNN's and PyTorch's z convention, the opposite of the notes'); aux = hp_n.
// Backward, with dh = dL/dh_t:
//   notes:       da_n = dh z (1 - n^2);  da_z = dh (n - h_{t-1}) z(1-z);  dh_{t-1} = dh (1 - z);
//                d(rh) = da_n W_hn;  da_r = d(rh) h_{t-1} r(1-r);  dh_{t-1} += d(rh) r
//                + [da_r, da_z] W_h{r,z}
//   reset_after: da_n = dh (1-z)(1 - n^2);  da_z = dh (h_{t-1} - n) z(1-z);  dh_{t-1} = dh z;
//                dhp_n = da_n r;  da_r = da_n hp_n r(1-r);  dxp = [da_r, da_z, da_n],
//                dhp = [da_r, da_z, dhp_n];  dh_{t-1} += dhp W_hh
// Weight gradients over all steps at once: dW_ih = dXP^T X, dW_hh = dHP^T H_prev (reset_after)
// or [dA_rz^T H_prev ; dA_n^T (r h_prev)] (notes); db and db_hn are column sums.
//
// Rungs (measured throughput: not yet measured: no GPU lent): one thread per (n, j) element;
// the notes' formulation needs two dependent GEMMs per step (the candidate's input depends on
// r), reset_after one, which is why cuDNN chose it.
#include "cuda/kernels.h"
#include "cuda/runtime.h"

namespace dlk::cuda {
namespace {

__device__ __forceinline__ float sigmoidf(float x) { return 1.f / (1.f + __expf(-x)); }

#define DLK_GRID_STRIDE(idx, total)                                                 \
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < (total); \
       idx += int64_t(gridDim.x) * blockDim.x)

// notes, phase 1: a (row stride 3H) holds xp + h W_h^T in its r, z slots.
__global__ void gru_gates_fwd(const float* __restrict__ a, const float* __restrict__ b_h,
                              const float* __restrict__ h_prev, int64_t N, int64_t H,
                              float* __restrict__ act, float* __restrict__ rh) {
  DLK_GRID_STRIDE(idx, N * H) {
    const int64_t n = idx / H, j = idx % H;
    float ar = a[n * 3 * H + j], az = a[n * 3 * H + H + j];
    if (b_h) ar += b_h[j], az += b_h[H + j];
    const float r = sigmoidf(ar), z = sigmoidf(az);
    act[n * 3 * H + j] = r;
    act[n * 3 * H + H + j] = z;
    rh[idx] = r * h_prev[idx];
  }
}

// notes, phase 2: the n slot of a holds xp_n + (r h) W_hn^T.
__global__ void gru_cand_fwd(const float* __restrict__ a, const float* __restrict__ b_h,
                             const float* __restrict__ h_prev, int64_t N, int64_t H,
                             float* __restrict__ act, float* __restrict__ h) {
  DLK_GRID_STRIDE(idx, N * H) {
    const int64_t n = idx / H, j = idx % H;
    float an = a[n * 3 * H + 2 * H + j];
    if (b_h) an += b_h[2 * H + j];
    const float nn = tanhf(an), z = act[n * 3 * H + H + j], hp = h_prev[idx];
    act[n * 3 * H + 2 * H + j] = nn;
    h[idx] = (1.f - z) * hp + z * nn;
  }
}

__global__ void gru_ra_fwd(const float* __restrict__ xp, const float* __restrict__ hp,
                           const float* __restrict__ h_prev, int64_t N, int64_t H,
                           float* __restrict__ act, float* __restrict__ aux,
                           float* __restrict__ h) {
  DLK_GRID_STRIDE(idx, N * H) {
    const int64_t n = idx / H, j = idx % H, row = n * 3 * H;
    const float r = sigmoidf(xp[row + j] + hp[row + j]);
    const float z = sigmoidf(xp[row + H + j] + hp[row + H + j]);
    const float hpn = hp[row + 2 * H + j];
    const float nn = tanhf(xp[row + 2 * H + j] + r * hpn);
    act[row + j] = r, act[row + H + j] = z, act[row + 2 * H + j] = nn;
    aux[idx] = hpn;
    h[idx] = (1.f - z) * nn + z * h_prev[idx];
  }
}

// notes, backward phase 2: writes da_z, da_n into dA (stride 3H) and dh_prev = dh (1 - z).
__global__ void gru_cand_bwd(const float* __restrict__ dh_a, const float* __restrict__ dh_b,
                             const float* __restrict__ act, const float* __restrict__ h_prev,
                             int64_t N, int64_t H, float* __restrict__ dA,
                             float* __restrict__ dh_prev) {
  DLK_GRID_STRIDE(idx, N * H) {
    const int64_t n = idx / H, j = idx % H, row = n * 3 * H;
    const float dh = dh_a[idx] + (dh_b ? dh_b[idx] : 0.f);
    const float z = act[row + H + j], nn = act[row + 2 * H + j], hp = h_prev[idx];
    dA[row + H + j] = dh * (nn - hp) * z * (1.f - z);
    dA[row + 2 * H + j] = dh * z * (1.f - nn * nn);
    dh_prev[idx] = dh * (1.f - z);
  }
}

// notes, backward phase 1: d_rh = da_n W_hn; writes da_r, adds d_rh r to dh_prev.
__global__ void gru_gates_bwd(const float* __restrict__ d_rh, const float* __restrict__ act,
                              const float* __restrict__ h_prev, int64_t N, int64_t H,
                              float* __restrict__ dA, float* __restrict__ dh_prev) {
  DLK_GRID_STRIDE(idx, N * H) {
    const int64_t n = idx / H, j = idx % H, row = n * 3 * H;
    const float r = act[row + j], g = d_rh[idx];
    dA[row + j] = g * h_prev[idx] * r * (1.f - r);
    dh_prev[idx] += g * r;
  }
}

__global__ void gru_ra_bwd(const float* __restrict__ dh_a, const float* __restrict__ dh_b,
                           const float* __restrict__ act, const float* __restrict__ aux,
                           const float* __restrict__ h_prev, int64_t N, int64_t H,
                           float* __restrict__ dxp, float* __restrict__ dhp,
                           float* __restrict__ dh_prev) {
  DLK_GRID_STRIDE(idx, N * H) {
    const int64_t n = idx / H, j = idx % H, row = n * 3 * H;
    const float dh = dh_a[idx] + (dh_b ? dh_b[idx] : 0.f);
    const float r = act[row + j], z = act[row + H + j], nn = act[row + 2 * H + j];
    const float hp = h_prev[idx], hpn = aux[idx];
    const float da_n = dh * (1.f - z) * (1.f - nn * nn);
    const float da_z = dh * (hp - nn) * z * (1.f - z);
    const float da_r = da_n * hpn * r * (1.f - r);
    dxp[row + j] = da_r, dxp[row + H + j] = da_z, dxp[row + 2 * H + j] = da_n;
    dhp[row + j] = da_r, dhp[row + H + j] = da_z, dhp[row + 2 * H + j] = da_n * r;
    dh_prev[idx] = dh * z;
  }
}

constexpr int kBlock = 256;

void gather_prev(const RnnDims& d, const float* s0, const float* seq, bool reverse, float* out) {
  const size_t step = size_t(d.N * d.H);
  for (int64_t t = 0; t < d.T; ++t) {
    const bool first = reverse ? (t == d.T - 1) : (t == 0);
    copy_bytes(out + t * step, first ? s0 : seq + (reverse ? t + 1 : t - 1) * step,
               step * sizeof(float));
  }
}

// xp = X W_x^T + b_x (bias broadcast by a rank-1 GEMM: ones(R) x b_x).
void input_projection(int64_t R, int64_t G, int64_t I, const float* x, const float* w_x,
                      const float* b_x, float* xp) {
  gemm(false, true, R, G, I, 1.f, x, I, w_x, I, 0.f, xp, G);
  if (b_x) {
    Scratch<float> ones{size_t(R)};
    fill_f32(ones.ptr, R, 1.f);
    gemm(false, false, R, G, 1, 1.f, ones.ptr, 1, b_x, G, 1.f, xp, G);
  }
}

}  // namespace

void gru_sequence_forward(const RnnDims& d, const float* x, const float* h0, const float* w_x,
                          const float* w_h, const float* b, const float* b_hn, bool reset_after,
                          bool reverse, float* hs, float* act, float* aux) {
  const int64_t T = d.T, N = d.N, I = d.I, H = d.H, G = 3 * H, NH = N * H;
  if (T == 0 || N == 0 || H == 0) return;
  Scratch<float> xp{size_t(T * N * G)}, hp{reset_after ? size_t(N * G) : 0};
  input_projection(T * N, G, I, x, w_x, b, xp.ptr);
  Scratch<float> ones{reset_after && b_hn ? size_t(N) : 0};
  if (ones.ptr) fill_f32(ones.ptr, N, 1.f);
  cudaStream_t s = stream();
  const unsigned grid = grid_for(NH, kBlock);
  for (int64_t k = 0; k < T; ++k) {
    const int64_t t = reverse ? T - 1 - k : k;
    const float* h_prev = k == 0 ? h0 : hs + (reverse ? t + 1 : t - 1) * NH;
    float* a = xp.ptr + t * N * G;
    float* ht = hs + t * NH;
    float* at = act + t * N * G;
    if (reset_after) {
      gemm(false, true, N, G, H, 1.f, h_prev, H, w_h, H, 0.f, hp.ptr, G);
      if (b_hn) gemm(false, false, N, H, 1, 1.f, ones.ptr, 1, b_hn, H, 1.f, hp.ptr + 2 * H, G);
      gru_ra_fwd<<<grid, kBlock, 0, s>>>(a, hp.ptr, h_prev, N, H, at, aux + t * NH, ht);
      DLK_CUDA_LAUNCH_CHECK("gru_reset_after_forward");
    } else {
      // a[:, 0:2H] += h_{t-1} W_h[0:2H]^T
      gemm(false, true, N, 2 * H, H, 1.f, h_prev, H, w_h, H, 1.f, a, G);
      gru_gates_fwd<<<grid, kBlock, 0, s>>>(a, nullptr, h_prev, N, H, at, aux + t * NH);
      DLK_CUDA_LAUNCH_CHECK("gru_gates_forward");
      // a[:, 2H:3H] += (r h_{t-1}) W_h[2H:3H]^T
      gemm(false, true, N, H, H, 1.f, aux + t * NH, H, w_h + 2 * H * H, H, 1.f, a + 2 * H, G);
      gru_cand_fwd<<<grid, kBlock, 0, s>>>(a, nullptr, h_prev, N, H, at, ht);
      DLK_CUDA_LAUNCH_CHECK("gru_candidate_forward");
    }
  }
}

void gru_sequence_backward(const RnnDims& d, const float* dhs, const float* dh_last, const float* x,
                           const float* h0, const float* w_x, const float* w_h, bool reset_after,
                           bool reverse, const float* hs, const float* act, const float* aux,
                           float* dx, float* dh0, float* dw_x, float* dw_h, float* db,
                           float* db_hn) {
  const int64_t T = d.T, N = d.N, I = d.I, H = d.H, G = 3 * H, NH = N * H, R = T * N;
  if (T == 0 || N == 0 || H == 0) {
    fill_f32(dx, T * N * I, 0.f);
    if (dh_last)
      copy_bytes(dh0, dh_last, size_t(NH) * sizeof(float));
    else
      fill_f32(dh0, NH, 0.f);
    fill_f32(dw_x, G * I, 0.f);
    fill_f32(dw_h, G * H, 0.f);
    fill_f32(db, G, 0.f);
    if (db_hn) fill_f32(db_hn, H, 0.f);
    return;
  }
  Scratch<float> dxp{size_t(R * G)}, dhp{reset_after ? size_t(R * G) : 0};
  Scratch<float> hprev{size_t(R * H)}, dh_rec{size_t(NH)}, d_rh{reset_after ? 0 : size_t(NH)};
  gather_prev(d, h0, hs, reverse, hprev.ptr);
  cudaStream_t s = stream();
  const unsigned grid = grid_for(NH, kBlock);
  Scratch<float> dh_new{size_t(NH)};
  for (int64_t k = 0; k < T; ++k) {
    const int64_t t = reverse ? k : T - 1 - k;
    const float* hp_t = hprev.ptr + t * NH;
    const float* at = act + t * N * G;
    float* dA = dxp.ptr + t * N * G;
    const float* dh_b = k == 0 ? dh_last : dh_rec.ptr;
    if (reset_after) {
      float* dH = dhp.ptr + t * N * G;
      gru_ra_bwd<<<grid, kBlock, 0, s>>>(dhs + t * NH, dh_b, at, aux + t * NH, hp_t, N, H, dA, dH,
                                         dh_new.ptr);
      DLK_CUDA_LAUNCH_CHECK("gru_reset_after_backward");
      gemm(false, false, N, H, G, 1.f, dH, G, w_h, H, 1.f, dh_new.ptr, H);  // += dHP W_h
    } else {
      gru_cand_bwd<<<grid, kBlock, 0, s>>>(dhs + t * NH, dh_b, at, hp_t, N, H, dA, dh_new.ptr);
      DLK_CUDA_LAUNCH_CHECK("gru_candidate_backward");
      // d(rh) = da_n W_h[2H:3H]
      gemm(false, false, N, H, H, 1.f, dA + 2 * H, G, w_h + 2 * H * H, H, 0.f, d_rh.ptr, H);
      gru_gates_bwd<<<grid, kBlock, 0, s>>>(d_rh.ptr, at, hp_t, N, H, dA, dh_new.ptr);
      DLK_CUDA_LAUNCH_CHECK("gru_gates_backward");
      // dh_{t-1} += [da_r, da_z] W_h[0:2H]
      gemm(false, false, N, H, 2 * H, 1.f, dA, G, w_h, H, 1.f, dh_new.ptr, H);
    }
    copy_bytes(dh_rec.ptr, dh_new.ptr, size_t(NH) * sizeof(float));
  }
  copy_bytes(dh0, dh_rec.ptr, size_t(NH) * sizeof(float));
  gemm(true, false, G, I, R, 1.f, dxp.ptr, G, x, I, 0.f, dw_x, I);   // dW_x = dXP^T X
  gemm(false, false, R, I, G, 1.f, dxp.ptr, G, w_x, I, 0.f, dx, I);  // dX = dXP W_x
  column_sum(dxp.ptr, G, nullptr, 0, R, G, db, false);
  if (reset_after) {
    gemm(true, false, G, H, R, 1.f, dhp.ptr, G, hprev.ptr, H, 0.f, dw_h, H);
    if (db_hn) column_sum(dhp.ptr + 2 * H, G, nullptr, 0, R, H, db_hn, false);
  } else {
    gemm(true, false, 2 * H, H, R, 1.f, dxp.ptr, G, hprev.ptr, H, 0.f, dw_h, H);
    gemm(true, false, H, H, R, 1.f, dxp.ptr + 2 * H, G, aux, H, 0.f, dw_h + 2 * H * H, H);
    if (db_hn) fill_f32(db_hn, H, 0.f);
  }
}

}  // namespace dlk::cuda
