// y = act(y + bias) over a contiguous run, the epilogue of the GEMM tiles and of the convolution's
// bias pass, and the gradient through it. Math is a pointwise-math struct (rnn_math.h's
// ScalarMath, or the SIMD ones of vec_math_*.h) so each instruction-set file compiles it with its
// own sigmoid/tanh. Internal linkage: include only from .cpp files.
#pragma once

#include <cstdint>

#include "cpu/activation.h"

namespace {

// bias_stride 1: a bias per element of the run (Linear's per-column bias along a row of C);
// 0: one value for the whole run (the convolution's per-channel bias along a row of pixels).
template <class Math, typename T>
void bias_activation_run(dlk::cpu::Activation act, int64_t n, const T* bias, int64_t bias_stride,
                         T* y) {
  if (bias && bias_stride) {
    for (int64_t j = 0; j < n; ++j) y[j] += bias[j];
  } else if (bias) {
    const T b = *bias;
    for (int64_t j = 0; j < n; ++j) y[j] += b;
  }
  switch (act) {
    case dlk::cpu::Activation::None: break;
    // max(y, 0) that keeps a NaN (a comparison with NaN is false), as numpy.maximum does.
    case dlk::cpu::Activation::Relu:
      for (int64_t j = 0; j < n; ++j) y[j] = y[j] < T(0) ? T(0) : y[j];
      break;
    case dlk::cpu::Activation::Tanh: Math::tanh(y, n); break;
    case dlk::cpu::Activation::Sigmoid: Math::sigmoid(y, n); break;
  }
}

}  // namespace
