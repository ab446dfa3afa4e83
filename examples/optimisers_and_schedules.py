# %% [markdown]
# # Optimisers and learning-rate schedules compared on one problem
#
# Every run trains the same small MLP on the same digits, from the same initial weights,
# on the same mini-batches; only the update rule or the schedule changes.
#
# Update rules (`dl_kernels.optim`, the `torch.optim` names and defaults):
#
# | rule | update (g the gradient) | source |
# |---|---|---|
# | SGD | `w -= lr g` | Robbins & Monro 1951 |
# | momentum | `v = mu v + g; w -= lr v` | Polyak 1964 |
# | Nesterov | `v = mu v + g; w -= lr (g + mu v)` | Nesterov 1983; Sutskever et al. 2013 |
# | Adagrad | `s += g^2; w -= lr g / sqrt(s)` | Duchi et al. 2011 |
# | RMSprop | `s = a s + (1-a) g^2; w -= lr g / sqrt(s)` | Tieleman & Hinton 2012 |
# | Adam | bias-corrected running mean and variance of g | Kingma & Ba 2015 |
# | AdamW | Adam with decoupled weight decay | Loshchilov & Hutter 2019 |
#
# Schedules (`dl_kernels.optim.lr_scheduler`): constant; step decay (`StepLR`);
# exponential decay `r0 beta^(t/tau)` (`ExponentialDecay`); inverse time `a0/(t + c)`
# (`InverseTime`); the "bold driver" that grows the rate by 10 % while the loss falls and
# halves it when it rises (`BoldDriver`, Battiti 1989); `ReduceLROnPlateau`.

# %%
import copy
import os
from pathlib import Path

import dl_kernels as dlk
import matplotlib.pyplot as plt
import numpy as np
from dl_kernels import nn, optim
from dl_kernels.data import DataLoader, Standardizer, TensorDataset, load_dataset
from dl_kernels.models import MLP

plt.switch_backend("Agg")  # figures go to files, never to a window
TINY = os.environ.get("DLK_EXAMPLE_TINY") == "1"
OUT = Path(os.environ.get("DLK_EXAMPLE_OUT", "."))

ds = load_dataset("digits", limit=300 if TINY else None)   # scikit-learn's 8x8 digits
print(ds.summary())
std = Standardizer(per="feature").fit(ds.train.x)
train = TensorDataset(std.transform(ds.train.x), ds.train.y)
x_val, y_val = dlk.tensor(std.transform(ds.val.x)), dlk.tensor(ds.val.y)
epochs = 2 if TINY else 25
dlk.manual_seed(0)
start = MLP(ds.image_shape, ds.num_classes, hidden=(64,), dropout=0.0)
loss_fn = nn.CrossEntropyLoss()


def train_run(make_opt, make_sched=None, sched_on: str = "") -> dict:
    """Train a copy of ``start``; ``sched_on`` is "" (step() per epoch), "train" or "val"
    (step(loss) with that epoch's loss)."""
    model = copy.deepcopy(start)
    opt = make_opt(model.parameters())
    sched = make_sched(opt) if make_sched else None
    h = {"train": [], "val": [], "lr": []}
    for epoch in range(epochs):
        h["lr"].append(opt.param_groups[0]["lr"])
        total = 0.0
        for xb, yb in DataLoader(train, batch_size=32, shuffle=True, seed=epoch):
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(yb)
        with dlk.no_grad():
            val = loss_fn(model(x_val), y_val).item()
        h["train"].append(total / len(train))
        h["val"].append(val)
        if sched is not None:
            if sched_on:
                sched.step(h["train"][-1] if sched_on == "train" else val)
            else:
                sched.step()
    return h


# %% [markdown]
# ## Update rules, each at a learning rate that suits it

# %%
rules = {
    "SGD (lr 0.05)": lambda p: optim.SGD(p, lr=0.05),
    "momentum 0.9": lambda p: optim.SGD(p, lr=0.05, momentum=0.9),
    "Nesterov 0.9": lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    "Adagrad": lambda p: optim.Adagrad(p, lr=0.05),
    "RMSprop": lambda p: optim.RMSprop(p, lr=1e-3),
    "Adam": lambda p: optim.Adam(p, lr=1e-3),
    "AdamW (wd 0.01)": lambda p: optim.AdamW(p, lr=1e-3, weight_decay=0.01),
}
by_rule = {name: train_run(make) for name, make in rules.items()}
for name, h in by_rule.items():
    print(f"{name:18s} training loss {h['train'][-1]:.4f}  validation loss {h['val'][-1]:.4f}")

# %% [markdown]
# ## Schedules, all on SGD with momentum starting at lr 0.1

# %%
def sgd(p):
    return optim.SGD(p, lr=0.1, momentum=0.9)


schedules = {
    "constant": (None, ""),
    "StepLR (x0.3 every 8)": (lambda o: optim.StepLR(o, step_size=8, gamma=0.3), ""),
    "ExponentialDecay (0.5 per 5)": (lambda o: optim.ExponentialDecay(o, beta=0.5, tau=5), ""),
    "InverseTime (c = 1)": (lambda o: optim.InverseTime(o, c=1.0), ""),
    "BoldDriver": (lambda o: optim.BoldDriver(o), "train"),
    "ReduceLROnPlateau": (lambda o: optim.ReduceLROnPlateau(o, factor=0.3, patience=2), "val"),
}
by_sched = {name: train_run(sgd, make, on) for name, (make, on) in schedules.items()}
for name, h in by_sched.items():
    print(f"{name:30s} final lr {h['lr'][-1]:.4f}  best validation loss {min(h['val']):.4f}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
ep = np.arange(1, epochs + 1)
for name, h in by_rule.items():
    axes[0].plot(ep, h["train"], label=name)
axes[0].set(xlabel="epoch", ylabel="training loss", yscale="log", title="update rules")
axes[0].legend(fontsize=7)
for name, h in by_sched.items():
    axes[1].plot(ep, h["lr"], label=name)
    axes[2].plot(ep, h["val"], label=name)
axes[1].set(xlabel="epoch", ylabel="learning rate", yscale="log", title="schedules")
axes[2].set(xlabel="epoch", ylabel="validation loss", yscale="log", title="schedules")
axes[1].legend(fontsize=7)
fig.tight_layout()
fig.savefig(OUT / "optimisers_and_schedules.png", dpi=100)
print("wrote", OUT / "optimisers_and_schedules.png")
