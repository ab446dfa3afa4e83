"""Denoising autoencoders and their stacks (Vincent, Larochelle, Bengio & Manzagol 2008,
"Extracting and composing robust features with denoising autoencoders").

A denoising autoencoder sees a corrupted input x̃ ~ q(x̃ | x) and is trained to give back the
clean x: noise-corrupted data in, distance to the clean data out.

    h = sigmoid(W x̃ + b)                 encoder, W of shape (hidden, inputs)
    z = Wᵀ h + c                          decoder with tied weights (the same W, transposed)
    loss = cross-entropy(sigmoid(z), x)   inputs in [0, 1] (binary pixels): sigmoid output
         | ½ ‖z − x‖²                     real-valued inputs: linear output, squared error

Corruption: ``mask`` zeroes a random fraction ν of the inputs (the paper's choice, which forces
the code to fill in what is missing from what is left); ``gaussian`` adds N(0, σ²) noise.

Stacking (the paper's section 4): train a DAE on the data, then another on the first one's
clean codes h(x), and so on; the encoders then initialise a deep sigmoid network that is
fine-tuned with a softmax output on the labels (layer-wise pretraining).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from dl_kernels import nn, optim
from dl_kernels.autograd.engine import no_grad
from dl_kernels.dtypes import float32
from dl_kernels.factories import zeros
from dl_kernels.nn import functional as F
from dl_kernels.tensor import tensor

NOISES = ("mask", "gaussian")
OUTPUTS = ("sigmoid", "linear")


def corrupt(x: np.ndarray, noise: str = "mask", level: float = 0.25,
            rng: np.random.Generator | int | None = None) -> np.ndarray:
    """q(x̃ | x): ``mask`` sets each input to 0 with probability ``level``; ``gaussian`` adds
    N(0, level²) noise. Returns a new array of x's shape and float dtype (float32 for integers)."""
    if noise not in NOISES:
        raise ValueError(f"noise must be one of {NOISES}, got {noise!r}")
    if not (level >= 0 and (noise == "gaussian" or level <= 1)):
        raise ValueError(f"noise level must be in [0, 1] for masking and >= 0 for Gaussian "
                         f"noise, got {level}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    if noise == "mask":
        return np.where(rng.random(x.shape) < level, 0, x).astype(x.dtype)
    return (x + level * rng.standard_normal(x.shape)).astype(x.dtype)


class DenoisingAutoencoder(nn.Module):
    """One tied-weight autoencoder layer: ``encode(x) = sigmoid(x Wᵀ + b)``,
    ``decode(h) = h W + c`` (logits with the sigmoid output, values with the linear one).

    Init: W ~ U(±1/√inputs), biases 0. (Glorot's sigmoid range, ±4·√(6 / (inputs + hidden)),
    is 7x wider for 784 -> 500; with the few hundred Adam steps a run here takes, its random
    pattern still shows in the filters and the reconstruction error stays ~30 % higher.)
    """

    def __init__(self, inputs: int, hidden: int, output: str = "sigmoid",
                 dtype: Any = None) -> None:
        super().__init__()
        if inputs < 1 or hidden < 1:
            raise ValueError(f"inputs and hidden must be >= 1, got {inputs}, {hidden}")
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        self.inputs, self.hidden, self.output = inputs, hidden, output
        dt = dtype or float32
        self.weight = nn.Parameter(zeros(hidden, inputs, dtype=dt))
        self.bias_hidden = nn.Parameter(zeros(hidden, dtype=dt))
        self.bias_visible = nn.Parameter(zeros(inputs, dtype=dt))
        bound = 1.0 / math.sqrt(inputs)
        nn.init.uniform_(self.weight, -bound, bound)

    def encode(self, x: Any) -> Any:
        return F.linear(x, self.weight, self.bias_hidden).sigmoid()

    def decode(self, h: Any) -> Any:
        """The reconstruction's logits (sigmoid output) or values (linear output)."""
        return h @ self.weight + self.bias_visible

    def forward(self, x: Any) -> Any:
        return self.decode(self.encode(x))

    def reconstruct(self, x: Any) -> Any:
        """The reconstruction in input space (the sigmoid applied for the sigmoid output)."""
        z = self.forward(x)
        return z.sigmoid() if self.output == "sigmoid" else z

    def loss(self, noisy: Any, clean: Any) -> Any:
        """Reconstruction error of ``noisy``'s reconstruction against ``clean``, summed over
        the inputs and averaged over the batch: cross-entropy for the sigmoid output, ½‖·‖²
        for the linear one."""
        if tuple(noisy.shape) != tuple(clean.shape) or noisy.ndim != 2:
            raise ValueError(f"noisy and clean inputs must both be (N, {self.inputs}), got "
                             f"{tuple(noisy.shape)} and {tuple(clean.shape)}")
        z = self.forward(noisy)
        n = max(noisy.shape[0], 1)
        if self.output == "sigmoid":
            return F.binary_cross_entropy_with_logits(z, clean, reduction="sum") / n
        return ((z - clean) ** 2).sum() * (0.5 / n)

    def extra_repr(self) -> str:
        return f"inputs={self.inputs}, hidden={self.hidden}, output={self.output}, tied"


def _batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def pretrain_layer(dae: DenoisingAutoencoder, x: np.ndarray, epochs: int = 10,
                   batch_size: int = 64, lr: float = 1e-3, noise: str = "mask",
                   level: float = 0.25, seed: int = 0,
                   log: Callable[[str], None] | None = None) -> list[float]:
    """Train one DAE on the rows of ``x`` (N, inputs) with Adam, fresh corruption every epoch.
    Returns the mean training loss of each epoch."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != dae.inputs:
        raise ValueError(f"pretrain_layer: x must be (N, {dae.inputs}), got {x.shape}")
    rng = np.random.default_rng(seed)
    opt = optim.Adam(dae.parameters(), lr=lr)
    history = []
    dae.train()
    for epoch in range(epochs):
        total, count = 0.0, 0
        for idx in _batches(len(x), batch_size, rng):
            clean = x[idx]
            loss = dae.loss(tensor(corrupt(clean, noise, level, rng)), tensor(clean))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.item()) * len(idx)
            count += len(idx)
        history.append(total / max(count, 1))
        if log:
            log(f"  layer {dae.inputs}->{dae.hidden} epoch {epoch + 1}/{epochs}: "
                f"reconstruction loss {history[-1]:.3f}")
    return history


class StackedDAE(nn.Module):
    """Sigmoid encoders of a DAE stack, then Linear to the classes (logits):
    ``forward(x (N, inputs)) -> (N, classes)``. Built untrained; :meth:`pretrain` fits the
    encoders layer by layer before supervised fine-tuning of the whole network."""

    def __init__(self, inputs: int, hidden: Sequence[int], classes: int,
                 output: str = "sigmoid") -> None:
        super().__init__()
        if not hidden:
            raise ValueError("a stacked autoencoder needs at least one hidden layer")
        sizes = [inputs, *hidden]
        # Only the first layer sees the data; deeper ones reconstruct codes in (0, 1).
        self.layers = nn.ModuleList([
            DenoisingAutoencoder(a, b, output if i == 0 else "sigmoid")
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))])
        self.head = nn.Linear(sizes[-1], classes)

    def features(self, x: Any, depth: int | None = None) -> Any:
        for layer in list(self.layers)[:depth]:
            x = layer.encode(x)
        return x

    def forward(self, x: Any) -> Any:
        return self.head(self.features(x.reshape(x.shape[0], -1)))

    def pretrain(self, x: np.ndarray, epochs: int = 10, batch_size: int = 64, lr: float = 1e-3,
                 noise: str = "mask", level: float = 0.25, seed: int = 0,
                 log: Callable[[str], None] | None = None) -> list[list[float]]:
        """Greedy layer-wise pretraining: layer k is a DAE trained on the clean codes of
        layers 1..k-1 (corruption is applied to its own input only)."""
        h = np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape(len(x), -1))
        histories = []
        for k, layer in enumerate(self.layers):
            histories.append(pretrain_layer(layer, h, epochs, batch_size, lr, noise, level,
                                            seed + k, log))
            with no_grad():
                h = layer.encode(tensor(h)).numpy()
        return histories


def tile_images(images: np.ndarray, cols: int | None = None, pad: int = 1,
                normalise: bool = True) -> np.ndarray:
    """A grid of (n, h, w) images as one 2-D array (each rescaled to [0, 1] if ``normalise``,
    which is how learned filters are shown)."""
    images = np.asarray(images, dtype=np.float64)
    n, h, w = images.shape
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad))
    for i, img in enumerate(images):
        if normalise:
            lo, hi = img.min(), img.max()
            img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
        r, c = divmod(i, cols)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h,
             pad + c * (w + pad): pad + c * (w + pad) + w] = img
    return grid


def save_filters_png(dae: DenoisingAutoencoder, path: Any, shape: tuple[int, int],
                     count: int = 100) -> None:
    """The first ``count`` rows of W, each shown as an image of ``shape`` (the input pattern
    that most excites that hidden unit)."""
    w = dae.weight.detach().numpy()[:count]
    _save_gray(tile_images(w.reshape(len(w), *shape)), path,
               f"{len(w)} filters of a {dae.inputs}-{dae.hidden} denoising autoencoder")


def save_reconstructions_png(dae: DenoisingAutoencoder, clean: np.ndarray, noisy: np.ndarray,
                             path: Any, shape: tuple[int, int]) -> None:
    """Three rows: the corrupted inputs, the clean ones, and the reconstructions."""
    with no_grad():
        rec = dae.reconstruct(tensor(np.asarray(noisy, np.float32).reshape(len(noisy), -1)))
    rows = [np.asarray(a, np.float64).reshape(len(clean), *shape)
            for a in (noisy, clean, rec.numpy())]
    grid = tile_images(np.concatenate(rows), cols=len(clean), normalise=False)
    _save_gray(np.clip(grid, 0, 1), path, "noisy (top), clean, reconstructed (bottom)")


def _save_gray(grid: np.ndarray, path: Any, title: str) -> None:
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4, grid.shape[1] / 30), max(3, grid.shape[0] / 30)))
    ax.imshow(grid, cmap="gray", interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    fig.tight_layout()
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
