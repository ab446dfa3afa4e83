"""Parameter: a Tensor that a Module registers as trainable (requires_grad=True by default)."""

from __future__ import annotations

from typing import Any

from dl_kernels.tensor import Tensor, tensor


class Parameter(Tensor):
    """Wraps a tensor's storage (not a copy) as a leaf that requires grad.

    Assigning a Parameter to a Module attribute registers it in ``parameters()`` and
    ``state_dict()``. Operations on a Parameter return plain Tensors.
    """

    def __new__(cls, data: Any = None, requires_grad: bool = True) -> Any:
        if data is None:
            data = tensor([])
        t = data if isinstance(data, Tensor) else tensor(data)
        return Tensor._make_subclass(cls, t, requires_grad)

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        pass  # all done in __new__ (as torch's Parameter)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
