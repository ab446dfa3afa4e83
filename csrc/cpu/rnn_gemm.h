// The GEMMs of the recurrent layers (lstm.cpp, gru.cpp): the library GEMM, except for the
// shapes a single step at batch 1..4 produces, which the packed GEMM serves badly (it packs the
// whole weight matrix to multiply it by one row: ~350 us for 1x1024x256 where a streaming GEMV
// takes ~10 us).
#pragma once

#include <cstdint>

namespace dlk::cpu {

// Same contract as dlk::cpu::gemm (row-major, op in {N, T}, beta == 0 ignores C).
template <typename T>
void rnn_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
              const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// True when rnn_gemm takes the streaming small-shape path for this call.
bool rnn_gemm_is_small(bool ta, bool tb, int64_t M, int64_t N, int64_t K);

}  // namespace dlk::cpu
