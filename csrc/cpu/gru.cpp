// GRU on the CPU: fused step and sequence driver, both formulations, forward and backward
// through time. The formulas and the GEMM structure are in gru_impl.h (shared with the AVX-512
// build); this file holds the reference rung (scalar libm sigmoid/tanh) and the dispatcher.
//
// Rungs (pointwise math; the GEMMs are the library's, W_hh packed once per call: rnn_gemm.h):
//   reference  scalar libm exp/tanh, the formula as loops; float64 always takes it.
//   avx2       the same with 8-lane AVX2 + FMA math (CPUs without AVX-512).
//   avx512     the whole driver compiled with AVX-512: 16-lane polynomial sigmoid/tanh and the
//              arithmetic loops vectorised 16 wide (float32).
// PyTorch's CPU GRU runs each gate as separate ATen ops (several passes over [N, 3H] per step
// plus allocations); the fused step touches each element once per pass here. Measured
// (T=50, N=64, 128->256, reset_after, fwd+bwd, 1 thread, noisy shared machine): ~1.4x nn.GRU.
#include "cpu/gru.h"

#include <type_traits>

#include "common/check.h"
#include "cpu/gru_impl.h"
#include "cpu/lstm.h"  // RnnRung, shared with the LSTM
#include "cpu/rnn_math.h"

namespace dlk::cpu {

// gru_avx512.cpp
void gru_forward_avx512(const GruShape& s, const float* x, const float* h0, const float* w_ih,
                        const float* w_hh, const float* b, const float* b_hn, float* y,
                        float* gates, float* extra);
void gru_backward_avx512(const GruShape& s, const float* x, const float* h0, const float* w_ih,
                         const float* w_hh, const float* y, const float* gates, const float* extra,
                         const float* dy, const float* dh_T, float* dx, float* dh0, float* dw_ih,
                         float* dw_hh, float* db, float* db_hn);

// gru_avx2.cpp
void gru_forward_avx2(const GruShape& s, const float* x, const float* h0, const float* w_ih,
                      const float* w_hh, const float* b, const float* b_hn, float* y, float* gates,
                      float* extra);
void gru_backward_avx2(const GruShape& s, const float* x, const float* h0, const float* w_ih,
                       const float* w_hh, const float* y, const float* gates, const float* extra,
                       const float* dy, const float* dh_T, float* dx, float* dh0, float* dw_ih,
                       float* dw_hh, float* db, float* db_hn);

GruVariant gru_variant_from_name(const std::string& name) {
  if (name == "notes") return GruVariant::Notes;
  if (name == "reset_after") return GruVariant::ResetAfter;
  fail("variant: expected 'notes' or 'reset_after', got '", name, "'");
}

template <typename T>
void gru_forward(const GruShape& s, const T* x, const T* h0, const T* w_ih, const T* w_hh,
                 const T* b, const T* b_hn, T* y, T* gates, T* extra) {
  if constexpr (std::is_same_v<T, float>) {
    const RnnRung r = rnn_rung_resolved(true);
    if (r == RnnRung::Avx512)
      return gru_forward_avx512(s, x, h0, w_ih, w_hh, b, b_hn, y, gates, extra);
    if (r == RnnRung::Avx2) return gru_forward_avx2(s, x, h0, w_ih, w_hh, b, b_hn, y, gates, extra);
  }
  gru_forward_impl<T, ScalarMath>(s, x, h0, w_ih, w_hh, b, b_hn, y, gates, extra);
}

template <typename T>
void gru_backward(const GruShape& s, const T* x, const T* h0, const T* w_ih, const T* w_hh,
                  const T* y, const T* gates, const T* extra, const T* dy, const T* dh_T, T* dx,
                  T* dh0, T* dw_ih, T* dw_hh, T* db, T* db_hn) {
  if constexpr (std::is_same_v<T, float>) {
    const RnnRung r = rnn_rung_resolved(true);
    if (r == RnnRung::Avx512)
      return gru_backward_avx512(s, x, h0, w_ih, w_hh, y, gates, extra, dy, dh_T, dx, dh0, dw_ih,
                                 dw_hh, db, db_hn);
    if (r == RnnRung::Avx2)
      return gru_backward_avx2(s, x, h0, w_ih, w_hh, y, gates, extra, dy, dh_T, dx, dh0, dw_ih,
                               dw_hh, db, db_hn);
  }
  gru_backward_impl<T>(s, x, h0, w_ih, w_hh, y, gates, extra, dy, dh_T, dx, dh0, dw_ih, dw_hh, db,
                       db_hn);
}

#define DLK_INSTANTIATE(T)                                                                         \
  template void gru_forward<T>(const GruShape&, const T*, const T*, const T*, const T*, const T*,  \
                               const T*, T*, T*, T*);                                              \
  template void gru_backward<T>(const GruShape&, const T*, const T*, const T*, const T*, const T*, \
                                const T*, const T*, const T*, const T*, T*, T*, T*, T*, T*, T*);
DLK_INSTANTIATE(float)
DLK_INSTANTIATE(double)
#undef DLK_INSTANTIATE

}  // namespace dlk::cpu
