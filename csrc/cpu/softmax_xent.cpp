// Softmax cross-entropy, fused, and log-softmax, on the CPU.
//
//   lse_i   = m_i + log sum_j exp(x_ij - m_i),  m_i = max_j x_ij   (exact for |x| up to 1e4+)
//   loss_i  = (1 - eps) (lse_i - x_{i,t_i}) + eps (lse_i - (1/C) sum_j x_ij)     (label smoothing)
//   dx_ij   = s_i (softmax_ij - (1 - eps) [j == t_i] - eps / C)
// with s_i = grad / (number of non-ignored rows) for "mean" (PyTorch's rule), grad for "sum",
// grad_i for "none"; ignored rows have loss 0 and gradient 0. The forward keeps only lse_i per
// row (in double, also for float32 logits: see softmax_xent_simd.h for why), never the
// probability matrix; the backward recomputes softmax_ij = exp(x_ij - lse_i) on the fly and
// writes each dx_ij once.
//
// Rungs (fp32; float64 always runs the reference rung, it is for gradient checks):
//   reference  two passes per row (max and sum of x; sum of exp) with scalar libm exp, double
//              accumulators; the formula as loops. exp is ~15 ns scalar: ~0.5 s at 512x32000.
//   avx2       softmax_xent_simd.h over 8 lanes (AMD Zen without AVX-512, older Xeons).
//   avx512     the same template over 16 lanes, plus a small-C forward (C <= 32) that takes 16
//              rows at a time, one row per lane (gathers over the classes), so max/sum/log are
//              vertical: per-row horizontal reductions were a ~50 ns latency chain per row at
//              C = 10, now ~15 ns.
//   Both vector rungs: exp by a range-reduced polynomial (<= 1 ulp), masked tails, the second
//   pass reads the row from L1/L2 (a 32000-float row is 128 KiB), and a dlogits over 16 MiB is
//   written with non-temporal stores (no read-for-ownership of lines that will not be re-read
//   soon): ~10 % on the 512x32000 backward. Accuracy and speed: bench/RESULTS.md,
//   tests/test_softmax_xent_accuracy.py.
// Both split rows over threads. Output buffers are taken from the caller, so the binding can
// reuse them (fresh 65 MB buffers cost ~30 ms in first-touch page faults here).
#include "cpu/softmax_xent.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <type_traits>

#include "common/check.h"
#include "common/cpu_features.h"
#include "common/parallel.h"

namespace dlk::cpu {

// Defined in softmax_xent_avx512.cpp and softmax_xent_avx2.cpp.
#define DLK_XENT_RUNG(isa)                                                                     \
  void softmax_xent_forward_##isa(int64_t N, int64_t C, const float* x, const int64_t* t,      \
                                  int64_t ignore_index, double eps, float* loss, double* lse); \
  void softmax_xent_backward_##isa(int64_t N, int64_t C, const float* x, const int64_t* t,     \
                                   const double* lse, int64_t ignore_index, double eps,        \
                                   const float* row_scale, double scale, float* dx);           \
  void log_softmax_forward_##isa(int64_t N, int64_t C, const float* x, float* y);              \
  void log_softmax_backward_##isa(int64_t N, int64_t C, const float* gy, const float* y,       \
                                  float* gx);                                                  \
  void xent_exp_##isa(int64_t n, const float* x, float* y);
DLK_XENT_RUNG(avx512)
DLK_XENT_RUNG(avx2)
#undef DLK_XENT_RUNG

namespace {
std::atomic<int> g_rung{static_cast<int>(XentRung::Auto)};

int64_t row_grain(int64_t C) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(C, 1)); }

template <typename T>
double row_lse(const T* x, int64_t C, double* sum_x) {  // in double for either T
  double m = -std::numeric_limits<double>::infinity(), sx = 0;
  for (int64_t j = 0; j < C; ++j) {
    m = std::max(m, double(x[j]));
    sx += x[j];
  }
  double s = 0;
  for (int64_t j = 0; j < C; ++j) s += std::exp(double(x[j]) - m);
  *sum_x = sx;
  return m + std::log(s);
}
}  // namespace

void set_softmax_xent_rung(XentRung rung) {
  DLK_CHECK(rung != XentRung::Avx512 || isa_supported(Isa::Avx512),
            "softmax_xent rung avx512: this CPU or build has no AVX-512");
  DLK_CHECK(rung != XentRung::Avx2 || isa_supported(Isa::Avx2),
            "softmax_xent rung avx2: this CPU or build has no AVX2 + FMA");
  g_rung.store(static_cast<int>(rung));
}

XentRung softmax_xent_rung_resolved(bool is_float32) {
  const auto r = static_cast<XentRung>(g_rung.load());
  if (!is_float32) return XentRung::Reference;
  if (r != XentRung::Auto) return r;
  switch (best_isa()) {
    case Isa::Avx512: return XentRung::Avx512;
    case Isa::Avx2: return XentRung::Avx2;
    default: return XentRung::Reference;
  }
}

XentRung xent_rung_from_name(const std::string& name) {
  if (name == "auto") return XentRung::Auto;
  if (name == "reference") return XentRung::Reference;
  if (name == "avx2") return XentRung::Avx2;
  if (name == "avx512") return XentRung::Avx512;
  fail("softmax_xent rung: expected 'auto', 'reference', 'avx2' or 'avx512', got '", name, "'");
}

const char* xent_rung_name(XentRung rung) {
  switch (rung) {
    case XentRung::Reference: return "reference";
    case XentRung::Avx2: return "avx2";
    case XentRung::Avx512: return "avx512";
    default: return "auto";
  }
}

int64_t check_xent_targets(int64_t N, int64_t C, const int64_t* t, int64_t ignore_index) {
  int64_t count = 0;
  for (int64_t i = 0; i < N; ++i) {
    if (t[i] == ignore_index) continue;
    DLK_CHECK(t[i] >= 0 && t[i] < C, "targets: expected class indices in [0, ", C,
              ") or ignore_index=", ignore_index, ", got targets[", i, "] = ", t[i]);
    ++count;
  }
  return count;
}

// ---- reference rung ---------------------------------------------------------------------------
template <typename T>
static void forward_reference(int64_t N, int64_t C, const T* x, const int64_t* t, int64_t ign,
                              double eps, T* loss, double* lse) {
  parallel_for(N, row_grain(C), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T* row = x + i * C;
      double sx;
      const double l = row_lse(row, C, &sx);
      lse[i] = l;
      if (t[i] == ign) {  // its target is no class index: never read row[t[i]]
        loss[i] = T(0);
        continue;
      }
      // The smoothing term only when eps != 0: a -inf logit makes sx = -inf, and 0 * inf = NaN
      // where PyTorch gives a finite loss.
      double li = (1 - eps) * (l - double(row[t[i]]));
      if (eps != 0) li += eps * (l - sx / double(C));
      loss[i] = T(li);
    }
  });
}

template <typename T>
static void backward_reference(int64_t N, int64_t C, const T* x, const int64_t* t,
                               const double* lse, int64_t ign, double eps, const T* rs,
                               double scale, T* dx) {
  parallel_for(N, row_grain(C), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T* row = x + i * C;
      T* drow = dx + i * C;
      if (t[i] == ign) {
        std::fill(drow, drow + C, T(0));
        continue;
      }
      const double s = scale * (rs ? double(rs[i]) : 1.0), l = lse[i], base = eps / double(C);
      for (int64_t j = 0; j < C; ++j) drow[j] = T(s * (std::exp(double(row[j]) - l) - base));
      // Recomputed rather than corrected: p_t - 1 cancels, and must round once, in double.
      drow[t[i]] = T(s * (std::exp(double(row[t[i]]) - l) - base - (1 - eps)));
    }
  });
}

template <typename T>
static void log_softmax_forward_reference(int64_t N, int64_t C, const T* x, T* y) {
  parallel_for(N, row_grain(C), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      double sx;
      const double l = row_lse(x + i * C, C, &sx);
      for (int64_t j = 0; j < C; ++j) y[i * C + j] = T(double(x[i * C + j]) - l);
    }
  });
}

template <typename T>
static void log_softmax_backward_reference(int64_t N, int64_t C, const T* gy, const T* y, T* gx) {
  parallel_for(N, row_grain(C), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      double sg = 0;
      for (int64_t j = 0; j < C; ++j) sg += gy[i * C + j];
      for (int64_t j = 0; j < C; ++j)
        gx[i * C + j] = T(double(gy[i * C + j]) - std::exp(double(y[i * C + j])) * sg);
    }
  });
}

// ---- dispatch ---------------------------------------------------------------------------------
template <typename T>
void softmax_xent_forward(int64_t N, int64_t C, const T* x, const int64_t* t, int64_t ign,
                          double eps, T* loss, double* lse) {
  check_xent_targets(N, C, t, ign);
  if constexpr (std::is_same_v<T, float>) {
    switch (softmax_xent_rung_resolved(true)) {
      case XentRung::Avx512: return softmax_xent_forward_avx512(N, C, x, t, ign, eps, loss, lse);
      case XentRung::Avx2: return softmax_xent_forward_avx2(N, C, x, t, ign, eps, loss, lse);
      default: break;
    }
  }
  forward_reference(N, C, x, t, ign, eps, loss, lse);
}

template <typename T>
void softmax_xent_backward(int64_t N, int64_t C, const T* x, const int64_t* t, const double* lse,
                           int64_t ign, double eps, const T* rs, double scale, T* dx) {
  check_xent_targets(N, C, t, ign);
  if constexpr (std::is_same_v<T, float>) {
    switch (softmax_xent_rung_resolved(true)) {
      case XentRung::Avx512:
        return softmax_xent_backward_avx512(N, C, x, t, lse, ign, eps, rs, scale, dx);
      case XentRung::Avx2:
        return softmax_xent_backward_avx2(N, C, x, t, lse, ign, eps, rs, scale, dx);
      default: break;
    }
  }
  backward_reference(N, C, x, t, lse, ign, eps, rs, scale, dx);
}

template <typename T>
void log_softmax_forward(int64_t N, int64_t C, const T* x, T* y) {
  if constexpr (std::is_same_v<T, float>) {
    switch (softmax_xent_rung_resolved(true)) {
      case XentRung::Avx512: return log_softmax_forward_avx512(N, C, x, y);
      case XentRung::Avx2: return log_softmax_forward_avx2(N, C, x, y);
      default: break;
    }
  }
  log_softmax_forward_reference(N, C, x, y);
}

template <typename T>
void log_softmax_backward(int64_t N, int64_t C, const T* gy, const T* y, T* gx) {
  if constexpr (std::is_same_v<T, float>) {
    switch (softmax_xent_rung_resolved(true)) {
      case XentRung::Avx512: return log_softmax_backward_avx512(N, C, gy, y, gx);
      case XentRung::Avx2: return log_softmax_backward_avx2(N, C, gy, y, gx);
      default: break;
    }
  }
  log_softmax_backward_reference(N, C, gy, y, gx);
}

void softmax_xent_exp(int64_t n, const float* x, float* y) {
  switch (softmax_xent_rung_resolved(true)) {
    case XentRung::Avx512: return xent_exp_avx512(n, x, y);
    case XentRung::Avx2: return xent_exp_avx2(n, x, y);
    default:
      for (int64_t i = 0; i < n; ++i) y[i] = float(std::exp(double(x[i])));
  }
}

#define DLK_INSTANTIATE(T)                                                                      \
  template void softmax_xent_forward<T>(int64_t, int64_t, const T*, const int64_t*, int64_t,    \
                                        double, T*, double*);                                   \
  template void softmax_xent_backward<T>(int64_t, int64_t, const T*, const int64_t*,            \
                                         const double*, int64_t, double, const T*, double, T*); \
  template void log_softmax_forward<T>(int64_t, int64_t, const T*, T*);                         \
  template void log_softmax_backward<T>(int64_t, int64_t, const T*, const T*, T*);
DLK_INSTANTIATE(float)
DLK_INSTANTIATE(double)
#undef DLK_INSTANTIATE

}  // namespace dlk::cpu
