// The GEMMs of the recurrent layers (lstm.cpp, gru.cpp) all go to the library GEMM
// (dlk::cpu::gemm, which streams batch-1 "skinny" products unpacked). What is specific here:
// W_hh multiplies a new h_{t-1} at every time step, so it is packed once per sequence call
// (dlk::cpu::PackedB, cuDNN's pre-transposed weights) instead of once per step.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "cpu/gemm.h"

namespace dlk::cpu {

// Library: the plain GEMM per product (repacks W_hh every step); Packed: W_hh packed once per
// sequence; Auto: Packed (1.15-1.3x on the T=50, N=64, H=256 LSTM layer). Tests switch it.
enum class RnnGemmPath { Auto, Library, Packed };
void set_rnn_gemm_path(RnnGemmPath path);
RnnGemmPath rnn_gemm_path_from_name(const std::string& name);

// op(B) (K x N) used for `uses` products with different left-hand sides.
template <typename T>
class RecurrentWeight {
 public:
  RecurrentWeight(bool tb, int64_t K, int64_t N, const T* B, int64_t ldb, int64_t uses);
  // C (M x N) = A (M x K, row-major, lda) @ op(B) + beta * C.
  void multiply(int64_t M, const T* A, int64_t lda, T beta, T* C, int64_t ldc) const;

 private:
  bool tb_;
  int64_t K_, N_, ldb_;
  const T* B_;
  std::unique_ptr<PackedB<T>> packed_;
};

}  // namespace dlk::cpu
