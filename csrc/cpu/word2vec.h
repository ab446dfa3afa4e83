// word2vec on the CPU: skip-gram and CBOW trained by SGD with negative sampling or sampled
// softmax, as Mikolov et al. 2013 ("Distributed Representations of Words and Phrases") and the
// original word2vec.c train them.
//
// Two matrices: W_in (V, D), the word vectors, and W_out (V, D), the output ("context")
// vectors. One training example is a set of input words I and an output set O = {o_0} ∪ N,
// o_0 the true word and N = K negatives drawn from the unigram distribution to the 3/4 power:
//   h   = mean_{i ∈ I} W_in[i]                     (skip-gram: I is one context word, so h =
//   W_in[i]) f_j = W_out[o_j] · h negative sampling:  L = -log σ(f_0) - Σ_{j>0} log σ(-f_j) sampled
//   softmax:    s_j = f_j - log(K·Q(o_j)),  L = -log softmax(s)_0   (Jean et al. 2015)
// and one SGD step of rate α on the rows involved:
//   g_j = -∂L/∂f_j;  W_out[o_j] += α g_j h;  W_in[i] += α Σ_j g_j W_out[o_j]
// For CBOW the last step is not divided by |I|, as in word2vec.c and gensim (cbow_mean=1): it is
// an SGD step on the mean-context loss whose rate for the input rows is |I| times α. Dividing
// (the plain gradient) learns the input vectors |I| times slower and scores worse.
//
// Skip-gram (word2vec.c's orientation): for each centre word w, each context word c in the
// window is an input and w the true output. CBOW: the window's contexts are the inputs, w the
// output. Frequent words are dropped with probability 1 - (sqrt(f/(t·T)) + 1)·t·T/f (f the
// word's count, T the corpus size, t = sample); the window is shrunk to a random b in
// [1, window] per centre word; α decays linearly from alpha to min_alpha over the whole run.
// Threads update the shared matrices without locks (Hogwild, Recht et al. 2011).
//
// The corpus is int32 word ids; -1 marks a sentence (document) boundary that no window crosses.
// Pointers are trusted: the bindings validate.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dlk::cpu {

// Reference: one (centre, context) pair at a time with its own negatives, the formula as loops
// (the rung the autograd oracle checks). Fast: a window's pairs share one set of negatives
// and become three small matrix products (HogBatch, Ji et al. 2016), AVX-512 or AVX2 build
// when the CPU has it. Portable: the fast rung's baseline x86-64 build, forced for tests.
enum class Word2VecRung { Auto, Reference, Fast, Portable };
const char* word2vec_rung_name(Word2VecRung rung);
Word2VecRung word2vec_rung_from_name(const std::string& name);
// The build the Auto / Fast rung runs on this CPU: "avx512", "avx2" or "portable".
const char* word2vec_fast_isa();

struct Word2VecConfig {
  bool cbow = false;
  bool sampled_softmax = false;  // else negative sampling
  int64_t window = 5;            // maximum distance of a context word
  int64_t negative = 5;          // K
  double sample = 1e-3;          // sub-sampling threshold t (0: keep every word)
  double alpha = 0.025;          // initial learning rate
  double min_alpha = 1e-4;       // floor of the linear decay
  int64_t words_done = 0;        // corpus words trained by earlier calls (for the α schedule)
  int64_t words_total = 0;       // corpus words of the whole run (epochs × corpus)
  int threads = 1;
  uint64_t seed = 1;
  int64_t max_sentence = 1000;  // words read at a time, as word2vec.c's MAX_SENTENCE_LENGTH
  Word2VecRung rung = Word2VecRung::Auto;
};

struct Word2VecStats {
  int64_t words = 0;       // corpus words read (kept or sub-sampled away)
  int64_t examples = 0;    // SGD examples: pairs (skip-gram reference), windows otherwise
  double loss = 0.0;       // summed loss of the examples whose loss was measured
  int64_t loss_count = 0;  // how many (the fast rung measures one window in 16)
  double final_alpha = 0.0;
};

// What the reference rung did, one entry per SGD step, so another implementation can replay
// the same steps: inputs[input_offsets[e] .. input_offsets[e+1]), outputs[e*(K+1) ..] (true word
// first), lr[e].
struct Word2VecTrace {
  std::vector<int64_t> input_offsets{0};
  std::vector<int32_t> inputs;
  std::vector<int32_t> outputs;
  std::vector<float> lr;
};

// Trains on corpus[0, n) once. counts (V) are the vocabulary's corpus counts (sub-sampling and
// the noise distribution); win, wout (V, D) are updated in place. trace: reference rung only,
// one thread.
Word2VecStats word2vec_train(const Word2VecConfig& cfg, const int32_t* corpus, int64_t n,
                             const int64_t* counts, int64_t V, int64_t D, float* win, float* wout,
                             Word2VecTrace* trace);

}  // namespace dlk::cpu
