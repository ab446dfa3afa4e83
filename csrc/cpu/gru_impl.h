// GRU sequence driver and fused pointwise kernels, templated on the math (rnn_math.h's
// ScalarMath, or AVX-512 in gru_avx512.cpp). Included by gru.cpp and gru_avx512.cpp with
// internal linkage, so the AVX-512 instantiation never leaks into the portable one.
//
// Per step, notes form (the candidate needs r before its recurrent GEMM, so two GEMMs a step):
//   a[:, r|z] += h' W_hh[r|z]^T;  r, z = s(.. + b);  rh = r h'
//   a[:, n]   += rh W_hh[n]^T;    n = tanh(.. + b_n);  h = (1 - z) h' + z n
// reset_after: a[:, r|z] += h' W_hh[r|z]^T, hn = h' W_hh[n]^T + b_hn,
//   n = tanh(a_n + b_n + r hn), h = (1 - z) n + z h'
// Backward (dh = dy_t + dh_next), notes:
//   da_z = dh (n - h') z (1 - z), da_n = dh z (1 - n^2), drh = da_n W_hh[n],
//   da_r = drh h' r (1 - r), dh' = dh (1 - z) + drh r + da_{r|z} W_hh[r|z]
// reset_after:
//   da_n = dh (1 - z)(1 - n^2), da_z = dh (h' - n) z (1 - z), dhn = da_n r,
//   da_r = da_n hn r (1 - r), dh' = dh z + [da_r, da_z, dhn] W_hh
// After the loop the weight gradients are big GEMMs over all T*N rows, as for the LSTM.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/parallel.h"
#include "cpu/gru.h"
#include "cpu/rnn_gemm.h"
#include "cpu/rnn_packed.h"

namespace {

using dlk::cpu::gemm;
using dlk::cpu::GruShape;
using dlk::cpu::GruVariant;
using dlk::cpu::over_step_rows;
using dlk::cpu::RecurrentWeight;
using dlk::cpu::RnnSteps;

inline int64_t gru_row_grain(int64_t H) { return std::max<int64_t>(1, 4096 / H); }

template <typename T>
T* gru_workspace(size_t n, int slot) {
  thread_local std::vector<T> buf[5];
  if (buf[slot].size() < n) buf[slot].resize(n);
  return buf[slot].data();
}

template <typename T, typename Math>
void gru_forward_impl(const GruShape& s, const T* x, const T* h0, const T* w_ih, const T* w_hh,
                      const T* b, const T* b_hn, T* y, T* gates, T* extra) {
  const int64_t T_ = s.T, N = s.N, I = s.I, H = s.H, H3 = 3 * H;
  if (T_ == 0 || N == 0) return;
  const bool ra = s.variant == GruVariant::ResetAfter;
  const RnnSteps st(T_, N, s.batch_sizes, s.reverse);
  T* hbuf = st.packed() && s.reverse ? gru_workspace<T>(static_cast<size_t>(N * H), 3) : nullptr;
  gemm<T>(false, true, st.rows(), H3, I, T(1), x, I, w_ih, I, T(0), gates, H3);
  // W_hh[r|z]^T and W_hh[n]^T, packed once for all steps.
  const RecurrentWeight<T> w_rz(true, H, 2 * H, w_hh, H, T_);
  const RecurrentWeight<T> w_n(true, H, H, w_hh + 2 * H * H, H, T_);
  for (int64_t step = 0; step < T_; ++step) {
    const int64_t t = st.time(step), bs = st.size(t), o = st.offset(t);
    const T* hp = st.prev(step, y, h0, H, hbuf);
    // Each block of rows runs its products and pointwise parts on its own (rnn_gemm.h).
    over_step_rows(bs, 2 * H3 * H, w_rz.packed(), [&](int64_t q0, int64_t nq) {
      const T* hpq = hp + q0 * H;
      T* g = gates + (o + q0) * H3;
      T* e = extra + (o + q0) * H;
      T* h = y + (o + q0) * H;
      w_rz.multiply(nq, hpq, H, T(1), g, H3);
      if (ra) w_n.multiply(nq, hpq, H, T(0), e, H);
      dlk::parallel_for(nq, gru_row_grain(H), [&](int64_t n0, int64_t n1) {
        for (int64_t n = n0; n < n1; ++n) {
          T* gr = g + n * H3;
          const T* hpr = hpq + n * H;
          T* er = e + n * H;
          for (int64_t k = 0; k < 2 * H; ++k) gr[k] += b[k];
          Math::sigmoid(gr, 2 * H);
          if (ra) {
            T* gn = gr + 2 * H;
            for (int64_t j = 0; j < H; ++j) {
              er[j] += b_hn[j];
              gn[j] += b[2 * H + j] + gr[j] * er[j];
            }
            Math::tanh(gn, H);
            T* hr = h + n * H;
            for (int64_t j = 0; j < H; ++j) hr[j] = (T(1) - gr[H + j]) * gn[j] + gr[H + j] * hpr[j];
          } else {
            for (int64_t j = 0; j < H; ++j) er[j] = gr[j] * hpr[j];
          }
        }
      });
      if (ra) return;
      w_n.multiply(nq, e, H, T(1), g + 2 * H, H3);
      dlk::parallel_for(nq, gru_row_grain(H), [&](int64_t n0, int64_t n1) {
        for (int64_t n = n0; n < n1; ++n) {
          T* gr = g + n * H3;
          T* gn = gr + 2 * H;
          const T* hpr = hpq + n * H;
          T* hr = h + n * H;
          for (int64_t j = 0; j < H; ++j) gn[j] += b[2 * H + j];
          Math::tanh(gn, H);
          for (int64_t j = 0; j < H; ++j) hr[j] = (T(1) - gr[H + j]) * hpr[j] + gr[H + j] * gn[j];
        }
      });
    });
  }
}

template <typename T>
void column_sums(int64_t R, int64_t C, const T* a, int64_t lda, T* out) {
  // Chunks of >= 32K elements: a one-step (R = N = 1) sum stays on the calling thread.
  dlk::parallel_for(C, std::max<int64_t>(256, 32768 / std::max<int64_t>(R, 1)),
                    [&](int64_t j0, int64_t j1) {
                      std::fill(out + j0, out + j1, T(0));
                      for (int64_t r = 0; r < R; ++r) {
                        const T* row = a + r * lda;
                        for (int64_t j = j0; j < j1; ++j) out[j] += row[j];
                      }
                    });
}

template <typename T>
void gru_backward_impl(const GruShape& s, const T* x, const T* h0, const T* w_ih, const T* w_hh,
                       const T* y, const T* gates, const T* extra, const T* dy, const T* dh_T,
                       T* dx, T* dh0, T* dw_ih, T* dw_hh, T* db, T* db_hn) {
  const int64_t T_ = s.T, N = s.N, I = s.I, H = s.H, H3 = 3 * H, NH = N * H;
  const bool ra = s.variant == GruVariant::ResetAfter;
  const RnnSteps st(T_, N, s.batch_sizes, s.reverse);
  const int64_t TN = st.rows();  // every processed row (T * N when dense)
  T* da = gru_workspace<T>(static_cast<size_t>(TN * H3), 0);                 // [T, N, 3H]
  T* dnx = ra ? gru_workspace<T>(static_cast<size_t>(TN * H), 1) : nullptr;  // input-side da_n
  T* drh = ra ? nullptr : gru_workspace<T>(static_cast<size_t>(NH), 2);
  // Packed: the previous h of every row, gathered once (dense reads it in place).
  T* hprev_all = nullptr;
  if (st.packed() && TN > 0) {
    hprev_all = gru_workspace<T>(static_cast<size_t>(TN * H), 4);
    st.gather_prev(y, h0, H, hprev_all);
  }
  // dh0 is the running dh: each step reads it before overwriting it (a packed sequence's rows
  // are untouched until its own last step, where dh_T enters).
  if (dh_T)
    std::memcpy(dh0, dh_T, sizeof(T) * NH);
  else
    std::fill(dh0, dh0 + NH, T(0));
  // W_hh (not transposed): all of it (reset_after) or its r|z rows and its n rows (notes).
  const RecurrentWeight<T> w_all_or_rz(false, ra ? H3 : 2 * H, H, w_hh, H, T_);
  const RecurrentWeight<T> w_n(false, H, H, w_hh + 2 * H * H, H, ra ? 0 : T_);
  for (int64_t step = T_ - 1; step >= 0; --step) {
    const int64_t t = st.time(step), bs = st.size(t), o = st.offset(t);
    const T* hp = hprev_all ? hprev_all + o * H : st.prev<T>(step, y, h0, H, nullptr);
    over_step_rows(bs, 2 * H3 * H, w_all_or_rz.packed(), [&](int64_t q0, int64_t nq) {
      const T* hpq = hp + q0 * H;
      const T* g = gates + (o + q0) * H3;
      const T* e = extra + (o + q0) * H;
      const T* dyt = dy ? dy + (o + q0) * H : nullptr;
      T* dat = da + (o + q0) * H3;
      T* dhq = dh0 + q0 * H;
      dlk::parallel_for(nq, gru_row_grain(H), [&](int64_t n0, int64_t n1) {
        for (int64_t n = n0; n < n1; ++n) {
          const T *r = g + n * H3, *z = r + H, *nn = r + 2 * H;
          const T* hpr = hpq + n * H;
          const T* er = e + n * H;
          const T* dyr = dyt ? dyt + n * H : nullptr;
          T* dh = dhq + n * H;
          T *dar = dat + n * H3, *daz = dar + H, *dan = dar + 2 * H;
          if (ra) {
            T* dnr = dnx + (o + q0 + n) * H;
#pragma omp simd
            for (int64_t j = 0; j < H; ++j) {
              const T d = dh[j] + (dyr ? dyr[j] : T(0));
              const T dn = d * (T(1) - z[j]) * (T(1) - nn[j] * nn[j]);
              daz[j] = d * (hpr[j] - nn[j]) * z[j] * (T(1) - z[j]);
              dar[j] = dn * er[j] * r[j] * (T(1) - r[j]);
              dan[j] = dn * r[j];
              dnr[j] = dn;
              dh[j] = d * z[j];
            }
          } else {
#pragma omp simd
            for (int64_t j = 0; j < H; ++j) {
              const T d = dh[j] + (dyr ? dyr[j] : T(0));
              daz[j] = d * (nn[j] - hpr[j]) * z[j] * (T(1) - z[j]);
              dan[j] = d * z[j] * (T(1) - nn[j] * nn[j]);
              dh[j] = d * (T(1) - z[j]);
            }
          }
        }
      });
      if (ra) {
        w_all_or_rz.multiply(nq, dat, H3, T(1), dhq, H);
        return;
      }
      T* drhq = drh + q0 * H;
      w_n.multiply(nq, dat + 2 * H, H3, T(0), drhq, H);
      dlk::parallel_for(nq, gru_row_grain(H), [&](int64_t n0, int64_t n1) {
        for (int64_t n = n0; n < n1; ++n) {
          const T* r = g + n * H3;
          const T* hpr = hpq + n * H;
          const T* d = drhq + n * H;
          T* dh = dhq + n * H;
          T* dar = dat + n * H3;
#pragma omp simd
          for (int64_t j = 0; j < H; ++j) {
            dar[j] = d[j] * hpr[j] * r[j] * (T(1) - r[j]);
            dh[j] += d[j] * r[j];
          }
        }
      });
      w_all_or_rz.multiply(nq, dat, H3, T(1), dhq, H);
    });
  }
  if (T_ == 0 || N == 0) {
    std::fill(dw_ih, dw_ih + H3 * I, T(0));
    std::fill(dw_hh, dw_hh + H3 * H, T(0));
    std::fill(db, db + H3, T(0));
    if (ra) std::fill(db_hn, db_hn + H, T(0));
    return;
  }
  // Input side: the gradient of x W_ih^T is da, except that reset_after's n column is dnx.
  if (ra) {
    gemm<T>(false, false, TN, I, 2 * H, T(1), da, H3, w_ih, I, T(0), dx, I);
    gemm<T>(false, false, TN, I, H, T(1), dnx, H, w_ih + 2 * H * I, I, T(1), dx, I);
    gemm<T>(true, false, 2 * H, I, TN, T(1), da, H3, x, I, T(0), dw_ih, I);
    gemm<T>(true, false, H, I, TN, T(1), dnx, H, x, I, T(0), dw_ih + 2 * H * I, I);
  } else {
    gemm<T>(false, false, TN, I, H3, T(1), da, H3, w_ih, I, T(0), dx, I);
    gemm<T>(true, false, H3, I, TN, T(1), da, H3, x, I, T(0), dw_ih, I);
  }
  // Recurrent side: rows of W_hh multiplying h_prev (all 3H for reset_after, r|z for notes) get
  // sum_t da_t^T h_prev(t); the notes' W_hh[n] multiplies r h_prev, saved in extra.
  const int64_t Gh = ra ? H3 : 2 * H;
  if (hprev_all) {
    gemm<T>(true, false, Gh, H, TN, T(1), da, H3, hprev_all, H, T(0), dw_hh, H);
  } else {
    const int64_t first = s.reverse ? T_ - 1 : 0;
    const T* da_rest = s.reverse ? da : da + N * H3;
    const T* h_rest = s.reverse ? y + NH : y;
    if (T_ > 1)
      gemm<T>(true, false, Gh, H, (T_ - 1) * N, T(1), da_rest, H3, h_rest, H, T(0), dw_hh, H);
    gemm<T>(true, false, Gh, H, N, T(1), da + first * N * H3, H3, h0, H, T(T_ > 1 ? 1 : 0), dw_hh,
            H);
  }
  if (!ra)
    gemm<T>(true, false, H, H, TN, T(1), da + 2 * H, H3, extra, H, T(0), dw_hh + 2 * H * H, H);
  if (ra) {
    column_sums<T>(TN, 2 * H, da, H3, db);
    column_sums<T>(TN, H, dnx, H, db + 2 * H);
    column_sums<T>(TN, H, da + 2 * H, H3, db_hn);
  } else {
    column_sums<T>(TN, H3, da, H3, db);
  }
}

}  // namespace
