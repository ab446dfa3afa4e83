# %% [markdown]
# # Inception: several filter sizes side by side, 1x1 convolutions to pay for them
#
# Instead of choosing between a 1x1, a 3x3 or a 5x5 convolution or a pooling layer, an
# inception block (Szegedy et al. 2015, "Going deeper with convolutions", GoogLeNet) does
# all four on the same input and concatenates their outputs along the channels. The 3x3 and
# 5x5 branches are preceded by a 1x1 convolution that first shrinks the number of channels
# (a "bottleneck"), which makes the block far cheaper than the same convolutions on the
# full input.
#
# ```
#          +-> 1x1 ------------------+
#          +-> 1x1 -> 3x3 -----------+
# input ---+-> 1x1 -> 5x5 -----------+--> concatenate channels
#          +-> 3x3 max-pool -> 1x1 --+
# ```

# %%
import os
import time
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
from dl_kernels.models import InceptionNet, LeNet

plt.switch_backend("Agg")  # figures go to files, never to a window
TINY = os.environ.get("DLK_EXAMPLE_TINY") == "1"
OUT = Path(os.environ.get("DLK_EXAMPLE_OUT", "."))


def count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


# %% [markdown]
# ## The block, branch by branch
# GoogLeNet's first block (3a) on a 192-channel 28x28 input: 64 + 128 + 32 + 32 = 256
# channels out, the same 28x28.

# %%
block = nn.Inception(192, 64, 96, 128, 16, 32, 32)
x = dlk.randn(1, 192, 28, 28)
for name in ("branch1", "branch2", "branch3", "branch4"):
    print(f"{name}: {tuple(getattr(block, name)(x).shape)}, "
          f"{count(getattr(block, name)):,} parameters")
print(f"block output {tuple(block(x).shape)}, {count(block):,} parameters")

# %% [markdown]
# ## What the 1x1 bottleneck saves
# Multiply-adds for one 28x28 output map, 5x5 branch: straight on 192 channels versus
# after a 1x1 reduction to 16.

# %%
hw = 28 * 28
direct = hw * 32 * 192 * 5 * 5
reduced = hw * 16 * 192 + hw * 32 * 16 * 5 * 5
print(f"5x5 on 192 channels: {direct / 1e6:.0f} M multiply-adds; "
      f"1x1 to 16 then 5x5: {reduced / 1e6:.0f} M ({direct / reduced:.1f}x fewer)")

# %% [markdown]
# ## A small inception network against a LeNet-style one on digits

# %%
try:
    ds = load_dataset("mnist5k", limit=400 if TINY else None)
except DataPackageMissing as exc:
    print(f"({exc}; using the 8x8 digits instead)")
    ds = load_dataset("digits", limit=300 if TINY else None)
std = Standardizer(per="channel").fit(ds.train.x)
train = TensorDataset(std.transform(ds.train.x), ds.train.y)
x_val, y_val = dlk.tensor(std.transform(ds.val.x)), ds.val.y
epochs = 1 if TINY else 5

dlk.manual_seed(0)
nets = {"InceptionNet": InceptionNet(ds.image_shape, ds.num_classes),
        "LeNet-style CNN": LeNet(ds.image_shape, ds.num_classes)}
curves = {}
for name, net in nets.items():
    opt = dlk.optim.Adam(net.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    curves[name] = []
    t0 = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        for xb, yb in DataLoader(train, batch_size=64, shuffle=True, seed=epoch):
            opt.zero_grad()
            loss_fn(net(xb), yb).backward()
            opt.step()
        net.eval()
        with dlk.no_grad():
            curves[name].append(float((net(x_val).numpy().argmax(1) == y_val).mean()))
    print(f"{name}: {count(net):,} parameters, validation accuracy by epoch "
          f"{np.round(curves[name], 3).tolist()} ({time.perf_counter() - t0:.0f} s)")

# %% [markdown]
# ## What each branch of the trained block responds to
# Mean absolute activation of each branch's channels on the validation images.

# %%
net = nets["InceptionNet"]
with dlk.no_grad():
    stem = net.stem(x_val[:200])
    means = [float(getattr(net.inception, b)(stem).abs().mean().item())
             for b in ("branch1", "branch2", "branch3", "branch4")]
fig, axes = plt.subplots(1, 2, figsize=(8, 3))
for name, c in curves.items():
    axes[0].plot(range(1, epochs + 1), c, "o-", label=name)
axes[0].set(xlabel="epoch", ylabel="validation accuracy")
axes[0].legend(fontsize=8)
axes[1].bar(["1x1", "3x3", "5x5", "pool"], means)
axes[1].set(ylabel="mean |activation|", title="inception branches")
fig.tight_layout()
fig.savefig(OUT / "inception.png", dpi=100)
print("wrote", OUT / "inception.png")
