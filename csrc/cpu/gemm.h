// C = alpha * op(A) * op(B) + beta * C on the CPU, row-major, op in {N, T}.
//
// The entry point every CPU kernel uses for its heavy lifting (conv via im2col, the recurrent
// layers' projections). Pointers are trusted here: shapes are validated at the binding boundary.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "cpu/activation.h"

namespace dlk::cpu {

// The rungs of the ladder, slowest first. Auto takes the widest SIMD path the CPU runs.
enum class GemmRung { Auto, Reference, Portable, Avx2, Avx512 };

// op(A) is M x K: A is stored M x K (lda >= K) or, when trans_a, K x M (lda >= M); likewise
// op(B) is K x N. C is M x N with ldc >= N. beta == 0 overwrites C without reading it (NaN in
// C is ignored, as BLAS does). Runs on threads_for_kernel() threads.
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// C = act(op(A) * op(B) + bias), the bias and activation applied to each tile of C as the
// product completes it (no second pass over C): Linear + ReLU/tanh/sigmoid, conv + bias + ReLU.
// bias is null, N values (one per column) or, with bias_per_row, M values (one per row).
template <typename T>
void gemm_bias_act(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A,
                   int64_t lda, const T* B, int64_t ldb, const T* bias, bool bias_per_row,
                   Activation act, T* C, int64_t ldc);

// op(B) (K x N) packed once into the micro-kernel's layout for many products with different
// left-hand sides: a recurrent weight multiplies a new h_{t-1} at every time step, and packing
// it per step would cost as much as the product at small batch (cuDNN's pre-transposed weights).
// The packing follows the rung in force when it is made (the reference rung packs as portable).
template <typename T>
class PackedB {
 public:
  PackedB() = default;
  PackedB(bool trans_b, int64_t K, int64_t N, const T* B, int64_t ldb);
  int64_t rows() const { return K_; }
  int64_t cols() const { return N_; }

 private:
  template <typename U>
  friend void gemm_packed(bool, int64_t, U, const U*, int64_t, const PackedB<U>&, U, U*, int64_t);
  struct Free {
    void operator()(T* p) const;
  };
  std::unique_ptr<T[], Free> data_;
  GemmRung rung_ = GemmRung::Portable;
  int64_t K_ = 0, N_ = 0, kc_ = 0, n_padded_ = 0;
};

// C = alpha * op(A) * B + beta * C with B packed beforehand (same conventions as gemm).
template <typename T>
void gemm_packed(bool trans_a, int64_t M, T alpha, const T* A, int64_t lda, const PackedB<T>& B,
                 T beta, T* C, int64_t ldc);

// Where op(B) lies once packed, for callers that build B themselves (im2col) and can write it
// straight into the micro-kernel's layout, saving the GEMM its own copy: K blocks of kc rows;
// in each, N's slivers of nr columns side by side, each kc x nr and k-major, the last sliver
// zero-padded to nr columns. Row k, columns [j, j + nr - j % nr) are contiguous at at(k, j).
// The layout follows the rung in force when it is made, as PackedB's does.
template <typename T>
struct PackedBLayout {
  PackedBLayout(int64_t K, int64_t N);
  GemmRung rung;
  int64_t K, N, kc, nr, n_padded;
  int64_t size() const { return K * n_padded; }
  int64_t at(int64_t k, int64_t j) const {
    const int64_t pc = k / kc * kc, kb = kc < K - pc ? kc : K - pc;
    return pc * n_padded + j / nr * nr * kb + (k - pc) * nr + j % nr;
  }
};

// C = act(alpha * A * B + beta * C + bias) (A not transposed, M x K) with B already in
// `layout` at `packed`; bias and act as gemm_bias_act (bias null: none).
template <typename T>
void gemm_prepacked(int64_t M, T alpha, const T* A, int64_t lda, const PackedBLayout<T>& layout,
                    const T* packed, T beta, T* C, int64_t ldc, const T* bias = nullptr,
                    bool bias_per_row = false, Activation act = Activation::None);

// Forces one rung for every later call (tests and benchmarks compare rungs this way);
// GemmRung::Auto restores the automatic choice. A SIMD rung the CPU lacks is a ValueError.
void set_gemm_rung(GemmRung rung);
GemmRung gemm_rung();           // what set_gemm_rung last chose
GemmRung gemm_rung_resolved();  // what Auto resolves to on this CPU (or the forced rung)
const char* gemm_rung_name(GemmRung rung);
GemmRung gemm_rung_from_name(const std::string& name);

}  // namespace dlk::cpu
