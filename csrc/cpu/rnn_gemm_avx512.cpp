// rnn_small_gemm.h's loops compiled with AVX-512 (float32); called only on CPUs that have it.
#include "cpu/rnn_small_gemm.h"

namespace dlk::cpu {

bool rnn_small_gemm_avx512(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                           const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                           float* C, int64_t ldc) {
  return small_gemm<float>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace dlk::cpu
