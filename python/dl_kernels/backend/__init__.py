"""Backends: one object per device, with the same flat contract.

Everything above this package (tensor, autograd, nn, optim, models, the command line) touches
array data only through a backend object; the backend is the only code that calls numpy for
arithmetic or the compiled kernels in ``dl_kernels._C``. A device backend implements the names
of ``CONTRACT`` and nothing above it may assume more. The design follows needle's NDArray
backends and MLX's primitives: shapes, broadcasting rules and views are decided above, a
backend only executes.

The array (``A``, the backend's ``Array`` type; numpy ``ndarray`` on the CPU) promises only four
read-only attributes: ``shape`` (tuple of int), ``ndim``, ``size`` and ``dtype`` (a numpy dtype
object naming the element type). No operators, no methods, no ``__array__``, no indexing: for
all of that ask the backend. ``tests/strict_backend.py`` holds a backend whose arrays are an
opaque wrapper with exactly these attributes; the whole test suite passes on it
(``DLK_TEST_BACKEND=strict``), which is what keeps this seam honest.

The groups of ``CONTRACT`` (``a, b`` arrays or Python scalars where broadcasting applies; axis
arguments are already normalised to non-negative ints or tuples of them):

attributes
    ``device`` ("cpu" | "cuda"), ``Array`` (the array type)
conversion and casts
    ``asarray(data, dtype=None)`` (a copy of host data: lists, numbers, numpy arrays),
    ``from_numpy(a)`` (shares memory where the device can), ``to_numpy(a)`` (host array; on
    the CPU the same memory), ``item(a)`` (a one-element array as a Python number: a device
    sync, for the few decisions an op makes on values), ``astype(a, dtype)``, ``copy(a)``, ``contiguous(a)``,
    ``is_contiguous(a)``, ``dtype_of(a)``, ``from_dlpack(obj)``, ``dlpack(a, ...)`` and
    ``dlpack_device(a)`` (the DLPack protocol of ``a``)
creation
    ``empty/zeros/ones(shape, dtype)``, ``full(shape, value, dtype)``,
    ``arange(start, stop, step, dtype)``
random numbers (one generator per backend)
    ``randn/rand(shape, dtype)``, ``randint(low, high, shape, dtype)``,
    ``bernoulli(shape, p, dtype)``, ``multinomial(probs, num_samples, replacement)``,
    ``manual_seed(n)``, ``get_rng_state()`` and
    ``set_rng_state(state)`` (an opaque, picklable value)
elementwise (numpy broadcasting; the arithmetic ones take ``out=`` for in-place updates)
    ``add sub mul div floor_divide remainder pow neg exp log log1p expm1 sqrt abs sign tanh``
    ``sigmoid softplus(a, beta, threshold) maximum minimum clip(a, lo, hi) where(cond, a, b)``
    ``eq ne lt le gt ge logical_and logical_or logical_not isclose``
elementwise math (``backend/cpu_ops.py`` on the CPU)
    ``sin cos tan asin acos atan atan2 sinh cosh asinh acosh atanh erf erfc erfinv exp2 log2``
    ``log10 floor ceil trunc round(a, decimals) fmod copysign isnan isinf isfinite signbit``
reductions (``axis`` None, an int or a tuple)
    ``sum/mean/max/min/logsumexp/prod(a, axis, keepdims)``, ``argmax/argmin(a, axis, keepdims)``
scans (along one axis)
    ``cumsum cumprod logcumsumexp (a, axis)``, ``cummax/cummin(a, axis) -> (values, indices)``
movement (views where the layout allows), indexing, gather and scatter
    ``reshape(a, shape)``, ``permute(a, axes)``, ``broadcast_to(a, shape)``,
    ``concat(arrays, axis)``, ``stack(arrays, axis)``, ``split(a, sections, axis)``,
    ``unbroadcast(a, shape)`` (sum a broadcast gradient back to ``shape``),
    ``getitem(a, index)``, ``setitem(a, index, value)`` (index: ints, slices, None, Ellipsis,
    arrays of this backend, in numpy's rules), ``index_add(shape, index, values)``
    (scatter-add into zeros: the backward of indexing and embedding),
    ``gather(a, index, axis)``, ``scatter_add(shape, index, values, axis)``,
    ``sort(a, axis, descending) -> (values, indices)``, ``flip(a, axes)``,
    ``roll(a, shifts, axes)``, ``tril/triu(a, k)``, ``diagonal(a, offset, axis1, axis2)``,
    ``diag_embed(d, offset, axis1, axis2)``, ``nonzero(a)`` (N, ndim), ``repeat(a, repeats, axis)``,
    ``einsum(equation, *arrays)``, ``scatter(a, index, src, axis, reduce)`` (see cpu_ops)
kernel families (``_C`` on the CPU, ``_cuda`` on a GPU; argument order as in ``CPUBackend``)
    gemm: ``gemm(a, b, trans_a, trans_b)``, ``matmul(a, b)`` (numpy.matmul semantics),
    ``linear_forward(x, w, bias, activation)`` (``act(x @ w.T + bias)`` in one pass, activation
    "none", "relu", "tanh" or "sigmoid"), ``activation_backward(g, y, activation, bias_grad)``
    (``(g * act'(y), bias gradient or None)`` from the output ``y``)
    conv2d: ``conv2d_forward`` (its ``activation=`` as linear_forward's),
    ``conv2d_backward_input/weight/bias``
    pool2d: ``max_pool2d_forward/backward``, ``avg_pool2d_forward/backward``
    softmax_xent: ``log_softmax_forward/backward``, ``softmax_cross_entropy_forward/backward``
    lstm: ``lstm_forward/backward``, ``lstm_cell_forward/backward``
    gru: ``gru_forward/backward``, ``gru_cell_forward/backward``
    (the sequence drivers take ``batch_sizes=``, a packed sequence's per-step batch sizes: host
    metadata, an int64 numpy array like a shape, never a device array, as PyTorch keeps
    ``PackedSequence.batch_sizes`` on the CPU)
    attention: ``attention_forward(query, keys, values, mask) -> (context, weights)`` (one
    query per row: softmax over s of query · keys[s], masked where mask is False, then the
    weighted sum of values) and ``attention_backward(grad_context, grad_weights, query, keys,
    values, mask, weights) -> (grad_query, grad_keys, grad_values)``
    optim: ``sgd_update(params, grads, momentum_buffers, *, lr, momentum, dampening,
    weight_decay, nesterov, maximize) -> buffers`` and ``adam_update(params, grads, exp_avgs,
    exp_avg_sqs, max_exp_avg_sqs, steps, *, lr, beta1, beta2, eps, weight_decay, amsgrad,
    maximize, decoupled_weight_decay)``: one optimiser step over lists of arrays (one entry
    per parameter), in place; a ``None`` momentum buffer is created and returned; ``steps``
    are host ints, like shapes

``get_backend(device)`` returns the backend registered for ``"cpu"`` or ``"cuda"`` (the latter
raises a clear ``RuntimeError`` until the CUDA backend exists); ``register_backend`` replaces
one (the test suite uses it to run everything on the strict backend).
"""

from __future__ import annotations

from typing import Any

from dl_kernels.backend.cpu import CPUBackend

#: The names every backend provides, by group (see the module docstring for their meaning).
CONTRACT: dict[str, tuple[str, ...]] = {
    "attributes": ("device", "Array"),
    "conversion": ("asarray", "from_numpy", "to_numpy", "item", "astype", "copy", "contiguous",
                   "is_contiguous", "dtype_of", "from_dlpack", "dlpack", "dlpack_device"),
    "creation": ("empty", "zeros", "ones", "full", "arange"),
    "random": ("randn", "rand", "randint", "bernoulli", "multinomial", "manual_seed",
               "get_rng_state", "set_rng_state"),
    "elementwise": ("add", "sub", "mul", "div", "floor_divide", "remainder", "pow", "neg",
                    "exp", "log", "log1p", "expm1", "sqrt", "abs", "sign", "tanh", "sigmoid",
                    "softplus", "maximum", "minimum", "clip", "where", "eq", "ne", "lt", "le",
                    "gt", "ge", "logical_and", "logical_or", "logical_not", "isclose"),
    "elementwise math": ("sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh",
                         "asinh", "acosh", "atanh", "erf", "erfc", "erfinv", "exp2", "log2",
                         "log10", "floor", "ceil", "trunc", "round", "fmod", "copysign", "isnan",
                         "isinf", "isfinite", "signbit"),
    "reductions": ("sum", "mean", "max", "min", "logsumexp", "prod", "argmax", "argmin"),
    "scans": ("cumsum", "cumprod", "logcumsumexp", "cummax", "cummin"),
    "movement": ("reshape", "permute", "broadcast_to", "concat", "stack", "split",
                 "unbroadcast", "getitem", "setitem", "index_add", "gather", "scatter_add",
                 "sort", "flip", "roll", "tril", "triu", "diagonal", "diag_embed", "nonzero",
                 "repeat", "einsum", "scatter"),
    "kernel:gemm": ("gemm", "matmul", "linear_forward", "activation_backward"),
    "kernel:conv2d": ("conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight",
                      "conv2d_backward_bias"),
    "kernel:pool2d": ("max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward",
                      "avg_pool2d_backward"),
    "kernel:softmax_xent": ("log_softmax_forward", "log_softmax_backward",
                            "softmax_cross_entropy_forward", "softmax_cross_entropy_backward"),
    "kernel:lstm": ("lstm_forward", "lstm_backward", "lstm_cell_forward", "lstm_cell_backward"),
    "kernel:gru": ("gru_forward", "gru_backward", "gru_cell_forward", "gru_cell_backward"),
    "kernel:optim": ("sgd_update", "adam_update"),
    "kernel:attention": ("attention_forward", "attention_backward"),
}

#: The attributes a backend array promises (read-only); everything else goes through the backend.
ARRAY_ATTRIBUTES = ("shape", "ndim", "size", "dtype")

cpu = CPUBackend()  # the numpy + _C backend itself (what the strict test backend delegates to)

_DEVICES = ("cpu", "cuda")
_REGISTERED: dict[str, Any] = {"cpu": cpu}


def contract_names() -> tuple[str, ...]:
    """Every name of the contract, in group order."""
    return tuple(n for group in CONTRACT.values() for n in group)


def missing_from_contract(be: Any) -> list[str]:
    """The contract names ``be`` lacks (empty for a complete backend)."""
    return [n for n in contract_names() if not hasattr(be, n)]


def normalize_device(device: Any) -> str:
    """'cpu', 'cuda', 'cuda:0' or a Device object -> 'cpu' | 'cuda'; ValueError otherwise."""
    if device is None:
        return "cpu"
    name = str(getattr(device, "type", device))
    base = name.split(":", 1)[0]
    if base not in _DEVICES:
        raise ValueError(f"unknown device {device!r}: expected 'cpu' or 'cuda'")
    return base


def register_backend(device: str, be: Any) -> Any:
    """Make ``be`` the backend of ``device`` for tensors made from now on; return the previous
    one. ``be`` must implement the whole contract (ValueError naming what it lacks)."""
    name = normalize_device(device)
    missing = missing_from_contract(be)
    if missing:
        raise ValueError(f"backend {be!r} lacks contract names: {', '.join(missing)}")
    if getattr(be, "device", None) != name:
        raise ValueError(f"backend {be!r} has device {getattr(be, 'device', None)!r}, "
                         f"expected {name!r}")
    prev = _REGISTERED.get(name)
    _REGISTERED[name] = be
    return prev


def available_backends() -> list[Any]:
    """The registered backends (CPU first)."""
    return [_REGISTERED[d] for d in _DEVICES if d in _REGISTERED]


def get_backend(device: Any = "cpu") -> Any:
    """The backend object for a device."""
    name = normalize_device(device)
    be = _REGISTERED.get(name)
    if be is not None:
        return be
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


__all__ = ["ARRAY_ATTRIBUTES", "CONTRACT", "CPUBackend", "available_backends", "contract_names",
           "cpu", "get_backend", "missing_from_contract", "normalize_device", "register_backend"]
