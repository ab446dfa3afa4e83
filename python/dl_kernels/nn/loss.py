"""Losses as modules (torch.nn names and arguments) plus the notes' extras.

CrossEntropyLoss, NLLLoss, MSELoss, BCELoss, BCEWithLogitsLoss and GaussianNLLLoss wrap the
functions of the same names in ``nn.functional``. From the course:
MixtureDensityLoss, PerceptronLoss, and the L1/L2 weight penalties.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from dl_kernels.nn import functional as F
from dl_kernels.nn.module import Module

_REDUCTIONS = ("none", "mean", "sum")


def _reduce(x: Any, reduction: str) -> Any:
    if reduction == "mean":
        return x.mean()
    if reduction == "sum":
        return x.sum()
    return x


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy over logits (N, C[, ...]) and class indices (fused kernel);
    optional per-class ``weight`` (a Tensor of C), ``ignore_index``, ``label_smoothing``."""

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        self.register_buffer("weight", weight)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input: Any, target: Any) -> Any:
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (N, C) at class indices (N,)."""

    def __init__(self, weight: Any = None, ignore_index: int = -100,
                 reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index

    def forward(self, input: Any, target: Any) -> Any:
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class MSELoss(_Loss):
    """Mean squared error (the notes' least squares is 0.5·N·MSE with reduction='mean')."""

    def forward(self, input: Any, target: Any) -> Any:
        return F.mse_loss(input, target, reduction=self.reduction)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities in (0, 1)."""

    def forward(self, input: Any, target: Any) -> Any:
        return F.binary_cross_entropy(input, target, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits, with a stable sigmoid inside."""

    def forward(self, input: Any, target: Any) -> Any:
        return F.binary_cross_entropy_with_logits(input, target, reduction=self.reduction)


class GaussianNLLLoss(_Loss):
    """0.5·(log max(var, eps) + (input − target)²/max(var, eps)) [+ 0.5·log 2π if full]."""

    def __init__(self, *, full: bool = False, eps: float = 1e-6,
                 reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.full, self.eps = full, eps

    def forward(self, input: Any, target: Any, var: Any) -> Any:
        return F.gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps,
                                   reduction=self.reduction)


class MixtureDensityLoss(_Loss):
    """Negative log-likelihood of a mixture of K diagonal Gaussians in D dimensions
    (Bishop's mixture density network, 1994).

    The network output (N, K·(1 + 2D)) is read as [K prior logits | K·D means | K·D
    log-variances] (component-major: component k's means are columns K + k·D … K + k·D + D−1).
    Priors come from a softmax, variances from exp, means are linear, as in the notes:
    −log p(y|x) = −log Σ_k π_k N(y; μ_k, diag σ²_k), computed with log-sum-exp.
    """

    def __init__(self, num_components: int, dim: int, reduction: str = "mean") -> None:
        super().__init__(reduction)
        if num_components < 1 or dim < 1:
            raise ValueError(f"num_components and dim must be >= 1, got {num_components}, "
                             f"{dim}")
        self.num_components, self.dim = num_components, dim

    @property
    def num_outputs(self) -> int:
        return self.num_components * (1 + 2 * self.dim)

    def split(self, output: Any) -> tuple[Any, Any, Any]:
        """(log π (N, K), μ (N, K, D), log σ² (N, K, D)) from the network output."""
        k, d = self.num_components, self.dim
        if output.ndim != 2 or output.shape[1] != self.num_outputs:
            raise ValueError(f"MixtureDensityLoss expects output of shape (N, {self.num_outputs})"
                             f" for K={k}, D={d}; got {tuple(output.shape)}")
        n = output.shape[0]
        log_pi = F.log_softmax(output[:, :k], dim=1)
        mu = output[:, k:k + k * d].reshape(n, k, d)
        log_var = output[:, k + k * d:].reshape(n, k, d)
        return log_pi, mu, log_var

    def forward(self, output: Any, target: Any) -> Any:
        log_pi, mu, log_var = self.split(output)
        if tuple(target.shape) != (output.shape[0], self.dim):
            raise ValueError(f"MixtureDensityLoss expects target of shape "
                             f"{(output.shape[0], self.dim)}, got {tuple(target.shape)}")
        diff = target.unsqueeze(1) - mu                                    # (N, K, D)
        log_norm = -0.5 * (log_var + diff * diff * (-log_var).exp()).sum(dim=2) \
            - 0.5 * self.dim * math.log(2 * math.pi)                       # (N, K)
        nll = -(log_pi + log_norm).logsumexp(dim=1)                        # (N,)
        return _reduce(nll, self.reduction)


class PerceptronLoss(_Loss):
    """The perceptron criterion whose gradient step is the notes' learning rule (Rosenblatt 1958).

    For scores z = wᵀx + b (any shape) and targets y ∈ {−1, +1}: f = +1 where z ≥ 0 else −1
    (held fixed), loss = Σ (f − y)·z = Σ over misclassified 2|z|. Its gradient is −e·x with
    e = y − f, so SGD with lr α gives w ← w + α·e·x (α = 0.5: the notes' rule).
    Default reduction 'sum' (the rule is per example).
    """

    def __init__(self, reduction: str = "sum") -> None:
        super().__init__(reduction)

    def forward(self, scores: Any, target: Any) -> Any:
        f = F.step(scores.detach(), low=-1.0, high=1.0)
        return _reduce((f - target) * scores, self.reduction)


def l2_penalty(parameters: Iterable[Any]) -> Any:
    """Ω(θ) = ½ Σ w² over the given parameters (add ν·Ω to the loss: weight decay)."""
    total = None
    for p in parameters:
        term = (p * p).sum()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("l2_penalty got no parameters")
    return total * 0.5


def l1_penalty(parameters: Iterable[Any]) -> Any:
    """Ω(θ) = Σ abs(w) over the given parameters (add ν·Ω to the loss)."""
    total = None
    for p in parameters:
        term = p.abs().sum()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("l1_penalty got no parameters")
    return total


__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "GaussianNLLLoss",
    "MSELoss",
    "MixtureDensityLoss",
    "NLLLoss",
    "PerceptronLoss",
    "l1_penalty",
    "l2_penalty",
]
