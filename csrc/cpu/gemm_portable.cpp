// Portable micro-kernel: plain C++ the compiler vectorises for the baseline instruction set.
// It is the rung between the reference loops and the intrinsics kernels: same packing and
// blocking, no intrinsics, so it shows how much of the speed is the blocking alone.
#include "cpu/bias_activation.h"
#include "cpu/gemm_kernels.h"
#include "cpu/rnn_math.h"

namespace dlk::cpu {
namespace {

template <typename T, int MR, int NR>
void ukernel(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, T alpha, T beta) {
  T acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k, a += MR, b += NR) {
    for (int i = 0; i < MR; ++i) {
      const T ai = a[i];
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * b[j];
    }
  }
  for (int i = 0; i < MR; ++i) {
    T* ci = c + i * ldc;
    if (beta == T(0)) {
      for (int j = 0; j < NR; ++j) ci[j] = alpha * acc[i][j];
    } else {
      for (int j = 0; j < NR; ++j) ci[j] = alpha * acc[i][j] + beta * ci[j];
    }
  }
}

}  // namespace

GemmMicroKernel<float> gemm_ukernel_portable_f32() {
  return {ukernel<float, 4, 8>, 4, 8, 256, 512, 2048, bias_activation_run<ScalarMath, float>};
}
GemmMicroKernel<double> gemm_ukernel_portable_f64() {
  return {ukernel<double, 4, 4>, 4, 4, 256, 256, 2048, bias_activation_run<ScalarMath, double>};
}

}  // namespace dlk::cpu
