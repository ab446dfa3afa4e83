// The AVX-512 rung of the LSTM pointwise kernels (float32): lstm_pointwise.h compiled with
// 16-lane polynomial sigmoid/tanh; the plain arithmetic loops vectorise at 16 lanes here too.
#include "cpu/lstm_pointwise.h"
#include "cpu/vec_math_avx512.h"

namespace dlk::cpu {

using Avx512Math = avx512::Math;

void lstm_pointwise_forward_avx512(int64_t N, int64_t H, LstmVariant v, const float* b,
                                   const float* p, const float* cprev, float* g, float* c,
                                   float* tc, float* h) {
  if (v == LstmVariant::Standard)
    return lstm_pointwise_forward_standard<avx512::Lanes, Avx512Math>(N, H, b, cprev, g, c, tc, h);
  lstm_pointwise_forward<float, Avx512Math>(N, H, v, b, p, cprev, g, c, tc, h);
}

void lstm_pointwise_backward_avx512(int64_t N, int64_t H, LstmVariant v, const float* p,
                                    const float* g, const float* cprev, const float* tc,
                                    const float* dy, const float* dh_next, float* dc, float* dg) {
  lstm_pointwise_backward<float>(N, H, v, p, g, cprev, tc, dy, dh_next, dc, dg);
}

}  // namespace dlk::cpu
