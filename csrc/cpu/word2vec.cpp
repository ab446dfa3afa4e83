// word2vec training on the CPU (formulas in word2vec.h, the loops in word2vec_fast.h).
//
// Rungs, skip-gram with 5 negatives, dim 100, one thread, words per CPU-second on the shared
// 2-vCPU AMD EPYC (AVX2, no AVX-512) under load ~20 (bench/RESULTS.md has the gensim runs):
//   reference  0.11 M: one (centre, context) pair at a time, its own negatives, scalar loops:
//              the formula a reader checks and the autograd oracle replays.
//   portable   0.44 M: the fast rung's baseline x86-64 build (4-lane SSE vectors).
//   fast       0.67-0.84 M (AVX2): HogBatch, a window's pairs share negatives and become three
//              small matrix products with sums in registers, the next window's noise rows
//              prefetched (word2vec_fast.h says why that is faster); gensim 0.15 M in the same
//              conditions. An AVX-512 build is picked where the CPU has it.
// Threads: the corpus is cut into one contiguous span per thread, every thread updating the
// shared matrices without locks (Hogwild), as word2vec.c and gensim do.
#define DLK_W2V_NS w2v_portable
#include "cpu/word2vec_fast.h"

#include <omp.h>

#include <cmath>

#include "common/check.h"
#include "common/cpu_features.h"

namespace dlk::cpu {

#if defined(DLK_X86)
namespace w2v_avx2 {
Word2VecStats train_span(const Word2VecJob&, int64_t, int64_t, uint64_t, bool, Word2VecTrace*);
}
namespace w2v_avx512 {
Word2VecStats train_span(const Word2VecJob&, int64_t, int64_t, uint64_t, bool, Word2VecTrace*);
}
#endif

const char* word2vec_rung_name(Word2VecRung rung) {
  switch (rung) {
    case Word2VecRung::Reference: return "reference";
    case Word2VecRung::Fast: return "fast";
    case Word2VecRung::Portable: return "portable";
    default: return "auto";
  }
}

Word2VecRung word2vec_rung_from_name(const std::string& name) {
  for (Word2VecRung r :
       {Word2VecRung::Auto, Word2VecRung::Reference, Word2VecRung::Fast, Word2VecRung::Portable})
    if (name == word2vec_rung_name(r)) return r;
  fail("word2vec: rung must be 'auto', 'fast', 'reference' or 'portable', got '", name, "'");
}

const char* word2vec_fast_isa() {
#if defined(DLK_X86)
  if (cpu_has_avx512()) return "avx512";
  if (cpu_has_avx2_fma()) return "avx2";
#endif
  return "portable";
}

Word2VecTables build_word2vec_tables(const int64_t* counts, int64_t V, double sample,
                                     int64_t negative) {
  Word2VecTables t;
  t.V = V;
  double total = 0.0, norm = 0.0;
  for (int64_t w = 0; w < V; ++w) {
    total += static_cast<double>(counts[w]);
    norm += std::pow(static_cast<double>(counts[w]), 0.75);
  }
  t.keep.resize(V);
  const double st = sample * total;
  for (int64_t w = 0; w < V; ++w) {
    const double f = static_cast<double>(counts[w]);
    const double p = (sample <= 0 || f <= 0) ? 1.0 : (std::sqrt(f / st) + 1.0) * st / f;
    t.keep[w] = p >= 1.0 ? (uint64_t{1} << 32) : static_cast<uint64_t>(p * 4294967296.0);
  }
  // Vose's alias construction: each column holds mass 1/V split between two words.
  t.alias_prob.assign(V, 1.f);
  t.alias.resize(V);
  t.log_kq.resize(V);
  std::vector<double> q(V);
  std::vector<int32_t> small, large;
  for (int64_t w = 0; w < V; ++w) {
    const double qw = std::pow(static_cast<double>(counts[w]), 0.75) / norm;
    t.log_kq[w] = static_cast<float>(std::log(static_cast<double>(negative) * qw));
    q[w] = qw * static_cast<double>(V);
    t.alias[w] = static_cast<int32_t>(w);
    (q[w] < 1.0 ? small : large).push_back(static_cast<int32_t>(w));
  }
  while (!small.empty() && !large.empty()) {
    const int32_t s = small.back(), l = large.back();
    small.pop_back();
    t.alias_prob[s] = static_cast<float>(q[s]);
    t.alias[s] = l;
    q[l] -= 1.0 - q[s];
    if (q[l] < 1.0) {
      large.pop_back();
      small.push_back(l);
    }
  }
  return t;
}

Word2VecStats word2vec_train(const Word2VecConfig& cfg, const int32_t* corpus, int64_t n,
                             const int64_t* counts, int64_t V, int64_t D, float* win, float* wout,
                             Word2VecTrace* trace) {
  const Word2VecTables tab = build_word2vec_tables(counts, V, cfg.sample, cfg.negative);
  std::atomic<int64_t> progress{0};
  const Word2VecJob job{&cfg, corpus, &tab, V, D, win, wout, &progress};
  const bool reference = cfg.rung == Word2VecRung::Reference;
  using Span =
      Word2VecStats (*)(const Word2VecJob&, int64_t, int64_t, uint64_t, bool, Word2VecTrace*);
  Span span = w2v_portable::train_span;
#if defined(DLK_X86)
  if (!reference && cfg.rung != Word2VecRung::Portable) {
    if (cpu_has_avx512())
      span = w2v_avx512::train_span;
    else if (cpu_has_avx2_fma())
      span = w2v_avx2::train_span;
  }
#endif
  const int nt = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(cfg.threads, n)));
  std::vector<Word2VecStats> per(nt);
  // Each call (an epoch, or a slice of one) gets its own streams: the same seed at another
  // point of the run must not replay the same sub-sampling and negatives.
  const uint64_t base = cfg.seed * 0x9E3779B97F4A7C15ull ^ static_cast<uint64_t>(cfg.words_done);
  auto run = [&](int t) {
    Word2VecRng mix{base + static_cast<uint64_t>(t)};
    per[t] =
        span(job, n * t / nt, n * (t + 1) / nt, mix.next(), reference, t == 0 ? trace : nullptr);
  };
  if (nt == 1) {
    run(0);
  } else {
#pragma omp parallel num_threads(nt)
    run(omp_get_thread_num());
  }
  Word2VecStats total;
  for (const Word2VecStats& s : per) {
    total.words += s.words;
    total.examples += s.examples;
    total.loss += s.loss;
    total.loss_count += s.loss_count;
  }
  total.final_alpha = word2vec_alpha(cfg, cfg.words_done + total.words);
  return total;
}

}  // namespace dlk::cpu
