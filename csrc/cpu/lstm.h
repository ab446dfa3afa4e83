// Fused LSTM step and sequence driver on the CPU, float32 and float64.
// Pointers are trusted; shapes are validated at the binding boundary (csrc/python/cpu_lstm.cpp).
#pragma once

#include <cstdint>
#include <string>

namespace dlk::cpu {

// standard: gates i, f, g, o (G = 4); peephole: the same plus diagonal weights p[3, H] on the
// cell state (i and f see c_{t-1}, o sees c_t); coupled: gates f, g, o (G = 3) with i = 1 - f.
enum class LstmVariant { Standard, Peephole, Coupled };
LstmVariant lstm_variant_from_name(const std::string& name);
inline int64_t lstm_num_gates(LstmVariant v) { return v == LstmVariant::Coupled ? 3 : 4; }

struct LstmShape {
  int64_t T, N, I, H;
  LstmVariant variant;
  bool reverse;  // process t = T-1 .. 0 (the backward direction of a bidirectional layer)
  // Packed sequences (rnn_packed.h): batch_sizes[T], non-increasing, batch_sizes[0] = N; the
  // time-major arrays are then [R, .] with R = sum(batch_sizes). nullptr: dense [T, N, .].
  const int64_t* batch_sizes = nullptr;
};

// Weights in PyTorch's layout: w_ih[G*H, I], w_hh[G*H, H], one bias per gate b[G*H].
// Writes y[T, N, H] (h_t of each step, at its time index), and what backward needs:
// gates[T, N, G*H] (activated gates), cell[T, N, H] (c_t), tanh_cell[T, N, H] (tanh c_t).
// h_T and c_T are y and cell at each sequence's last processed step (RnnSteps::final_state).
template <typename T>
void lstm_forward(const LstmShape& s, const T* x, const T* h0, const T* c0, const T* w_ih,
                  const T* w_hh, const T* b, const T* peephole, T* y, T* gates, T* cell,
                  T* tanh_cell);

// Backward through time. dy[T, N, H], dh_T, dc_T may be null (zero). Writes dx[T, N, I],
// dh0, dc0 [N, H], dw_ih, dw_hh, db (overwritten, not accumulated) and dpeephole[3, H] when
// the variant has peepholes. With da_out[T, N, G*H] given, the weight gradients are not
// computed (dw_ih .. dpeephole may be null) and the gates' pre-activation gradients are written
// there instead: a caller running one step at a time (a decoder) then forms dW = sum da^T x
// over all its steps in one GEMM.
template <typename T>
void lstm_backward(const LstmShape& s, const T* x, const T* h0, const T* c0, const T* w_ih,
                   const T* w_hh, const T* peephole, const T* y, const T* gates, const T* cell,
                   const T* tanh_cell, const T* dy, const T* dh_T, const T* dc_T, T* dx, T* dh0,
                   T* dc0, T* dw_ih, T* dw_hh, T* db, T* dpeephole, T* da_out = nullptr);

// Pointwise rung: Reference (scalar libm), Avx2 or Avx512 (float32 only); Auto picks the
// widest the CPU runs.
enum class RnnRung { Auto, Reference, Avx512, Avx2 };
void set_rnn_rung(RnnRung rung);  // shared by the LSTM and GRU kernels
RnnRung rnn_rung_resolved(bool is_float32);
RnnRung rnn_rung_from_name(const std::string& name);
const char* rnn_rung_name(RnnRung rung);

}  // namespace dlk::cpu
