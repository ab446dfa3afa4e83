// The AVX2 rung of gru.cpp (float32): gru_impl.h's driver with 8-lane sigmoid/tanh.
#include "cpu/gru_impl.h"
#include "cpu/vec_math_avx2.h"

namespace dlk::cpu {

using Avx2Math = avx2::Math;

void gru_forward_avx2(const GruShape& s, const float* x, const float* h0, const float* w_ih,
                      const float* w_hh, const float* b, const float* b_hn, float* y, float* gates,
                      float* extra) {
  gru_forward_impl<float, Avx2Math>(s, x, h0, w_ih, w_hh, b, b_hn, y, gates, extra);
}

void gru_backward_avx2(const GruShape& s, const float* x, const float* h0, const float* w_ih,
                       const float* w_hh, const float* y, const float* gates, const float* extra,
                       const float* dy, const float* dh_T, float* dx, float* dh0, float* dw_ih,
                       float* dw_hh, float* db, float* db_hn) {
  gru_backward_impl<float>(s, x, h0, w_ih, w_hh, y, gates, extra, dy, dh_T, dx, dh0, dw_ih, dw_hh,
                           db, db_hn);
}

}  // namespace dlk::cpu
