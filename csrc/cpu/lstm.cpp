// LSTM on the CPU: fused step and sequence driver, forward and backward through time.
//
// Step (gate order i, f, g, o; PyTorch's weight layout, one bias per gate as in the notes):
//   a_t = x_t W_ih^T + h_{t-1} W_hh^T            (pre-activations of all gates, [N, G*H])
//   pointwise (lstm_pointwise.h): gates, c_t = f c_{t-1} + i g, h_t = o tanh(c_t)
// Variants: peephole (Gers & Schmidhuber: i, f see c_{t-1}, o sees c_t through diagonal
// weights p[3, H]); coupled (i = 1 - f, so only G = 3 gates f, g, o are stored: no dead input-gate
// parameters).
//
// Sequence driver (cuDNN's recipe): x W_ih^T for all T steps is one [T*N, I] x [I, G*H] GEMM
// written straight into the gate buffer; each step adds only h_{t-1} W_hh^T (beta = 1, W_hh^T
// packed once per call: rnn_gemm.h) and runs the fused pointwise part in place, which leaves the
// activated gates there for backward. On several threads each takes a block of the step's rows
// through both (over_step_rows), or keeps its block of rows for every step (over_sweep_rows: one
// parallel region per call, batch rows never meet through time). The backward mirrors it: per step
// the fused pointwise backward and [dh_{t-1} | dx_t] = da_t [W_hh | W_ih] (packed once); after the
// loop, [dW_ih | dW_hh] = da^T [x | h_prev] is one GEMM over all T*N rows.
//
// Rungs (pointwise part; every GEMM is the library's):
//   reference  scalar libm exp/tanh per element (the formula as loops); float64 always.
//   avx512     the same loops with 16-lane polynomial sigmoid/tanh (vec_math_avx512.h), float32.
//   avx2       8-lane (vec_math_avx2.h), float32, for CPUs without AVX-512: the scalar rung took
//              ~35 % of a batch-320 decoder cell step on an AMD EPYC (AVX2) here.
// Measured (T=50, N=64, I=128, H=256, fwd+bwd, 1 thread, shared 2-vCPU Xeon at load ~8, so
// +-30 %): ~1.0x nn.LSTM (oneDNN). The GEMMs are > 90 % of the time; per-step W_hh packing
// once per call instead of per step gave 1.15-1.3x on the layer (bench ablation row).
#include "cpu/lstm.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <type_traits>
#include <vector>

#include "common/check.h"
#include "common/cpu_features.h"
#include "common/parallel.h"
#include "cpu/lstm_pointwise.h"
#include "cpu/rnn_gemm.h"
#include "cpu/rnn_math.h"
#include "cpu/rnn_packed.h"

namespace dlk::cpu {

// lstm_avx512.cpp
void lstm_pointwise_forward_avx512(int64_t N, int64_t H, LstmVariant v, const float* b,
                                   const float* p, const float* cprev, float* g, float* c,
                                   float* tc, float* h);
void lstm_pointwise_backward_avx512(int64_t N, int64_t H, LstmVariant v, const float* p,
                                    const float* g, const float* cprev, const float* tc,
                                    const float* dy, const float* dh_next, float* dc, float* dg);

// lstm_avx2.cpp
void lstm_pointwise_forward_avx2(int64_t N, int64_t H, LstmVariant v, const float* b,
                                 const float* p, const float* cprev, float* g, float* c, float* tc,
                                 float* h);
void lstm_pointwise_backward_avx2(int64_t N, int64_t H, LstmVariant v, const float* p,
                                  const float* g, const float* cprev, const float* tc,
                                  const float* dy, const float* dh_next, float* dc, float* dg);

namespace {
std::atomic<int> g_rnn_rung{static_cast<int>(RnnRung::Auto)};

// Workspace reused across calls (first-touch page faults cost ~2 us per 4 KiB here). Slots 1
// and 2 hold gathered states, 3 and 4 the backward's [W_hh | W_ih] and per-step product during
// its loop, then weight_grads' operands after it.
template <typename T>
T* workspace(size_t n, int slot = 0) {
  thread_local std::vector<T> buf[5];
  if (buf[slot].size() < n) buf[slot].resize(n);
  return buf[slot].data();
}
}  // namespace

void set_rnn_rung(RnnRung rung) {
  DLK_CHECK(rung != RnnRung::Avx512 || best_isa() == Isa::Avx512,
            "rnn rung avx512: this CPU or build has no AVX-512");
  DLK_CHECK(rung != RnnRung::Avx2 || isa_supported(Isa::Avx2),
            "rnn rung avx2: this CPU or build has no AVX2 + FMA");
  g_rnn_rung.store(static_cast<int>(rung));
}

RnnRung rnn_rung_resolved(bool is_float32) {
  const auto r = static_cast<RnnRung>(g_rnn_rung.load());
  if (!is_float32) return RnnRung::Reference;
  if (r != RnnRung::Auto) return r;
  const Isa isa = best_isa();
  return isa == Isa::Avx512 ? RnnRung::Avx512
         : isa == Isa::Avx2 ? RnnRung::Avx2
                            : RnnRung::Reference;
}

RnnRung rnn_rung_from_name(const std::string& name) {
  if (name == "auto") return RnnRung::Auto;
  if (name == "reference") return RnnRung::Reference;
  if (name == "avx512") return RnnRung::Avx512;
  if (name == "avx2") return RnnRung::Avx2;
  fail("rnn rung: expected 'auto', 'reference', 'avx2' or 'avx512', got '", name, "'");
}

const char* rnn_rung_name(RnnRung rung) {
  switch (rung) {
    case RnnRung::Reference: return "reference";
    case RnnRung::Avx512: return "avx512";
    case RnnRung::Avx2: return "avx2";
    default: return "auto";
  }
}

LstmVariant lstm_variant_from_name(const std::string& name) {
  if (name == "standard") return LstmVariant::Standard;
  if (name == "peephole") return LstmVariant::Peephole;
  if (name == "coupled") return LstmVariant::Coupled;
  fail("variant: expected 'standard', 'peephole' or 'coupled', got '", name, "'");
}

template <typename T>
static void pointwise_forward(int64_t N, int64_t H, LstmVariant v, const T* b, const T* p,
                              const T* cprev, T* g, T* c, T* tc, T* h) {
  if constexpr (std::is_same_v<T, float>) {
    const RnnRung r = rnn_rung_resolved(true);
    if (r == RnnRung::Avx512)
      return lstm_pointwise_forward_avx512(N, H, v, b, p, cprev, g, c, tc, h);
    if (r == RnnRung::Avx2) return lstm_pointwise_forward_avx2(N, H, v, b, p, cprev, g, c, tc, h);
  }
  lstm_pointwise_forward<T, ScalarMath>(N, H, v, b, p, cprev, g, c, tc, h);
}

template <typename T>
static void pointwise_backward(int64_t N, int64_t H, LstmVariant v, const T* p, const T* g,
                               const T* cprev, const T* tc, const T* dy, const T* dh_next, T* dc,
                               T* dg) {
  if constexpr (std::is_same_v<T, float>) {
    const RnnRung r = rnn_rung_resolved(true);
    if (r == RnnRung::Avx512)
      return lstm_pointwise_backward_avx512(N, H, v, p, g, cprev, tc, dy, dh_next, dc, dg);
    if (r == RnnRung::Avx2)
      return lstm_pointwise_backward_avx2(N, H, v, p, g, cprev, tc, dy, dh_next, dc, dg);
  }
  lstm_pointwise_backward<T>(N, H, v, p, g, cprev, tc, dy, dh_next, dc, dg);
}

// A step's pointwise part, f(first_row, rows), over blocks of rows on the pool: it was serial,
// ~15 % of a batch-64 step at two threads, which held the 2-thread layer to 1.6x of one thread.
// Each row is ~1 us of work (4H gate values), so blocks of at least ~16K values.
template <typename F>
static void over_row_blocks(int64_t rows, int64_t gate_width, const F& f) {
  const int64_t grain = std::max<int64_t>(4, 16384 / std::max<int64_t>(gate_width, 1));
  parallel_for(rows, grain, [&](int64_t r0, int64_t r1) { f(r0, r1 - r0); });
}

template <typename T>
void lstm_forward(const LstmShape& s, const T* x, const T* h0, const T* c0, const T* w_ih,
                  const T* w_hh, const T* b, const T* peephole, T* y, T* gates, T* cell,
                  T* tanh_cell) {
  const int64_t T_ = s.T, N = s.N, I = s.I, H = s.H, GH = lstm_num_gates(s.variant) * H;
  if (T_ == 0 || N == 0) return;
  const RnnSteps st(T_, N, s.batch_sizes, s.reverse);
  // Where sequences join (packed, reverse) the previous state is gathered here.
  const bool gathers = st.packed() && s.reverse;
  T* hbuf = gathers ? workspace<T>(static_cast<size_t>(N * H), 1) : nullptr;
  T* cbuf = gathers ? workspace<T>(static_cast<size_t>(N * H), 2) : nullptr;
  // The input projection of every step at once.
  gemm<T>(false, true, st.rows(), GH, I, T(1), x, I, w_ih, I, T(0), gates, GH);
  // W_hh^T, packed once for all steps.
  const RecurrentWeight<T> whh_t(true, H, GH, w_hh, H, T_);
  // Rows [lo, hi) of the batch through every step (over_sweep_rows: one block per thread, or
  // the whole batch with each step split on its own).
  over_sweep_rows(st, 2 * GH * H, whh_t.packed(), [&](int64_t lo, int64_t hi) {
    for (int64_t step = 0; step < T_; ++step) {
      const int64_t t = st.time(step), o = st.offset(t), end = std::min(hi, st.size(t));
      if (end <= lo) continue;
      // The previous state of row lo; rows follow H apart.
      const T* hprev = st.prev_rows(step, lo, end, y, h0, H, hbuf);
      const T* cprev = st.prev_rows(step, lo, end, cell, c0, H, cbuf);
      T* g = gates + o * GH;
      over_step_rows(end - lo, 2 * GH * H, whh_t.packed(), [&](int64_t q0, int64_t nq) {
        whh_t.multiply(nq, hprev + q0 * H, H, T(1), g + (lo + q0) * GH, GH);
        over_row_blocks(nq, GH, [&](int64_t r1, int64_t n) {
          const int64_t q = q0 + r1, r0 = lo + q;
          pointwise_forward<T>(n, H, s.variant, b, peephole, cprev ? cprev + q * H : nullptr,
                               g + r0 * GH, cell + (o + r0) * H, tanh_cell + (o + r0) * H,
                               y + (o + r0) * H);
        });
      });
    }
  });
}

// Column sums of a [R, C] row-major matrix: out[j] = sum_r a[r, j] (beta: 0 overwrite, 1 add).
template <typename T>
static void column_sums(int64_t R, int64_t C, const T* a, int64_t lda, T* out, bool add) {
  // Chunks of >= 32K elements: a one-step (R = N = 1) sum stays on the calling thread.
  parallel_for(C, std::max<int64_t>(256, 32768 / std::max<int64_t>(R, 1)),
               [&](int64_t j0, int64_t j1) {
                 if (!add) std::fill(out + j0, out + j1, T(0));
                 for (int64_t r = 0; r < R; ++r) {
                   const T* row = a + r * lda;
                   for (int64_t j = j0; j < j1; ++j) out[j] += row[j];
                 }
               });
}

// dW_ih = da^T x and dW_hh = da^T h_prev as one GEMM, da^T [x | h_prev] ([GH, R] x [R, I + H]):
// da^T is by far the largest operand (R x GH: 8 MiB for 64 steps of a batch of 32 with H = 256)
// and two GEMMs packed it twice; copying x and h_prev side by side and splitting the result
// moves a third as much. h_prev of a row is hprev_all's row where the sequence is packed, else
// h0 for the first step's rows and the neighbouring step's y.
template <typename T>
static void weight_grads(const RnnSteps& st, bool reverse, int64_t N, int64_t I, int64_t H,
                         int64_t GH, const T* da, const T* x, const T* hprev_all, const T* y,
                         const T* h0, T* dw_ih, T* dw_hh) {
  const int64_t R = st.rows(), W = I + H;
  T* xh = workspace<T>(static_cast<size_t>(R * W), 3);
  T* dw = workspace<T>(static_cast<size_t>(GH * W), 4);
  const int64_t first = reverse ? st.T() - 1 : 0;  // the time whose h_prev is h0 (dense)
  parallel_for(R, std::max<int64_t>(16, 16384 / std::max<int64_t>(W, 1)),
               [&](int64_t r0, int64_t r1) {
                 for (int64_t r = r0; r < r1; ++r) {
                   std::memcpy(xh + r * W, x + r * I, sizeof(T) * I);
                   const T* hp = hprev_all        ? hprev_all + r * H
                                 : r / N == first ? h0 + (r % N) * H
                                 : reverse        ? y + (r + N) * H
                                                  : y + (r - N) * H;
                   std::memcpy(xh + r * W + I, hp, sizeof(T) * H);
                 }
               });
  gemm<T>(true, false, GH, W, R, T(1), da, GH, xh, W, T(0), dw, W);
  parallel_for(GH, std::max<int64_t>(16, 16384 / std::max<int64_t>(W, 1)),
               [&](int64_t g0, int64_t g1) {
                 for (int64_t g = g0; g < g1; ++g) {
                   std::memcpy(dw_ih + g * I, dw + g * W, sizeof(T) * I);
                   std::memcpy(dw_hh + g * H, dw + g * W + I, sizeof(T) * H);
                 }
               });
}

template <typename T>
void lstm_backward(const LstmShape& s, const T* x, const T* h0, const T* c0, const T* w_ih,
                   const T* w_hh, const T* peephole, const T* y, const T* gates, const T* cell,
                   const T* tanh_cell, const T* dy, const T* dh_T, const T* dc_T, T* dx, T* dh0,
                   T* dc0, T* dw_ih, T* dw_hh, T* db, T* dpeephole, T* da_out) {
  const int64_t T_ = s.T, N = s.N, I = s.I, H = s.H, GH = lstm_num_gates(s.variant) * H;
  const int64_t NH = N * H;
  const bool peep = s.variant == LstmVariant::Peephole;
  const RnnSteps st(T_, N, s.batch_sizes, s.reverse);
  const int64_t R = st.rows();
  T* da = da_out ? da_out : workspace<T>(static_cast<size_t>(R * GH));
  // dh0 and dc0 double as the running dh and dc: each step reads them before overwriting. A
  // packed sequence's rows are untouched until its own last step, where dh_T enters.
  if (dh_T)
    std::memcpy(dh0, dh_T, sizeof(T) * NH);
  else
    std::fill(dh0, dh0 + NH, T(0));
  if (dc_T)
    std::memcpy(dc0, dc_T, sizeof(T) * NH);
  else
    std::fill(dc0, dc0 + NH, T(0));
  // Packed: the previous h and c of every row, gathered once (dense reads them in place).
  T *hprev_all = nullptr, *cprev_all = nullptr;
  if (st.packed() && R > 0) {
    hprev_all = workspace<T>(static_cast<size_t>(R * H), 1);
    cprev_all = workspace<T>(static_cast<size_t>(R * H), 2);
    st.gather_prev(y, h0, H, hprev_all);
    st.gather_prev(cell, c0, H, cprev_all);
  }
  auto cprev_of = [&](int64_t step) {
    const int64_t o = st.offset(st.time(step));
    return cprev_all ? cprev_all + o * H : st.prev<T>(step, cell, c0, H, nullptr);
  };
  // dh_{t-1} and dx_t as one product per step, da_t [W_hh | W_ih], while da_t is still in cache
  // from the pointwise part: one dx = da W_ih after the loop packed all of da (8 MiB for 64
  // steps of a batch of 32 with H = 256) a second time. A caller forming the weight gradients
  // itself (da_out) gets dx after the loop as before.
  const bool dx_per_step = da_out == nullptr && R > 0;
  const int64_t HI = dx_per_step ? H + I : H;
  T* w_cat = dx_per_step ? workspace<T>(static_cast<size_t>(GH * HI), 3) : nullptr;
  if (dx_per_step)
    for (int64_t g = 0; g < GH; ++g) {
      std::memcpy(w_cat + g * HI, w_hh + g * H, sizeof(T) * H);
      std::memcpy(w_cat + g * HI + H, w_ih + g * I, sizeof(T) * I);
    }
  const RecurrentWeight<T> whh(false, GH, HI, dx_per_step ? w_cat : w_hh, HI, T_);
  T* dhx = dx_per_step ? workspace<T>(static_cast<size_t>(N * HI), 4) : nullptr;
  // Rows [lo, hi) of the batch back through every step, as in the forward.
  over_sweep_rows(st, 2 * GH * HI, whh.packed(), [&](int64_t lo, int64_t hi) {
    for (int64_t step = T_ - 1; step >= 0; --step) {
      const int64_t t = st.time(step), o = st.offset(t), end = std::min(hi, st.size(t));
      if (end <= lo) continue;
      T* dat = da + o * GH;
      const T* cprev = cprev_of(step);
      over_step_rows(end - lo, 2 * GH * HI, whh.packed(), [&](int64_t q, int64_t nq) {
        const int64_t q0 = lo + q;
        over_row_blocks(nq, GH, [&](int64_t r1, int64_t n) {
          const int64_t r0 = q0 + r1;
          pointwise_backward<T>(n, H, s.variant, peephole, gates + (o + r0) * GH,
                                cprev ? cprev + r0 * H : nullptr, tanh_cell + (o + r0) * H,
                                dy ? dy + (o + r0) * H : nullptr, dh0 + r0 * H, dc0 + r0 * H,
                                dat + r0 * GH);
        });
        if (dx_per_step) {
          whh.multiply(nq, dat + q0 * GH, GH, T(0), dhx + q0 * HI, HI);
          for (int64_t r = q0; r < q0 + nq; ++r) {
            std::memcpy(dh0 + r * H, dhx + r * HI, sizeof(T) * H);
            std::memcpy(dx + (o + r) * I, dhx + r * HI + H, sizeof(T) * I);
          }
        } else {
          whh.multiply(nq, dat + q0 * GH, GH, T(0), dh0 + q0 * H, H);
        }
      });
    }
  });
  if (da_out) {  // the caller forms the weight gradients
    if (R > 0) gemm<T>(false, false, R, I, GH, T(1), da, GH, w_ih, I, T(0), dx, I);
    return;
  }
  if (T_ == 0 || N == 0) {
    std::fill(dw_ih, dw_ih + GH * I, T(0));
    std::fill(dw_hh, dw_hh + GH * H, T(0));
    std::fill(db, db + GH, T(0));
    if (peep) std::fill(dpeephole, dpeephole + 3 * H, T(0));
    return;
  }
  weight_grads<T>(st, s.reverse, N, I, H, GH, da, x, hprev_all, y, h0, dw_ih, dw_hh);
  column_sums<T>(R, GH, da, GH, db, false);
  if (peep) {
    // dp_i = sum da_i c_{t-1}, dp_f = sum da_f c_{t-1}, dp_o = sum da_o c_t.
    parallel_for(H, std::max<int64_t>(64, 32768 / std::max<int64_t>(R, 1)),
                 [&](int64_t j0, int64_t j1) {
                   std::fill(dpeephole + j0, dpeephole + j1, T(0));
                   std::fill(dpeephole + H + j0, dpeephole + H + j1, T(0));
                   std::fill(dpeephole + 2 * H + j0, dpeephole + 2 * H + j1, T(0));
                   for (int64_t step = 0; step < T_; ++step) {
                     const int64_t t = st.time(step), o = st.offset(t);
                     const T* cprev = cprev_of(step);
                     for (int64_t n = 0; n < st.size(t); ++n) {
                       const T* dr = da + (o + n) * GH;
                       const T* cp = cprev + n * H;
                       const T* cr = cell + (o + n) * H;
                       for (int64_t j = j0; j < j1; ++j) {
                         dpeephole[j] += dr[j] * cp[j];
                         dpeephole[H + j] += dr[H + j] * cp[j];
                         dpeephole[2 * H + j] += dr[3 * H + j] * cr[j];
                       }
                     }
                   }
                 });
  }
}

#define DLK_INSTANTIATE(T)                                                                   \
  template void lstm_forward<T>(const LstmShape&, const T*, const T*, const T*, const T*,    \
                                const T*, const T*, const T*, T*, T*, T*, T*);               \
  template void lstm_backward<T>(const LstmShape&, const T*, const T*, const T*, const T*,   \
                                 const T*, const T*, const T*, const T*, const T*, const T*, \
                                 const T*, const T*, const T*, T*, T*, T*, T*, T*, T*, T*, T*);
DLK_INSTANTIATE(float)
DLK_INSTANTIATE(double)
#undef DLK_INSTANTIATE

}  // namespace dlk::cpu
