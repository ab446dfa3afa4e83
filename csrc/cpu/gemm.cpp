// GEMM on the CPU: C = alpha * op(A) * op(B) + beta * C, row-major, op in {N, T}.
//
// Rungs of the ladder (Xeon with AVX-512, 1 thread, fp32, n = 1024; bench/cpp/bench_gemm.cpp,
// numbers in bench/RESULTS.md):
//   reference  the formula as three loops; a reader checks it by eye.            ~2 GFLOP/s
//   portable   Goto/BLIS blocking and packing, plain C++ micro-kernel; the packing alone
//              makes every inner loop unit-stride and cache-resident.             ~16 GFLOP/s
//   avx2       the same driver with a 6x16 FMA register-tile micro-kernel.        ~51 GFLOP/s
//   avx512     the same driver with a 12x32 micro-kernel: twice the lanes, twice the
//              registers.                                          ~85-100 GFLOP/s (ceiling 134)
//
// Why the fast path is fast (Goto & van de Geijn 2008; BLIS): the loops are blocked so that
// each level of the memory hierarchy holds what the next-inner loop reuses:
//   for ic (mc rows of A)          A panel  mc x kc, packed once, reused for every B block (L3)
//    for pc (kc of K)
//     for jc (nc columns of B)     B block  kc x nc, packed, streamed per A sliver (L2)
//      for ir (mr rows)            A sliver mr x kc stays in L1 across the jr loop
//       for jr (nr columns)        micro-kernel: mr x nr tile of C in registers over kc
// Packing turns any layout (N or T, any leading dimension) into unit-stride slivers padded with
// zeros to whole tiles, so one micro-kernel serves every case; edge tiles are computed into a
// small buffer and merged, the last rows of M by a shorter tile where the ISA has one. Threads take
// independent blocks of C (columns, sharing one packed op(A), or rows), so a product has no barrier
// a late thread could hold up.
//
// Around the driver: skinny products (M <= 4 or K <= 4) stream their big operand unpacked
// (gemm_small.h), narrow ones (N < nr) are computed transposed so the narrow side lies along the
// short edge of the tile, and PackedB keeps a packed B for products that reuse it (recurrent
// weights), skipping the per-call packing.
#include "cpu/gemm.h"
#include "common/workspace.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <type_traits>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "common/check.h"
#include "common/cpu_features.h"
#include "common/parallel.h"
#include "cpu/gemm_kernels.h"
#include "cpu/gemm_small.h"

namespace dlk::cpu {

// ---- reference rung ---------------------------------------------------------------------------
template <typename T>
static void gemm_reference(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                           int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      T acc = 0;
      for (int64_t k = 0; k < K; ++k) {
        const T a = ta ? A[k * lda + i] : A[i * lda + k];
        const T b = tb ? B[j * ldb + k] : B[k * ldb + j];
        acc += a * b;
      }
      T& c = C[i * ldc + j];
      c = beta == T(0) ? alpha * acc : alpha * acc + beta * c;
    }
  }
}

// ---- workspace --------------------------------------------------------------------------------
// Packed panels are reused across calls: a fresh allocation per call would pay first-touch page
// faults (~2 us per 4 KiB page here) on every GEMM. One pair per calling thread, so concurrent
// or nested calls never share a buffer.
namespace {
thread_local Workspace tls_a_panel, tls_b_block;
// The whole of op(A), packed once by the threads of one product and shared by them; owned by the
// calling thread.
thread_local Workspace tls_a_all;
}  // namespace

// ---- packing ----------------------------------------------------------------------------------
// A sliver of W rows of op(A) (or W columns of op(B)) over k in [k0, k0 + kc), stored k-major
// as dst[k * W + i] and zero-padded from v to W. `along_i` says which way the source is
// contiguous: element (i, k) is src[k * ld + i] (A transposed, B as is) or src[i * ld + k]
// (A as is, B transposed). W is a compile-time constant so the copies unroll.
template <int W, typename T>
static void pack_sliver_w(bool along_i, const T* src, int64_t ld, int64_t i0, int64_t v, int64_t k0,
                          int64_t kc, T* dst) {
  if (along_i && v == W) {
    // A whole sliver: a copy of constant size, inlined as a few vector moves (a libc memcpy
    // call per k cost 3 % of the instructions of a 64x64 product).
    for (int64_t k = 0; k < kc; ++k)
      std::memcpy(dst + k * W, src + (k0 + k) * ld + i0, sizeof(T) * W);
  } else if (along_i) {
    for (int64_t k = 0; k < kc; ++k) {
      T* d = dst + k * W;
      std::memcpy(d, src + (k0 + k) * ld + i0, sizeof(T) * v);
      for (int64_t i = v; i < W; ++i) d[i] = T(0);
    }
  } else if (v == W) {
    // W source rows are read down k together and each step writes one contiguous row of dst
    // (a transposing copy: strided reads, W rows kept in L1, beat strided scalar stores).
    const T* rows[W];
    for (int i = 0; i < W; ++i) rows[i] = src + (i0 + i) * ld + k0;
    int64_t k = 0;
#if defined(__SSE2__)
    if constexpr (std::is_same_v<T, float> && (W % 4 == 0 || W % 4 == 2)) {
      // Four k at a time: 4 x 4 blocks transposed in SSE registers (and a 2 x 4 one for the
      // last two rows of W = 6), half the instructions of the scalar copy. Every A of a
      // product without trans_a (and every B with trans_b) is packed this way: 4 % fewer
      // instructions for a whole 64x64 product.
      for (; k + 4 <= kc; k += 4) {
        T* d = dst + k * W;
        int i = 0;
        for (; i + 4 <= W; i += 4) {
          __m128 r0 = _mm_loadu_ps(rows[i] + k), r1 = _mm_loadu_ps(rows[i + 1] + k);
          __m128 r2 = _mm_loadu_ps(rows[i + 2] + k), r3 = _mm_loadu_ps(rows[i + 3] + k);
          _MM_TRANSPOSE4_PS(r0, r1, r2, r3);  // now r_j holds rows i..i+3 at k + j
          _mm_storeu_ps(d + i, r0);
          _mm_storeu_ps(d + W + i, r1);
          _mm_storeu_ps(d + 2 * W + i, r2);
          _mm_storeu_ps(d + 3 * W + i, r3);
        }
        if (i < W) {  // W % 4 == 2: rows W-2 and W-1
          const __m128 r0 = _mm_loadu_ps(rows[i] + k), r1 = _mm_loadu_ps(rows[i + 1] + k);
          const __m128 lo = _mm_unpacklo_ps(r0, r1), hi = _mm_unpackhi_ps(r0, r1);
          _mm_storel_pi(reinterpret_cast<__m64*>(d + i), lo);
          _mm_storeh_pi(reinterpret_cast<__m64*>(d + W + i), lo);
          _mm_storel_pi(reinterpret_cast<__m64*>(d + 2 * W + i), hi);
          _mm_storeh_pi(reinterpret_cast<__m64*>(d + 3 * W + i), hi);
        }
      }
    }
#endif
    for (; k < kc; ++k) {
      T* d = dst + k * W;
#pragma GCC unroll 32
      for (int i = 0; i < W; ++i) d[i] = rows[i][k];
    }
  } else {
    for (int64_t k = 0; k < kc; ++k) {
      T* d = dst + k * W;
      for (int64_t i = 0; i < v; ++i) d[i] = src[(i0 + i) * ld + k0 + k];
      for (int64_t i = v; i < W; ++i) d[i] = T(0);
    }
  }
}

// Consecutive slivers covering [i0, i0 + v), sliver s at dst + s * W * kc. Where the source is
// contiguous along i, one sliver alone reads only W values from each of kc rows, ld apart: with
// ld a multiple of 4 KiB (a 1024-wide matrix) every such read is a new page, out of reach of the
// hardware prefetchers, and the rows all fall into one L1 set, so the next sliver, wanting the
// rest of the same lines, misses again. Walking the rows once, each row's stretch handed out to
// every sliver, reads the source as the streams the prefetchers follow.
template <int W, typename T>
static void pack_slivers_w(bool along_i, const T* src, int64_t ld, int64_t i0, int64_t v,
                           int64_t k0, int64_t kc, T* dst) {
  const int64_t full = v / W, rest = v - full * W;
  if (!along_i) {
    for (int64_t s = 0; s * W < v; ++s)
      pack_sliver_w<W>(false, src, ld, i0 + s * W, std::min<int64_t>(W, v - s * W), k0, kc,
                       dst + s * W * kc);
    return;
  }
  for (int64_t k = 0; k < kc; ++k) {
    const T* row = src + (k0 + k) * ld + i0;
    T* d = dst + k * W;
    for (int64_t s = 0; s < full; ++s) std::memcpy(d + s * W * kc, row + s * W, sizeof(T) * W);
    if (rest) {
      T* last = d + full * W * kc;
      std::memcpy(last, row + full * W, sizeof(T) * rest);
      for (int64_t i = rest; i < W; ++i) last[i] = T(0);
    }
  }
}

template <typename T>
static void pack_slivers(bool along_i, const T* src, int64_t ld, int64_t i0, int64_t v, int64_t k0,
                         int64_t kc, int w, T* dst) {
  switch (w) {
    case 32: return pack_slivers_w<32>(along_i, src, ld, i0, v, k0, kc, dst);
    case 16: return pack_slivers_w<16>(along_i, src, ld, i0, v, k0, kc, dst);
    case 12: return pack_slivers_w<12>(along_i, src, ld, i0, v, k0, kc, dst);
    case 8: return pack_slivers_w<8>(along_i, src, ld, i0, v, k0, kc, dst);
    case 6: return pack_slivers_w<6>(along_i, src, ld, i0, v, k0, kc, dst);
    case 4: return pack_slivers_w<4>(along_i, src, ld, i0, v, k0, kc, dst);
  }
  fail("gemm: no packing for a micro-kernel tile edge of ", w);
}

// Rows [i0, i0 + mv) of op(A) and columns [j0, j0 + nv) of op(B), as consecutive micro-kernel
// slivers.
template <typename T>
static void pack_a_slivers(bool ta, const T* A, int64_t lda, int64_t i0, int64_t mv, int64_t k0,
                           int64_t kc, int mr, T* dst) {
  pack_slivers(ta, A, lda, i0, mv, k0, kc, mr, dst);
}

template <typename T>
static void pack_b_slivers(bool tb, const T* B, int64_t ldb, int64_t j0, int64_t nv, int64_t k0,
                           int64_t kc, int nr, T* dst) {
  pack_slivers(!tb, B, ldb, j0, nv, k0, kc, nr, dst);
}

// ---- blocked driver ---------------------------------------------------------------------------
static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Size of each of the fewest equal blocks (rounded up to `multiple`) that cover n with blocks
// no larger than `limit`.
static int64_t balanced_block(int64_t n, int64_t limit, int64_t multiple) {
  const int64_t blocks = (n + limit - 1) / limit;
  return round_up((n + blocks - 1) / blocks, multiple);
}

template <typename T>
static void scale_c(int64_t M, int64_t N, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    if (beta == T(0)) {
      std::fill(c, c + N, T(0));
    } else if (beta != T(1)) {
      for (int64_t j = 0; j < N; ++j) c[j] *= beta;
    }
  }
}

// One GEMM's operands and blocking, shared by the threads that compute parts of it.
template <typename T>
struct GemmJob {
  const GemmMicroKernel<T>& uk;
  bool ta, tb;
  int64_t M, N, K;
  T alpha;
  const T* A;
  int64_t lda;
  const T* B;
  int64_t ldb;
  T beta;
  T* C;
  int64_t ldc;
  // C is stored transposed (element (i, j) at C[j * ldc + i]): the caller swapped the operands so
  // that a narrow N became the M of the tiles (see gemm()); every tile goes through the edge
  // buffer and is merged transposed.
  bool c_transposed;
  // B packed ahead (PackedB: every k block holds all of N's slivers in a row), or null.
  const T* prepacked_b;
  int64_t kc_max, mc_max, nc_max, m_padded, n_padded;
  // The epilogue C = act(C + bias), applied to each tile as its last K block lands (the tile
  // is still in L1). bias is along the stored C's columns (Linear's per-output bias) or, with
  // bias_per_row, its rows (the convolution's per-channel bias); with c_transposed these are
  // the columns and rows of C as the caller sees it.
  const T* bias = nullptr;
  bool bias_per_row = false;
  Activation act = Activation::None;
  bool epilogue() const { return bias != nullptr || act != Activation::None; }
};

// The epilogue over C's (caller's) row r, columns [c0, c0 + n), stored contiguously at y.
template <typename T>
static void epilogue_run(const GemmJob<T>& g, int64_t r, int64_t c0, int64_t n, T* y) {
  const T* b = g.bias ? (g.bias_per_row ? g.bias + r : g.bias + c0) : nullptr;
  g.uk.epilogue(g.act, n, b, g.bias_per_row ? 0 : 1, y);
}

// Packs rows [s0, s1) slivers of op(A), every K block, in the layout of a whole packed A: the k
// block starting at pc holds all of M's slivers in a row (as PackedB does for B).
template <typename T>
static void pack_a_all(const GemmJob<T>& g, int64_t s0, int64_t s1, T* a_all) {
  const int mr = g.uk.mr;
  for (int64_t pc = 0; pc < g.K; pc += g.kc_max) {
    const int64_t kc = std::min(g.kc_max, g.K - pc);
    if (s0 < s1)
      pack_a_slivers(g.ta, g.A, g.lda, s0 * mr, std::min<int64_t>(s1 * mr, g.M) - s0 * mr, pc, kc,
                     mr, a_all + pc * g.m_padded + s0 * mr * kc);
  }
}

// C[i0:i1, j0:j1] on the calling thread (i0 a multiple of mr, j0 of nr). op(A) comes packed
// whole (a_all) or is packed here, panel by panel, into this thread's workspace; op(B) comes
// packed (g.prepacked_b) or is packed here, block by block.
template <typename T>
static void gemm_range(const GemmJob<T>& g, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                       const T* a_all) {
  const int mr = g.uk.mr, nr = g.uk.nr;
  T* a_panel = a_all ? nullptr : tls_a_panel.get<T>(g.mc_max * g.kc_max);
  T* b_block = g.prepacked_b ? nullptr : tls_b_block.get<T>(g.nc_max * g.kc_max);
  alignas(64) T edge[16 * 64];  // one mr x nr tile for edges; mr * nr <= 16 * 64 for all kernels
  for (int64_t ic = i0; ic < i1; ic += g.mc_max) {
    const int64_t mc = std::min(g.mc_max, i1 - ic);
    const int64_t n_ir = (mc + mr - 1) / mr;
    for (int64_t pc = 0; pc < g.K; pc += g.kc_max) {
      const int64_t kc = std::min(g.kc_max, g.K - pc);
      const T beta_here = pc == 0 ? g.beta : T(1);  // later K blocks accumulate into C
      const T* a_here = a_all ? a_all + pc * g.m_padded + ic * kc : a_panel;
      if (!a_all) pack_a_slivers(g.ta, g.A, g.lda, ic, mc, pc, kc, mr, a_panel);
      for (int64_t jc = j0; jc < j1; jc += g.nc_max) {
        const int64_t nc = std::min(g.nc_max, j1 - jc);
        const int64_t n_jr = (nc + nr - 1) / nr;
        const T* b_here = g.prepacked_b ? g.prepacked_b + pc * g.n_padded + jc * kc : b_block;
        if (!g.prepacked_b) pack_b_slivers(g.tb, g.B, g.ldb, jc, nc, pc, kc, nr, b_block);
        // The A sliver stays in L1 across the jr loop; the B block streams from L2.
        for (int64_t ir = 0; ir < n_ir; ++ir) {
          const int64_t mv = std::min<int64_t>(mr, mc - ir * mr);
          const T* a = a_here + ir * mr * kc;
          const int64_t row = ic + ir * mr;
          // The last rows of M take the smallest short tile that covers them (short_i 2: none,
          // the full tile on zero padding); straight into C when it covers them exactly.
          int short_i = 0;
          if (mv < mr)
            while (short_i < 2 && (!g.uk.short_fn[short_i] || g.uk.short_rows[short_i] < mv))
              ++short_i;
          const bool short_exact = mv < mr && short_i < 2 && g.uk.short_rows[short_i] == mv;
          // The tiles written straight into C (whole nr columns, rows a kernel covers exactly)
          // get the epilogue once per row after the jr loop, over all their columns: per tile
          // it was a call per 16 values, ~2.5 % of a LeNet training step.
          const bool direct_rows = !g.c_transposed && (mv == mr || short_exact);
          const bool row_epilogue = direct_rows && g.epilogue() && pc + kc == g.K;
          for (int64_t jr = 0; jr < n_jr; ++jr) {
            const int64_t nv = std::min<int64_t>(nr, nc - jr * nr);
            const T* b = b_here + jr * nr * kc;
            const int64_t col = jc + jr * nr;
            if (!g.c_transposed && mv == mr && nv == nr) {
              T* c = g.C + row * g.ldc + col;
              // The next tile's C rows are on their way to L1 while this one computes: C is
              // the one operand not packed, so nothing else would bring it in early.
              if (jr + 1 < n_jr)
                for (int i = 0; i < mr; ++i)
                  for (int j = 0; j < nr; j += 64 / static_cast<int>(sizeof(T)))
                    __builtin_prefetch(c + i * g.ldc + nr + j, 1, 3);
              g.uk.fn(kc, a, b, c, g.ldc, g.alpha, beta_here);
              continue;
            }
            if (mv < mr && short_i < 2) {
              const GemmUnpackedFn<T> fn = g.uk.short_fn[short_i];
              if (direct_rows && nv == nr) {
                T* c = g.C + row * g.ldc + col;
                fn(kc, a, mr, b, nr, c, g.ldc, g.alpha, beta_here);
                continue;
              }
              fn(kc, a, mr, b, nr, edge, nr, T(1), T(0));
            } else {
              g.uk.fn(kc, a, b, edge, nr, T(1), T(0));
            }
            for (int64_t i = 0; i < mv; ++i)
              for (int64_t j = 0; j < nv; ++j) {
                T& cij = g.c_transposed ? g.C[(col + j) * g.ldc + row + i]
                                        : g.C[(row + i) * g.ldc + col + j];
                const T ab = g.alpha * edge[i * nr + j];
                cij = beta_here == T(0) ? ab : ab + beta_here * cij;
              }
            if (g.epilogue() && pc + kc == g.K) {
              // Transposed, the caller's rows are this tile's columns and its rows run along i.
              if (g.c_transposed)
                for (int64_t j = 0; j < nv; ++j)
                  epilogue_run(g, col + j, row, mv, g.C + (col + j) * g.ldc + row);
              else
                for (int64_t i = 0; i < mv; ++i)
                  epilogue_run(g, row + i, col, nv, g.C + (row + i) * g.ldc + col);
            }
          }
          const int64_t direct_cols = nc / nr * nr;
          if (row_epilogue && direct_cols > 0)
            for (int64_t i = 0; i < mv; ++i)
              epilogue_run(g, row + i, jc, direct_cols, g.C + (row + i) * g.ldc + jc);
        }
      }
    }
  }
}

// The L2 cache of this machine (the packed B block should fill about half of it), or 0.
static int64_t l2_bytes() {
  static const int64_t bytes = [] {
    const long v = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return v > 0 ? static_cast<int64_t>(v) : int64_t{0};
  }();
  return bytes;
}

// Columns of the packed B block: the micro-kernel's default, shrunk so that the kc x nc block
// takes at most half of this core's L2 (Zen 3 has 512 KiB, Zen 4 1 MiB, Sapphire Rapids 2 MiB;
// BLIS likewise keeps a blocking per family). The other half holds C rows and the A sliver.
template <typename T>
static int64_t nc_for_cache(const GemmMicroKernel<T>& uk, int64_t kc) {
  const int64_t l2 = l2_bytes();
  if (l2 <= 0) return uk.nc;
  const int64_t fit = l2 / 2 / (kc * static_cast<int64_t>(sizeof(T))) / uk.nr * uk.nr;
  return std::max<int64_t>(uk.nr, std::min<int64_t>(uk.nc, fit));
}

constexpr int64_t kSerialPackElements = 32 * 1024;

template <typename T>
static void gemm_blocked(const GemmMicroKernel<T>& uk, bool ta, bool tb, int64_t M, int64_t N,
                         int64_t K, T alpha, const T* A, int64_t lda, const T* B, int64_t ldb,
                         T beta, T* C, int64_t ldc, bool c_transposed,
                         const T* prepacked_b = nullptr, const T* bias = nullptr,
                         bool bias_per_row = false, Activation act = Activation::None) {
  const int mr = uk.mr, nr = uk.nr;
  // Blocks of equal size rather than full blocks and a sliver of a remainder: K = 512 runs as
  // 2 x 256 instead of 384 + 128, so no pass over the packed panels does a fraction of the work.
  const int64_t kc_max = balanced_block(K, uk.kc, 1);
  // clang-format off
  const GemmJob<T> g{uk, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, c_transposed,
                     prepacked_b, kc_max, balanced_block(M, uk.mc, mr),
                     balanced_block(N, nc_for_cache(uk, kc_max), nr), round_up(M, mr),
                     round_up(N, nr), bias, bias_per_row, act};
  // clang-format on

  // A thread pays for itself only with a few microseconds of work: a parallel call costs a
  // wake-up and a wait. Give each thread at least ~2 MFLOP (~15 us here).
  const int64_t flops = 2 * M * N * K;
  const int64_t n_ir = g.m_padded / mr, n_jr = g.n_padded / nr;
  int nt = static_cast<int>(
      std::max<int64_t>(1, std::min<int64_t>(threads_for_kernel(), flops / 2000000)));
  nt = static_cast<int>(std::min<int64_t>(nt, std::max(n_ir, n_jr)));
  if (nt <= 1) {
    gemm_range(g, 0, M, 0, N, static_cast<const T*>(nullptr));
    return;
  }
  // The threads take independent blocks of C: no barrier inside a product, so a thread that
  // is late (its core busy with another process) costs at most the block it started (see
  // common/parallel.h). With enough columns, op(A) is packed once, shared, and the columns
  // split; otherwise the rows split and every block packs its own (small) op(B).
  if (n_jr >= 2 * nt) {
    T* a_all = tls_a_all.get<T>(g.m_padded * K);
    // A small op(A) (a recurrent step's h: 32 x 256) is packed in a few microseconds, less than
    // handing it to the threads and waiting for them would cost.
    if (g.m_padded * K <= kSerialPackElements)
      pack_a_all(g, 0, n_ir, a_all);
    else
      parallel_chunks(nt, nt,
                      [&](int64_t c) { pack_a_all(g, n_ir * c / nt, n_ir * (c + 1) / nt, a_all); });
    // Up to four column blocks per thread (a late thread holds up a small one), each at least
    // 16 slivers wide so an A sliver is reused across enough B slivers, and a multiple of the
    // threads: 3 blocks on 2 threads (784 columns) left one thread idle for a third of it.
    const int64_t chunks = nt * std::clamp<int64_t>(n_jr / (16 * nt), 1, 4);
    parallel_chunks(chunks, nt, [&](int64_t c) {
      const int64_t j0 = n_jr * c / chunks * nr, j1 = std::min(N, n_jr * (c + 1) / chunks * nr);
      if (j0 < j1) gemm_range(g, 0, M, j0, j1, static_cast<const T*>(a_all));
    });
  } else {
    parallel_chunks(nt, nt, [&](int64_t c) {
      const int64_t i0 = n_ir * c / nt * mr, i1 = std::min(M, n_ir * (c + 1) / nt * mr);
      if (i0 < i1) gemm_range(g, i0, i1, 0, N, static_cast<const T*>(nullptr));
    });
  }
}

// ---- small products, unpacked -----------------------------------------------------------------
// Below ~1 MFLOP (a 64x64x64 product, a small layer's backward) packing A and B cost about a
// fifth of the time and there is one thread anyway. With B not transposed, the micro-kernel can
// read both operands in place: the tile's columns are contiguous in B's rows, and A's rows are
// broadcast scalars. Only the edge tiles read zero-padded copies, so no load leaves the arrays.
constexpr int64_t kUnpackedMaxMNK = 1000000;

template <typename T>
static bool gemm_unpacked(const GemmMicroKernel<T>& uk, bool ta, bool tb, int64_t M, int64_t N,
                          int64_t K, T alpha, const T* A, int64_t lda, const T* B, int64_t ldb,
                          T beta, T* C, int64_t ldc, const T* bias, bool bias_per_row,
                          Activation act) {
  const int mr = uk.mr, nr = uk.nr;
  if (tb || !uk.unpacked || N < nr || K > uk.kc || M * N * K >= kUnpackedMaxMNK) return false;
  const int64_t m_full = M / mr * mr, n_full = N / nr * nr;
  // Rows [m_full, M) of op(A), zero-padded to mr rows, row-major with lda K; columns
  // [n_full, N) of B, zero-padded to nr, with ldb nr.
  T* a_pad = tls_a_panel.get<T>(mr * K);
  T* b_pad = tls_b_block.get<T>(K * nr);
  if (m_full < M)
    for (int64_t i = 0; i < mr; ++i)
      for (int64_t k = 0; k < K; ++k)
        a_pad[i * K + k] = m_full + i >= M ? T(0)
                           : ta            ? A[k * lda + m_full + i]
                                           : A[(m_full + i) * lda + k];
  if (n_full < N)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < nr; ++j)
        b_pad[k * nr + j] = n_full + j < N ? B[k * ldb + n_full + j] : T(0);
  const bool epilogue = bias != nullptr || act != Activation::None;
  alignas(64) T edge[16 * 64];
  for (int64_t i0 = 0; i0 < M; i0 += mr) {
    const bool full_m = i0 < m_full;
    const T* a = full_m ? (ta ? A + i0 : A + i0 * lda) : a_pad;
    const int64_t lda_here = full_m ? lda : K;
    const GemmUnpackedFn<T> kernel = full_m && ta ? uk.unpacked_ta : uk.unpacked;
    const int64_t mv = std::min<int64_t>(mr, M - i0);
    for (int64_t j0 = 0; j0 < N; j0 += nr) {
      const bool full_n = j0 < n_full;
      const T* b = full_n ? B + j0 : b_pad;
      const int64_t nv = std::min<int64_t>(nr, N - j0);
      T* c = C + i0 * ldc + j0;
      if (full_m && full_n) {
        kernel(K, a, lda_here, b, full_n ? ldb : nr, c, ldc, alpha, beta);
      } else {
        kernel(K, a, lda_here, b, full_n ? ldb : nr, edge, nr, T(1), T(0));
        for (int64_t i = 0; i < mv; ++i)
          for (int64_t j = 0; j < nv; ++j) {
            T& cij = c[i * ldc + j];
            const T ab = alpha * edge[i * nr + j];
            cij = beta == T(0) ? ab : ab + beta * cij;
          }
      }
      if (epilogue)
        for (int64_t i = 0; i < mv; ++i)
          uk.epilogue(act, nv, bias ? (bias_per_row ? bias + i0 + i : bias + j0) : nullptr,
                      bias_per_row ? 0 : 1, c + i * ldc);
    }
  }
  return true;
}

// ---- dispatch ---------------------------------------------------------------------------------
namespace {
std::atomic<int> g_rung{static_cast<int>(GemmRung::Auto)};

template <typename T>
GemmMicroKernel<T> micro_kernel_for(GemmRung rung);

template <>
GemmMicroKernel<float> micro_kernel_for<float>(GemmRung rung) {
#if defined(DLK_X86)
  if (rung == GemmRung::Avx512) return gemm_ukernel_avx512_f32();
  if (rung == GemmRung::Avx2) return gemm_ukernel_avx2_f32();
#endif
  return gemm_ukernel_portable_f32();
}

template <>
GemmMicroKernel<double> micro_kernel_for<double>(GemmRung rung) {
#if defined(DLK_X86)
  if (rung == GemmRung::Avx512) return gemm_ukernel_avx512_f64();
  if (rung == GemmRung::Avx2) return gemm_ukernel_avx2_f64();
#endif
  return gemm_ukernel_portable_f64();
}
}  // namespace

// The skinny path of the same rung's instruction set (true when it took the product).
template <typename T>
bool gemm_small(GemmRung rung, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha,
                const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
#if defined(DLK_X86)
  if (rung == GemmRung::Avx512)
    return gemm_small_avx512(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (rung == GemmRung::Avx2)
    return gemm_small_avx2(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
  return gemm_small_impl(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

GemmRung gemm_rung() { return static_cast<GemmRung>(g_rung.load()); }

GemmRung gemm_rung_resolved() {
  const GemmRung r = gemm_rung();
  if (r != GemmRung::Auto) return r;
  switch (best_isa()) {
    case Isa::Avx512: return GemmRung::Avx512;
    case Isa::Avx2: return GemmRung::Avx2;
    default: return GemmRung::Portable;
  }
}

void set_gemm_rung(GemmRung rung) {
  if (rung == GemmRung::Avx512)
    DLK_CHECK(isa_supported(Isa::Avx512), "gemm rung 'avx512' is not supported by this CPU");
  if (rung == GemmRung::Avx2)
    DLK_CHECK(isa_supported(Isa::Avx2), "gemm rung 'avx2' is not supported by this CPU");
  g_rung.store(static_cast<int>(rung));
}

const char* gemm_rung_name(GemmRung rung) {
  switch (rung) {
    case GemmRung::Auto: return "auto";
    case GemmRung::Reference: return "reference";
    case GemmRung::Portable: return "portable";
    case GemmRung::Avx2: return "avx2";
    case GemmRung::Avx512: return "avx512";
  }
  return "?";
}

GemmRung gemm_rung_from_name(const std::string& name) {
  for (GemmRung r :
       {GemmRung::Auto, GemmRung::Reference, GemmRung::Portable, GemmRung::Avx2, GemmRung::Avx512})
    if (name == gemm_rung_name(r)) return r;
  fail(
      "unknown gemm rung: expected one of 'auto', 'reference', 'portable', 'avx2', 'avx512', got '",
      name, "'");
}

// gemm, then (when bias or act is given) C = act(C + bias): inside the tiles on the blocked
// path, as one pass over C after the reference and skinny paths (which have no tiles).
template <typename T>
static void gemm_impl(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                      int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc,
                      const T* bias = nullptr, bool bias_per_row = false,
                      Activation act = Activation::None) {
  if (M <= 0 || N <= 0) return;
  const GemmRung rung = gemm_rung_resolved();
  const GemmMicroKernel<T> uk =
      micro_kernel_for<T>(rung == GemmRung::Reference ? GemmRung::Portable : rung);
  const auto epilogue_pass = [&] {
    if (bias == nullptr && act == Activation::None) return;
    for (int64_t i = 0; i < M; ++i)
      uk.epilogue(act, N, bias ? (bias_per_row ? bias + i : bias) : nullptr, bias_per_row ? 0 : 1,
                  C + i * ldc);
  };
  if (K <= 0 || alpha == T(0)) {
    scale_c(M, N, beta, C, ldc);
    return epilogue_pass();
  }
  if (rung == GemmRung::Reference) {
    gemm_reference(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return epilogue_pass();
  }
  if (gemm_small(rung, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
    return epilogue_pass();
  if (gemm_unpacked(uk, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, bias_per_row,
                    act))
    return;
  if (N < uk.nr && M > N) {
    // A narrow product (a classifier's 10 outputs) would fill a fraction of every nr-wide tile;
    // computing C^T = op(B)^T op(A)^T instead puts the narrow side along the short mr edge.
    gemm_blocked(uk, !tb, !ta, N, M, K, alpha, B, ldb, A, lda, beta, C, ldc, true,
                 static_cast<const T*>(nullptr), bias, bias_per_row, act);
    return;
  }
  gemm_blocked(uk, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, false,
               static_cast<const T*>(nullptr), bias, bias_per_row, act);
}

template <typename T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  gemm_impl(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <typename T>
void gemm_bias_act(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
                   const T* B, int64_t ldb, const T* bias, bool bias_per_row, Activation act, T* C,
                   int64_t ldc) {
  gemm_impl(ta, tb, M, N, K, T(1), A, lda, B, ldb, T(0), C, ldc, bias, bias_per_row, act);
}

Activation activation_from_name(const std::string& name) {
  if (name == "none") return Activation::None;
  if (name == "relu") return Activation::Relu;
  if (name == "tanh") return Activation::Tanh;
  if (name == "sigmoid") return Activation::Sigmoid;
  fail("unknown activation: expected one of 'none', 'relu', 'tanh', 'sigmoid', got '", name, "'");
}

template <typename T>
void PackedB<T>::Free::operator()(T* p) const {
  std::free(p);
}

template <typename T>
PackedB<T>::PackedB(bool tb, int64_t K, int64_t N, const T* B, int64_t ldb) : K_(K), N_(N) {
  const PackedBLayout<T> layout(K, N);
  rung_ = layout.rung;
  kc_ = layout.kc;
  n_padded_ = layout.n_padded;
  const int nr = static_cast<int>(layout.nr);
  const size_t bytes = round_up(static_cast<int64_t>(sizeof(T)) * K * n_padded_ + 64, 4096);
  data_.reset(static_cast<T*>(std::aligned_alloc(4096, bytes)));
  if (!data_) throw std::bad_alloc();
  const int64_t n_jr = n_padded_ / nr;
  T* out = data_.get();
  for (int64_t pc = 0; pc < K; pc += kc_) {
    const int64_t kc = std::min(kc_, K - pc);
    parallel_for(n_jr, 4, [&](int64_t j0, int64_t j1) {
      pack_b_slivers(tb, B, ldb, j0 * nr, std::min<int64_t>(j1 * nr, N) - j0 * nr, pc, kc, nr,
                     out + pc * n_padded_ + j0 * nr * kc);
    });
  }
}

template <typename T>
void gemm_packed(bool ta, int64_t M, T alpha, const T* A, int64_t lda, const PackedB<T>& B, T beta,
                 T* C, int64_t ldc) {
  const int64_t N = B.N_, K = B.K_;
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == T(0)) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
  gemm_blocked(micro_kernel_for<T>(B.rung_), ta, false, M, N, K, alpha, A, lda,
               static_cast<const T*>(nullptr), 0, beta, C, ldc, false, B.data_.get());
}

template <typename T>
PackedBLayout<T>::PackedBLayout(int64_t K_, int64_t N_) : K(K_), N(N_) {
  rung = gemm_rung_resolved();
  if (rung == GemmRung::Reference) rung = GemmRung::Portable;
  const GemmMicroKernel<T> uk = micro_kernel_for<T>(rung);
  nr = uk.nr;
  kc = balanced_block(std::max<int64_t>(K, 1), uk.kc, 1);
  n_padded = round_up(std::max<int64_t>(N, 1), nr);
}

template <typename T>
void gemm_prepacked(int64_t M, T alpha, const T* A, int64_t lda, const PackedBLayout<T>& layout,
                    const T* packed, T beta, T* C, int64_t ldc, const T* bias, bool bias_per_row,
                    Activation act) {
  const int64_t N = layout.N, K = layout.K;
  if (M <= 0 || N <= 0) return;
  const GemmMicroKernel<T> uk = micro_kernel_for<T>(layout.rung);
  if (K <= 0 || alpha == T(0)) {
    scale_c(M, N, beta, C, ldc);
    if (bias || act != Activation::None)
      for (int64_t i = 0; i < M; ++i)
        uk.epilogue(act, N, bias ? (bias_per_row ? bias + i : bias) : nullptr, bias_per_row ? 0 : 1,
                    C + i * ldc);
    return;
  }
  gemm_blocked(uk, false, false, M, N, K, alpha, A, lda, static_cast<const T*>(nullptr), 0, beta, C,
               ldc, false, packed, bias, bias_per_row, act);
}

template struct PackedBLayout<float>;
template struct PackedBLayout<double>;
template void gemm_prepacked<float>(int64_t, float, const float*, int64_t,
                                    const PackedBLayout<float>&, const float*, float, float*,
                                    int64_t, const float*, bool, Activation);
template void gemm_prepacked<double>(int64_t, double, const double*, int64_t,
                                     const PackedBLayout<double>&, const double*, double, double*,
                                     int64_t, const double*, bool, Activation);

template class PackedB<float>;
template class PackedB<double>;
template void gemm_packed<float>(bool, int64_t, float, const float*, int64_t, const PackedB<float>&,
                                 float, float*, int64_t);
template void gemm_packed<double>(bool, int64_t, double, const double*, int64_t,
                                  const PackedB<double>&, double, double*, int64_t);

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t);
template void gemm_bias_act<float>(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t,
                                   const float*, int64_t, const float*, bool, Activation, float*,
                                   int64_t);
template void gemm_bias_act<double>(bool, bool, int64_t, int64_t, int64_t, const double*, int64_t,
                                    const double*, int64_t, const double*, bool, Activation,
                                    double*, int64_t);

}  // namespace dlk::cpu
