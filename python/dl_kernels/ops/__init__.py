"""Functions over tensors beyond the Tensor class, one file per family: ``core`` (cat, stack,
split, where, maximum, minimum, matmul and the ``dl_kernels.exp(t)``-style aliases of Tensor
methods), ``pointwise`` (elementwise math), ``reductions`` (scans, prod, std_mean, softmax
dtype), ``shape`` (movement, selection, scatter, einsum).

Each op is a function of tensors; ``install`` also makes it a Tensor method, as PyTorch has
both ``torch.flip(x, dims)`` and ``x.flip(dims)``. Keeping them out of tensor.py keeps that
file to the autograd front and lets each family live in its own small module.
"""

from __future__ import annotations

from dl_kernels.autograd.engine import register_hook
from dl_kernels.ops import pointwise, reductions, shape
from dl_kernels.tensor import Tensor

FUNCTIONS = {
    name: getattr(mod, name)
    for mod, names in (
        (pointwise, ("sin cos tan asin acos atan arcsin arccos arctan sinh cosh asinh acosh "
                    "atanh arcsinh arccosh arctanh erf erfc erfinv exp2 log2 log10 expm1 log1p "
                    "reciprocal floor ceil round trunc fix frac fmod remainder copysign atan2 "
                    "arctan2 isnan isinf isfinite isposinf isneginf signbit isclose allclose "
                    "lerp div true_divide floor_divide square nan_to_num")),
        (reductions, ("cumsum cumprod logcumsumexp cummax cummin prod var_mean std_mean "
                     "count_nonzero aminmax softmax log_softmax softmin")),
        (shape, ("flip fliplr flipud roll tril triu diagonal diag_embed diag meshgrid unflatten "
                "movedim moveaxis swapaxes narrow tile repeat_interleave masked_select nonzero "
                "argwhere scatter scatter_add scatter_reduce multinomial einsum")),
    )
    for name in names.split()
}

# torch.<name> functions that are not Tensor methods (or differ as methods)
_NOT_METHODS = {"meshgrid", "einsum", "var_mean", "std_mean", "softmin"}


def _to_int32(self: Tensor) -> Tensor:
    """PyTorch's ``.int()`` is int32."""
    return self.to("int32")


def install(cls: type = Tensor) -> None:
    """Make every op a method of ``cls`` (first argument: the tensor)."""
    for name, fn in FUNCTIONS.items():
        if name not in _NOT_METHODS:
            setattr(cls, name, fn)
    cls.unfold = shape.unfold
    cls.swapdims = shape.swapaxes
    cls.divide = pointwise.div
    cls.int = _to_int32
    cls.register_hook = register_hook


install()

__all__: list[str] = ["FUNCTIONS", "install"]
__all__ += sorted(FUNCTIONS)  # noqa: PLE0605 - the names listed in FUNCTIONS
