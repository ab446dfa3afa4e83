"""Backends: one object per device, with the same small interface.

Everything above this package (tensor, autograd, nn) touches array data only through a
backend object; the backend is the only code that calls numpy for arithmetic or the compiled
kernels in ``dl_kernels._C``. A CUDA backend implements the same names on device arrays.

The interface (``A`` is the backend's array type; numpy ``ndarray`` for the CPU backend):

attributes
    ``device`` ("cpu" | "cuda"), ``Array`` (the array type)
dtypes and conversion
    ``asarray(data, dtype=None) -> A``, ``astype(a, dtype) -> A``, ``copy(a) -> A``,
    ``contiguous(a) -> A``, ``is_contiguous(a)``, ``to_numpy(a) -> numpy.ndarray``,
    ``from_dlpack(obj) -> A``,
    ``dtype_of(a) -> numpy dtype``
creation and random numbers
    ``empty/zeros/ones(shape, dtype)``, ``full(shape, value, dtype)``,
    ``arange(start, stop, step, dtype)``, ``randn/rand(shape, dtype)``,
    ``randint(low, high, shape, dtype)``, ``bernoulli(shape, p, dtype)``, ``manual_seed(n)``
elementwise (numpy broadcasting rules)
    ``add sub mul div floor_divide remainder pow neg exp log sqrt abs sign tanh sigmoid``,
    ``maximum minimum``,
    ``clip(a, lo, hi)``, ``where(cond, a, b)``, ``eq ne lt le gt ge``,
    ``logical_and logical_or logical_not``, ``log1p expm1 softplus``
reductions
    ``sum/max/min/mean(a, axis, keepdims)``, ``argmax/argmin(a, axis, keepdims)``,
    ``logsumexp(a, axis, keepdims)``
movement (views where the layout allows)
    ``reshape(a, shape)``, ``permute(a, axes)``, ``broadcast_to(a, shape)``,
    ``getitem(a, index)``, ``setitem(a, index, value)``, ``index_add(shape, index, values)``
    (scatter-add into zeros: the backward of indexing and embedding),
    ``gather(a, index, axis)``, ``scatter_add(shape, index, values, axis)``,
    ``sort(a, axis, descending)``, ``concat(arrays, axis)``,
    ``stack(arrays, axis)``, ``split(a, sections, axis)``, ``unbroadcast(a, shape)``
extended math (``cpu_ops.CPUMathOps`` on the CPU; used by ``dl_kernels.ops`` and the
autograd Functions in ``math_ops``, ``scan_ops``, ``shape_ops``)
    ``sin cos tan asin acos atan atan2 sinh cosh asinh acosh atanh erf erfc erfinv``,
    ``exp2 log2 log10 floor ceil trunc round(a, decimals) fmod copysign``,
    ``isnan isinf isfinite signbit isclose``,
    ``cumsum/cumprod/logcumsumexp(a, axis)``, ``cummax/cummin(a, axis) -> (values, indices)``,
    ``prod(a, axis, keepdims)``, ``flip(a, axes)``, ``roll(a, shifts, axes)``,
    ``tril/triu(a, k)``, ``diagonal(a, offset, axis1, axis2)``, ``diag_embed``,
    ``nonzero(a) -> (count, ndim) int64``, ``repeat(a, repeats, axis)``,
    ``einsum(equation, *arrays)``, ``scatter(a, index, src, axis, reduce, include_self)``,
    ``multinomial(probs, num_samples, replacement)``
kernels (``_C`` on the CPU)
    ``matmul(a, b)`` (2-D and batched, on our GEMM), ``gemm(a, b, trans_a, trans_b)``,
    ``conv2d_forward/backward_input/backward_weight/backward_bias``,
    ``max_pool2d_forward/backward``, ``avg_pool2d_forward/backward``,
    ``log_softmax_forward/backward``, ``softmax_cross_entropy_forward/backward``,
    ``lstm_cell_forward/backward``, ``lstm_forward/backward``,
    ``gru_cell_forward/backward``, ``gru_forward/backward``

``get_backend(device)`` returns the backend for ``"cpu"`` or ``"cuda"`` (the latter raises a
clear ``RuntimeError`` until the CUDA backend exists).
"""

from __future__ import annotations

from typing import Any

from dl_kernels.backend.cpu import CPUBackend

cpu = CPUBackend()

_DEVICES = ("cpu", "cuda")


def normalize_device(device: Any) -> str:
    """'cpu', 'cuda', 'cuda:0' or a Device object -> 'cpu' | 'cuda'; ValueError otherwise."""
    if device is None:
        return "cpu"
    name = str(getattr(device, "type", device))
    base = name.split(":", 1)[0]
    if base not in _DEVICES:
        raise ValueError(f"unknown device {device!r}: expected 'cpu' or 'cuda'")
    return base


def get_backend(device: Any = "cpu") -> CPUBackend:
    """The backend object for a device."""
    name = normalize_device(device)
    if name == "cpu":
        return cpu
    from dl_kernels import cuda

    if not cuda.is_built():
        raise RuntimeError(
            "device 'cuda' requested, but dl_kernels was built without its CUDA module; "
            "use device='cpu'"
        )
    raise RuntimeError(
        "device 'cuda' requested, but the CUDA tensor backend is not implemented yet; "
        "use device='cpu'"
    )


__all__ = ["CPUBackend", "cpu", "get_backend", "normalize_device"]
