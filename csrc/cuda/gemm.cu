// SGEMM on the GPU: C = alpha * op(A) * op(B) + beta * C, op in {N, T}, row-major with leading
// dimensions, any M, N, K >= 0 (K = 0 gives beta * C). beta == 0 ignores C (NaN included).
//
// The ladder (after siboehm's "How to optimize a CUDA matmul"; measured throughput of every
// rung: not yet measured: no GPU lent; bench/bench_cuda.py --rungs measures them against cuBLAS):
//   naive     one thread per C element, K-loop from global memory. Every A/B element is
//             re-read from DRAM/L2 by each thread that needs it: arithmetic intensity ~0.25.
//   smem      32 x 32 tiles of op(A) and op(B) staged in shared memory (padded against bank
//             conflicts), one output per thread: each global element is read once per tile,
//             but every FMA still needs two shared-memory loads.
//   regtile   128 x 128 block tile, BK = 8, 256 threads each computing an 8 x 8 register tile
//             (outer products): 16 shared loads feed 64 FMAs. Tiles stored k-major in shared
//             memory so a thread's 8 A values and 8 B values are two float4 reads each.
//   vec       regtile + float4 global loads (when pointers and leading dimensions allow it;
//             edge tiles fall back to guarded scalar loads) + double-buffered shared tiles:
//             the next tile's global loads are issued before the current tile's FMAs, so
//             memory latency hides behind compute with one __syncthreads per K step.
//   warptile  vec + a warp-level tiling (128 x 128 x 16 block, 4 warps of 64 x 64, each thread
//             4 sub-tiles of 8 x 4): a warp's shared-memory reads touch few distinct addresses
//             (broadcast) and a thread keeps 128 accumulators, the structure cuBLAS-class
//             hand-written SGEMMs use (0.94x cuBLAS on Ampere in siboehm's ladder).
// The dispatcher (`automatic`) takes warptile when the 128 x 128 tiles fill the GPU at least
// once and smem (many small blocks) when they do not (e.g. 128 x 10 outputs); set_gemm_rung
// forces one rung for tests and benchmarks.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "cuda/kernels.h"
#include "cuda/runtime.h"

namespace dlk::cuda {
namespace {

template <bool TA>
__device__ __forceinline__ float a_at(const float* A, int lda, int m, int k) {
  return TA ? A[size_t(k) * lda + m] : A[size_t(m) * lda + k];
}
template <bool TB>
__device__ __forceinline__ float b_at(const float* B, int ldb, int k, int n) {
  return TB ? B[size_t(n) * ldb + k] : B[size_t(k) * ldb + n];
}
__device__ __forceinline__ void store_c(float* C, int ldc, int m, int n, float v, float beta) {
  float* p = C + size_t(m) * ldc + n;
  *p = beta == 0.f ? v : v + beta * *p;
}

// ---- rung: naive ----------------------------------------------------------------------------
template <bool TA, bool TB>
__global__ void gemm_naive(int M, int N, int K, float alpha, const float* __restrict__ A, int lda,
                           const float* __restrict__ B, int ldb, float beta, float* __restrict__ C,
                           int ldc) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  const int m = blockIdx.y * blockDim.y + threadIdx.y;
  if (m >= M || n >= N) return;
  float acc = 0.f;
  for (int k = 0; k < K; ++k) acc += a_at<TA>(A, lda, m, k) * b_at<TB>(B, ldb, k, n);
  store_c(C, ldc, m, n, alpha * acc, beta);
}

// ---- rung: smem -----------------------------------------------------------------------------
constexpr int kS = 32;

template <bool TA, bool TB>
__global__ void __launch_bounds__(kS* kS)
    gemm_smem(int M, int N, int K, float alpha, const float* __restrict__ A, int lda,
              const float* __restrict__ B, int ldb, float beta, float* __restrict__ C, int ldc) {
  __shared__ float As[kS][kS + 1];  // As[r][kk] = op(A)(m0 + r, k0 + kk)
  __shared__ float Bs[kS][kS + 1];  // Bs[kk][c] = op(B)(k0 + kk, n0 + c)
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int m0 = blockIdx.y * kS, n0 = blockIdx.x * kS;
  float acc = 0.f;
  for (int k0 = 0; k0 < K; k0 += kS) {
    // The thread index that varies fastest (tx) walks the contiguous dimension in memory.
    if (!TA) {
      const int m = m0 + ty, k = k0 + tx;
      As[ty][tx] = (m < M && k < K) ? A[size_t(m) * lda + k] : 0.f;
    } else {
      const int m = m0 + tx, k = k0 + ty;
      As[tx][ty] = (m < M && k < K) ? A[size_t(k) * lda + m] : 0.f;
    }
    if (!TB) {
      const int k = k0 + ty, n = n0 + tx;
      Bs[ty][tx] = (k < K && n < N) ? B[size_t(k) * ldb + n] : 0.f;
    } else {
      const int k = k0 + tx, n = n0 + ty;
      Bs[tx][ty] = (k < K && n < N) ? B[size_t(n) * ldb + k] : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kS; ++kk) acc += As[ty][kk] * Bs[kk][tx];
    __syncthreads();
  }
  const int m = m0 + ty, n = n0 + tx;
  if (m < M && n < N) store_c(C, ldc, m, n, alpha * acc, beta);
}

// ---- rungs: regtile, vec, warptile (one template) ------------------------------------------
// A block computes a BM x BN tile of C with NT threads. Warps tile the block as
// (BM/WM) x (BN/WN); inside its WM x WN warp tile a warp steps over WMITER x WNITER sub-tiles,
// and in each sub-tile its 32 lanes form a (WSUBM/TM) x (WSUBN/TN) grid, each lane owning a
// TM x TN register tile. regtile is the special case of one sub-tile per warp.
template <int BM_, int BN_, int BK_, int WM_, int WN_, int WNITER_, int TM_, int TN_, int NT_>
struct TileCfg {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, WM = WM_, WN = WN_, WNITER = WNITER_;
  static constexpr int TM = TM_, TN = TN_, NT = NT_;
  static constexpr int WMITER = (WM * WN) / (32 * TM * TN * WNITER);
  static constexpr int WSUBM = WM / WMITER, WSUBN = WN / WNITER;
  static constexpr int A_SLOTS = BM * BK / 4 / NT, B_SLOTS = BN * BK / 4 / NT;
  static_assert(WMITER >= 1 && WM % WMITER == 0 && WN % WNITER == 0, "warp sub-tiles");
  static_assert((WSUBM / TM) * (WSUBN / TN) == 32, "a sub-tile is one warp of lanes");
  static_assert((BM / WM) * (BN / WN) * 32 == NT, "warps cover the block tile");
  static_assert(A_SLOTS >= 1 && B_SLOTS >= 1 && (BM * BK) % (4 * NT) == 0 &&
                    (BN * BK) % (4 * NT) == 0,
                "tile loads split evenly into float4 slots");
  static_assert(TM % 4 == 0 && TN % 4 == 0 && BK % 4 == 0, "float4 shared-memory reads");
};

using RegCfg = TileCfg<128, 128, 8, 16, 128, 1, 8, 8, 256>;
using WarpCfg = TileCfg<128, 128, 16, 64, 64, 4, 8, 4, 128>;

template <class Cfg, bool TA, bool TB, bool VEC, bool DBUF>
__global__ void __launch_bounds__(Cfg::NT)
    gemm_tiled(int M, int N, int K, float alpha, const float* __restrict__ A, int lda,
               const float* __restrict__ B, int ldb, float beta, float* __restrict__ C, int ldc,
               bool a_aligned, bool b_aligned) {
  constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, NT = Cfg::NT;
  constexpr int TM = Cfg::TM, TN = Cfg::TN, WM = Cfg::WM, WN = Cfg::WN;
  constexpr int WMITER = Cfg::WMITER, WNITER = Cfg::WNITER, WSUBM = Cfg::WSUBM, WSUBN = Cfg::WSUBN;
  constexpr int NBUF = DBUF ? 2 : 1;
  // k-major tiles: As[k][m] = op(A)(m0 + m, k0 + k), Bs[k][n] = op(B)(k0 + k, n0 + n).
  __shared__ __align__(16) float As[NBUF][BK][BM];
  __shared__ __align__(16) float Bs[NBUF][BK][BN];

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int wr = warp / (BN / WN), wc = warp % (BN / WN);
  const int tr = lane / (WSUBN / TN), tc = lane % (WSUBN / TN);
  const bool vec_a = VEC && a_aligned, vec_b = VEC && b_aligned;

  float acc[WMITER * TM][WNITER * TN];
#pragma unroll
  for (int i = 0; i < WMITER * TM; ++i)
#pragma unroll
    for (int j = 0; j < WNITER * TN; ++j) acc[i][j] = 0.f;

  // Staging registers: each thread moves A_SLOTS (B_SLOTS) runs of 4 elements that are
  // consecutive along the dimension contiguous in memory.
  float ra[Cfg::A_SLOTS][4], rb[Cfg::B_SLOTS][4];

  auto load_tile = [&](int k0) {
#pragma unroll
    for (int s = 0; s < Cfg::A_SLOTS; ++s) {
      const int slot = tid + s * NT;
      if (!TA) {  // A is M x K: runs along k
        const int m = m0 + slot / (BK / 4), k = k0 + (slot % (BK / 4)) * 4;
        if (vec_a && m < M && k + 3 < K) {
          const float4 v = *reinterpret_cast<const float4*>(A + size_t(m) * lda + k);
          ra[s][0] = v.x, ra[s][1] = v.y, ra[s][2] = v.z, ra[s][3] = v.w;
        } else {
#pragma unroll
          for (int j = 0; j < 4; ++j)
            ra[s][j] = (m < M && k + j < K) ? A[size_t(m) * lda + k + j] : 0.f;
        }
      } else {  // A is K x M: runs along m
        const int k = k0 + slot / (BM / 4), m = m0 + (slot % (BM / 4)) * 4;
        if (vec_a && k < K && m + 3 < M) {
          const float4 v = *reinterpret_cast<const float4*>(A + size_t(k) * lda + m);
          ra[s][0] = v.x, ra[s][1] = v.y, ra[s][2] = v.z, ra[s][3] = v.w;
        } else {
#pragma unroll
          for (int j = 0; j < 4; ++j)
            ra[s][j] = (k < K && m + j < M) ? A[size_t(k) * lda + m + j] : 0.f;
        }
      }
    }
#pragma unroll
    for (int s = 0; s < Cfg::B_SLOTS; ++s) {
      const int slot = tid + s * NT;
      if (!TB) {  // B is K x N: runs along n
        const int k = k0 + slot / (BN / 4), n = n0 + (slot % (BN / 4)) * 4;
        if (vec_b && k < K && n + 3 < N) {
          const float4 v = *reinterpret_cast<const float4*>(B + size_t(k) * ldb + n);
          rb[s][0] = v.x, rb[s][1] = v.y, rb[s][2] = v.z, rb[s][3] = v.w;
        } else {
#pragma unroll
          for (int j = 0; j < 4; ++j)
            rb[s][j] = (k < K && n + j < N) ? B[size_t(k) * ldb + n + j] : 0.f;
        }
      } else {  // B is N x K: runs along k
        const int n = n0 + slot / (BK / 4), k = k0 + (slot % (BK / 4)) * 4;
        if (vec_b && n < N && k + 3 < K) {
          const float4 v = *reinterpret_cast<const float4*>(B + size_t(n) * ldb + k);
          rb[s][0] = v.x, rb[s][1] = v.y, rb[s][2] = v.z, rb[s][3] = v.w;
        } else {
#pragma unroll
          for (int j = 0; j < 4; ++j)
            rb[s][j] = (n < N && k + j < K) ? B[size_t(n) * ldb + k + j] : 0.f;
        }
      }
    }
  };

  auto store_tile = [&](int buf) {
#pragma unroll
    for (int s = 0; s < Cfg::A_SLOTS; ++s) {
      const int slot = tid + s * NT;
      if (!TA) {
        const int m = slot / (BK / 4), k = (slot % (BK / 4)) * 4;
#pragma unroll
        for (int j = 0; j < 4; ++j) As[buf][k + j][m] = ra[s][j];
      } else {
        const int k = slot / (BM / 4), m = (slot % (BM / 4)) * 4;
        *reinterpret_cast<float4*>(&As[buf][k][m]) =
            make_float4(ra[s][0], ra[s][1], ra[s][2], ra[s][3]);
      }
    }
#pragma unroll
    for (int s = 0; s < Cfg::B_SLOTS; ++s) {
      const int slot = tid + s * NT;
      if (!TB) {
        const int k = slot / (BN / 4), n = (slot % (BN / 4)) * 4;
        *reinterpret_cast<float4*>(&Bs[buf][k][n]) =
            make_float4(rb[s][0], rb[s][1], rb[s][2], rb[s][3]);
      } else {
        const int n = slot / (BK / 4), k = (slot % (BK / 4)) * 4;
#pragma unroll
        for (int j = 0; j < 4; ++j) Bs[buf][k + j][n] = rb[s][j];
      }
    }
  };

  auto compute = [&](int buf) {
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float am[WMITER * TM], bn[WNITER * TN];
#pragma unroll
      for (int wi = 0; wi < WMITER; ++wi)
#pragma unroll
        for (int i = 0; i < TM; i += 4) {
          const float4 v =
              *reinterpret_cast<const float4*>(&As[buf][kk][wr * WM + wi * WSUBM + tr * TM + i]);
          am[wi * TM + i] = v.x, am[wi * TM + i + 1] = v.y, am[wi * TM + i + 2] = v.z,
                       am[wi * TM + i + 3] = v.w;
        }
#pragma unroll
      for (int wj = 0; wj < WNITER; ++wj)
#pragma unroll
        for (int j = 0; j < TN; j += 4) {
          const float4 v =
              *reinterpret_cast<const float4*>(&Bs[buf][kk][wc * WN + wj * WSUBN + tc * TN + j]);
          bn[wj * TN + j] = v.x, bn[wj * TN + j + 1] = v.y, bn[wj * TN + j + 2] = v.z,
                       bn[wj * TN + j + 3] = v.w;
        }
#pragma unroll
      for (int i = 0; i < WMITER * TM; ++i)
#pragma unroll
        for (int j = 0; j < WNITER * TN; ++j) acc[i][j] = fmaf(am[i], bn[j], acc[i][j]);
    }
  };

  const int ntiles = (K + BK - 1) / BK;
  if constexpr (DBUF) {
    // One barrier per K step suffices: the buffer written in step t (cur ^ 1) was last read
    // in step t - 1, which every thread finished before that step's closing barrier.
    if (ntiles > 0) {
      load_tile(0);
      store_tile(0);
    }
    __syncthreads();
    for (int t = 0; t < ntiles; ++t) {
      const int cur = t & 1;
      if (t + 1 < ntiles) load_tile((t + 1) * BK);  // in flight during the FMAs below
      compute(cur);
      if (t + 1 < ntiles) store_tile(cur ^ 1);
      __syncthreads();
    }
  } else {
    for (int t = 0; t < ntiles; ++t) {
      load_tile(t * BK);
      store_tile(0);
      __syncthreads();
      compute(0);
      __syncthreads();
    }
  }

#pragma unroll
  for (int wi = 0; wi < WMITER; ++wi)
#pragma unroll
    for (int i = 0; i < TM; ++i) {
      const int m = m0 + wr * WM + wi * WSUBM + tr * TM + i;
      if (m >= M) continue;
#pragma unroll
      for (int wj = 0; wj < WNITER; ++wj)
#pragma unroll
        for (int j = 0; j < TN; ++j) {
          const int n = n0 + wc * WN + wj * WSUBN + tc * TN + j;
          if (n < N) store_c(C, ldc, m, n, alpha * acc[wi * TM + i][wj * TN + j], beta);
        }
    }
}

// K = 0 (or alpha = 0): C = beta * C, and beta = 0 writes zeros whatever C held.
__global__ void gemm_scale_c(int M, int N, float beta, float* C, int ldc) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  if (n >= N) return;
  for (int m = blockIdx.y * blockDim.y + threadIdx.y; m < M; m += gridDim.y * blockDim.y) {
    float* p = C + size_t(m) * ldc + n;
    *p = beta == 0.f ? 0.f : beta * *p;
  }
}

GemmRung g_rung = GemmRung::automatic;

bool aligned16(const float* p, int64_t ld) {
  return (reinterpret_cast<uintptr_t>(p) % 16 == 0) && (ld % 4 == 0);
}

template <bool TA, bool TB>
void launch(GemmRung rung, int M, int N, int K, float alpha, const float* A, int lda,
            const float* B, int ldb, float beta, float* C, int ldc) {
  cudaStream_t s = stream();
  const bool aa = aligned16(A, lda), ba = aligned16(B, ldb);
  auto tiles = [](int n, int t) { return static_cast<unsigned>((n + t - 1) / t); };
  switch (rung) {
    case GemmRung::naive: {
      dim3 grid(tiles(N, 16), tiles(M, 16));
      gemm_naive<TA, TB>
          <<<grid, dim3(16, 16), 0, s>>>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      DLK_CUDA_LAUNCH_CHECK("gemm_naive");
      break;
    }
    case GemmRung::smem: {
      dim3 grid(tiles(N, kS), tiles(M, kS));
      gemm_smem<TA, TB><<<grid, dim3(kS, kS), 0, s>>>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      DLK_CUDA_LAUNCH_CHECK("gemm_smem");
      break;
    }
    case GemmRung::regtile: {
      dim3 grid(tiles(N, RegCfg::BN), tiles(M, RegCfg::BM));
      gemm_tiled<RegCfg, TA, TB, false, false>
          <<<grid, RegCfg::NT, 0, s>>>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, aa, ba);
      DLK_CUDA_LAUNCH_CHECK("gemm_regtile");
      break;
    }
    case GemmRung::vec: {
      dim3 grid(tiles(N, RegCfg::BN), tiles(M, RegCfg::BM));
      gemm_tiled<RegCfg, TA, TB, true, true>
          <<<grid, RegCfg::NT, 0, s>>>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, aa, ba);
      DLK_CUDA_LAUNCH_CHECK("gemm_vec");
      break;
    }
    case GemmRung::warptile:
    case GemmRung::automatic: {
      dim3 grid(tiles(N, WarpCfg::BN), tiles(M, WarpCfg::BM));
      gemm_tiled<WarpCfg, TA, TB, true, true>
          <<<grid, WarpCfg::NT, 0, s>>>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, aa, ba);
      DLK_CUDA_LAUNCH_CHECK("gemm_warptile");
      break;
    }
  }
}

}  // namespace

GemmRung gemm_rung_from_name(const std::string& name) {
  if (name == "naive") return GemmRung::naive;
  if (name == "smem") return GemmRung::smem;
  if (name == "regtile") return GemmRung::regtile;
  if (name == "vec") return GemmRung::vec;
  if (name == "warptile") return GemmRung::warptile;
  if (name == "auto") return GemmRung::automatic;
  throw std::invalid_argument(
      "gemm rung: expected one of 'naive', 'smem', 'regtile', 'vec', "
      "'warptile', 'auto', got '" +
      name + "'");
}

const char* gemm_rung_name(GemmRung r) {
  switch (r) {
    case GemmRung::naive: return "naive";
    case GemmRung::smem: return "smem";
    case GemmRung::regtile: return "regtile";
    case GemmRung::vec: return "vec";
    case GemmRung::warptile: return "warptile";
    default: return "auto";
  }
}

void set_gemm_rung(GemmRung r) { g_rung = r; }
GemmRung get_gemm_rung() { return g_rung; }

GemmRung gemm_pick_rung(int64_t M, int64_t N, int64_t K) {
  const int64_t big_tiles = ((M + 127) / 128) * ((N + 127) / 128);
  return big_tiles >= sm_count() ? GemmRung::warptile : GemmRung::smem;
}

void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
          GemmRung rung) {
  if (M <= 0 || N <= 0) return;
  const int64_t lim = int64_t(1) << 31;
  if (M >= lim || N >= lim || K >= lim || lda >= lim || ldb >= lim || ldc >= lim ||
      (M + 127) / 128 > 65535)
    throw std::invalid_argument("gemm: a dimension is too large for the CUDA kernels");
  if (K <= 0 || alpha == 0.f) {
    dim3 grid(static_cast<unsigned>((N + 15) / 16),
              static_cast<unsigned>(std::min<int64_t>((M + 15) / 16, 65535)));
    gemm_scale_c<<<grid, dim3(16, 16), 0, stream()>>>(int(M), int(N), beta, C, int(ldc));
    DLK_CUDA_LAUNCH_CHECK("gemm_scale_c");
    return;
  }
  if (rung == GemmRung::automatic) rung = g_rung;
  if (rung == GemmRung::automatic) rung = gemm_pick_rung(M, N, K);
  // Grid y dimensions are limited to 65535 blocks: tall problems go to the 128-row tiles.
  if ((rung == GemmRung::naive && (M + 15) / 16 > 65535) ||
      (rung == GemmRung::smem && (M + kS - 1) / kS > 65535))
    rung = GemmRung::warptile;
  const int m = int(M), n = int(N), k = int(K), a = int(lda), b = int(ldb), c = int(ldc);
  if (!ta && !tb)
    launch<false, false>(rung, m, n, k, alpha, A, a, B, b, beta, C, c);
  else if (!ta && tb)
    launch<false, true>(rung, m, n, k, alpha, A, a, B, b, beta, C, c);
  else if (ta && !tb)
    launch<true, false>(rung, m, n, k, alpha, A, a, B, b, beta, C, c);
  else
    launch<true, true>(rung, m, n, k, alpha, A, a, B, b, beta, C, c);
}

}  // namespace dlk::cuda
