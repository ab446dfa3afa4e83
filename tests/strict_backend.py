"""A second CPU backend, for tests only: the CPU backend's work behind an opaque array type.

Its arrays (``StrictArray``) carry exactly what the backend contract promises (``shape``,
``ndim``, ``size``, ``dtype``) and refuse everything else loudly: no operators, no indexing,
no truth value, no numpy methods, and numpy itself refuses them (``__array__``,
``__array_ufunc__`` and ``__array_function__`` raise). Host numpy arrays handed to a backend
operation other than the conversions are refused too, since a device backend could not use
them. Code above ``dl_kernels.backend`` that treats a backend array as numpy therefore fails
on this backend, while code that keeps to the contract runs unchanged: running the whole test
suite on it (``DLK_TEST_BACKEND=strict python -m pytest tests``) checks the seam.

Every operation is generated from ``dl_kernels.backend.CONTRACT``, so the strict backend also
offers nothing the contract does not name.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from dl_kernels import backend as _backend

_HOST_INPUTS = ("asarray", "from_numpy", "from_dlpack")  # the ops that take host data
_HOST_OUTPUTS = ("to_numpy",)  # the op whose result is host data
# Host metadata, like shapes: the recurrent kernels' per-step batch sizes of a packed sequence
# (PyTorch keeps PackedSequence.batch_sizes on the CPU whatever the device, too).
_HOST_KWARGS = ("batch_sizes",)


class OpaqueArrayError(TypeError):
    """A backend array was used as if it were a numpy array."""


def _refuse(what: str) -> Any:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise OpaqueArrayError(
            f"{what} on a backend array: above dl_kernels.backend an array offers only "
            f"shape/ndim/size/dtype; ask the backend object instead"
        )

    return method


class StrictArray:
    """An opaque handle on a numpy array: the four contract attributes, nothing else."""

    __slots__ = ("_a",)

    def __init__(self, a: np.ndarray) -> None:
        self._a = a

    @property
    def shape(self) -> tuple[int, ...]:
        return self._a.shape

    @property
    def ndim(self) -> int:
        return self._a.ndim

    @property
    def size(self) -> int:
        return self._a.size

    @property
    def dtype(self) -> np.dtype:
        return self._a.dtype

    def __repr__(self) -> str:
        return f"StrictArray(shape={self._a.shape}, dtype={self._a.dtype})"

    __hash__ = object.__hash__
    __array__ = _refuse("numpy conversion (__array__)")
    __array_function__ = _refuse("a numpy function")
    __array_ufunc__ = _refuse("a numpy ufunc")
    __bool__ = _refuse("truth value")
    __eq__ = _refuse("==")  # type: ignore[assignment]
    __ne__ = _refuse("!=")  # type: ignore[assignment]
    __len__ = _refuse("len()")
    __iter__ = _refuse("iteration")
    __getitem__ = _refuse("indexing")
    __setitem__ = _refuse("index assignment")
    __float__ = _refuse("float()")
    __int__ = _refuse("int()")
    __index__ = _refuse("use as an index")
    __dlpack__ = _refuse("__dlpack__")


def _unwrap(x: Any, name: str) -> Any:
    cls = x.__class__
    if cls is StrictArray:
        return x._a
    if cls is tuple or cls is list:
        return cls(_unwrap(v, name) for v in x)
    if isinstance(x, np.ndarray) and name not in _HOST_INPUTS:
        raise OpaqueArrayError(
            f"backend.{name} was given a host numpy array {x.shape} {x.dtype}: arrays reach a "
            f"backend operation as that backend's arrays (make one with backend.asarray)"
        )
    return x


def _wrap(x: Any) -> Any:
    cls = x.__class__
    if cls is np.ndarray:
        return StrictArray(x)
    if isinstance(x, np.generic):
        return StrictArray(np.asarray(x))
    if cls is tuple or cls is list:
        return cls(_wrap(v) for v in x)
    return x


def _delegate(name: str) -> Any:
    host_out = name in _HOST_OUTPUTS

    def method(self: StrictBackend, *args: Any, **kwargs: Any) -> Any:
        args = tuple(_unwrap(a, name) for a in args)
        kwargs = {k: v if k in _HOST_KWARGS else _unwrap(v, name) for k, v in kwargs.items()}
        out = getattr(self._inner, name)(*args, **kwargs)
        return out if host_out else _wrap(out)

    method.__name__ = name
    method.__doc__ = f"The CPU backend's ``{name}`` over opaque arrays."
    return method


class StrictBackend:
    """The CPU backend's results, every array wrapped in ``StrictArray``."""

    device = "cpu"
    Array = StrictArray

    def __init__(self, inner: Any = None) -> None:
        self._inner = inner if inner is not None else _backend.cpu

    def __repr__(self) -> str:
        return "StrictBackend()"


for _name in _backend.contract_names():
    if _name not in ("device", "Array"):
        setattr(StrictBackend, _name, _delegate(_name))


def install() -> Any:
    """Make a strict backend the 'cpu' backend; return the previous one (to restore)."""
    return _backend.register_backend("cpu", StrictBackend())
