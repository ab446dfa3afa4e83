// Unpacked GEMM for skinny products: M <= 4 rows (one recurrent step at batch 1..4, a GEMV),
// N < 16 with a long K (a classifier layer), or K <= 4 (a sum of a few outer products). Packing would copy the whole of B to multiply it by a
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

// C[i0:i1, j] = alpha * dot(A[i, :], bt[j, :]) + beta * C[i, j] for j < N: four rows of A
// against two rows of bt at a time, eight independent sums (enough chains to cover the FMA
// latency on both ports; six loads per eight FMAs), the four A rows in L1 across all of bt.
template <typename T>
void rows_dot_rows(int64_t i0, int64_t i1, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                   const T* bt, int64_t ldbt, T beta, T* C, int64_t ldc) {
  auto store = [&](int64_t i, int64_t j, T acc) {
    T& c = C[i * ldc + j];
    c = beta == T(0) ? alpha * acc : alpha * acc + beta * c;
  };
  int64_t i = i0;
  for (; i + 4 <= i1; i += 4) {
    const T *a0 = A + i * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
    int64_t j = 0;
    for (; j + 2 <= N; j += 2) {
      const T *b = bt + j * ldbt, *d = b + ldbt;
      T s0 = 0, s1 = 0, s2 = 0, s3 = 0, t0 = 0, t1 = 0, t2 = 0, t3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3, t0, t1, t2, t3)
      for (int64_t k = 0; k < K; ++k) {
        s0 += a0[k] * b[k];
        s1 += a1[k] * b[k];
        s2 += a2[k] * b[k];
        s3 += a3[k] * b[k];
        t0 += a0[k] * d[k];
        t1 += a1[k] * d[k];
        t2 += a2[k] * d[k];
        t3 += a3[k] * d[k];
      }
      store(i, j, s0);
      store(i + 1, j, s1);
      store(i + 2, j, s2);
      store(i + 3, j, s3);
      store(i, j + 1, t0);
      store(i + 1, j + 1, t1);
      store(i + 2, j + 1, t2);
      store(i + 3, j + 1, t3);
    }
    for (; j < N; ++j) {
      const T* b = bt + j * ldbt;
      T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
      for (int64_t k = 0; k < K; ++k) {
        s0 += a0[k] * b[k];
        s1 += a1[k] * b[k];
        s2 += a2[k] * b[k];
        s3 += a3[k] * b[k];
      }
      store(i, j, s0);
      store(i + 1, j, s1);
      store(i + 2, j, s2);
      store(i + 3, j, s3);
    }
  }
  for (; i < i1; ++i)
    for (int64_t j = 0; j < N; ++j) {
      const T *a = A + i * lda, *b = bt + j * ldbt;
      T acc = 0;
#pragma omp simd reduction(+ : acc)
      for (int64_t k = 0; k < K; ++k) acc += a[k] * b[k];
      store(i, j, acc);
    }
}

constexpr int64_t kNarrowN = 15, kNarrowMinK = 64;  // N = 16 fills the AVX2 tile: tiled path

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
  if (N <= kNarrowN && !ta && K >= kNarrowMinK) {
    // A narrow product with a long K (a classifier layer: 128 x 1024 times 1024 x 10): packing
    // op(A) for the tiled kernel would copy all of it to use each element N times; dot products
    // of A's rows with op(B)'s columns read A once, where it lies. op(B)^T is contiguous as given
    // (B transposed) or copied (N x K, small).
    std::vector<T> copy;
    const T* bt = B;
    int64_t ldbt = ldb;
    if (!tb) {
      copy.resize(N * K);
      for (int64_t k = 0; k < K; ++k)
        for (int64_t j = 0; j < N; ++j) copy[j * K + k] = B[k * ldb + j];
      bt = copy.data();
      ldbt = K;
    }
    const int64_t grain = std::max<int64_t>(4, 262144 / std::max<int64_t>(N * K, 1)) / 4 * 4;
    dlk::parallel_for(M / 4 + (M % 4 != 0), std::max<int64_t>(1, grain / 4),
                      [&](int64_t b0, int64_t b1) {
                        rows_dot_rows(b0 * 4, std::min(M, b1 * 4), N, K, alpha, A, lda, bt, ldbt,
                                      beta, C, ldc);
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
