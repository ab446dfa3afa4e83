"""The CPU backend's math beyond the core interface: trigonometric, hyperbolic and error
functions, rounding, float classification, scans, flips and rolls, triangles and diagonals,
scatter with reductions, multinomial sampling. numpy (and scipy.special, installed with
scikit-learn, for erf / erfinv) on numpy arrays.

Mixed into ``CPUBackend``; a CUDA backend provides the same names on device arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _special() -> Any:
    import scipy.special  # lazily: only erf / erfinv need it

    return scipy.special


def _erf(a: np.ndarray) -> np.ndarray:
    return _special().erf(a).astype(a.dtype, copy=False)


def _erfc(a: np.ndarray) -> np.ndarray:
    return _special().erfc(a).astype(a.dtype, copy=False)


def _erfinv(a: np.ndarray) -> np.ndarray:
    return _special().erfinv(a).astype(a.dtype, copy=False)


def _scan_extreme(a: np.ndarray, axis: int, minimum: bool) -> tuple[np.ndarray, np.ndarray]:
    """Running max (or min) along ``axis`` and the index where it was last attained (PyTorch
    reports the last index among ties; a nan, once seen, stays the extreme)."""
    x = np.moveaxis(a, axis, -1)
    values = np.empty_like(x)
    idx = np.empty(x.shape, dtype=np.int64)
    if x.shape[-1]:
        values[..., 0], idx[..., 0] = x[..., 0], 0
        for i in range(1, x.shape[-1]):
            prev, cur = values[..., i - 1], x[..., i]
            better = (cur <= prev) if minimum else (cur >= prev)
            better = (better | np.isnan(cur)) & ~np.isnan(prev)
            values[..., i] = np.where(better, cur, prev)
            idx[..., i] = np.where(better, i, idx[..., i - 1])
    return np.moveaxis(values, -1, axis), np.moveaxis(idx, -1, axis)


class CPUMathOps:
    """numpy implementations of the extended backend interface (see ``dl_kernels.backend``)."""

    # ---- elementwise --------------------------------------------------------------------------
    sin = staticmethod(np.sin)
    cos = staticmethod(np.cos)
    tan = staticmethod(np.tan)
    asin = staticmethod(np.arcsin)
    acos = staticmethod(np.arccos)
    atan = staticmethod(np.arctan)
    atan2 = staticmethod(np.arctan2)
    sinh = staticmethod(np.sinh)
    cosh = staticmethod(np.cosh)
    asinh = staticmethod(np.arcsinh)
    acosh = staticmethod(np.arccosh)
    atanh = staticmethod(np.arctanh)
    erf = staticmethod(_erf)
    erfc = staticmethod(_erfc)
    erfinv = staticmethod(_erfinv)
    exp2 = staticmethod(np.exp2)
    log2 = staticmethod(np.log2)
    log10 = staticmethod(np.log10)
    floor = staticmethod(np.floor)
    ceil = staticmethod(np.ceil)
    trunc = staticmethod(np.trunc)
    fmod = staticmethod(np.fmod)
    copysign = staticmethod(np.copysign)
    isnan = staticmethod(np.isnan)
    isinf = staticmethod(np.isinf)
    isfinite = staticmethod(np.isfinite)
    signbit = staticmethod(np.signbit)

    @staticmethod
    def round(a: np.ndarray, decimals: int = 0) -> np.ndarray:
        """Half to even, as PyTorch."""
        return np.round(a, decimals)

    # ---- scans --------------------------------------------------------------------------------
    @staticmethod
    def cumsum(a: np.ndarray, axis: int) -> np.ndarray:
        return np.cumsum(a, axis=axis)

    @staticmethod
    def cumprod(a: np.ndarray, axis: int) -> np.ndarray:
        return np.cumprod(a, axis=axis)

    @staticmethod
    def cummax(a: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
        return _scan_extreme(a, axis, minimum=False)

    @staticmethod
    def cummin(a: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
        return _scan_extreme(a, axis, minimum=True)

    @staticmethod
    def logcumsumexp(a: np.ndarray, axis: int) -> np.ndarray:
        return np.logaddexp.accumulate(a, axis=axis) if a.size else a.copy()

    @staticmethod
    def prod(a: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
        return np.asarray(np.prod(a, axis=axis, keepdims=keepdims))

    # ---- movement -----------------------------------------------------------------------------
    @staticmethod
    def flip(a: np.ndarray, axes: Sequence[int]) -> np.ndarray:
        return np.flip(a, tuple(axes))

    @staticmethod
    def roll(a: np.ndarray, shifts: Sequence[int], axes: Sequence[int] | None) -> np.ndarray:
        return np.roll(a, shifts, axes)

    @staticmethod
    def tril(a: np.ndarray, k: int = 0) -> np.ndarray:
        return np.tril(a, k)

    @staticmethod
    def triu(a: np.ndarray, k: int = 0) -> np.ndarray:
        return np.triu(a, k)

    @staticmethod
    def diagonal(a: np.ndarray, offset: int, axis1: int, axis2: int) -> np.ndarray:
        return np.diagonal(a, offset, axis1, axis2)

    @staticmethod
    def diag_embed(d: np.ndarray, offset: int, axis1: int, axis2: int) -> np.ndarray:
        """Zeros with ``d``'s last axis written on the (axis1, axis2) diagonal at ``offset``."""
        n = d.shape[-1] + abs(offset)
        out = np.zeros(d.shape[:-1] + (n, n), dtype=d.dtype)
        np.einsum("...ii->...i", out[..., max(-offset, 0):, max(offset, 0):])[...] = d
        ndim = out.ndim
        a1, a2 = axis1 % ndim, axis2 % ndim
        rest = [i for i in range(ndim) if i not in (a1, a2)]
        perm = [0] * ndim
        for src, dst in zip(range(ndim - 2), rest):
            perm[dst] = src
        perm[a1], perm[a2] = ndim - 2, ndim - 1
        return np.ascontiguousarray(np.transpose(out, perm))

    @staticmethod
    def nonzero(a: np.ndarray) -> np.ndarray:
        """(count, ndim) int64 indices of the nonzero entries, row-major order."""
        return np.argwhere(a).astype(np.int64).reshape(-1, a.ndim)

    @staticmethod
    def repeat(a: np.ndarray, repeats: Any, axis: int | None) -> np.ndarray:
        return np.repeat(a, repeats, axis)

    @staticmethod
    def einsum(equation: str, *operands: np.ndarray) -> np.ndarray:
        return np.asarray(np.einsum(equation, *operands, optimize=len(operands) > 2))

    @staticmethod
    def scatter(a: np.ndarray, index: np.ndarray, src: Any, axis: int,
                reduce: str | None = None, include_self: bool = True) -> np.ndarray:
        """A copy of ``a`` with ``src`` written (or reduced: sum, prod, amax, amin, mean) where
        ``index`` points along ``axis`` (torch.scatter / scatter_reduce)."""
        out = a.copy()
        grids = list(np.indices(index.shape, sparse=True))
        grids[axis] = index
        where = tuple(grids)
        src = np.broadcast_to(src, index.shape) if np.ndim(src) == 0 else src[
            tuple(slice(0, n) for n in index.shape)]
        if reduce is None:
            out[where] = src
            return out
        ufunc = {"sum": np.add, "mean": np.add, "prod": np.multiply, "amax": np.maximum,
                 "amin": np.minimum}[reduce]
        if not include_self:
            touched = np.zeros(a.shape, dtype=bool)
            touched[where] = True
            identity = {"sum": 0, "mean": 0, "prod": 1, "amax": -np.inf, "amin": np.inf}[reduce]
            out[touched] = identity
        ufunc.at(out, where, src)
        if reduce == "mean":
            count = np.full(a.shape, 1 if include_self else 0, dtype=np.int64)
            np.add.at(count, where, 1)
            np.true_divide(out, np.maximum(count, 1), out=out, casting="unsafe")
        return out

    def multinomial(self, probs: np.ndarray, num_samples: int,
                    replacement: bool) -> np.ndarray:
        """``num_samples`` category indices per row of ``probs`` (rows need not sum to 1)."""
        p2 = probs.reshape(-1, probs.shape[-1]).astype(np.float64)
        out = np.empty((p2.shape[0], num_samples), dtype=np.int64)
        for r, row in enumerate(p2):
            out[r] = self.rng.choice(row.size, num_samples, replace=replacement,
                                     p=row / row.sum())
        return out.reshape(probs.shape[:-1] + (num_samples,))
