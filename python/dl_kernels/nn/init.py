"""Weight initialisers (``torch.nn.init`` names and formulas).

Each function fills a tensor in place and returns it. Values are computed in float64 with
numpy, inside ``no_grad``, then copied into the tensor (any device). Random numbers come
from ``generator`` (a ``numpy.random.Generator``) when given, otherwise from the library's
default generator, so ``dl_kernels.manual_seed`` makes initialisation reproducible.

Fans are PyTorch's: for a weight of shape ``(out, in, *kernel)``, fan_in = in·∏kernel and
fan_out = out·∏kernel.

- small Gaussian / uniform: ``normal_``, ``uniform_``; ``zeros_``, ``ones_``, ``constant_``
- Xavier/Glorot (tanh/sigmoid nets): std = gain·√(2/(fan_in + fan_out))
- He/Kaiming (ReLU nets): std = gain/√fan, gain = √(2/(1 + a²)) for leaky ReLU slope a
- orthogonal (RNN recurrent weights; Saxe et al. 2014): the Q of the QR factorisation of a Gaussian
  matrix, with column signs fixed by diag(R) so that Q is uniformly (Haar) distributed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dl_kernels.autograd.engine import no_grad
from dl_kernels.dtypes import float64
from dl_kernels.factories import rand, randn
from dl_kernels.tensor import tensor as new_tensor


def _standard_normal(shape: tuple[int, ...], generator: np.random.Generator | None) -> np.ndarray:
    if generator is not None:
        return generator.standard_normal(shape)
    return randn(*shape, dtype=float64).numpy() if shape else \
        randn(1, dtype=float64).numpy().reshape(())


def _uniform01(shape: tuple[int, ...], generator: np.random.Generator | None) -> np.ndarray:
    if generator is not None:
        return generator.random(shape)
    return rand(*shape, dtype=float64).numpy() if shape else \
        rand(1, dtype=float64).numpy().reshape(())


def _fill(tensor: Any, values: np.ndarray) -> Any:
    with no_grad():
        tensor.copy_(new_tensor(np.ascontiguousarray(values), dtype=tensor.dtype,
                                device=tensor.device))
    return tensor


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (torch.nn.init.calculate_gain)."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid", "identity")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor: Any) -> tuple[int, int]:
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 dimensions, "
                         f"got shape {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fan(tensor: Any, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor: Any, a: float = 0.0, b: float = 1.0,
             generator: np.random.Generator | None = None) -> Any:
    """U(a, b)."""
    shape = tuple(tensor.shape)
    return _fill(tensor, a + (b - a) * _uniform01(shape, generator))


def normal_(tensor: Any, mean: float = 0.0, std: float = 1.0,
            generator: np.random.Generator | None = None) -> Any:
    """N(mean, std²)."""
    shape = tuple(tensor.shape)
    return _fill(tensor, mean + std * _standard_normal(shape, generator))


def constant_(tensor: Any, val: float) -> Any:
    """Fill ``tensor`` with ``val`` in place; returns it."""
    return _fill(tensor, np.full(tuple(tensor.shape), float(val)))


def zeros_(tensor: Any) -> Any:
    """Fill ``tensor`` with zeros in place; returns it."""
    return constant_(tensor, 0.0)


def ones_(tensor: Any) -> Any:
    """Fill ``tensor`` with ones in place; returns it."""
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor: Any, gain: float = 1.0,
                    generator: np.random.Generator | None = None) -> Any:
    """U(−a, a), a = gain·√(6/(fan_in + fan_out)) (Glorot & Bengio 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor: Any, gain: float = 1.0,
                   generator: np.random.Generator | None = None) -> Any:
    """N(0, std²), std = gain·√(2/(fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def kaiming_uniform_(tensor: Any, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu",
                     generator: np.random.Generator | None = None) -> Any:
    """U(−b, b), b = gain·√(3/fan) (He et al. 2015)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Any, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu",
                    generator: np.random.Generator | None = None) -> Any:
    """N(0, std²), std = gain/√fan (He et al. 2015)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor: Any, gain: float = 1.0,
                generator: np.random.Generator | None = None) -> Any:
    """A (semi-)orthogonal matrix from the QR factorisation of a Gaussian one (Saxe et al. 2014).

    The tensor is viewed as rows = shape[0], cols = ∏shape[1:]; when rows < cols the
    factorisation is done on the transpose, so the rows (or columns) are orthonormal.
    """
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ValueError(f"orthogonal_ needs a tensor with at least 2 dimensions, "
                         f"got shape {shape}")
    rows, cols = shape[0], int(np.prod(shape[1:]))
    flat = _standard_normal((rows, cols), generator)
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))  # Haar-uniform: fix the sign ambiguity of the QR
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(shape))


# Unsuffixed aliases (the notes' and older torch names).
normal = normal_
uniform = uniform_
zeros = zeros_
constant = constant_
xavier_normal = xavier_normal_
xavier_uniform = xavier_uniform_
kaiming_normal = kaiming_normal_
kaiming_uniform = kaiming_uniform_
orthogonal = orthogonal_

__all__ = [
    "calculate_gain",
    "constant",
    "constant_",
    "kaiming_normal",
    "kaiming_normal_",
    "kaiming_uniform",
    "kaiming_uniform_",
    "normal",
    "normal_",
    "ones_",
    "orthogonal",
    "orthogonal_",
    "uniform",
    "uniform_",
    "xavier_normal",
    "xavier_normal_",
    "xavier_uniform",
    "xavier_uniform_",
    "zeros",
    "zeros_",
]
