"""Element types and devices, and the promotion rule between dtypes (as torch's).

The dtype objects name numpy dtypes (``dtype.np``) because every backend describes its arrays'
element type with a numpy dtype object; no array is touched here.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from dl_kernels import backend as _backend


# ---- dtypes and devices ---------------------------------------------------------------------
class dtype:
    """A tensor element type: ``float32`` (default), ``float64``, ``int64``, ``bool``."""

    __slots__ = ("is_floating_point", "itemsize", "name", "np")

    def __init__(self, name: str) -> None:
        self.name = name
        self.np = np.dtype(name)
        self.is_floating_point = self.np.kind == "f"
        self.itemsize = self.np.itemsize

    def __repr__(self) -> str:
        return f"dl_kernels.{self.name}"


float32 = dtype("float32")
float64 = dtype("float64")
int64 = dtype("int64")
bool_ = dtype("bool")
int32 = dtype("int32")
int16 = dtype("int16")
int8 = dtype("int8")
uint8 = dtype("uint8")
_BY_NP = {d.np: d for d in (float32, float64, int64, bool_, int32, int16, int8, uint8)}
_BY_NAME = {
    "float32": float32, "float": float32, "float64": float64, "double": float64,
    "int64": int64, "long": int64, "bool": bool_, "int32": int32, "int": int32,
    "int16": int16, "short": int16, "int8": int8, "uint8": uint8,
}


def _as_dtype(d: Any) -> dtype:
    """dl_kernels dtype, numpy dtype, name, or Python type -> dtype; TypeError otherwise."""
    if isinstance(d, dtype):
        return d
    if d is builtins.float:
        return float32
    if d is builtins.int:
        return int64
    if d is builtins.bool:
        return bool_
    if isinstance(d, str) and d in _BY_NAME:
        return _BY_NAME[d]
    try:
        return _BY_NP[np.dtype(d)]
    except (TypeError, KeyError):
        raise TypeError(
            f"unsupported dtype {d!r}: expected float32, float64, int64 or bool"
        ) from None


def _supported(a: Any, be: Any) -> Any:
    """An array converted to the nearest supported dtype (ints -> int64, floats -> float32)."""
    if a.dtype in _BY_NP:
        return a
    kind = a.dtype.kind
    if kind in "iu":
        return be.astype(a, int64.np)
    if kind == "f":
        return be.astype(a, float32.np)
    if kind == "b":
        return be.astype(a, bool_.np)
    raise TypeError(f"unsupported dtype {a.dtype}: expected float32, float64, an integer type "
                    "or bool")


class device:
    """Where a tensor lives: ``device("cpu")`` or ``device("cuda")``; equal to its name."""

    __slots__ = ("type",)

    def __init__(self, type: Any = "cpu") -> None:
        self.type = _backend.normalize_device(type)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, device):
            return other.type == self.type
        if isinstance(other, str):
            return other.split(":", 1)[0] == self.type
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.type)

    def __repr__(self) -> str:
        return f"device(type='{self.type}')"

    def __str__(self) -> str:
        return self.type


_DEVICE_OBJ = {"cpu": device("cpu"), "cuda": device("cuda")}

def _result_dtype(a: dtype, b: dtype) -> dtype:
    """torch's promotion between two tensors: float beats int beats bool; float64 beats float32."""
    if a is b:
        return a
    if a.is_floating_point and b.is_floating_point:
        return float64
    if a.is_floating_point:
        return a
    if b.is_floating_point:
        return b
    if a is bool_ or b is bool_:
        return b if a is bool_ else a
    return _BY_NP[np.promote_types(a.np, b.np)]  # PyTorch's integer promotion is numpy's


def _category(d: dtype) -> int:
    return 2 if d.is_floating_point else 0 if d is bool_ else 1


def promote(ta: dtype, tb: dtype, a_0d: builtins.bool, b_0d: builtins.bool) -> dtype:
    """The common dtype of two tensor operands (torch's rule): a 0-d tensor does not promote a
    dimensioned one within its category (bool < integer < floating)."""
    if ta is tb:
        return ta
    if a_0d != b_0d and _category(ta) == _category(tb):
        return tb if a_0d else ta
    return _result_dtype(ta, tb)
