"""Composite blocks from the course: maxout units (Goodfellow et al. 2013), residual (He et al.
2016) and highway (Srivastava et al. 2015) connections, and a GoogLeNet-style inception block."""

from __future__ import annotations

from typing import Any

from dl_kernels.nn import functional as F
from dl_kernels.nn import init
from dl_kernels.nn.activation import ReLU
from dl_kernels.nn.container import Sequential
from dl_kernels.nn.layers import Conv2d, Linear, MaxPool2d
from dl_kernels.nn.module import Module
from dl_kernels.ops.core import cat


class Maxout(Module):
    """A maxout layer: ``pieces`` affine maps per output unit, the unit keeps their maximum.

    ``linear`` (Linear(in, out·pieces)) computes all pieces; unit j pools pieces
    j·pieces … j·pieces + pieces − 1. Default init: that of Linear.
    """

    def __init__(self, in_features: int, out_features: int, pieces: int,
                 bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        if pieces < 1:
            raise ValueError(f"pieces must be >= 1, got {pieces}")
        self.pieces = pieces
        self.linear = Linear(in_features, out_features * pieces, bias, device, dtype)

    def forward(self, x: Any) -> Any:
        return F.maxout(self.linear(x), self.pieces, -1)

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}"


class Residual(Module):
    """y = F(x) + shortcut(x): shortcut is the identity unless a projection module is given
    (e.g. a 1×1 Conv2d or a Linear when F changes the shape)."""

    def __init__(self, fn: Module, shortcut: Module | None = None) -> None:
        super().__init__()
        self.fn = fn
        if shortcut is not None:
            self.shortcut = shortcut
        else:
            self.shortcut = None

    def forward(self, x: Any) -> Any:
        skip = x if self.shortcut is None else self.shortcut(x)
        return self.fn(x) + skip


class Highway(Module):
    """A highway layer (Srivastava et al. 2015: a gated output):
    T = σ(W_T x + b_T),  y = T ⊙ f(W_H x + b_H) + (1 − T) ⊙ x.

    ``transform`` and ``gate`` are Linear(size, size) with Linear's default init, except the
    gate bias, which starts at ``gate_bias`` (−1 by default) so the layer begins close to
    carrying its input through, as the paper recommends.
    """

    def __init__(self, size: int, activation: Module | None = None, gate_bias: float = -1.0,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.transform = Linear(size, size, True, device, dtype)
        self.gate = Linear(size, size, True, device, dtype)
        init.constant_(self.gate.bias, gate_bias)
        self.activation = activation if activation is not None else ReLU()

    def forward(self, x: Any) -> Any:
        t = F.sigmoid(self.gate(x))
        return t * self.activation(self.transform(x)) + (1 - t) * x


def _conv_relu(cin: int, cout: int, k: int, device: Any, dtype: Any) -> Sequential:
    return Sequential(Conv2d(cin, cout, k, padding=k // 2, device=device, dtype=dtype), ReLU())


class Inception(Module):
    """An inception block (Szegedy et al. 2015): four branches on the same input, their
    outputs concatenated along channels (NCHW), each conv followed by ReLU:

    1×1 conv → ch1x1;  1×1 reduce → 3×3 conv → ch3x3;  1×1 reduce → 5×5 conv → ch5x5;
    3×3 max-pool (stride 1, pad 1) → 1×1 conv → pool_proj.
    Spatial size is preserved; out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj.
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int,
                 ch5x5red: int, ch5x5: int, pool_proj: int, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.branch1 = _conv_relu(in_channels, ch1x1, 1, device, dtype)
        self.branch2 = Sequential(_conv_relu(in_channels, ch3x3red, 1, device, dtype),
                                  _conv_relu(ch3x3red, ch3x3, 3, device, dtype))
        self.branch3 = Sequential(_conv_relu(in_channels, ch5x5red, 1, device, dtype),
                                  _conv_relu(ch5x5red, ch5x5, 5, device, dtype))
        self.branch4 = Sequential(MaxPool2d(3, stride=1, padding=1),
                                  _conv_relu(in_channels, pool_proj, 1, device, dtype))
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x: Any) -> Any:
        return cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)],
                       dim=1)
