// The word2vec training loop of one thread, both rungs, written once over GCC vector types.
//
// Included by word2vec.cpp (baseline x86-64: 4-lane SSE vectors), word2vec_avx2.cpp (8 lanes
// with FMA) and word2vec_avx512.cpp (16 lanes); each defines DLK_W2V_NS so the copies are
// distinct functions. Only the vector width differs between them.
//
// Why the fast rung is fast (Ji et al. 2016, "Parallelizing Word2Vec in Shared and Distributed
// Memory"; IntelLabs/pWord2Vec): word2vec.c trains skip-gram one (centre, context) pair at a
// time, each with its own K negatives: 2(K+1) dot/axpy pairs of length D per pair, every one a
// load-modify-store of a row. HogBatch shares one set of negatives between all the contexts of
// a window: with B contexts and M = K+1 outputs the window is three small matrix products
//   F  = X · Oᵀ           (B × M logits; X the context rows of W_in, O the output rows)
//   ΔO = Gᵀ · X           (M × D, added to W_out rows)
//   ΔX = G · O            (B × D, added to W_in rows, O the rows as they were before the step)
// computed with the sums held in registers and each row written once, and M·B/(B + M)
// fewer random rows fetched. The negatives are drawn once per window instead of once per pair,
// which changes the estimator but not what it estimates (pWord2Vec reaches word2vec.c's quality).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cpu/word2vec_tables.h"

namespace dlk::cpu::DLK_W2V_NS {

#if defined(__AVX512F__)
constexpr int kLanes = 16;
#elif defined(__AVX2__)
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;
#endif
// A vector of floats that may sit at any 4-byte-aligned address (rows of a (V, D) matrix).
typedef float vf __attribute__((vector_size(kLanes * sizeof(float)), aligned(4)));

// Four lanes: the remainder of D = 100 (a common size) after the full-width vectors.
typedef float vf4 __attribute__((vector_size(4 * sizeof(float)), aligned(4)));

inline vf ld(const float* p) { return *reinterpret_cast<const vf*>(p); }
inline vf4 ld4(const float* p) { return *reinterpret_cast<const vf4*>(p); }
inline void st4(float* p, vf4 v) { *reinterpret_cast<vf4*>(p) = v; }
inline float hsum4(vf4 v) { return (v[0] + v[2]) + (v[1] + v[3]); }
inline void st(float* p, vf v) { *reinterpret_cast<vf*>(p) = v; }
inline vf splat(float x) { return vf{} + x; }
inline float hsum(vf v) {
  float s = 0.f;
  for (int i = 0; i < kLanes; ++i) s += v[i];
  return s;
}

inline float sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }
// log(1 + e^x) without overflow.
inline double softplus(double x) {
  return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

// ---- reference rung: the formula as loops ------------------------------------------------
// One SGD example (header formula): inputs in[0, n_in), outputs out[0, m) with the true word
// first. Every score is computed from the weights as they were before the step, so the update
// is exactly -lr times the gradient of the example's loss (what autograd computes).
inline double reference_step(const Word2VecJob& j, const int32_t* in, int n_in, const int32_t* out,
                             int m, float lr, std::vector<float>& scratch) {
  const int64_t D = j.D;
  scratch.resize(2 * D + 2 * m);
  float *h = scratch.data(), *e = h + D, *f = e + D, *g = f + m;
  for (int64_t d = 0; d < D; ++d) h[d] = 0.f;
  for (int k = 0; k < n_in; ++k)
    for (int64_t d = 0; d < D; ++d) h[d] += j.win[in[k] * D + d];
  for (int64_t d = 0; d < D; ++d) h[d] /= static_cast<float>(n_in);
  for (int jx = 0; jx < m; ++jx) {
    float s = 0.f;
    for (int64_t d = 0; d < D; ++d) s += j.wout[out[jx] * D + d] * h[d];
    f[jx] = s;
  }
  double loss = 0.0;
  if (j.cfg->sampled_softmax) {
    float mx = -INFINITY;
    for (int jx = 0; jx < m; ++jx) {
      f[jx] -= j.tab->log_kq[out[jx]];
      mx = std::max(mx, f[jx]);
    }
    double z = 0.0;
    for (int jx = 0; jx < m; ++jx) z += std::exp(static_cast<double>(f[jx] - mx));
    for (int jx = 0; jx < m; ++jx)
      g[jx] = (jx == 0 ? 1.f : 0.f) - static_cast<float>(std::exp(f[jx] - mx) / z);
    loss = std::log(z) + mx - f[0];
  } else {
    for (int jx = 0; jx < m; ++jx) {
      const float label = jx == 0 ? 1.f : 0.f;
      g[jx] = label - sigmoid(f[jx]);
      loss += softplus(jx == 0 ? -f[jx] : f[jx]);
    }
  }
  for (int64_t d = 0; d < D; ++d) e[d] = 0.f;
  for (int jx = 0; jx < m; ++jx)
    for (int64_t d = 0; d < D; ++d) e[d] += g[jx] * j.wout[out[jx] * D + d];
  for (int jx = 0; jx < m; ++jx)
    for (int64_t d = 0; d < D; ++d) j.wout[out[jx] * D + d] += lr * g[jx] * h[d];
  for (int k = 0; k < n_in; ++k)
    for (int64_t d = 0; d < D; ++d) j.win[in[k] * D + d] += lr * e[d];
  return loss;
}

inline void record(Word2VecTrace* t, const int32_t* in, int n_in, const int32_t* out, int m,
                   float lr) {
  if (!t) return;
  t->inputs.insert(t->inputs.end(), in, in + n_in);
  t->input_offsets.push_back(static_cast<int64_t>(t->inputs.size()));
  t->outputs.insert(t->outputs.end(), out, out + m);
  t->lr.push_back(lr);
}

// ---- fast rung: small matrix products over a window ----------------------------------------
// dst[d] += Σ_b coef[b * stride] * rows[b][d] for d < D: the sums stay in registers, 4 vectors
// at a time, and dst is read and written once.
inline void add_combination(float* dst, const float* const* rows, const float* coef, int64_t stride,
                            int n, int64_t D) {
  int64_t d = 0;
  // Eight independent sums first: an FMA takes 4-5 cycles and two issue per cycle, so fewer
  // chains than ~8 leave the units idle (n, the chain length, is only ~5).
  for (; d + 8 * kLanes <= D; d += 8 * kLanes) {
    vf a[8] = {};
    for (int b = 0; b < n; ++b) {
      const vf c = splat(coef[b * stride]);
      const float* x = rows[b] + d;
      for (int k = 0; k < 8; ++k) a[k] += c * ld(x + k * kLanes);
    }
    for (int k = 0; k < 8; ++k) st(dst + d + k * kLanes, ld(dst + d + k * kLanes) + a[k]);
  }
  for (; d + 4 * kLanes <= D; d += 4 * kLanes) {
    vf a0{}, a1{}, a2{}, a3{};
    for (int b = 0; b < n; ++b) {
      const vf c = splat(coef[b * stride]);
      const float* x = rows[b] + d;
      a0 += c * ld(x);
      a1 += c * ld(x + kLanes);
      a2 += c * ld(x + 2 * kLanes);
      a3 += c * ld(x + 3 * kLanes);
    }
    st(dst + d, ld(dst + d) + a0);
    st(dst + d + kLanes, ld(dst + d + kLanes) + a1);
    st(dst + d + 2 * kLanes, ld(dst + d + 2 * kLanes) + a2);
    st(dst + d + 3 * kLanes, ld(dst + d + 3 * kLanes) + a3);
  }
  for (; d + kLanes <= D; d += kLanes) {
    vf a{};
    for (int b = 0; b < n; ++b) a += splat(coef[b * stride]) * ld(rows[b] + d);
    st(dst + d, ld(dst + d) + a);
  }
  if (kLanes > 4 && d + 4 <= D) {
    vf4 a{};
    for (int b = 0; b < n; ++b) a += coef[b * stride] * ld4(rows[b] + d);
    st4(dst + d, ld4(dst + d) + a);
    d += 4;
  }
  for (; d < D; ++d) {
    float a = 0.f;
    for (int b = 0; b < n; ++b) a += coef[b * stride] * rows[b][d];
    dst[d] += a;
  }
}

// out[jx] = x · rows[jx] for jx < m, four rows at a time so x is loaded once per four dots.
inline void dots(const float* x, const float* const* rows, int m, int64_t D, float* out) {
  int jx = 0;
  for (; jx + 4 <= m; jx += 4) {
    vf a0{}, a1{}, a2{}, a3{};
    const float *r0 = rows[jx], *r1 = rows[jx + 1], *r2 = rows[jx + 2], *r3 = rows[jx + 3];
    int64_t d = 0;
    for (; d + kLanes <= D; d += kLanes) {
      const vf xv = ld(x + d);
      a0 += xv * ld(r0 + d);
      a1 += xv * ld(r1 + d);
      a2 += xv * ld(r2 + d);
      a3 += xv * ld(r3 + d);
    }
    float s0 = hsum(a0), s1 = hsum(a1), s2 = hsum(a2), s3 = hsum(a3);
    if (kLanes > 4 && d + 4 <= D) {
      const vf4 xv = ld4(x + d);
      s0 += hsum4(xv * ld4(r0 + d));
      s1 += hsum4(xv * ld4(r1 + d));
      s2 += hsum4(xv * ld4(r2 + d));
      s3 += hsum4(xv * ld4(r3 + d));
      d += 4;
    }
    for (; d < D; ++d) {
      s0 += x[d] * r0[d];
      s1 += x[d] * r1[d];
      s2 += x[d] * r2[d];
      s3 += x[d] * r3[d];
    }
    out[jx] = s0;
    out[jx + 1] = s1;
    out[jx + 2] = s2;
    out[jx + 3] = s3;
  }
  for (; jx + 2 <= m; jx += 2) {
    vf a0{}, a1{}, b0{}, b1{};  // two chains per row: a dot of D = 100 is 13 dependent FMAs
    const float *r0 = rows[jx], *r1 = rows[jx + 1];
    int64_t d = 0;
    for (; d + 2 * kLanes <= D; d += 2 * kLanes) {
      const vf x0 = ld(x + d), x1 = ld(x + d + kLanes);
      a0 += x0 * ld(r0 + d);
      b0 += x1 * ld(r0 + d + kLanes);
      a1 += x0 * ld(r1 + d);
      b1 += x1 * ld(r1 + d + kLanes);
    }
    for (; d + kLanes <= D; d += kLanes) {
      const vf xv = ld(x + d);
      a0 += xv * ld(r0 + d);
      a1 += xv * ld(r1 + d);
    }
    float s0 = hsum(a0 + b0), s1 = hsum(a1 + b1);
    for (; d < D; ++d) {
      s0 += x[d] * r0[d];
      s1 += x[d] * r1[d];
    }
    out[jx] = s0;
    out[jx + 1] = s1;
  }
  for (; jx < m; ++jx) {
    vf a{};
    int64_t d = 0;
    for (; d + kLanes <= D; d += kLanes) a += ld(x + d) * ld(rows[jx] + d);
    float s = hsum(a);
    if (kLanes > 4 && d + 4 <= D) {
      s += hsum4(ld4(x + d) * ld4(rows[jx] + d));
      d += 4;
    }
    for (; d < D; ++d) s += x[d] * rows[jx][d];
    out[jx] = s;
  }
}

// Turns the logits f[b*m + jx] of `rows` examples into lr-scaled errors g = lr·(-∂L/∂f);
// returns the summed loss when `want_loss`.
inline double errors(const Word2VecJob& j, const int32_t* out, int rows, int m, float lr, float* f,
                     bool want_loss) {
  double loss = 0.0;
  if (j.cfg->sampled_softmax) {
    for (int b = 0; b < rows; ++b) {
      float* fb = f + b * m;
      float mx = -INFINITY;
      for (int jx = 0; jx < m; ++jx) {
        fb[jx] -= j.tab->log_kq[out[jx]];
        mx = std::max(mx, fb[jx]);
      }
      float z = 0.f;
      const float f0 = fb[0];
      for (int jx = 0; jx < m; ++jx) z += (fb[jx] = std::exp(fb[jx] - mx));
      const float inv = 1.f / z;
      for (int jx = 0; jx < m; ++jx) fb[jx] = lr * ((jx == 0 ? 1.f : 0.f) - fb[jx] * inv);
      if (want_loss) loss += std::log(z) + mx - f0;
    }
    return loss;
  }
  for (int b = 0; b < rows; ++b) {
    float* fb = f + b * m;
    if (want_loss)
      for (int jx = 0; jx < m; ++jx) loss += softplus(jx == 0 ? -fb[jx] : fb[jx]);
    // Beyond |f| = 8 σ is within 3e-4 of 0 or 1; clamping keeps exp finite on diverged weights.
    for (int jx = 0; jx < m; ++jx) {
      const float x = std::min(std::max(fb[jx], -8.f), 8.f);
      fb[jx] = lr * ((jx == 0 ? 1.f : 0.f) - sigmoid(x));
    }
  }
  return loss;
}

inline void prefetch_row(const float* p, int64_t D) {
  for (int64_t d = 0; d < D; d += 16) __builtin_prefetch(p + d);
  __builtin_prefetch(p + D - 1);
}

// ---- one thread's share of the corpus ---------------------------------------------------
Word2VecStats train_span(const Word2VecJob& j, int64_t begin, int64_t end, uint64_t seed,
                         bool reference, Word2VecTrace* trace) {
  const Word2VecConfig& c = *j.cfg;
  const int64_t D = j.D;
  const int m = static_cast<int>(c.negative) + 1;
  const int max_ctx = static_cast<int>(2 * c.window);
  Word2VecRng rng{seed};
  Word2VecStats st;
  std::vector<int32_t> sen;
  sen.reserve(c.max_sentence);
  std::vector<int32_t> ctx(max_ctx), out(m);
  std::vector<float> scratch, f(static_cast<size_t>(max_ctx) * m), obuf(static_cast<size_t>(m) * D),
      h(D), e(D);
  std::vector<const float*> in_rows(max_ctx), out_rows(m);
  std::vector<int32_t> next_neg(m, -1);
  bool have_next = false;
  int64_t pos = begin, window_count = 0;
  float lr = word2vec_alpha(c, c.words_done + j.progress->load(std::memory_order_relaxed));
  while (pos < end) {
    const int64_t read = read_sentence(j, pos, end, rng, sen);
    const int n = static_cast<int>(sen.size());
    for (int i = 0; i < n; ++i) {
      const int32_t centre = sen[i];
      const int reach = static_cast<int>(c.window) - static_cast<int>(rng.below(c.window));
      int B = 0;
      for (int k = std::max(0, i - reach); k <= std::min(n - 1, i + reach); ++k)
        if (k != i) ctx[B++] = sen[k];
      if (B == 0) continue;
      out[0] = centre;
      if (reference && !c.cbow) {  // word2vec.c: each pair its own negatives
        for (int b = 0; b < B; ++b) {
          for (int jx = 1; jx < m; ++jx) out[jx] = draw_negative(*j.tab, rng, centre);
          record(trace, &ctx[b], 1, out.data(), m, lr);
          st.loss += reference_step(j, &ctx[b], 1, out.data(), m, lr, scratch);
          ++st.examples;
          ++st.loss_count;
        }
        continue;
      }
      if (reference) {  // CBOW: the window is the example
        for (int jx = 1; jx < m; ++jx) out[jx] = draw_negative(*j.tab, rng, centre);
        record(trace, ctx.data(), B, out.data(), m, lr);
        st.loss += reference_step(j, ctx.data(), B, out.data(), m, lr, scratch);
        ++st.examples;
        ++st.loss_count;
        continue;
      }
      // The fast rung draws the next window's negatives one window ahead and prefetches their
      // W_out rows (and the rows of the word entering the window): random rows of a matrix far
      // larger than the caches are what a window waits for, not the arithmetic.
      for (int jx = 1; jx < m; ++jx) {
        out[jx] = next_neg[jx] == centre || !have_next ? draw_negative(*j.tab, rng, centre)
                                                       : next_neg[jx];
      }
      have_next = i + 1 < n;
      if (have_next) {
        const int32_t nc = sen[i + 1];
        for (int jx = 1; jx < m; ++jx) {
          next_neg[jx] = draw_negative(*j.tab, rng, nc);
          prefetch_row(j.wout + static_cast<int64_t>(next_neg[jx]) * D, D);
        }
        prefetch_row(j.wout + static_cast<int64_t>(nc) * D, D);
        if (i + c.window + 1 < n)
          prefetch_row(j.win + static_cast<int64_t>(sen[i + c.window + 1]) * D, D);
      }
      const bool want_loss = (window_count++ & 15) == 0;
      for (int jx = 0; jx < m; ++jx) out_rows[jx] = j.wout + static_cast<int64_t>(out[jx]) * D;
      if (c.cbow) {
        // h = mean of the contexts; f = O·h; W_out rows += g h; every context += Σ g_j O_j.
        const float invb = 1.f / static_cast<float>(B);
        for (int b = 0; b < B; ++b) in_rows[b] = j.win + static_cast<int64_t>(ctx[b]) * D;
        std::fill(h.begin(), h.end(), 0.f);
        std::vector<float>& ones = scratch;
        ones.assign(max_ctx, invb);
        add_combination(h.data(), in_rows.data(), ones.data(), 1, B, D);
        dots(h.data(), out_rows.data(), m, D, f.data());
        if (want_loss) ++st.loss_count;
        st.loss += errors(j, out.data(), 1, m, lr, f.data(), want_loss);
        std::fill(e.begin(), e.end(), 0.f);
        add_combination(e.data(), out_rows.data(), f.data(), 1, m, D);
        const float* hp = h.data();
        for (int jx = 0; jx < m; ++jx)
          add_combination(j.wout + static_cast<int64_t>(out[jx]) * D, &hp, &f[jx], 1, 1, D);
        const float* ep = e.data();
        const float one = 1.f;
        for (int b = 0; b < B; ++b)
          add_combination(j.win + static_cast<int64_t>(ctx[b]) * D, &ep, &one, 1, 1, D);
        ++st.examples;
        continue;
      }
      // Skip-gram HogBatch: O copied first, since W_out rows change before ΔX is formed.
      for (int jx = 0; jx < m; ++jx) {
        std::memcpy(&obuf[static_cast<size_t>(jx) * D], out_rows[jx], D * sizeof(float));
        out_rows[jx] = &obuf[static_cast<size_t>(jx) * D];
      }
      for (int b = 0; b < B; ++b) {
        in_rows[b] = j.win + static_cast<int64_t>(ctx[b]) * D;
        dots(in_rows[b], out_rows.data(), m, D, &f[static_cast<size_t>(b) * m]);
      }
      if (want_loss) st.loss_count += B;
      st.loss += errors(j, out.data(), B, m, lr, f.data(), want_loss);
      for (int jx = 0; jx < m; ++jx)  // ΔO = Gᵀ X
        add_combination(j.wout + static_cast<int64_t>(out[jx]) * D, in_rows.data(), &f[jx], m, B,
                        D);
      for (int b = 0; b < B; ++b)  // ΔX = G O
        add_combination(j.win + static_cast<int64_t>(ctx[b]) * D, out_rows.data(),
                        &f[static_cast<size_t>(b) * m], 1, m, D);
      st.examples += B;
    }
    st.words += read;
    const int64_t done = j.progress->fetch_add(read, std::memory_order_relaxed) + read;
    lr = word2vec_alpha(c, c.words_done + done);
  }
  st.final_alpha = lr;
  return st;
}

}  // namespace dlk::cpu::DLK_W2V_NS
