"""Reverse-mode autograd: the engine (engine.py), the op Functions (function.py), gradcheck."""

from __future__ import annotations

from dl_kernels.autograd.engine import (
    Function,
    backward,
    enable_grad,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from dl_kernels.autograd.gradcheck import GradcheckError, gradcheck
from dl_kernels.autograd.higher_order import grad

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
