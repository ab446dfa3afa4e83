// The word2vec training loop (word2vec_fast.h) compiled for AVX2; called only when the CPU
// has it. The vector width is the only difference from the baseline build in word2vec.cpp.
#define DLK_W2V_NS w2v_avx2
#include "cpu/word2vec_fast.h"
