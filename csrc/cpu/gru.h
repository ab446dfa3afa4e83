// Fused GRU step and sequence driver on the CPU, float32 and float64.
// Pointers are trusted; shapes are validated at the binding boundary (csrc/python/cpu_gru.cpp).
#pragma once

#include <cstdint>
#include <string>

namespace dlk::cpu {

// Gate order r, z, n; w_ih[3H, I], w_hh[3H, H], b[3H] (b_r, b_z, b_n).
// notes:       r = s(W_r[h, x] + b_r), z = s(W_z[h, x] + b_z), n = tanh(W_n[r h, x] + b_n),
//              h' = (1 - z) h + z n                              (the course notes, Cho et al.)
// reset_after: n = tanh(W_in x + b_n + r (W_hn h + b_hn)), h' = (1 - z) n + z h
//              (cuDNN / torch.nn.GRU; extra recurrent candidate bias b_hn[H]).
enum class GruVariant { Notes, ResetAfter };
GruVariant gru_variant_from_name(const std::string& name);

struct GruShape {
  int64_t T, N, I, H;
  GruVariant variant;
  bool reverse;
  const int64_t* batch_sizes = nullptr;  // packed sequences, as LstmShape (rnn_packed.h)
};

// Writes y[T, N, H] and what backward needs: gates[T, N, 3H] (r, z, n activated) and
// extra[T, N, H] (notes: r * h_prev; reset_after: W_hn h_prev + b_hn). b_hn only for reset_after.
template <typename T>
void gru_forward(const GruShape& s, const T* x, const T* h0, const T* w_ih, const T* w_hh,
                 const T* b, const T* b_hn, T* y, T* gates, T* extra);

// dy, dh_T may be null (zero). Writes dx, dh0, dw_ih, dw_hh, db and (reset_after) db_hn.
template <typename T>
void gru_backward(const GruShape& s, const T* x, const T* h0, const T* w_ih, const T* w_hh,
                  const T* y, const T* gates, const T* extra, const T* dy, const T* dh_T, T* dx,
                  T* dh0, T* dw_ih, T* dw_hh, T* db, T* db_hn);

}  // namespace dlk::cpu
