// The GEMMs of the recurrent layers (lstm.cpp, gru.cpp) all go to the library GEMM
// (dlk::cpu::gemm, which streams batch-1 "skinny" products unpacked). What is specific here:
// W_hh multiplies a new h_{t-1} at every time step, so it is packed once per sequence call
// (dlk::cpu::PackedB, cuDNN's pre-transposed weights) instead of once per step.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/parallel.h"
#include "cpu/gemm.h"
#include "cpu/rnn_packed.h"

namespace dlk::cpu {

// Library: the plain GEMM per product (repacks W_hh every step); Packed: W_hh packed once per
// sequence, each step's product split over the threads by column blocks, then its pointwise part
// by row blocks (two parallel regions per step); Rows: W_hh packed once, each thread takes a block
// of the step's rows through both the product and the pointwise part (one region per step);
// Sweep: as Rows, but each thread keeps its block of rows for every step of the sequence (one
// region per call: batch rows never meet through time; the LSTM's drivers, the GRU's run Rows);
// Auto: Sweep. Tests switch it.
enum class RnnGemmPath { Auto, Library, Packed, Rows, Sweep };
void set_rnn_gemm_path(RnnGemmPath path);
RnnGemmPath rnn_gemm_path_from_name(const std::string& name);

// The threads a step of `rows` batch rows is split over by rows (1: run it as a whole, its
// product and pointwise part each parallel on their own). A step is a short product (M = batch):
// with two parallel regions per step, each ending in a wait for the slowest thread, the waits
// are a visible share of it (bench/RESULTS.md). Each block needs enough rows to fill the
// micro-kernel's tiles and enough work to pay for a wake-up.
// Only a packed W_hh splits by rows: unpacked, every block would pack all of it again.
int rnn_step_row_blocks(int64_t rows, int64_t flops_per_row, bool packed_weight);

// Runs f(first_row, n) over rnn_step_row_blocks(rows, ...) blocks of rows on the pool; each
// block's products run on its own thread (nested kernels are single-threaded).
template <typename F>
void over_step_rows(int64_t rows, int64_t flops_per_row, bool packed_weight, const F& f) {
  const int blocks = rnn_step_row_blocks(rows, flops_per_row, packed_weight);
  if (blocks <= 1) return f(int64_t{0}, rows);
  parallel_chunks(blocks, blocks, [&](int64_t c) {
    const int64_t r0 = rows * c / blocks, r1 = rows * (c + 1) / blocks;
    if (r0 < r1) f(r0, r1 - r0);
  });
}

// Runs f(r0, r1) over blocks of batch rows, each block through the whole sweep on one thread
// (Sweep path): the waits for the slowest thread at every step's end are gone, and a block's
// rows stay in its core's cache. Blocks are as many as a step would be split into by rows
// (rnn_step_row_blocks); a packed batch (longest first) is cut where the blocks' total steps are
// equal. Other paths, or one block: f(0, N) on the calling thread, its steps split as they are.
bool rnn_sweep_split();
template <typename F>
void over_sweep_rows(const RnnSteps& st, int64_t flops_per_row, bool packed_weight, const F& f) {
  const int64_t N = st.N();
  const int blocks = rnn_sweep_split() ? rnn_step_row_blocks(N, flops_per_row, packed_weight) : 1;
  if (blocks <= 1) return f(int64_t{0}, N);
  std::vector<int64_t> cut(static_cast<size_t>(blocks) + 1, N);
  cut[0] = 0;
  if (st.packed()) {
    const std::vector<int64_t> len = st.row_lengths();
    int64_t total = 0, run = 0;
    for (int64_t l : len) total += l;
    for (int64_t r = 0, c = 1; r < N && c < blocks; ++r) {
      run += len[static_cast<size_t>(r)];
      if (run * blocks >= total * c) cut[static_cast<size_t>(c++)] = r + 1;
    }
  } else {
    for (int c = 1; c < blocks; ++c) cut[static_cast<size_t>(c)] = N * c / blocks;
  }
  parallel_chunks(blocks, blocks, [&](int64_t c) {
    const int64_t r0 = cut[static_cast<size_t>(c)], r1 = cut[static_cast<size_t>(c) + 1];
    if (r0 < r1) f(r0, r1);
  });
}

// op(B) (K x N) used for `uses` products with different left-hand sides.
template <typename T>
class RecurrentWeight {
 public:
  RecurrentWeight(bool tb, int64_t K, int64_t N, const T* B, int64_t ldb, int64_t uses);
  // C (M x N) = A (M x K, row-major, lda) @ op(B) + beta * C.
  void multiply(int64_t M, const T* A, int64_t lda, T beta, T* C, int64_t ldc) const;
  bool packed() const { return packed_ != nullptr; }

 private:
  bool tb_;
  int64_t K_, N_, ldb_;
  const T* B_;
  std::unique_ptr<PackedB<T>> packed_;
};

}  // namespace dlk::cpu
