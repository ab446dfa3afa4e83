"""Activation functions as modules (the course's set: ReLU and its noisy and leaky forms, maxout, p-norm, softplus, step).

Each wraps the function of the same name in ``nn.functional``.
"""

from __future__ import annotations

from typing import Any

from dl_kernels.nn import functional as F
from dl_kernels.nn.module import Module


class ReLU(Module):
    """max(0, x)."""

    def forward(self, x: Any) -> Any:
        return F.relu(x)


class LeakyReLU(Module):
    """x for x ≥ 0, negative_slope·x otherwise."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: Any) -> Any:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class NoisyReLU(Module):
    """max(0, x + ε), ε ~ N(0, σ²) in training; plain ReLU in eval mode."""

    def __init__(self, sigma: float = 1.0) -> None:
        super().__init__()
        self.sigma = sigma

    def forward(self, x: Any) -> Any:
        return F.noisy_relu(x, self.sigma, training=self.training)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}"


class Sigmoid(Module):
    """1 / (1 + exp(-x)) elementwise (``nn.functional.sigmoid``)."""

    def forward(self, x: Any) -> Any:
        return F.sigmoid(x)


class Tanh(Module):
    """tanh(x) elementwise (``nn.functional.tanh``)."""

    def forward(self, x: Any) -> Any:
        return F.tanh(x)


class Softplus(Module):
    """(1/β)·log(1 + exp(β·x)), linear above ``threshold`` (PyTorch's form)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x: Any) -> Any:
        return F.softplus(x, self.beta, self.threshold)


class Step(Module):
    """The perceptron's step: 1 where x ≥ 0, else 0 (no useful gradient)."""

    def forward(self, x: Any) -> Any:
        return F.step(x)


class Softmax(Module):
    """softmax along ``dim`` (default the last): non-negative, summing to 1.

    Example:
        >>> import dl_kernels as dlk
        >>> Softmax(dim=-1)(dlk.zeros(2, 4)).tolist()
        [[0.25, 0.25, 0.25, 0.25], [0.25, 0.25, 0.25, 0.25]]
    """

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Any) -> Any:
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along ``dim`` (default the last), computed stably; pair it with
    ``NLLLoss`` (together: ``CrossEntropyLoss``)."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Any) -> Any:
        return F.log_softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class _GroupPool(Module):
    """Pool each group of ``pieces`` consecutive units along ``dim`` into one unit."""

    def __init__(self, pieces: int, dim: int = -1) -> None:
        super().__init__()
        if pieces < 1:
            raise ValueError(f"pieces must be >= 1, got {pieces}")
        self.pieces, self.dim = pieces, dim

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}, dim={self.dim}"


class MaxoutPool(_GroupPool):
    """φ(y1..yk) = max_i y_i over each group of ``pieces`` units."""

    def forward(self, x: Any) -> Any:
        return F.maxout(x, self.pieces, self.dim)


class SoftMaxout(_GroupPool):
    """φ(y1..yk) = log Σ_i exp(y_i) over each group of ``pieces`` units."""

    def forward(self, x: Any) -> Any:
        return F.soft_maxout(x, self.pieces, self.dim)


class PNorm(_GroupPool):
    """φ(y1..yk) = (Σ_i abs(y_i)^p)^(1/p) over each group of ``pieces`` units."""

    def __init__(self, pieces: int, p: float = 2.0, dim: int = -1) -> None:
        super().__init__(pieces, dim)
        self.p = p

    def forward(self, x: Any) -> Any:
        return F.p_norm(x, self.pieces, self.p, self.dim)

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}, p={self.p}, dim={self.dim}"
