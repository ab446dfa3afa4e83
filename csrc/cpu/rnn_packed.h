// Time-step bookkeeping shared by the LSTM and GRU drivers: dense sequences and packed ones.
//
// Packed (cuDNN's and PyTorch's PackedSequence layout): the batch is sorted by length, longest
// first, and batch_sizes[t] is how many sequences are still running at time t (non-increasing,
// batch_sizes[0] = N). The rows of step t are stored contiguously at offset off_t =
// sum_{u<t} batch_sizes[u], so x is [R, I] with R = sum_t batch_sizes[t], and step t works on
// its first batch_sizes[t] sequences only: a per-step active batch, no masking, padding never
// computed. A dense [T, N, I] batch is the same layout with batch_sizes[t] = N.
//
// Where a step's previous state comes from: forward direction, the first batch_sizes[t] rows
// of the step before (a prefix, since sizes shrink). Reverse direction (t = T-1 .. 0), sizes
// grow: rows below batch_sizes[t+1] continue from step t+1, the rows that join at t are
// sequences whose own last step is t, so they start from h0 (each sequence's reverse pass
// starts at its own end, as cuDNN/PyTorch do).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace dlk::cpu {

class RnnSteps {
 public:
  // batch_sizes: nullptr for a dense batch of N sequences of length T.
  RnnSteps(int64_t T, int64_t N, const int64_t* batch_sizes, bool reverse)
      : T_(T), N_(N), bs_(batch_sizes), reverse_(reverse), off_(static_cast<size_t>(T) + 1, 0) {
    for (int64_t t = 0; t < T; ++t) off_[t + 1] = off_[t] + size(t);
  }
  bool packed() const { return bs_ != nullptr; }
  int64_t T() const { return T_; }
  int64_t rows() const { return off_[T_]; }
  int64_t size(int64_t t) const { return bs_ ? bs_[t] : N_; }
  int64_t offset(int64_t t) const { return off_[t]; }
  // The time index processed at position `step` of the sweep.
  int64_t time(int64_t step) const { return reverse_ ? T_ - 1 - step : step; }

  // The previous state of every active row of `step` (rows [0, size(t)), H wide): a pointer
  // into `seq` (the outputs of the step before) or `init` (h0 / c0), or, when the rows come
  // from both (reverse direction, where sequences join), a copy gathered into `buf` (which only
  // packed reverse sweeps need; dense ones may pass nullptr).
  template <typename T>
  const T* prev(int64_t step, const T* seq, const T* init, int64_t H, T* buf) const {
    return prev_rows(step, 0, size(time(step)), seq, init, H, buf);
  }

  // prev() for the rows [a, b) of `step` only (b <= size(time(step))): a pointer to row a's
  // previous state, the next rows following H apart. Rows that come from both places are
  // gathered into buf's rows [a, b), so blocks of rows may gather side by side. Where no
  // previous state exists (init is nullptr at step 0) it returns nullptr.
  template <typename T>
  const T* prev_rows(int64_t step, int64_t a, int64_t b, const T* seq, const T* init, int64_t H,
                     T* buf) const {
    if (step == 0) return init ? init + a * H : nullptr;
    const int64_t bp = size(time(step - 1));
    const T* from_seq = seq + off_[time(step - 1)] * H;
    if (b <= bp || buf == nullptr) return from_seq + a * H;  // dense sweeps never join
    if (a >= bp) return init + a * H;  // every row joins here: its own last step
    std::memcpy(buf + a * H, from_seq + a * H, sizeof(T) * (bp - a) * H);
    std::memcpy(buf + bp * H, init + bp * H, sizeof(T) * (b - bp) * H);
    return buf + a * H;
  }

  // Each row's number of steps (rows are sorted longest first): len[r] = #{t : size(t) > r}.
  std::vector<int64_t> row_lengths() const {
    std::vector<int64_t> len(static_cast<size_t>(N_) + 1, 0);
    for (int64_t t = 0; t < T_; ++t) len[0] += 1, len[size(t)] -= 1;
    for (int64_t r = 1; r <= N_; ++r) len[r] += len[r - 1];
    len.pop_back();
    return len;
  }
  int64_t N() const { return N_; }

  // out[R, H] = the previous state of every row of every step (for dW_hh = sum da^T h_prev).
  template <typename T>
  void gather_prev(const T* seq, const T* init, int64_t H, T* out) const {
    for (int64_t step = 0; step < T_; ++step) {
      const int64_t t = time(step);
      T* dst = out + off_[t] * H;
      const T* src = prev(step, seq, init, H, dst);
      if (src != dst) std::memcpy(dst, src, sizeof(T) * size(t) * H);
    }
  }

  // out[N, H] = each sequence's state after its own last processed step (init when T = 0).
  template <typename T>
  void final_state(const T* seq, const T* init, int64_t H, T* out) const {
    if (T_ == 0) {
      std::memcpy(out, init, sizeof(T) * N_ * H);
      return;
    }
    if (reverse_) {  // every sequence ends at t = 0
      std::memcpy(out, seq, sizeof(T) * size(0) * H);
      return;
    }
    for (int64_t t = 0; t < T_; ++t) {  // rows [size(t+1), size(t)) end at t
      const int64_t hi = size(t), lo = t + 1 < T_ ? size(t + 1) : 0;
      if (hi > lo) std::memcpy(out + lo * H, seq + (off_[t] + lo) * H, sizeof(T) * (hi - lo) * H);
    }
  }

 private:
  int64_t T_, N_;
  const int64_t* bs_;
  bool reverse_;
  std::vector<int64_t> off_;
};

}  // namespace dlk::cpu
