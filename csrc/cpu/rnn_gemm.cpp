// Routing of the recurrent layers' GEMMs; see rnn_gemm.h.
#include "cpu/rnn_gemm.h"

#include <type_traits>

#include "common/cpu_features.h"
#include "cpu/gemm.h"
#include "cpu/rnn_small_gemm.h"

namespace dlk::cpu {

// rnn_gemm_avx512.cpp: the same small loops compiled for AVX-512.
bool rnn_small_gemm_avx512(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                           const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                           float* C, int64_t ldc);

bool rnn_gemm_is_small(bool ta, bool tb, int64_t M, int64_t N, int64_t K) {
  return (!ta && M <= 4) || (ta && !tb && K <= 4);
}

template <typename T>
void rnn_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
              const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (rnn_gemm_is_small(ta, tb, M, N, K)) {
    if constexpr (std::is_same_v<T, float>) {
      if (best_isa() == Isa::Avx512 &&
          rnn_small_gemm_avx512(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
        return;
    }
    if (small_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)) return;
  }
  gemm<T>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template void rnn_gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                              const float*, int64_t, float, float*, int64_t);
template void rnn_gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*,
                               int64_t, const double*, int64_t, double, double*, int64_t);

}  // namespace dlk::cpu
