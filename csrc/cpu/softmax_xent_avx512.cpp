// The AVX-512 rung of softmax_xent.cpp (float32, 16 lanes): softmax_xent_simd.h over
// simd::F32x16, the same algorithm as the AVX2 rung. Compiled with -mavx512f...; called only
// when dlk::cpu_has_avx512().
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "common/parallel.h"
#include "cpu/softmax_xent_simd.h"

namespace dlk::cpu {

namespace {
using V = simd::F32x16;

int64_t row_grain(int64_t C) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(C, 1)); }

}  // namespace

void softmax_xent_forward_avx512(int64_t N, int64_t C, const float* x, const int64_t* t,
                                 int64_t ign, double eps, float* loss, double* lse) {
  if (C <= xent_simd::kSmallC) {
    const int64_t groups = (N + 15) / 16;  // whole 16-row groups per thread
    parallel_for(groups, std::max<int64_t>(1, 32768 / (16 * C)), [&](int64_t g0, int64_t g1) {
      xent_simd::forward_small_c<V>(g0 * 16, std::min(N, g1 * 16), C, x, t, ign, eps, loss, lse);
    });
    return;
  }
  parallel_for(N, row_grain(C), [&](int64_t begin, int64_t end) {
    xent_simd::forward_rows<V>(begin, end, C, x, t, ign, eps, loss, lse);
  });
}

void softmax_xent_backward_avx512(int64_t N, int64_t C, const float* x, const int64_t* t,
                                  const double* lse, int64_t ign, double eps,
                                  const float* row_scale, double scale, float* dx) {
  const bool stream = N * C * int64_t{4} > (int64_t{16} << 20);  // measured ~10 % at 512x32000
  parallel_for(N, row_grain(C), [&](int64_t begin, int64_t end) {
    xent_simd::backward_rows<V>(begin, end, C, x, t, lse, ign, eps, row_scale, scale, dx, stream);
    if (stream) _mm_sfence();  // order the streamed lines before the caller reads dx
  });
}

void log_softmax_forward_avx512(int64_t N, int64_t C, const float* x, float* y) {
  parallel_for(N, row_grain(C), [&](int64_t begin, int64_t end) {
    xent_simd::log_softmax_rows<V>(begin, end, C, x, y);
  });
}

void log_softmax_backward_avx512(int64_t N, int64_t C, const float* gy, const float* y, float* gx) {
  parallel_for(N, row_grain(C), [&](int64_t begin, int64_t end) {
    xent_simd::log_softmax_backward_rows<V>(begin, end, C, gy, y, gx);
  });
}

void xent_exp_avx512(int64_t n, const float* x, float* y) { xent_simd::exp_array<V>(n, x, y); }

}  // namespace dlk::cpu
