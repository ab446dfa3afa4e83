"""Differentiable elementwise math beyond the arithmetic core: trigonometric, hyperbolic,
error and exponential/log functions, rounding (zero gradient), and the binary fmod /
remainder / copysign / atan2. Derivatives are the textbook ones, with PyTorch's conventions
where a choice exists (rounding and copysign's sign input get zero gradient)."""

from __future__ import annotations

import math
from typing import Any, Callable

from dl_kernels.autograd.engine import Function


class _Unary(Function):
    """y = be.<op>(a); dy/da from (be, a, y)."""

    op = ""
    deriv: Callable[[Any, Any, Any], Any]

    def forward(self, a):
        self.a = a
        self.out = getattr(self.be, self.op)(a)
        return self.out

    def backward(self, g):
        return self.be.mul(g, type(self).deriv(self.be, self.a, self.out))


def _unary(name: str, op: str, deriv: Callable[[Any, Any, Any], Any]) -> type:
    return type(name, (_Unary,), {"op": op, "deriv": staticmethod(deriv),
                                  "__doc__": f"{op}(a), differentiable."})


def _rsqrt_1m(be: Any, a: Any) -> Any:
    return be.div(1.0, be.sqrt(be.sub(1.0, be.mul(a, a))))


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)

Sin = _unary("Sin", "sin", lambda be, a, y: be.cos(a))
Cos = _unary("Cos", "cos", lambda be, a, y: be.neg(be.sin(a)))
Tan = _unary("Tan", "tan", lambda be, a, y: be.add(1.0, be.mul(y, y)))
Asin = _unary("Asin", "asin", lambda be, a, y: _rsqrt_1m(be, a))
Acos = _unary("Acos", "acos", lambda be, a, y: be.neg(_rsqrt_1m(be, a)))
Atan = _unary("Atan", "atan", lambda be, a, y: be.div(1.0, be.add(1.0, be.mul(a, a))))
Sinh = _unary("Sinh", "sinh", lambda be, a, y: be.cosh(a))
Cosh = _unary("Cosh", "cosh", lambda be, a, y: be.sinh(a))
Asinh = _unary("Asinh", "asinh",
               lambda be, a, y: be.div(1.0, be.sqrt(be.add(be.mul(a, a), 1.0))))
Acosh = _unary("Acosh", "acosh",
               lambda be, a, y: be.div(1.0, be.sqrt(be.sub(be.mul(a, a), 1.0))))
Atanh = _unary("Atanh", "atanh", lambda be, a, y: be.div(1.0, be.sub(1.0, be.mul(a, a))))
Erf = _unary("Erf", "erf", lambda be, a, y: be.mul(be.exp(be.neg(be.mul(a, a))),
                                                     _TWO_OVER_SQRT_PI))
Erfc = _unary("Erfc", "erfc", lambda be, a, y: be.mul(be.exp(be.neg(be.mul(a, a))),
                                                        -_TWO_OVER_SQRT_PI))
Erfinv = _unary("Erfinv", "erfinv", lambda be, a, y: be.mul(be.exp(be.mul(y, y)),
                                                             math.sqrt(math.pi) / 2.0))
Exp2 = _unary("Exp2", "exp2", lambda be, a, y: be.mul(y, math.log(2.0)))
Log2 = _unary("Log2", "log2", lambda be, a, y: be.div(1.0, be.mul(a, math.log(2.0))))
Log10 = _unary("Log10", "log10", lambda be, a, y: be.div(1.0, be.mul(a, math.log(10.0))))
Expm1 = _unary("Expm1", "expm1", lambda be, a, y: be.add(y, 1.0))
Log1p = _unary("Log1p", "log1p", lambda be, a, y: be.div(1.0, be.add(a, 1.0)))


class Rounding(Function):
    """floor / ceil / trunc / round: piecewise constant, so the gradient is zero."""

    def forward(self, a, op="floor", decimals=0):
        if op == "round":
            return self.be.round(a, decimals)
        return getattr(self.be, op)(a)

    def backward(self, g):
        return self.be.mul(g, 0)


class Fmod(Function):
    """fmod (C's, the sign of a) or remainder (Python's, the sign of b): a - q b with q the
    truncated or floored quotient; d/da = 1, d/db = -q."""

    def forward(self, a, b, floor=False):
        be = self.be
        self.a, self.b, self.floor = a, b, floor
        return be.remainder(a, b) if floor else be.fmod(a, b)

    def backward(self, g):
        be = self.be
        q = be.div(self.a, self.b)
        q = be.floor(q) if self.floor else be.trunc(q)
        need_a, need_b = self.needs_input_grad
        ga = be.unbroadcast(g, self.a.shape) if need_a else None
        gb = be.unbroadcast(be.neg(be.mul(g, q)), self.b.shape) if need_b else None
        return ga, gb


class Copysign(Function):
    """|a| with the sign of b; d/da = sign ratio (0 at a == 0, as PyTorch), d/db = 0."""

    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = self.be.copysign(a, b)
        return self.out

    def backward(self, g):
        be = self.be
        need_a, need_b = self.needs_input_grad
        ga = gb = None
        if need_a:
            zero = be.eq(self.a, 0)
            ratio = be.where(zero, 0.0, be.div(self.out, be.where(zero, 1.0, self.a)))
            ga = be.unbroadcast(be.mul(g, ratio), self.a.shape)
        if need_b:
            gb = be.unbroadcast(be.mul(g, 0), self.b.shape)
        return ga, gb


class Atan2(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return self.be.atan2(a, b)

    def backward(self, g):
        be = self.be
        a, b = self.a, self.b
        r2 = be.add(be.mul(a, a), be.mul(b, b))
        need_a, need_b = self.needs_input_grad
        ga = be.unbroadcast(be.mul(g, be.div(b, r2)), a.shape) if need_a else None
        gb = be.unbroadcast(be.neg(be.mul(g, be.div(a, r2))), b.shape) if need_b else None
        return ga, gb
