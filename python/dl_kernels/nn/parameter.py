"""Parameter: a Tensor that a Module registers as trainable (requires_grad=True by default)."""

from __future__ import annotations

from typing import Any

import dl_kernels as dlk
from dl_kernels.tensor import Tensor


class Parameter(Tensor):
    """Wraps a tensor's storage (not a copy) as a leaf that requires grad.

    Assigning a Parameter to a Module attribute registers it in ``parameters()`` and
    ``state_dict()``. Operations on a Parameter return plain Tensors.
    """

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = dlk.zeros(0)
        t = data if isinstance(data, Tensor) else dlk.tensor(data)
        self._data = t._data
        self._be = t._be
        self.grad = None
        self.grad_fn = None
        self._out_idx = 0
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
