# %% [markdown]
# # The LSTM variants side by side
#
# The course writes the LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of Gers,
# Schmidhuber & Cummins 2000) as gates `i, f, o` and a candidate `g` acting on a memory cell
# `c`:
#
# ```
# i, f, o = sigmoid(W x + U h + b)       g = tanh(W_g x + U_g h + b_g)
# c' = f * c + i * g                      h' = o * tanh(c')
# ```
#
# and three relatives, all in `dl_kernels.nn`:
#
# - **peephole LSTM** (Gers & Schmidhuber 2000): the gates also look at the cell,
#   `i, f` at `c` and `o` at `c'`, through diagonal weights (`variant="peephole"`);
# - **coupled input-forget gate** (Greff et al. 2017, "LSTM: a search space odyssey"):
#   `i = 1 - f`, one gate fewer (`variant="coupled"`);
# - **GRU** (Cho et al. 2014): no separate cell, an update gate `z` and a reset gate `r`,
#   `h' = (1 - z) h + z n` with `n = tanh(W x + U (r * h))` (`nn.GRU`; `reset_after=True`
#   is the cuDNN / PyTorch form that applies `r` after the matrix product).
#
# The task is the **adding problem** of Hochreiter & Schmidhuber (1997): a sequence of
# random numbers, two of them marked; the answer is the sum of the marked two. Guessing
# 1.0 every time scores a mean squared error of 1/6: a network must remember two numbers
# across the whole sequence to beat it. A plain tanh RNN is the contrast.

# %%
import os
import time
from pathlib import Path

import dl_kernels as dlk
import matplotlib.pyplot as plt
import numpy as np
from dl_kernels import nn

plt.switch_backend("Agg")  # figures go to files, never to a window
TINY = os.environ.get("DLK_EXAMPLE_TINY") == "1"
OUT = Path(os.environ.get("DLK_EXAMPLE_OUT", "."))

T, hidden, batch = (10, 8, 16) if TINY else (30, 32, 64)
steps = 10 if TINY else 800


def adding_batch(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """x (n, T, 2): a value in [0, 1) and a 0/1 marker; y (n, 1): the sum of the marked."""
    values = rng.random((n, T))
    marks = np.zeros((n, T))
    first = rng.integers(0, T // 2, n)
    second = rng.integers(T // 2, T, n)
    marks[np.arange(n), first] = marks[np.arange(n), second] = 1.0
    x = np.stack([values, marks], axis=-1).astype(np.float32)
    y = (values * marks).sum(axis=1, keepdims=True).astype(np.float32)
    return x, y


class Regressor(nn.Module):
    """A recurrent layer reads the sequence; a linear layer reads its last hidden state."""

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: dlk.Tensor) -> dlk.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def make(kind: str) -> nn.Module:
    if kind == "tanh RNN":
        return nn.RNN(2, hidden, batch_first=True)
    if kind.startswith("GRU"):
        return nn.GRU(2, hidden, batch_first=True, reset_after="reset after" in kind)
    return nn.LSTM(2, hidden, batch_first=True, variant=kind.split()[0])


kinds = ["standard LSTM", "peephole LSTM", "coupled LSTM", "GRU (the notes')",
         "GRU (reset after, PyTorch's)", "tanh RNN"]
x_val, y_val = adding_batch(np.random.default_rng(123), 1000)
x_val, y_val = dlk.tensor(x_val), dlk.tensor(y_val)
curves = {}
for kind in kinds:
    dlk.manual_seed(0)
    model = Regressor(make(kind))
    opt = dlk.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.MSELoss()
    rng = np.random.default_rng(0)   # every model sees the same batches
    curve, t0 = [], time.perf_counter()
    for step in range(steps):
        xb, yb = adding_batch(rng, batch)
        opt.zero_grad()
        loss_fn(model(dlk.tensor(xb)), dlk.tensor(yb)).backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 25 == 24 or step == steps - 1:
            with dlk.no_grad():
                curve.append((step + 1, loss_fn(model(x_val), y_val).item()))
    curves[kind] = curve
    n_params = sum(p.numel() for p in model.rnn.parameters())
    print(f"{kind:30s} {n_params:6,} recurrent parameters, validation MSE {curve[-1][1]:.4f} "
          f"(guessing: {1 / 6:.4f}; {time.perf_counter() - t0:.0f} s)")

# %% [markdown]
# The gated networks drive the error far below the guessing line; the plain RNN, whose
# gradient fades over the sequence, stays near it much longer. The peephole weights add only
# `3 H` parameters; the coupled gate saves a quarter of the LSTM's.

# %%
fig, ax = plt.subplots(figsize=(6, 3.6))
for kind, curve in curves.items():
    s, mse = zip(*curve)
    ax.plot(s, mse, label=kind)
ax.axhline(1 / 6, color="gray", ls=":", label="always guess 1.0")
ax.set(xlabel="training step", ylabel="validation MSE", yscale="log",
       title=f"adding problem, T = {T}")
ax.legend(fontsize=7)
fig.tight_layout()
fig.savefig(OUT / "lstm_variants.png", dpi=100)
print("wrote", OUT / "lstm_variants.png")
