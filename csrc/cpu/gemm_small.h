// Unpacked GEMM for skinny products: M <= 4 rows (one recurrent step at batch 1..4, a GEMV) or
// K <= 4 (a sum of a few outer products). Packing would copy the whole of B to multiply it by a
// row or two (~350 us for 1x1024x256 where streaming it takes ~10 us), so these loops stream the
// big operand once and keep the small one in registers/L1.
//
// Included by gemm.cpp (baseline ISA) and gemm_small_avx2.cpp / gemm_small_avx512.cpp, where the
// same loops vectorise 8 or 16 lanes wide; the anonymous namespace keeps the builds apart.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/parallel.h"

namespace {

constexpr int64_t kSmallM = 4, kSmallK = 4;

// C[m, j0:j1] = alpha * sum_k a[m, k] * B[k, j0:j1] + beta * C[m, j0:j1]; a is M x K contiguous.
template <typename T>
void small_rows_times_b(int64_t M, int64_t j0, int64_t j1, int64_t K, T alpha, const T* a,
                        const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  for (int64_t m = 0; m < M; ++m) {
    T* c = C + m * ldc;
    if (beta == T(0)) {
      std::fill(c + j0, c + j1, T(0));
    } else if (beta != T(1)) {
      for (int64_t j = j0; j < j1; ++j) c[j] *= beta;
    }
  }
  for (int64_t k = 0; k < K; ++k) {
    const T* b = B + k * ldb;
    for (int64_t m = 0; m < M; ++m) {  // every row of a uses this row of B while it is in L1
      const T s = alpha * a[m * K + k];
      T* c = C + m * ldc;
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j) c[j] += s * b[j];
    }
  }
}

// C[m, j] = alpha * dot(a[m, :], B[j, :]) + beta * C[m, j]; a is M x K contiguous.
template <typename T>
void small_rows_dot_b_rows(int64_t M, int64_t j0, int64_t j1, int64_t K, T alpha, const T* a,
                           const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  for (int64_t j = j0; j < j1; ++j) {
    const T* b = B + j * ldb;
    for (int64_t m = 0; m < M; ++m) {
      const T* am = a + m * K;
      T acc = 0;
#pragma omp simd reduction(+ : acc)
      for (int64_t k = 0; k < K; ++k) acc += am[k] * b[k];
      T& c = C[m * ldc + j];
      c = beta == T(0) ? alpha * acc : alpha * acc + beta * c;
    }
  }
}

// Returns false when the shape is not skinny enough for these loops.
template <typename T>
bool gemm_small_impl(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                     int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M <= kSmallM) {
    // op(A) is at most 4 rows: copy it contiguous, then stream B once across N in chunks.
    std::vector<T> a(M * K);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t k = 0; k < K; ++k) a[m * K + k] = ta ? A[k * lda + m] : A[m * lda + k];
    const int64_t grain = std::max<int64_t>(64, 65536 / std::max<int64_t>(K * M, 1));
    dlk::parallel_for(N, grain, [&](int64_t j0, int64_t j1) {
      if (tb) {
        small_rows_dot_b_rows(M, j0, j1, K, alpha, a.data(), B, ldb, beta, C, ldc);
      } else {
        for (int64_t jb = j0; jb < j1; jb += 1024)  // a strip of C rows stays in L1
          small_rows_times_b(M, jb, std::min(j1, jb + 1024), K, alpha, a.data(), B, ldb, beta, C,
                             ldc);
      }
    });
    return true;
  }
  if (K <= kSmallK) {
    // A sum of K outer products: op(B) is at most 4 rows, copied contiguous; rows of C split
    // across threads, each row of op(A) is K scalars.
    std::vector<T> b(K * N);
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < N; ++j) b[k * N + j] = tb ? B[j * ldb + k] : B[k * ldb + j];
    const int64_t grain = std::max<int64_t>(4, 65536 / std::max<int64_t>(N * K, 1));
    dlk::parallel_for(M, grain, [&](int64_t i0, int64_t i1) {
      T a[kSmallK];
      for (int64_t i = i0; i < i1; ++i) {
        for (int64_t k = 0; k < K; ++k) a[k] = ta ? A[k * lda + i] : A[i * lda + k];
        small_rows_times_b(int64_t{1}, 0, N, K, alpha, a, b.data(), N, beta, C + i * ldc, ldc);
      }
    });
    return true;
  }
  return false;
}

}  // namespace
