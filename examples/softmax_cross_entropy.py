# %% [markdown]
# # Softmax and cross-entropy by hand
#
# A linear classifier turns an input into scores (logits) `y = W x + b`. The softmax turns
# scores into probabilities, `S(y)_i = exp(y_i) / sum_j exp(y_j)`, and the cross-entropy
# `D(S, L) = -sum_i L_i log S_i` measures how far they are from the one-hot label `L`
# (the multinomial logistic classifier of the deep-learning course's first lesson).
#
# Here both are written in numpy, checked against `dl_kernels`' fused kernel, and their
# gradient `S - L` is checked against autograd.

# %%
import os
from pathlib import Path

import dl_kernels as dlk
import dl_kernels.nn.functional as F
import matplotlib.pyplot as plt
import numpy as np

plt.switch_backend("Agg")  # figures go to files, never to a window
TINY = os.environ.get("DLK_EXAMPLE_TINY") == "1"
OUT = Path(os.environ.get("DLK_EXAMPLE_OUT", "."))
rng = np.random.default_rng(0)


# %% [markdown]
# ## Softmax, the stable way
# `exp(1000)` overflows. Softmax does not change when a constant is subtracted from every
# score, so subtract the largest one first: the biggest exponent is then `exp(0) = 1`.

# %%
def softmax(y: np.ndarray) -> np.ndarray:
    z = y - y.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


scores = np.array([3.0, 1.0, 0.2])
print("softmax(scores)      ", softmax(scores).round(3))
print("softmax(scores * 10) ", softmax(scores * 10).round(3), " <- confident")
print("softmax(scores / 10) ", softmax(scores / 10).round(3), " <- close to uniform")
print("softmax([1000, 0])   ", softmax(np.array([1000.0, 0.0])), " (no overflow)")

# %% [markdown]
# ## Cross-entropy, from log-softmax
# `log S_i = y_i - logsumexp(y)`: computing the log directly avoids `log(0)` when a
# probability underflows.

# %%
def log_softmax(y: np.ndarray) -> np.ndarray:
    z = y - y.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def cross_entropy(y: np.ndarray, labels: np.ndarray) -> float:
    """Mean over the batch of -log S(y)[label]."""
    return float(-log_softmax(y)[np.arange(len(labels)), labels].mean())


n, classes = (8, 5) if TINY else (256, 10)
logits = rng.normal(scale=3.0, size=(n, classes))
labels = rng.integers(0, classes, n)
ours = cross_entropy(logits, labels)
kernel = F.cross_entropy(dlk.tensor(logits), dlk.tensor(labels)).item()
print(f"cross-entropy by hand {ours:.10f}, dl_kernels kernel {kernel:.10f}")
assert abs(ours - kernel) < 1e-9

# %% [markdown]
# ## The gradient is `S - L`
# The derivative of the mean cross-entropy with respect to the scores is
# `(softmax(y) - onehot(label)) / N`: the reason this pair is fused into one kernel.

# %%
x = dlk.tensor(logits, requires_grad=True)
F.cross_entropy(x, dlk.tensor(labels)).backward()
by_hand = (softmax(logits) - np.eye(classes)[labels]) / n
print("max |autograd - (S - L)/N| =", np.abs(x.grad.numpy() - by_hand).max())
assert np.allclose(x.grad.numpy(), by_hand, atol=1e-12)

# %% [markdown]
# ## A picture: the loss of one example as its correct score grows
# With two classes the cross-entropy is the softplus `log(1 + exp(-margin))`: large for a
# confident wrong answer, nearly zero for a confident right one, never exactly zero.

# %%
margin = np.linspace(-6, 6, 121)
two = np.stack([margin, np.zeros_like(margin)], axis=1)
loss = -log_softmax(two)[:, 0]
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(margin, loss, label="cross-entropy")
ax.plot(margin, softmax(two)[:, 0], label="softmax probability")
ax.set_xlabel("score of the correct class minus the other")
ax.legend()
ax.grid(alpha=0.3)
fig.tight_layout()
fig.savefig(OUT / "softmax_cross_entropy.png", dpi=100)
print("wrote", OUT / "softmax_cross_entropy.png")
