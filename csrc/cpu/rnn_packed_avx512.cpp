// A GEMM with a pre-packed right-hand side for the recurrent layers (float32, AVX-512).
//
// Why not the library GEMM for the per-step recurrent product: it packs op(B) = W_hh^T on every
// call, i.e. once per time step, though W_hh never changes within a sequence (cuDNN's
// "pre-transposed weights" point). Here op(B) is packed once per sequence call into 32-column
// panels, k-major (panel p, row k: 32 contiguous floats, zero-padded past N), and each step only
// streams it. A (any strides) is packed per block into 8-row slivers, k-major, which is cheap
// next to the product (K x 8 floats per 8 x N x K FMAs).
// Micro-kernel: 8 rows x 32 columns of C in 16 zmm accumulators; per k two panel loads and 8
// broadcasts feed 16 FMAs. Loop order per thread (threads split the rows): block of 192 rows,
// k-block of 256 (A block packed), panel (32 KiB, L1-resident across the row slivers), sliver.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/parallel.h"

namespace dlk::cpu {

namespace {
constexpr int64_t kNR = 32, kMR = 8, kKC = 256;
constexpr int64_t kMCB = 24;  // row slivers per packed A block: 192 rows x 256 k = 192 KiB (L2)

// Ap: the A sliver packed k-major, Ap[k * kMR + i].
template <int MR>
inline void micro_kernel(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc,
                         bool load_c, __mmask16 m0, __mmask16 m1) {
  __m512 c0[MR], c1[MR];
  for (int i = 0; i < MR; ++i) {
    c0[i] = load_c ? _mm512_maskz_loadu_ps(m0, C + i * ldc) : _mm512_setzero_ps();
    c1[i] = load_c ? _mm512_maskz_loadu_ps(m1, C + i * ldc + 16) : _mm512_setzero_ps();
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_loadu_ps(Bp + k * kNR), b1 = _mm512_loadu_ps(Bp + k * kNR + 16);
    const float* a = Ap + k * kMR;
    for (int i = 0; i < MR; ++i) {
      const __m512 av = _mm512_set1_ps(a[i]);
      c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
      c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
    }
  }
  for (int i = 0; i < MR; ++i) {
    _mm512_mask_storeu_ps(C + i * ldc, m0, c0[i]);
    _mm512_mask_storeu_ps(C + i * ldc + 16, m1, c1[i]);
  }
}

using Kernel = void (*)(int64_t, const float*, const float*, float*, int64_t, bool, __mmask16,
                        __mmask16);
constexpr Kernel kKernels[kMR + 1] = {nullptr,          micro_kernel<1>, micro_kernel<2>,
                                      micro_kernel<3>,  micro_kernel<4>, micro_kernel<5>,
                                      micro_kernel<6>,  micro_kernel<7>, micro_kernel<8>};

__mmask16 mask_of(int64_t n) { return n >= 16 ? 0xFFFF : n <= 0 ? 0 : __mmask16((1u << n) - 1u); }
}  // namespace

int64_t rnn_packed_size(int64_t K, int64_t N) { return ((N + kNR - 1) / kNR) * kNR * K; }

// Bp <- op(B) (K x N), op(B)[k, j] = tb ? B[j*ldb + k] : B[k*ldb + j].
void rnn_pack_b_avx512(bool tb, int64_t K, int64_t N, const float* B, int64_t ldb, float* Bp) {
  const int64_t np = (N + kNR - 1) / kNR;
  parallel_for(np, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t j0 = p * kNR, nv = std::min(kNR, N - j0);
      float* dst = Bp + p * K * kNR;
      if (!tb) {
        for (int64_t k = 0; k < K; ++k) {
          std::memcpy(dst + k * kNR, B + k * ldb + j0, sizeof(float) * nv);
          std::fill(dst + k * kNR + nv, dst + (k + 1) * kNR, 0.0f);
        }
      } else {
        for (int64_t c = nv; c < kNR; ++c)
          for (int64_t k = 0; k < K; ++k) dst[k * kNR + c] = 0.0f;
        for (int64_t c = 0; c < nv; ++c) {
          const float* src = B + (j0 + c) * ldb;
          for (int64_t k = 0; k < K; ++k) dst[k * kNR + c] = src[k];
        }
      }
    }
  });
}

// C (M x N) = A (M x K, A(i, k) = A[i*rs + k*cs]) @ Bp + beta * C, beta in {0, 1}.
void rnn_packed_gemm_avx512(int64_t M, int64_t N, int64_t K, const float* A, int64_t rs,
                            int64_t cs, const float* Bp, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K == 0) {
    if (beta == 0.0f)
      for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, 0.0f);
    return;
  }
  const int64_t np = (N + kNR - 1) / kNR, nmb = (M + kMR - 1) / kMR;
  // At least ~1 MFLOP per thread chunk, so tiny products stay on one thread.
  const int64_t grain = std::max<int64_t>(1, (1 << 20) / std::max<int64_t>(2 * kMR * N * K, 1));
  parallel_for(nmb, grain, [&](int64_t b0, int64_t b1) {
    // A is packed per block of row slivers and k-block, so the kernel's broadcasts read one
    // contiguous stream (rows of A 4 KiB apart would all fall in one L1 set).
    thread_local std::vector<float> apack;
    for (int64_t mc0 = b0; mc0 < b1; mc0 += kMCB) {
      const int64_t mc1 = std::min(b1, mc0 + kMCB);
      for (int64_t kb = 0; kb < K; kb += kKC) {
        const int64_t kc = std::min(kKC, K - kb);
        if (static_cast<int64_t>(apack.size()) < kMCB * kMR * kKC)
          apack.resize(static_cast<size_t>(kMCB * kMR * kKC));
        for (int64_t mb = mc0; mb < mc1; ++mb) {
          const int64_t i0 = mb * kMR, mr = std::min(kMR, M - i0);
          float* ap = apack.data() + (mb - mc0) * kMR * kc;
          for (int64_t i = 0; i < mr; ++i) {
            const float* src = A + (i0 + i) * rs + kb * cs;
            for (int64_t k = 0; k < kc; ++k) ap[k * kMR + i] = src[k * cs];
          }
        }
        const bool load_c = kb > 0 || beta != 0.0f;
        for (int64_t p = 0; p < np; ++p) {
          const int64_t j0 = p * kNR, nv = std::min(kNR, N - j0);
          const __mmask16 m0 = mask_of(nv), m1 = mask_of(nv - 16);
          const float* bp = Bp + p * K * kNR + kb * kNR;
          for (int64_t mb = mc0; mb < mc1; ++mb) {
            const int64_t i0 = mb * kMR, mr = std::min(kMR, M - i0);
            kKernels[mr](kc, apack.data() + (mb - mc0) * kMR * kc, bp, C + i0 * ldc + j0, ldc,
                         load_c, m0, m1);
          }
        }
      }
    }
  });
}

}  // namespace dlk::cpu
