"""Gradient clipping (torch.nn.utils names)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from dl_kernels.autograd.engine import no_grad
from dl_kernels.tensor import Tensor


def _grads(parameters: Any) -> list[Any]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(
    parameters: Iterable[Any] | Any,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    """Scale all gradients together so their global norm is at most ``max_norm``.

    The norm is taken over all gradients as if concatenated into one vector (L2 by default,
    ``norm_type=inf`` for the max-abs norm). Returns that total norm, before clipping, as a
    float. Gradients are multiplied by min(1, max_norm / (norm + 1e-6)), as PyTorch does.
    """
    grads = _grads(parameters)
    if not grads:
        return 0.0
    norm_type = float(norm_type)
    with no_grad():
        if math.isinf(norm_type):
            total = max(float(g.abs().max().item()) for g in grads)
        else:
            total = sum(float((g.abs() ** norm_type).sum().item()) for g in grads)
            total = total ** (1.0 / norm_type)
        if error_if_nonfinite and not math.isfinite(total):
            raise RuntimeError(
                f"The total norm of order {norm_type} for gradients is non-finite, so it "
                "cannot be clipped; set error_if_nonfinite=False to disable this check")
        coef = max_norm / (total + 1e-6)
        if coef < 1.0:
            for g in grads:
                g.mul_(coef)
    return total


def clip_grad_value_(parameters: Iterable[Any] | Any, clip_value: float) -> None:
    """Clamp every gradient element into [−clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    with no_grad():
        for g in _grads(parameters):
            g.clamp_(-clip_value, clip_value)
