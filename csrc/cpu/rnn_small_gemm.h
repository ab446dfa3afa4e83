// Streaming loops for the skinny GEMMs of one recurrent step at tiny batch, included by
// rnn_gemm.cpp (portable build) and rnn_gemm_avx512.cpp (compiled with AVX-512, where the same
// loops vectorise 16 lanes wide). Internal linkage, so the two builds never mix.
#pragma once

#include <algorithm>
#include <cstdint>

#include "common/parallel.h"

namespace {

// C[m, j] = alpha * dot(A[m, :], B[j, :]) + beta * C[m, j]  for m < M (small), j < N.
// Each row of B (a weight row) is read once for all M rows of A.
template <typename T>
void small_nt(int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
              int64_t ldb, T beta, T* C, int64_t ldc) {
  dlk::parallel_for(N, std::max<int64_t>(16, 32768 / std::max<int64_t>(K * M, 1)),
                    [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      const T* b = B + j * ldb;
      for (int64_t m = 0; m < M; ++m) {
        const T* a = A + m * lda;
        T acc = 0;
#pragma omp simd reduction(+ : acc)
        for (int64_t k = 0; k < K; ++k) acc += a[k] * b[k];
        T& c = C[m * ldc + j];
        c = beta == T(0) ? alpha * acc : alpha * acc + beta * c;
      }
    }
  });
}

// C[m, :] = alpha * sum_k A[m, k] B[k, :] + beta * C[m, :]  (M small): rows of B streamed once
// per row of A, axpy form.
template <typename T>
void small_nn(int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
              int64_t ldb, T beta, T* C, int64_t ldc) {
  dlk::parallel_for(N, std::max<int64_t>(64, 65536 / std::max<int64_t>(K * M, 1)),
                    [&](int64_t j0, int64_t j1) {
    for (int64_t m = 0; m < M; ++m) {
      T* c = C + m * ldc;
      if (beta == T(0)) {
        std::fill(c + j0, c + j1, T(0));
      } else if (beta != T(1)) {
        for (int64_t j = j0; j < j1; ++j) c[j] *= beta;
      }
      for (int64_t k = 0; k < K; ++k) {
        const T a = alpha * A[m * lda + k];
        const T* b = B + k * ldb;
#pragma omp simd
        for (int64_t j = j0; j < j1; ++j) c[j] += a * b[j];
      }
    }
  });
}

// C[i, :] = alpha * sum_k A[k, i] B[k, :] + beta * C[i, :]  (K small): a sum of K outer
// products, the weight gradient of one step at batch K.
template <typename T>
void small_tn(int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
              int64_t ldb, T beta, T* C, int64_t ldc) {
  dlk::parallel_for(M, std::max<int64_t>(4, 65536 / std::max<int64_t>(N * K, 1)),
                    [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      T* c = C + i * ldc;
      if (beta == T(0)) {
        std::fill(c, c + N, T(0));
      } else if (beta != T(1)) {
        for (int64_t j = 0; j < N; ++j) c[j] *= beta;
      }
      for (int64_t k = 0; k < K; ++k) {
        const T a = alpha * A[k * lda + i];
        const T* b = B + k * ldb;
#pragma omp simd
        for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];
      }
    }
  });
}

template <typename T>
bool small_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (!ta && tb && M <= 4) {
    small_nt(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  } else if (!ta && !tb && M <= 4) {
    small_nn(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  } else if (ta && !tb && K <= 4) {
    small_tn(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  } else {
    return false;
  }
  return true;
}

}  // namespace
