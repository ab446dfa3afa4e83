// The GEMMs of the recurrent layers (lstm.cpp, gru.cpp): the library GEMM, except for the
// shapes a single step at batch 1..4 produces, which the packed GEMM serves badly (it packs the
// whole weight matrix to multiply it by one row: ~350 us for 1x1024x256 where a streaming GEMV
// takes ~10 us).
#pragma once

#include <cstdint>
#include <string>

namespace dlk::cpu {

// Same contract as dlk::cpu::gemm (row-major, op in {N, T}, beta == 0 ignores C).
template <typename T>
void rnn_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
              const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// True when rnn_gemm takes the streaming small-shape path for this call.
bool rnn_gemm_is_small(bool ta, bool tb, int64_t M, int64_t N, int64_t K);

// Which GEMM serves the per-step recurrent products (float32 on AVX-512; others always use the
// library): Library (dlk::cpu::gemm), Packed (rnn_packed_avx512.cpp, W_hh packed once per
// sequence), Auto (the measured better one). Benchmarks and tests switch it.
enum class RnnGemmPath { Auto, Library, Packed };
void set_rnn_gemm_path(RnnGemmPath path);
RnnGemmPath rnn_gemm_path();
RnnGemmPath rnn_gemm_path_from_name(const std::string& name);

// A right-hand side used for many products, e.g. W_hh^T for every time step: op(B) (K x N) is
// packed once into a thread-local buffer (`slot` 0..3 keeps simultaneous ones apart) when the
// packed path is on and `uses` products of M rows make it pay, and each multiply streams it.
template <typename T>
class RecurrentWeight {
 public:
  RecurrentWeight(bool tb, int64_t K, int64_t N, const T* B, int64_t ldb, int slot, int64_t M,
                  int64_t uses);
  // C (M x N) = A (M x K, row-major, lda) @ op(B) + beta * C, beta in {0, 1}.
  void multiply(int64_t M, const T* A, int64_t lda, T beta, T* C, int64_t ldc) const;

 private:
  bool tb_;
  int64_t K_, N_, ldb_;
  const T* B_;
  const float* packed_ = nullptr;
};

}  // namespace dlk::cpu
