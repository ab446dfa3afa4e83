// The gradient through a fused bias + activation (activation.h).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "common/parallel.h"
#include "cpu/activation.h"

namespace dlk::cpu {

namespace {

// y > 0 as 0 or 1 from the comparison's mask and the bits of 1.0: GCC turned the plain
// g * (y > 0) into a branch per element, which mispredicted on every sign change (7 ns an
// element, 10x the vectorised loop).
template <typename T>
inline T step(T y) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  constexpr T kOne = T(1);
  U one;
  std::memcpy(&one, &kOne, sizeof(U));
  const U bits = one & (U(0) - static_cast<U>(y > T(0)));
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

// Columns [j0, j1) of every row: each thread owns whole columns, so the bias sums need no
// reduction across threads.
template <typename T>
void columns(Activation act, int64_t M, int64_t N, const T* g, const T* y, T* gz, T* gb, int64_t j0,
             int64_t j1) {
  constexpr int64_t kBlock = 256;
  double acc[kBlock];
  for (int64_t jb = j0; jb < j1; jb += kBlock) {
    const int64_t n = std::min(kBlock, j1 - jb);
    std::fill(acc, acc + n, 0.0);
    for (int64_t i = 0; i < M; ++i) {
      const T* gi = g + i * N + jb;
      const T* yi = y + i * N + jb;
      T* zi = gz + i * N + jb;
      switch (act) {  // one loop per activation, so each vectorises
        case Activation::Relu:
          for (int64_t j = 0; j < n; ++j) zi[j] = gi[j] * step(yi[j]);
          break;
        case Activation::Tanh:
          for (int64_t j = 0; j < n; ++j) zi[j] = gi[j] * (T(1) - yi[j] * yi[j]);
          break;
        case Activation::Sigmoid:
          for (int64_t j = 0; j < n; ++j) zi[j] = gi[j] * (yi[j] * (T(1) - yi[j]));
          break;
        case Activation::None:
          if (zi != gi) std::copy(gi, gi + n, zi);
          break;
      }
      if (gb)
        for (int64_t j = 0; j < n; ++j) acc[j] += static_cast<double>(zi[j]);
    }
    if (gb)
      for (int64_t j = 0; j < n; ++j) gb[jb + j] = static_cast<T>(acc[j]);
  }
}

}  // namespace

template <typename T>
void activation_backward(Activation act, int64_t M, int64_t N, const T* g, const T* y, T* gz,
                         T* gb) {
  if (N <= 0) return;
  if (M <= 0) {
    if (gb) std::fill(gb, gb + N, T(0));
    return;
  }
  if (gb) {
    // ~16K elements per range at least: below that a thread costs more than it saves.
    parallel_for(N, std::max<int64_t>(64, 16384 / M),
                 [&](int64_t j0, int64_t j1) { columns(act, M, N, g, y, gz, gb, j0, j1); });
  } else {
    parallel_for(M, std::max<int64_t>(1, 16384 / N), [&](int64_t i0, int64_t i1) {
      columns(act, i1 - i0, N, g + i0 * N, y + i0 * N, gz + i0 * N, static_cast<T*>(nullptr), 0, N);
    });
  }
}

template void activation_backward<float>(Activation, int64_t, int64_t, const float*, const float*,
                                         float*, float*);
template void activation_backward<double>(Activation, int64_t, int64_t, const double*,
                                          const double*, double*, double*);

}  // namespace dlk::cpu
