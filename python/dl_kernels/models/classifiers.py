"""Image classifiers from the course notes, built from ``dl_kernels.nn``.

- LogisticRegression (the multinomial logistic classifier): one affine map to the class scores, softmax cross-entropy;
  on 28x28 inputs it has 28*28*10 + 10 = 7,850 parameters, the notes' count.
- Perceptron (Rosenblatt 1958): f(x) = +1 if w.x + b >= 0 else -1, trained with the notes' rule
  w <- w + 0.5*(y - f(x))*x. Ten classes are ten one-vs-rest perceptrons; the prediction is
  the class with the largest score.
- MLP: Linear -> ReLU -> Dropout, repeated, then a Linear to the classes.
- LeNet: conv 5x5 -> ReLU -> max-pool 2 -> conv 5x5 -> ReLU -> max-pool 2 -> two hidden
  Linear layers (LeCun et al. 1998, with ReLU and max-pooling as the notes' CNN lecture does).
- InceptionNet: a LeNet-like stem, then a GoogLeNet inception block, pooling and a classifier.

Every model takes (N, C, H, W) float32 images (or anything flattening to N x features) and
returns (N, num_classes) scores (logits).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from dl_kernels import nn
from dl_kernels.autograd.engine import no_grad
from dl_kernels.tensor import Tensor, tensor


def _features(input_shape: Sequence[int]) -> int:
    return int(math.prod(input_shape))


class LogisticRegression(nn.Module):
    """Softmax regression: scores = W x + b over the flattened image."""

    def __init__(self, input_shape: Sequence[int], num_classes: int) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(_features(input_shape), num_classes)

    def forward(self, x: Any) -> Any:
        return self.linear(self.flatten(x))


class Perceptron(nn.Module):
    """One-vs-rest perceptrons with the notes' update rule (train with ``PerceptronLoss`` on
    targets in {-1, +1} and ``optim.Perceptron(lr=0.5)``: ``perceptron_targets`` makes them).

    The weights start at zero, as the notes allow ("initialize all weights to 0").
    """

    def __init__(self, input_shape: Sequence[int], num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(_features(input_shape), num_classes)
        with no_grad():
            self.linear.weight.zero_()
            self.linear.bias.zero_()

    def forward(self, x: Any) -> Any:
        return self.linear(self.flatten(x))


def perceptron_targets(labels: Any, num_classes: int) -> Any:
    """Class indices (N,) -> one-vs-rest targets (N, C) in {-1, +1} (a float32 Tensor)."""
    import numpy as np

    y = np.asarray(labels.numpy() if isinstance(labels, Tensor) else labels)
    t = -np.ones((len(y), num_classes), dtype=np.float32)
    t[np.arange(len(y)), y] = 1.0
    return tensor(t)


class MLP(nn.Module):
    """Multi-layer perceptron: (Linear -> ReLU -> Dropout) per hidden size, then Linear."""

    def __init__(self, input_shape: Sequence[int], num_classes: int,
                 hidden: Sequence[int] = (256, 128), dropout: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = _features(input_shape)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Any) -> Any:
        return self.net(x)


def _conv_size(size: int, k: int, pad: int) -> int:
    return size + 2 * pad - k + 1


class LeNet(nn.Module):
    """LeNet-style CNN for (C, H, W) images of any size >= 8.

    conv k5 (pad 2) -> ReLU -> pool 2 -> conv k5 (no padding when the map is >= 10 wide,
    as LeNet-5 on 28x28; else pad 2) -> ReLU -> pool 2 -> Linear -> ReLU -> Dropout ->
    Linear -> ReLU -> Linear.
    """

    def __init__(self, input_shape: Sequence[int], num_classes: int,
                 channels: tuple[int, int] = (16, 32), hidden: tuple[int, int] = (120, 84),
                 dropout: float = 0.5) -> None:
        super().__init__()
        c, h, w = _chw(input_shape)
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(c, c1, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        )
        h, w = h // 2, w // 2
        pad2 = 0 if min(h, w) >= 10 else 2
        self.features2 = nn.Sequential(
            nn.Conv2d(c1, c2, 5, padding=pad2), nn.ReLU(), nn.MaxPool2d(2),
        )
        h, w = _conv_size(h, 5, pad2) // 2, _conv_size(w, 5, pad2) // 2
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c2 * h * w, hidden[0]), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden[0], hidden[1]), nn.ReLU(),
            nn.Linear(hidden[1], num_classes),
        )

    def forward(self, x: Any) -> Any:
        return self.classifier(self.features2(self.features(x)))


class InceptionNet(nn.Module):
    """A small GoogLeNet-style CNN: conv 3x3 stem -> ReLU -> pool 2 -> inception block
    (1x1 | 1x1->3x3 | 1x1->5x5 | pool->1x1, concatenated) -> pool 2 -> Linear classifier."""

    def __init__(self, input_shape: Sequence[int], num_classes: int, stem: int = 16,
                 dropout: float = 0.25) -> None:
        super().__init__()
        c, h, w = _chw(input_shape)
        self.stem = nn.Sequential(nn.Conv2d(c, stem, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.inception = nn.Inception(stem, 8, 8, 16, 4, 8, 8)
        out_c = self.inception.out_channels
        self.pool = nn.MaxPool2d(2)
        h, w = h // 2 // 2, w // 2 // 2
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(out_c * h * w, 128), nn.ReLU(),
            nn.Linear(128, num_classes),
        )

    def forward(self, x: Any) -> Any:
        return self.classifier(self.pool(self.inception(self.stem(x))))


def _chw(input_shape: Sequence[int]) -> tuple[int, int, int]:
    if len(input_shape) != 3:
        raise ValueError(f"a CNN needs (C, H, W) images, got input shape {tuple(input_shape)}")
    c, h, w = (int(v) for v in input_shape)
    if min(h, w) < 8:
        raise ValueError(f"a CNN needs images of at least 8x8, got {h}x{w}")
    return c, h, w
