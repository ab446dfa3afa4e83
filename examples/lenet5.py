# %% [markdown]
# # LeNet-5 as LeCun drew it, and the modern variant
#
# LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning applied to
# document recognition") reads a 32x32 image (MNIST's 28x28 digits centred with a 2-pixel
# border) through:
#
# | layer | what | output |
# |---|---|---|
# | C1 | 6 convolutions 5x5 | 6 @ 28x28 |
# | S2 | 2x2 sub-sampling (average), squashing | 6 @ 14x14 |
# | C3 | 16 convolutions 5x5 | 16 @ 10x10 |
# | S4 | 2x2 sub-sampling (average), squashing | 16 @ 5x5 |
# | C5 | 120 convolutions 5x5 (= fully connected) | 120 @ 1x1 |
# | F6 | 84 units | 84 |
# | output | 10 classes | 10 |
#
# Its squashing function is the scaled hyperbolic tangent `1.7159 tanh(2x/3)`. Two
# simplifications here, said plainly: C3 connects every S2 map (the paper's table wires
# each C3 map to a subset), and the output layer is a linear layer with softmax
# cross-entropy instead of the paper's Euclidean RBF units.
#
# The modern variant keeps the shape but uses ReLU, max-pooling, dropout and Adam.

# %%
import os
import time
from pathlib import Path

import dl_kernels as dlk
import matplotlib.pyplot as plt
import numpy as np
from dl_kernels import nn
from dl_kernels.data import DataLoader, DataPackageMissing, TensorDataset, load_dataset

plt.switch_backend("Agg")  # figures go to files, never to a window
TINY = os.environ.get("DLK_EXAMPLE_TINY") == "1"
OUT = Path(os.environ.get("DLK_EXAMPLE_OUT", "."))

# %% [markdown]
# ## Data: 28x28 digits padded to 32x32
# LeCun scaled the inputs so the background is -0.1 and the ink 1.175 (mean about 0,
# variance about 1); we do the same.

# %%
try:
    ds = load_dataset("mnist5k", limit=400 if TINY else None)
except DataPackageMissing as exc:
    # 8x8 digits, each pixel blown up 4x4: a 32x32 image LeNet-5 can read as is.
    print(f"({exc}; using the 8x8 digits, enlarged to 32x32)")
    ds = load_dataset("digits", limit=300 if TINY else None)


def to_lenet(x: np.ndarray) -> np.ndarray:
    if x.shape[-1] == 8:
        x = np.kron(x, np.ones((1, 1, 4, 4), np.float32))
    else:
        x = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    return (x * 1.275 - 0.1).astype(np.float32)


train = TensorDataset(to_lenet(ds.train.x), ds.train.y)
x_val, y_val = dlk.tensor(to_lenet(ds.val.x)), ds.val.y
x_test, y_test = dlk.tensor(to_lenet(ds.test.x)), ds.test.y
print(ds.summary(), "->", tuple(train[0][0].shape))


# %% [markdown]
# ## The two networks

# %%
class ScaledTanh(nn.Module):
    """LeCun's squashing function f(a) = 1.7159 tanh(2a/3): f(1) = 1, f(-1) = -1."""

    def forward(self, x: dlk.Tensor) -> dlk.Tensor:
        return 1.7159 * dlk.tanh(x * (2.0 / 3.0))


def lenet5_1998() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), ScaledTanh(), nn.AvgPool2d(2),          # C1, S2
        nn.Conv2d(6, 16, 5), ScaledTanh(), nn.AvgPool2d(2),         # C3, S4
        nn.Conv2d(16, 120, 5), ScaledTanh(), nn.Flatten(),          # C5
        nn.Linear(120, 84), ScaledTanh(),                           # F6
        nn.Linear(84, 10),                                          # output
    )


def lenet5_modern() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 120, 5), nn.ReLU(), nn.Flatten(), nn.Dropout(0.3),
        nn.Linear(120, 84), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(84, 10),
    )


dlk.manual_seed(0)
nets = {"LeNet-5 (1998): tanh, average pooling, SGD": (lenet5_1998(), "sgd"),
        "modern: ReLU, max pooling, dropout, Adam": (lenet5_modern(), "adam")}
x = dlk.zeros(1, 1, 32, 32)
for name, (net, _) in nets.items():
    print(f"{name}: {sum(p.numel() for p in net.parameters()):,} parameters")
    for layer in net:
        x_next = layer(x)
        if tuple(x_next.shape) != tuple(x.shape):
            print(f"    {type(layer).__name__:10s} -> {tuple(x_next.shape)}")
        x = x_next
    x = dlk.zeros(1, 1, 32, 32)

# %% [markdown]
# ## Training both the same way

# %%
epochs = 1 if TINY else 8
history = {}
for name, (net, kind) in nets.items():
    opt = (dlk.optim.SGD(net.parameters(), lr=0.05, momentum=0.9) if kind == "sgd"
           else dlk.optim.Adam(net.parameters(), lr=2e-3))
    loss_fn = nn.CrossEntropyLoss()
    accs = []
    t0 = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        for xb, yb in DataLoader(train, batch_size=32, shuffle=True, seed=epoch):
            opt.zero_grad()
            loss_fn(net(xb), yb).backward()
            opt.step()
        net.eval()
        with dlk.no_grad():
            accs.append(float((net(x_val).numpy().argmax(1) == y_val).mean()))
    with dlk.no_grad():
        test_acc = float((net(x_test).numpy().argmax(1) == y_test).mean())
    history[name] = accs
    print(f"{name}: validation accuracy by epoch {np.round(accs, 3).tolist()}, "
          f"test accuracy {test_acc:.3f} ({time.perf_counter() - t0:.0f} s)")

# %% [markdown]
# ## What C1 learned: its six 5x5 filters

# %%
fig, axes = plt.subplots(2, 7, figsize=(9, 3))
for row, (name, (net, _)) in enumerate(nets.items()):
    w = net[0].weight.detach().numpy()
    axes[row, 0].plot(range(1, epochs + 1), history[name], "o-")
    axes[row, 0].set_title("val. accuracy", fontsize=8)
    for k in range(6):
        axes[row, k + 1].imshow(w[k, 0], cmap="gray")
        axes[row, k + 1].axis("off")
    axes[row, 1].set_title(name.split(":")[0], fontsize=8, loc="left")
fig.tight_layout()
fig.savefig(OUT / "lenet5.png", dpi=100)
print("wrote", OUT / "lenet5.png")
