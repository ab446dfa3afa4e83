"""Reverse-mode autograd: the engine (engine.py), the op Functions (function.py), gradcheck."""

from __future__ import annotations

from typing import Any

from dl_kernels.autograd.engine import (
    Function,
    enable_grad,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from dl_kernels.autograd.gradcheck import GradcheckError, gradcheck
from dl_kernels.autograd.higher_order import grad


def backward(tensors: Any, grad_tensors: Any = None, retain_graph: bool = False) -> None:
    """``torch.autograd.backward``: backward from one tensor or a sequence of them."""
    if not isinstance(tensors, (tuple, list)):
        tensors, grad_tensors = [tensors], [grad_tensors]
    elif grad_tensors is None:
        grad_tensors = [None] * len(tensors)
    for i, (t, g) in enumerate(zip(tensors, grad_tensors)):
        # keep the graph for all but the last root, which frees it unless asked not to
        t.backward(g, retain_graph=retain_graph or i < len(tensors) - 1)


__all__ = [
    "Function",
    "GradcheckError",
    "backward",
    "enable_grad",
    "grad",
    "gradcheck",
    "is_grad_enabled",
    "no_grad",
    "set_grad_enabled",
]
