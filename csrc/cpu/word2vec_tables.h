// What every word2vec rung shares: the sampling tables built once per call from the vocabulary
// counts, the job description handed to each thread, and the random numbers.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "cpu/word2vec.h"

namespace dlk::cpu {

struct Word2VecTables {
  int64_t V = 0;
  // Sub-sampling: word w is kept when a uniform 32-bit draw is below keep[w] (2^32 = always).
  std::vector<uint64_t> keep;
  // Noise words from counts^0.75 by Walker's alias method: O(1) per draw from two V-long
  // tables (word2vec.c's 10^8-entry unigram table is 400 MB of cache misses).
  std::vector<float> alias_prob;
  std::vector<int32_t> alias;
  // log(K·Q(w)), the sampled-softmax correction (Jean et al. 2015).
  std::vector<float> log_kq;
};

Word2VecTables build_word2vec_tables(const int64_t* counts, int64_t V, double sample,
                                     int64_t negative);

struct Word2VecJob {
  const Word2VecConfig* cfg;
  const int32_t* corpus;
  const Word2VecTables* tab;
  int64_t V, D;
  float* win;
  float* wout;
  std::atomic<int64_t>* progress;  // corpus words read so far by all threads (α schedule)
};

// splitmix64 (Steele et al. 2014): one add and three xor-multiply steps per 64 random bits.
struct Word2VecRng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) by Lemire's multiply-shift (n < 2^32).
  uint32_t below(uint64_t n) { return static_cast<uint32_t>(((next() >> 32) * n) >> 32); }
};

inline int32_t draw_noise_word(const Word2VecTables& t, Word2VecRng& r) {
  const uint64_t x = r.next();
  const auto i = static_cast<uint32_t>(((x >> 32) * static_cast<uint64_t>(t.V)) >> 32);
  const float u = static_cast<float>(static_cast<uint32_t>(x)) * 2.3283064e-10f;
  return u < t.alias_prob[i] ? static_cast<int32_t>(i) : t.alias[i];
}

// A noise word other than the true word `avoid`: drawing it would ask the model to score the
// true word as both right and wrong. A vocabulary where nothing else can come keeps the draw.
inline int32_t draw_negative(const Word2VecTables& t, Word2VecRng& r, int32_t avoid) {
  int32_t w = draw_noise_word(t, r);
  for (int tries = 0; w == avoid && tries < 32; ++tries) w = draw_noise_word(t, r);
  return w;
}

// Learning rate after `done` corpus words of the run: linear decay to min_alpha.
inline float word2vec_alpha(const Word2VecConfig& c, int64_t done) {
  const double frac = static_cast<double>(done) / static_cast<double>(c.words_total + 1);
  const double a = c.alpha * (1.0 - frac);
  return static_cast<float>(a > c.min_alpha ? a : c.min_alpha);
}

// Reads corpus[pos, end) up to max_sentence words or a sentence boundary (-1), appending the
// words that survive sub-sampling to `sen`. Returns the corpus words read.
inline int64_t read_sentence(const Word2VecJob& j, int64_t& pos, int64_t end, Word2VecRng& r,
                             std::vector<int32_t>& sen) {
  sen.clear();
  int64_t read = 0;
  const bool subsample = j.cfg->sample > 0;
  while (pos < end && read < j.cfg->max_sentence) {
    const int32_t w = j.corpus[pos++];
    if (w < 0) {
      if (read > 0) break;
      continue;
    }
    ++read;
    if (subsample && (r.next() & 0xffffffffull) >= j.tab->keep[w]) continue;
    sen.push_back(w);
  }
  return read;
}

}  // namespace dlk::cpu
