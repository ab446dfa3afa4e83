// Array sigmoid / tanh for the recurrent pointwise kernels: the scalar (libm) version, used by
// the reference rung and for float64. rnn pointwise templates take the math as a parameter so
// the AVX-512 translation units can plug in vec_math_avx512.h. Internal linkage.
#pragma once

#include <cmath>
#include <cstdint>

namespace {

struct ScalarMath {
  template <typename T>
  static void sigmoid(T* x, int64_t n) {
    for (int64_t j = 0; j < n; ++j) x[j] = T(1) / (T(1) + std::exp(-x[j]));
  }
  template <typename T>
  static void tanh(T* x, int64_t n) {
    for (int64_t j = 0; j < n; ++j) x[j] = std::tanh(x[j]);
  }
  template <typename T>
  static void tanh_to(const T* x, T* y, int64_t n) {
    for (int64_t j = 0; j < n; ++j) y[j] = std::tanh(x[j]);
  }
};

}  // namespace
