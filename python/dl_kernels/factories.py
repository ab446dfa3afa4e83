"""Making tensors: filled, random, ranges, from numpy and DLPack, ``*_like``; seeding."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from dl_kernels import backend as _backend
from dl_kernels.dtypes import _BY_NP, _as_dtype, _supported, bool_, float32, float64, int64
from dl_kernels.tensor import Tensor, _make, _size_arg


def from_numpy(a: Any) -> Tensor:
    """A tensor sharing memory with numpy array ``a`` (float32/float64/int64/bool)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(a).__name__}")
    if a.dtype not in _BY_NP:
        raise TypeError(f"from_numpy: unsupported dtype {a.dtype}: expected float32, float64, "
                        "int64 or bool")
    be = _backend.get_backend("cpu")
    return Tensor._wrap(be.from_numpy(a), be)


def from_dlpack(obj: Any) -> Tensor:
    """A tensor sharing memory with any DLPack producer (torch, numpy, jax, ...)."""
    be = _backend.get_backend("cpu")
    if hasattr(obj, "__dlpack_device__"):
        dev_type = obj.__dlpack_device__()[0]
        if dev_type != 1:
            be = _backend.get_backend("cuda")
    return Tensor._wrap(_supported(be.from_dlpack(obj), be), be)


def _factory(fill: str, size: tuple, dtype: Any, device: Any, requires_grad: bool,
             value: Any = None) -> Tensor:
    be = _backend.get_backend(device)
    d = (_as_dtype(dtype) if dtype is not None else float32).np
    shape = _size_arg(size)
    if fill == "full":
        data = be.full(shape, value, d)
    else:
        data = getattr(be, fill)(shape, d)
    return _make(data, be, requires_grad)


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with 0.

    Args:
        *size: the shape, as separate ints or one tuple/list (``zeros(2, 3)`` or
            ``zeros((2, 3))``); no size gives a 0-d tensor.
        dtype: float32 (default), float64, int64 or bool.
        device: ``"cpu"`` (default) or ``"cuda"``.
        requires_grad: record operations on it for autograd (floating dtypes only).

    Example:
        >>> dlk.zeros(2, 3)
        tensor([[0., 0., 0.],
                [0., 0., 0.]])
        >>> dlk.zeros((2,), dtype=dlk.int64).tolist()
        [0, 0]
    """
    return _factory("zeros", size, dtype, device, requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with 1.

    Args:
        *size: the shape, as separate ints or one tuple/list (``zeros(2, 3)`` or
            ``zeros((2, 3))``); no size gives a 0-d tensor.
        dtype: float32 (default), float64, int64 or bool.
        device: ``"cpu"`` (default) or ``"cuda"``.
        requires_grad: record operations on it for autograd (floating dtypes only).

    Example:
        >>> dlk.ones(3).tolist()
        [1.0, 1.0, 1.0]
    """
    return _factory("ones", size, dtype, device, requires_grad)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor whose values are not initialised (fastest; overwrite every element).

    Args:
        *size: the shape, as separate ints or one tuple/list (``zeros(2, 3)`` or
            ``zeros((2, 3))``); no size gives a 0-d tensor.
        dtype: float32 (default), float64, int64 or bool.
        device: ``"cpu"`` (default) or ``"cuda"``.
        requires_grad: record operations on it for autograd (floating dtypes only).

    Example:
        >>> dlk.empty(2, 2).shape
        (2, 2)
    """
    return _factory("empty", size, dtype, device, requires_grad)


def full(size: Any, fill_value: Any, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of shape ``size`` filled with ``fill_value``.

    Args:
        size: the shape (an int or a tuple).
        fill_value: the value; its Python type picks the default dtype (bool, int -> int64,
            float -> float32).
        dtype, device, requires_grad: as :func:`zeros`.

    Example:
        >>> dlk.full((2, 2), 7).tolist()
        [[7, 7], [7, 7]]
    """
    if dtype is None:
        dtype = (bool_ if isinstance(fill_value, builtins.bool)
                 else int64 if isinstance(fill_value, builtins.int) else float32)
    return _factory("full", (size,), dtype, device, requires_grad, fill_value)


def randn(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Samples of the standard normal distribution N(0, 1), from the library's generator
    (seeded by :func:`manual_seed`).

    Args:
        *size: the shape, as separate ints or one tuple/list (``zeros(2, 3)`` or
            ``zeros((2, 3))``); no size gives a 0-d tensor.
        dtype: float32 (default), float64, int64 or bool.
        device: ``"cpu"`` (default) or ``"cuda"``.
        requires_grad: record operations on it for autograd (floating dtypes only).

    Example:
        >>> dlk.manual_seed(0)
        >>> x = dlk.randn(1000)
        >>> x.shape, -0.1 < x.mean().item() < 0.1
        ((1000,), True)
    """
    return _factory("randn", size, dtype, device, requires_grad)


def rand(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Samples of the uniform distribution on [0, 1), from the library's generator.

    Args:
        *size: the shape, as separate ints or one tuple/list (``zeros(2, 3)`` or
            ``zeros((2, 3))``); no size gives a 0-d tensor.
        dtype: float32 (default), float64, int64 or bool.
        device: ``"cpu"`` (default) or ``"cuda"``.
        requires_grad: record operations on it for autograd (floating dtypes only).

    Example:
        >>> x = dlk.rand(100)
        >>> bool((x >= 0).all()) and bool((x < 1).all())
        True
    """
    return _factory("rand", size, dtype, device, requires_grad)


def randint(low: int, high: Any = None, size: Any = None, dtype: Any = None,
            device: Any = None) -> Tensor:
    """``randint(high, size)`` or ``randint(low, high, size)``: integers in [low, high)."""
    if size is None:
        if not isinstance(high, (tuple, list)):
            raise TypeError("randint: size (a tuple) is required")
        low, high, size = 0, low, high
    be = _backend.get_backend(device)
    d = (_as_dtype(dtype) if dtype is not None else int64).np
    return Tensor._wrap(be.randint(low, high, _size_arg((size,)), d), be)


def arange(start: Any, end: Any = None, step: Any = 1, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Values from ``start`` to ``end`` (excluded) in steps of ``step`` (``arange(n)`` is
    0 .. n-1). int64 when every argument is an int, else float32.

    Example:
        >>> dlk.arange(4).tolist(), dlk.arange(0, 1, 0.25).tolist()
        ([0, 1, 2, 3], [0.0, 0.25, 0.5, 0.75])
    """
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_int = all(isinstance(v, builtins.int) for v in (start, end, step))
        dtype = int64 if is_int else float32
    be = _backend.get_backend(device)
    return _make(be.arange(start, end, step, _as_dtype(dtype).np), be, requires_grad)


def linspace(start: float, end: float, steps: int, dtype: Any = None, device: Any = None) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end``, both included
    (float32 unless ``dtype`` says otherwise).

    Example:
        >>> dlk.linspace(0, 1, 5).tolist()
        [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    if isinstance(start, Tensor):
        start = start.item()
    if isinstance(end, Tensor):
        end = end.item()
    if steps == 1:
        return full((1,), start, dtype=dtype or float32, device=device)
    if steps == 0:
        return zeros(0, dtype=dtype or float32, device=device)
    step = (end - start) / (steps - 1)
    if dtype is None or _as_dtype(dtype).is_floating_point:
        # PyTorch's: the first half counted up from start, the second down from end, so both
        # ends are exact
        i = arange(steps, dtype=float64, device=device)
        half = steps // 2
        up = i * step + start
        down = end - (steps - 1 - i) * step
        return up.where(i < half, down).to(dtype or float32)
    return arange(steps, dtype=float64, device=device).mul(step).add(start).to(dtype or float32)


def eye(n: int, m: int | None = None, dtype: Any = None, device: Any = None,
        requires_grad: bool = False) -> Tensor:
    """The identity matrix, ``n`` x ``m`` (square when ``m`` is None).

    Example:
        >>> dlk.eye(2, 3).tolist()
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    m = n if m is None else m
    out = zeros(n, m, dtype=dtype, device=device)
    k = builtins.min(n, m)
    idx = arange(k, device=device)
    out[idx, idx] = 1
    return out.requires_grad_(True) if requires_grad else out


def _like(fn: Any, t: Tensor, dtype: Any, requires_grad: bool, *extra: Any,
          device: Any = None) -> Tensor:
    d = dtype if dtype is not None else t.dtype
    return fn(t.shape, *extra, dtype=d, device=device if device is not None else t.device,
              requires_grad=requires_grad)


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False,
               device: Any = None, memory_format: Any = None) -> Tensor:
    """Zeros with the shape, dtype and device (each unless given) of ``t``."""
    return _like(zeros, t, dtype, requires_grad, device=device)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False,
              device: Any = None, memory_format: Any = None) -> Tensor:
    """Ones with the shape, dtype and device (each unless given) of ``t``."""
    return _like(ones, t, dtype, requires_grad, device=device)


def empty_like(t: Tensor, dtype: Any = None, requires_grad: bool = False,
               device: Any = None, memory_format: Any = None) -> Tensor:
    """An uninitialised tensor with the shape, dtype and device (each unless given) of ``t``."""
    return _like(empty, t, dtype, requires_grad, device=device)


def full_like(t: Tensor, fill_value: Any, dtype: Any = None, requires_grad: bool = False,
              device: Any = None, memory_format: Any = None) -> Tensor:
    """``fill_value`` everywhere, with the shape, dtype and device (each unless given) of ``t``."""
    return _like(full, t, dtype, requires_grad, fill_value, device=device)


def randn_like(t: Tensor, dtype: Any = None, requires_grad: bool = False,
               device: Any = None, memory_format: Any = None) -> Tensor:
    """N(0, 1) samples with the shape, dtype and device (each unless given) of ``t``."""
    return _like(randn, t, dtype, requires_grad, device=device)


def rand_like(t: Tensor, dtype: Any = None, requires_grad: bool = False,
              device: Any = None, memory_format: Any = None) -> Tensor:
    """U[0, 1) samples with the shape, dtype and device (each unless given) of ``t``."""
    return _like(rand, t, dtype, requires_grad, device=device)


def manual_seed(seed: int) -> None:
    """Seed the random numbers of every backend (randn, rand, randint, dropout)."""
    for be in _backend.available_backends():
        be.manual_seed(seed)


def get_rng_state() -> Any:
    """The CPU generator's state (an opaque picklable value), for checkpoints."""
    return _backend.get_backend("cpu").get_rng_state()


def set_rng_state(state: Any) -> None:
    """Restore what ``get_rng_state`` returned."""
    _backend.get_backend("cpu").set_rng_state(state)


