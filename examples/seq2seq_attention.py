# %% [markdown]
# # Sequence to sequence with attention: spelling to sound
#
# An encoder reads a word letter by letter, a decoder writes its pronunciation phoneme by
# phoneme, and at every step attention decides which letters to look at (Bahdanau et al.
# 2015; Luong et al. 2015). Words have different lengths, so the encoder runs on *packed*
# sequences (`nn.utils.rnn.pack_padded_sequence`): padding is never computed and the
# backward direction starts at each word's own last letter. Decoding is greedy or beam
# search (`dl_kernels.decoding`). The full task (`python -m dl_kernels train g2p`) trains on
# all of CMUdict; this example trains a small model on short words for about a minute.

# %%
import os
import time

import dl_kernels as dlk
import numpy as np
from dl_kernels import nn, optim
from dl_kernels.data.cmudict import g2p_scores, g2p_splits
from dl_kernels.models.seq2seq import Seq2Seq
from dl_kernels.tasks.g2p import Vocab, length_batches, transcribe

TINY = os.environ.get("DLK_EXAMPLE_TINY") == "1"
OUT = os.environ.get("DLK_EXAMPLE_OUT", ".")
SECONDS = 5 if TINY else 75
HIDDEN = 16 if TINY else 128

# %% [markdown]
# ## Data: CMUdict words of up to 6 letters, stress removed, the task's fixed split

# %%
splits = g2p_splits(seed=0)
train = [(w, p) for w, p in splits["train"].pairs() if len(w) <= 6 and w.isalpha()]
test_words = [(w, ps) for w, ps in zip(splits["test"].words, splits["test"].prons)
              if len(w) <= 6 and w.isalpha()][: 50 if TINY else 400]
vocab = Vocab.build(splits["train"].pairs())
print(f"{len(train)} training pairs, {len(test_words)} test words; "
      f"{len(vocab.chars)} letters, {len(vocab.phones)} phonemes")

# %% [markdown]
# ## The model and a time-boxed training loop (teacher forcing, masked loss)

# %%
dlk.manual_seed(0)
model = Seq2Seq(len(vocab.chars) + 1, len(vocab.phones) + 3, embed=32, hidden=HIDDEN,
                enc_layers=1, dropout=0.1)
opt = optim.Adam(model.parameters(), lr=3e-3)
rng = np.random.default_rng(0)
lengths = np.array([len(w) for w, _ in train])
start, steps = time.perf_counter(), 0
while time.perf_counter() - start < SECONDS:
    for idx in length_batches(lengths, 64, rng):
        src, ls = vocab.encode_words([train[i][0] for i in idx])
        tin, tout = vocab.encode_prons([train[i][1] for i in idx])
        loss = model.loss(src, ls, tin, tout)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        steps += 1
        if steps % 100 == 0:
            print(f"step {steps}: loss {loss.item():.3f}")
        if time.perf_counter() - start > SECONDS:
            break
print(f"{steps} steps in {time.perf_counter() - start:.0f} s")

# %% [markdown]
# ## Greedy against beam search, scored like the task (right if any pronunciation matches)

# %%
model.eval()
words = [w for w, _ in test_words]
refs = [ps for _, ps in test_words]
for beam in (1, 4):
    best = [h[0][0] for h in transcribe(model, vocab, words, beam=beam)]
    s = g2p_scores(best, refs)
    print(f"beam {beam}: PER {s['per']:.1f} %  WER {s['wer']:.1f} %")

for word, hyps in zip(["phone", "cat"], transcribe(model, vocab, ["phone", "cat"], beam=4,
                                                   n_best=3)):
    for phones, logp, _ in hyps:
        print(f"{word:8s} {' '.join(phones):20s} log p = {logp:.2f}")

# %% [markdown]
# ## Where the decoder looked: the attention weights of one word

# %%
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

word = "phone"
phones = transcribe(model, vocab, [word], beam=4)[0][0][0]
src, ls = vocab.encode_words([word])
weights = model.attention_weights(src, ls, [vocab.phone_id[p] for p in phones])
fig, ax = plt.subplots(figsize=(4, 3))
ax.imshow(weights, cmap="viridis", vmin=0, vmax=1, aspect="auto")
ax.set_xticks(range(len(word)), list(word))
ax.set_yticks(range(len(weights)), [*phones, "</s>"])
ax.set_title(f"attention while pronouncing '{word}'")
fig.tight_layout()
path = os.path.join(OUT, "seq2seq_attention.png")
fig.savefig(path, dpi=100)
print("wrote", path)
