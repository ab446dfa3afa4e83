// The skinny-GEMM loops of gemm_small.h compiled for avx2.
#include "cpu/gemm_small.h"

#include "cpu/gemm_kernels.h"

namespace dlk::cpu {

template <typename T>
bool gemm_small_avx2(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                     int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  return gemm_small_impl(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template bool gemm_small_avx2<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*,
                                     int64_t, const float*, int64_t, float, float*, int64_t);
template bool gemm_small_avx2<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*,
                                      int64_t, const double*, int64_t, double, double*, int64_t);

}  // namespace dlk::cpu
