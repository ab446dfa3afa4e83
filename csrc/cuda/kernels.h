// Host-side launchers of every CUDA kernel family. Pointers are device pointers; sizes are
// validated by the bindings (csrc/python/cuda_*.cpp) before these are called. Everything is
// queued on dlk::cuda::stream() and checked at launch.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "common/conv2d_shape.h"

namespace dlk::cuda {

// ---- elementwise.cu ------------------------------------------------------------------------
void fill_f32(float* x, int64_t n, float value);
void fill_i64(int64_t* x, int64_t n, int64_t value);
void copy_bytes(void* dst, const void* src, size_t bytes);
// out (cols x rows) = in (rows x cols)^T
void transpose_f32(const float* in, float* out, int64_t rows, int64_t cols);
// out[j] (+)= sum_r a[r*lda + j] * (b ? b[r*ldb + j] : 1), deterministic order.
void column_sum(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t rows,
                int64_t cols, float* out, bool accumulate);
// y[i] += alpha * x[i]
void axpy_f32(float* y, const float* x, int64_t n, float alpha);

// ---- gemm.cu -------------------------------------------------------------------------------
enum class GemmRung { naive, smem, regtile, vec, warptile, automatic };
GemmRung gemm_rung_from_name(const std::string& name);
const char* gemm_rung_name(GemmRung r);
void set_gemm_rung(GemmRung r);
GemmRung get_gemm_rung();
// The rung `automatic` resolves to for this shape.
GemmRung gemm_pick_rung(int64_t M, int64_t N, int64_t K);
// C = alpha * op(A) op(B) + beta * C, row-major with leading dimensions; beta == 0 ignores C.
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
          GemmRung rung = GemmRung::automatic);

// ---- softmax_xent.cu -----------------------------------------------------------------------
enum class Reduction { none, mean, sum };
// loss: (N,) for none, (1,) otherwise; lse: (N,). Returns the first row whose target is out of
// range (neither in [0, C) nor ignore_index), or -1; synchronises to read that back. With
// check_targets false it neither checks nor waits (such rows then get a NaN loss, never an
// out-of-bounds read) and returns -1.
int64_t softmax_xent_forward(const float* logits, const int64_t* targets, int64_t N, int64_t C,
                             int64_t ignore_index, float label_smoothing, Reduction red,
                             float* loss, float* lse, bool check_targets = true);
// dlogits = (softmax - q) * scale, q = (1-eps) onehot + eps/C; scale from grad_loss (device
// pointer: (N,) for none, (1,) otherwise) divided by the valid-row count for mean.
void softmax_xent_backward(const float* logits, const int64_t* targets, const float* lse,
                           const float* grad_loss, int64_t N, int64_t C, int64_t ignore_index,
                           float label_smoothing, Reduction red, float* dlogits);
// Forward and backward in one kernel: loss and lse as the forward, dlogits as the backward with
// a scalar upstream gradient `grad` (for none: the same grad for every row).
int64_t softmax_xent_fused(const float* logits, const int64_t* targets, int64_t N, int64_t C,
                           int64_t ignore_index, float label_smoothing, Reduction red, float grad,
                           float* loss, float* lse, float* dlogits, bool check_targets = true);
void log_softmax_forward(const float* x, int64_t N, int64_t C, float* y);
void log_softmax_backward(const float* y, const float* dy, int64_t N, int64_t C, float* dx);
// "auto", "reference", "warp", "block": which row kernel the softmax family uses.
void set_softmax_rung(const std::string& name);
std::string get_softmax_rung();

// ---- pool2d.cu -----------------------------------------------------------------------------
struct PoolGeom {
  int64_t N, C, H, W, KH, KW, SH, SW, PT, PB, PL, PR, OH, OW;
};
void max_pool2d_forward(const PoolGeom& g, const float* x, float* y, int64_t* argmax);
void max_pool2d_backward(const PoolGeom& g, const float* dy, const int64_t* argmax, float* dx);
// From argmax alone: dx (planes x HW) = scatter-add of dy. Returns false (after waiting for the
// GPU) when an argmax entry is outside [0, HW) and not -1; such entries are skipped.
bool max_pool2d_backward_scatter(int64_t planes, int64_t HW, int64_t OHW, const float* dy,
                                 const int64_t* argmax, float* dx);
void avg_pool2d_forward(const PoolGeom& g, const float* x, float* y, bool count_include_pad);
void avg_pool2d_backward(const PoolGeom& g, const float* dy, float* dx, bool count_include_pad);

// ---- lstm.cu -------------------------------------------------------------------------------
// Pointwise LSTM step over N x H. gates: N x G pre-activations, G = 4H [i, f, g, o], or 3H
// [f, g, o] when coupled (i = 1 - f); bias (G) and peep (3 x H: p_i, p_f, p_o) may be null.
// act receives the activated gates in the same layout.
void lstm_pointwise_forward(const float* gates, const float* bias, const float* c_prev,
                            const float* peep, bool coupled, int64_t N, int64_t H, float* h,
                            float* c, float* act);
// dh_a, dh_b (summed) and dc_next may be null. Writes dgates (N x 4H) and dc_prev.
void lstm_pointwise_backward(const float* dh_a, const float* dh_b, const float* dc_next,
                             const float* c_prev, const float* c, const float* act,
                             const float* peep, bool coupled, int64_t N, int64_t H, float* dgates,
                             float* dc_prev);

struct RnnDims {
  int64_t T, N, I, H;
};
void lstm_sequence_forward(const RnnDims& d, const float* x, const float* h0, const float* c0,
                           const float* w_x, const float* w_h, const float* b, const float* peep,
                           bool coupled, bool reverse, float* hs, float* cs, float* act);
// dpeep may be null when peep is null; dh_last and dc_last (gradients of the last state) may be
// null.
void lstm_sequence_backward(const RnnDims& d, const float* dhs, const float* dh_last,
                            const float* dc_last, const float* x, const float* h0, const float* c0,
                            const float* w_x, const float* w_h, const float* peep, bool coupled,
                            bool reverse, const float* hs, const float* cs, const float* act,
                            float* dx, float* dh0, float* dc0, float* dw_x, float* dw_h, float* db,
                            float* dpeep);

// ---- gru.cu --------------------------------------------------------------------------------
// Gate order [r, z, n] in every 3H block (the CPU kernels' conventions, csrc/cpu/gru.cpp).
// notes: n = tanh(W_n [r*h_{t-1}, x] + b_n), h_t = (1 - z) h_{t-1} + z n; reset_after
// (cuDNN/PyTorch): n = tanh(W_in x + b_n + r * (W_hn h_{t-1} + b_hn)), h_t = (1 - z) n + z h_{t-1}.
// b (3H) and b_hn (H, reset_after only) may be null; dh_last and db_hn may be null.
void gru_sequence_forward(const RnnDims& d, const float* x, const float* h0, const float* w_x,
                          const float* w_h, const float* b, const float* b_hn, bool reset_after,
                          bool reverse, float* hs, float* act, float* aux);
void gru_sequence_backward(const RnnDims& d, const float* dhs, const float* dh_last, const float* x,
                           const float* h0, const float* w_x, const float* w_h, bool reset_after,
                           bool reverse, const float* hs, const float* act, const float* aux,
                           float* dx, float* dh0, float* dw_x, float* dw_h, float* db,
                           float* db_hn);

// ---- conv2d.cu -----------------------------------------------------------------------------
// Conv2dShape (common/conv2d_shape.h) is the CPU kernels' own: the same names for every size.
void conv2d_forward(const Conv2dShape& g, const float* x, const float* w, const float* b, float* y);
void conv2d_backward_input(const Conv2dShape& g, const float* dy, const float* w, float* dx);
void conv2d_backward_weight(const Conv2dShape& g, const float* x, const float* dy, float* dw);
void conv2d_backward_bias(const Conv2dShape& g, const float* dy, float* db);

}  // namespace dlk::cuda
