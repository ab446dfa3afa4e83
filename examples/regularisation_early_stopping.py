# %% [markdown]
# # Regularisation and early stopping
#
# A network with many more parameters than training examples learns the training set by
# heart: its training loss keeps falling while the validation loss turns up. Three
# remedies from the course's second lesson, compared on one small training set:
#
# - **L2 regularisation**: add `nu * 1/2 sum w^2` to the loss, which pulls every weight
#   towards zero (`nn.l2_penalty`; the optimisers' `weight_decay` does the same inside
#   the update);
# - **dropout** (Srivastava et al. 2014);
# - **early stopping**: watch the validation loss, stop when it has not improved for
#   `patience` epochs, and keep the weights of the best epoch.

# %%
import copy
import os
from pathlib import Path

import dl_kernels as dlk
import matplotlib.pyplot as plt
import numpy as np
from dl_kernels import nn
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

# %% [markdown]
# A deliberately small training set (400 images) and a wide network: easy to overfit.

# %%
try:
    ds = load_dataset("mnist5k", limit=800 if TINY else 2000)
except DataPackageMissing as exc:
    print(f"({exc}; using the 8x8 digits instead)")
    ds = load_dataset("digits", limit=800)
n_train = 100 if TINY else 400
std = Standardizer(per="channel").fit(ds.train.x[:n_train])
train = TensorDataset(std.transform(ds.train.x[:n_train]), ds.train.y[:n_train])
x_val, y_val = dlk.tensor(std.transform(ds.val.x)), dlk.tensor(ds.val.y)
epochs = 3 if TINY else 60
print(f"{n_train} training images, {len(ds.val)} validation images")

dlk.manual_seed(0)
start = MLP(ds.image_shape, ds.num_classes, hidden=(512, 512), dropout=0.5)
print(f"{sum(p.numel() for p in start.parameters()):,} parameters")


# %%
def run(l2: float = 0.0, dropout: float = 0.0, patience: int = 0) -> dict:
    """Train a copy of ``start``; with patience > 0, stop early and restore the best."""
    model = copy.deepcopy(start)
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = dropout
    opt = dlk.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    h = {"train": [], "val": [], "val_acc": [], "best_epoch": None}
    best, best_state, bad = float("inf"), None, 0
    dlk.manual_seed(1)
    for epoch in range(epochs):
        model.train()
        total = 0.0
        for xb, yb in DataLoader(train, batch_size=50, shuffle=True, seed=epoch):
            opt.zero_grad()
            data_loss = loss_fn(model(xb), yb)
            loss = data_loss + l2 * nn.l2_penalty(weights) if l2 else data_loss
            loss.backward()
            opt.step()
            total += data_loss.item() * len(yb)
        model.eval()
        with dlk.no_grad():
            scores = model(x_val)
            val = loss_fn(scores, y_val).item()
        h["train"].append(total / len(train))
        h["val"].append(val)
        h["val_acc"].append(float((scores.numpy().argmax(1) == ds.val.y).mean()))
        if val < best:
            best, best_state, bad, h["best_epoch"] = val, copy.deepcopy(model.state_dict()), 0, epoch
        else:
            bad += 1
        if patience and bad >= patience:
            print(f"  early stop after epoch {epoch + 1}: no better validation loss for "
                  f"{patience} epochs; restoring epoch {h['best_epoch'] + 1}")
            model.load_state_dict(best_state)
            break
    h["kept"] = best if patience and bad >= patience else h["val"][-1]
    h["model"] = model
    return h


runs = {
    "no regularisation": run(),
    "L2, nu = 1e-3": run(l2=1e-3),
    "dropout 0.5": run(dropout=0.5),
    "early stopping (patience 5)": run(patience=5),
}
for name, h in runs.items():
    print(f"{name:28s} epochs {len(h['val']):3d}  val loss of the weights kept "
          f"{h['kept']:.3f}  lowest {min(h['val']):.3f} (epoch {h['best_epoch'] + 1})")

# %% [markdown]
# Without regularisation the validation loss is smallest early and then rises while the
# training loss goes to zero. L2 and dropout keep it lower for longer; early stopping simply
# stops near the minimum and keeps the best weights.

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
for i, (name, h) in enumerate(runs.items()):
    ep = np.arange(1, len(h["val"]) + 1)
    axes[0].plot(ep, h["train"], color=f"C{i}", ls="--")
    axes[0].plot(ep, h["val"], color=f"C{i}", label=name)
    axes[1].plot(ep, h["val_acc"], color=f"C{i}", label=name)
stop = runs["early stopping (patience 5)"]
axes[0].axvline(stop["best_epoch"] + 1, color="C3", lw=0.8, ls=":")
axes[0].set(xlabel="epoch", ylabel="loss (dashed: training)", yscale="log")
axes[1].set(xlabel="epoch", ylabel="validation accuracy")
axes[0].legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "regularisation_early_stopping.png", dpi=100)
print("wrote", OUT / "regularisation_early_stopping.png")
