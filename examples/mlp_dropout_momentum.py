# %% [markdown]
# # A multi-layer perceptron with dropout and momentum
#
# Stacking `Linear -> ReLU` layers makes the classifier non-linear (the course's second
# lesson). Two tricks make it train well:
#
# - **momentum** (Polyak 1964; Sutskever et al. 2013): keep a running average of the
#   gradients, `v <- mu v + g`, `w <- w - alpha v`, so steps that agree add up and noisy
#   ones cancel;
# - **dropout** (Srivastava et al. 2014): during training zero each activation with
#   probability `p` and scale the rest by `1/(1-p)`; the network cannot rely on any one unit,
#   which regularises it. At evaluation time (`model.eval()`) dropout does nothing.
#
# Four runs from the same initial weights: plain SGD or momentum, with or without dropout.

# %%
import copy
import os
from pathlib import Path

import dl_kernels as dlk
import matplotlib.pyplot as plt
import numpy as np
from dl_kernels.data import (
    DataLoader,
    DataPackageMissing,
    Standardizer,
    TensorDataset,
    load_dataset,
)
from dl_kernels.models import MLP

plt.switch_backend("Agg")  # figures go to files, never to a window
TINY = os.environ.get("DLK_EXAMPLE_TINY") == "1"
OUT = Path(os.environ.get("DLK_EXAMPLE_OUT", "."))

# %%
try:
    ds = load_dataset("mnist5k", limit=500 if TINY else None)
except DataPackageMissing as exc:
    print(f"({exc}; using the 8x8 digits instead)")
    ds = load_dataset("digits", limit=300 if TINY else None)
print(ds.summary())
std = Standardizer(per="channel").fit(ds.train.x)
train = TensorDataset(std.transform(ds.train.x), ds.train.y)
x_val, y_val = dlk.tensor(std.transform(ds.val.x)), ds.val.y
epochs = 2 if TINY else 12
hidden = (64,) if TINY else (256, 128)

# %% [markdown]
# The same starting weights for every run: build one model, copy it.

# %%
dlk.manual_seed(0)
start = MLP(ds.image_shape, ds.num_classes, hidden=hidden, dropout=0.5)


def run(momentum: float, dropout: float) -> dict:
    model = copy.deepcopy(start)
    for m in model.modules():
        if isinstance(m, dlk.nn.Dropout):
            m.p = dropout
    opt = dlk.optim.SGD(model.parameters(), lr=0.02, momentum=momentum)
    loss_fn = dlk.nn.CrossEntropyLoss()
    history = {"train_loss": [], "val_acc": []}
    dlk.manual_seed(1)  # the same dropout masks where they are drawn
    for epoch in range(epochs):
        model.train()
        total, n = 0.0, 0
        for xb, yb in DataLoader(train, batch_size=64, shuffle=True, seed=epoch):
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total, n = total + loss.item() * len(yb), n + len(yb)
        model.eval()
        with dlk.no_grad():
            acc = float((model(x_val).numpy().argmax(1) == y_val).mean())
        history["train_loss"].append(total / n)
        history["val_acc"].append(acc)
    return history


runs = {}
for momentum in (0.0, 0.9):
    for dropout in (0.0, 0.5):
        name = f"momentum {momentum}, dropout {dropout}"
        runs[name] = run(momentum, dropout)
        print(f"{name:28s} final train loss {runs[name]['train_loss'][-1]:.3f}, "
              f"validation accuracy {runs[name]['val_acc'][-1]:.3f}")

# %% [markdown]
# Momentum drives the training loss down much faster for the same learning rate; dropout
# keeps the training loss higher (the network is handicapped while it trains) but holds up
# on the validation set.

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
for name, h in runs.items():
    axes[0].plot(range(1, epochs + 1), h["train_loss"], label=name)
    axes[1].plot(range(1, epochs + 1), h["val_acc"], label=name)
axes[0].set(xlabel="epoch", ylabel="training loss", yscale="log")
axes[1].set(xlabel="epoch", ylabel="validation accuracy")
axes[1].legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "mlp_dropout_momentum.png", dpi=100)
print("wrote", OUT / "mlp_dropout_momentum.png")
assert all(np.isfinite(h["train_loss"]).all() for h in runs.values())
