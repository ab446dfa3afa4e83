// The AVX2 + FMA rung of softmax_xent.cpp (float32, 8 lanes): softmax_xent_simd.h over
// simd::F32x8. Compiled with -mavx2 -mfma; called only when dlk::cpu_has_avx2_fma().
#include <algorithm>
#include <cstdint>

#include "common/parallel.h"
#include "cpu/softmax_xent_simd.h"

namespace dlk::cpu {

namespace {
using V = simd::F32x8;
int64_t row_grain(int64_t C) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(C, 1)); }
}  // namespace

void softmax_xent_forward_avx2(int64_t N, int64_t C, const float* x, const int64_t* t, int64_t ign,
                               double eps, float* loss, double* lse) {
  if (C <= xent_simd::kSmallC) {
    const int64_t groups = (N + 7) / 8;  // whole 8-row groups per thread
    parallel_for(groups, std::max<int64_t>(1, 32768 / (8 * C)), [&](int64_t g0, int64_t g1) {
      xent_simd::forward_small_c<V>(g0 * 8, std::min(N, g1 * 8), C, x, t, ign, eps, loss, lse);
    });
    return;
  }
  parallel_for(N, row_grain(C), [&](int64_t begin, int64_t end) {
    xent_simd::forward_rows<V>(begin, end, C, x, t, ign, eps, loss, lse);
  });
}

void softmax_xent_backward_avx2(int64_t N, int64_t C, const float* x, const int64_t* t,
                                const double* lse, int64_t ign, double eps, const float* row_scale,
                                double scale, float* dx) {
  const bool stream = N * C * int64_t{4} > (int64_t{16} << 20);
  parallel_for(N, row_grain(C), [&](int64_t begin, int64_t end) {
    xent_simd::backward_rows<V>(begin, end, C, x, t, lse, ign, eps, row_scale, scale, dx, stream);
    if (stream) _mm_sfence();  // order the streamed lines before the caller reads dx
  });
}

void log_softmax_forward_avx2(int64_t N, int64_t C, const float* x, float* y) {
  parallel_for(N, row_grain(C), [&](int64_t begin, int64_t end) {
    xent_simd::log_softmax_rows<V>(begin, end, C, x, y);
  });
}

void log_softmax_backward_avx2(int64_t N, int64_t C, const float* gy, const float* y, float* gx) {
  parallel_for(N, row_grain(C), [&](int64_t begin, int64_t end) {
    xent_simd::log_softmax_backward_rows<V>(begin, end, C, gy, y, gx);
  });
}

void xent_exp_avx2(int64_t n, const float* x, float* y) { xent_simd::exp_array<V>(n, x, y); }

}  // namespace dlk::cpu
