"""Elementwise math with PyTorch's names: trigonometric and hyperbolic functions, erf and
friends, exp2 / log2 / log10, rounding, fmod / remainder / copysign / atan2, float
classification (isnan, isinf, isfinite, isclose), lerp, and ``div(rounding_mode=)``."""

from __future__ import annotations

from typing import Any

from dl_kernels.autograd import math_ops as M
from dl_kernels.autograd.engine import Function
from dl_kernels.dtypes import bool_, float32
from dl_kernels.ops.core import where
from dl_kernels.tensor import Tensor, _coerce, _floating, tensor


def _unary(fn: type, name: str) -> Any:
    def op(input: Tensor) -> Tensor:
        return fn.apply(_floating(input))

    op.__name__ = name
    op.__doc__ = f"Elementwise {name} (integer inputs become float32), differentiable."
    return op


sin, cos, tan = _unary(M.Sin, "sin"), _unary(M.Cos, "cos"), _unary(M.Tan, "tan")
asin, acos, atan = _unary(M.Asin, "asin"), _unary(M.Acos, "acos"), _unary(M.Atan, "atan")
sinh, cosh = _unary(M.Sinh, "sinh"), _unary(M.Cosh, "cosh")
asinh, acosh, atanh = _unary(M.Asinh, "asinh"), _unary(M.Acosh, "acosh"), _unary(M.Atanh, "atanh")
erf, erfc, erfinv = _unary(M.Erf, "erf"), _unary(M.Erfc, "erfc"), _unary(M.Erfinv, "erfinv")
exp2, log2, log10 = _unary(M.Exp2, "exp2"), _unary(M.Log2, "log2"), _unary(M.Log10, "log10")
expm1, log1p = _unary(M.Expm1, "expm1"), _unary(M.Log1p, "log1p")
arcsin, arccos, arctan = asin, acos, atan
arcsinh, arccosh, arctanh = asinh, acosh, atanh


def reciprocal(input: Tensor) -> Tensor:
    return 1.0 / _floating(input)


def _rounding(op: str) -> Any:
    def fn(input: Tensor) -> Tensor:
        if not input.is_floating_point():
            return input.clone()  # integers are already whole
        return M.Rounding.apply(input, op=op)

    fn.__name__ = op
    fn.__doc__ = f"Elementwise {op}; its gradient is zero."
    return fn


floor, ceil, trunc = _rounding("floor"), _rounding("ceil"), _rounding("trunc")
fix = trunc


def round(input: Tensor, decimals: int = 0) -> Tensor:
    """Round half to even (as PyTorch), to ``decimals`` places; zero gradient."""
    if not input.is_floating_point():
        return input.clone()
    return M.Rounding.apply(input, op="round", decimals=decimals)


def frac(input: Tensor) -> Tensor:
    return input - trunc(input)


def _operands(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Two tensors of one dtype: a Python number takes the tensor's dtype (float32 when a
    float meets an integer tensor), as PyTorch's scalar promotion does."""
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        return _coerce(a, b)
    t, x = (a, b) if isinstance(a, Tensor) else (b, a)
    d = t.dtype if (t.is_floating_point() or not isinstance(x, float)) else float32
    ts = tensor(x, dtype=d, device=t.device)
    return (t.to(d), ts) if t is a else (ts, t.to(d))


def fmod(input: Tensor, other: Any) -> Tensor:
    """C's remainder: input - trunc(input / other) * other (the sign of input)."""
    a, b = _operands(input, other)
    if not a.is_floating_point():
        return Tensor._wrap(a._be.fmod(a._data, b._data), a._be)
    return M.Fmod.apply(a, b, floor=False)


def remainder(input: Tensor, other: Any) -> Tensor:
    """Python's remainder: input - floor(input / other) * other (the sign of other)."""
    a, b = _operands(input, other)
    if not a.is_floating_point():
        return Tensor._wrap(a._be.remainder(a._data, b._data), a._be)
    return M.Fmod.apply(a, b, floor=True)


def copysign(input: Tensor, other: Any) -> Tensor:
    a, b = _operands(_floating(input), other)
    return M.Copysign.apply(_floating(a), _floating(b))


def atan2(input: Tensor, other: Any) -> Tensor:
    a, b = _operands(_floating(input), other)
    return M.Atan2.apply(_floating(a), _floating(b))


arctan2 = atan2


def _predicate(op: str, doc: str) -> Any:
    def fn(input: Tensor) -> Tensor:
        be = input._be
        if not input.is_floating_point():  # integers are always finite
            val = op == "isfinite"
            return Tensor._wrap(be.full(tuple(input.shape), val, bool_.np), be)
        return Tensor._wrap(getattr(be, op)(input._data), be)

    fn.__name__, fn.__doc__ = op, doc
    return fn


isnan = _predicate("isnan", "True where the entry is nan.")
isinf = _predicate("isinf", "True where the entry is +inf or -inf.")
isfinite = _predicate("isfinite", "True where the entry is neither inf nor nan.")


def isposinf(input: Tensor) -> Tensor:
    return isinf(input) & (input > 0)


def isneginf(input: Tensor) -> Tensor:
    return isinf(input) & (input < 0)


def signbit(input: Tensor) -> Tensor:
    return Tensor._wrap(input._be.signbit(input._data), input._be)


def isclose(input: Tensor, other: Any, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tensor:
    """``|input - other| <= atol + rtol |other|`` (infinities equal when of one sign)."""
    a, b = _operands(input, other)
    be = a._be
    return Tensor._wrap(be.isclose(a._data, b._data, rtol=rtol, atol=atol, equal_nan=equal_nan),
                        be)


def allclose(input: Tensor, other: Any, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    return bool(isclose(input, other, rtol, atol, equal_nan).all().item())


def lerp(input: Tensor, end: Tensor, weight: Any) -> Tensor:
    """input + weight (end - input), differentiable in all three."""
    return input + weight * (end - input)


class _FloorDivide(Function):
    """Python's floor division (numpy's algorithm, which PyTorch's float version mirrors);
    piecewise constant, so the gradient is zero."""

    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return self.be.floor_divide(a, b)

    def backward(self, g):
        be = self.be
        return (be.unbroadcast(be.mul(g, 0), self.shapes[0]),
                be.unbroadcast(be.mul(g, 0), self.shapes[1]))


def div(input: Tensor, other: Any, rounding_mode: str | None = None) -> Tensor:
    """input / other; rounding_mode None (true division), 'trunc' (towards zero) or 'floor'
    (towards -inf). Integer inputs with a rounding mode stay integers."""
    if rounding_mode is None:
        return input / other
    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got "
                         f"{rounding_mode!r}")
    a, b = _operands(input, other)
    if a.is_floating_point():
        if rounding_mode == "floor":
            return _FloorDivide.apply(a, b)
        return M.Rounding.apply(a / b, op="trunc")
    be = a._be
    q = be.floor_divide(a._data, b._data)
    if rounding_mode == "trunc":  # floor -> towards zero where the signs differ and it is inexact
        inexact = be.ne(be.remainder(a._data, b._data), 0)
        differ = be.ne(be.lt(a._data, 0), be.lt(b._data, 0))
        q = be.add(q, be.astype(be.logical_and(inexact, differ), q.dtype))
    return Tensor._wrap(q, be)


def true_divide(input: Tensor, other: Any) -> Tensor:
    return input / other


def floor_divide(input: Tensor, other: Any) -> Tensor:
    return div(input, other, rounding_mode="floor")


def square(input: Tensor) -> Tensor:
    return input * input


_FLOAT_MAX = {"float32": 3.4028234663852886e38, "float64": 1.7976931348623157e308}


def nan_to_num(input: Tensor, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Tensor:
    """nan -> ``nan``, +inf -> ``posinf``, -inf -> ``neginf`` (the dtype's largest finite
    values by default); the gradient passes where the entry was finite."""
    if not input.is_floating_point():
        return input.clone()
    big = _FLOAT_MAX[input.dtype.name]
    out = where(isnan(input), nan, input)
    out = where(isposinf(input), big if posinf is None else posinf, out)
    return where(isneginf(input), -big if neginf is None else neginf, out)
