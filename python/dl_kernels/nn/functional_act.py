"""The activations PyTorch users reach for, as compositions of differentiable Tensor ops:
GELU (Hendrycks & Gimpel 2016, exact and tanh forms), SiLU / swish (Elfwing et al. 2018;
Ramachandran et al. 2017), ELU (Clevert et al. 2015), SELU (Klambauer et al. 2017), CELU
(Barron 2017), ReLU6, hardtanh, hard-swish and hard-sigmoid (Howard et al. 2019, MobileNetV3),
Mish (Misra 2019), softsign, log-sigmoid, softmin. Branches that could overflow in the branch
not taken are clamped first, so ``where`` never multiplies an inf by a zero gradient."""

from __future__ import annotations

import math

from dl_kernels.autograd import function as Fn
from dl_kernels.ops.core import where
from dl_kernels.ops.pointwise import erf, expm1
from dl_kernels.ops.reductions import softmin as _softmin
from dl_kernels.tensor import Tensor, _floating

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x Φ(x); approximate='tanh': 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))."""
    x = _floating(input)
    if approximate == "tanh":
        inner = (x + 0.044715 * x * x * x) * math.sqrt(2.0 / math.pi)
        return 0.5 * x * (1.0 + inner.tanh())
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return 0.5 * x * (1.0 + erf(x * (1.0 / math.sqrt(2.0))))


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x σ(x)."""
    x = _floating(input)
    return x * x.sigmoid()


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, α (eˣ − 1) otherwise."""
    x = _floating(input)
    return where(x > 0, x, expm1(x.clamp(max=0.0)) * alpha)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale · elu(x, α) with the self-normalising constants."""
    return elu(input, _SELU_ALPHA) * _SELU_SCALE


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """max(0, x) + min(0, α (e^{x/α} − 1))."""
    x = _floating(input)
    return where(x > 0, x, expm1((x / alpha).clamp(max=0.0)) * alpha)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """x clamped to [min_val, max_val]."""
    return Fn.Clamp.apply(input, min=min_val, max=max_val)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    return hardtanh(input, 0.0, 6.0)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """relu6(x + 3) / 6."""
    return relu6(_floating(input) + 3.0) * (1.0 / 6.0)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x · relu6(x + 3) / 6."""
    x = _floating(input)
    return x * hardsigmoid(x)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x tanh(softplus(x))."""
    x = _floating(input)
    return x * Fn.Softplus.apply(x, beta=1.0, threshold=20.0).tanh()


def softsign(input: Tensor) -> Tensor:
    """``x / (1 + |x|)``."""
    x = _floating(input)
    return x / (x.abs() + 1.0)


def logsigmoid(input: Tensor) -> Tensor:
    """log σ(x) = −softplus(−x), stable for either sign."""
    x = _floating(input)
    return -Fn.Softplus.apply(-x, beta=1.0, threshold=math.inf)


def softmin(input: Tensor, dim: int | None = None, dtype: object = None) -> Tensor:
    """softmax(−x) along dim."""
    if dim is None:
        dim = 0 if input.ndim in (0, 1, 3) else 1
    return _softmin(input, dim, dtype)


def tanhshrink(input: Tensor) -> Tensor:
    return input - input.tanh()


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    x = _floating(input)
    zero = x * 0.0
    return where(x > lambd, x - lambd, where(x < -lambd, x + lambd, zero))


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    x = _floating(input)
    return where((x > lambd) | (x < -lambd), x, x * 0.0)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    return where(input > threshold, input, value)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """a σ(b) for the two halves (a, b) of ``dim`` (Dauphin et al. 2017)."""
    a, b = input.chunk(2, dim)
    return a * b.sigmoid()


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """max(0, x) + w min(0, x), w per channel (dim 1) or a single value."""
    w = weight
    if input.ndim == 0:  # the output keeps the input's shape, as PyTorch
        w = weight.reshape(())
    elif weight.numel() > 1 and input.ndim >= 2:
        w = weight.reshape((1, -1) + (1,) * (input.ndim - 2))
    return where(input > 0, input, input * w)


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
          training: bool = False, inplace: bool = False) -> Tensor:
    """Randomised leaky ReLU (Xu et al. 2015): a random slope in [lower, upper] while
    training, their mean otherwise."""
    if not training:
        return Fn.LeakyRelu.apply(input, slope=(lower + upper) / 2.0)
    from dl_kernels.factories import rand_like

    slope = rand_like(input) * (upper - lower) + lower
    return where(input >= 0, input, input * slope)
