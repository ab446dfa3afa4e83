"""Functional ops with autograd, following ``torch.nn.functional``'s signatures.

Heavy ops run on the compiled kernels through the backend (linear on our GEMM; conv2d,
max/avg pooling, log-softmax and softmax cross-entropy on their fused kernels); the rest are
compositions of Tensor ops. Also the course notes' activations: ``step``, ``noisy_relu``,
``maxout``, ``soft_maxout``, ``p_norm``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Union

import numpy as np

from dl_kernels.autograd import function as Fn
from dl_kernels.factories import arange, empty_like, randn_like, zeros
from dl_kernels.ops.core import cat
from dl_kernels.shapes import broadcast_shapes
from dl_kernels.tensor import Tensor, _floating, tensor

IntPair = Union[int, Sequence[int]]

_REDUCTIONS = ("none", "mean", "sum")


def _pair(v: IntPair, name: str) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    v = tuple(int(x) for x in v)
    if len(v) == 1:  # PyTorch accepts a 1-tuple for both
        return (v[0], v[0])
    if len(v) != 2:
        raise ValueError(f"{name}: expected an int or 2 values, got {v}")
    return v


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction: expected one of {_REDUCTIONS}, got {reduction!r}")


def _same_shape(a: Tensor, b: Tensor, what: str) -> None:
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            f"{what}: input shape {tuple(a.shape)} and target shape {tuple(b.shape)} differ"
        )


def _float_operands(what: str, *pairs: tuple[str, Tensor | None]) -> None:
    """All given tensors floating point, of one dtype, on one device."""
    ref_name, ref = pairs[0]
    if not ref.is_floating_point():
        raise TypeError(f"{what}: {ref_name} must be floating point, got {ref.dtype}")
    for name, t in pairs[1:]:
        if t is None:
            continue
        if t.device != ref.device:
            raise ValueError(f"{what}: {ref_name} is on {ref.device} but {name} is on {t.device}")
        if t.dtype is not ref.dtype:
            raise TypeError(f"{what}: {ref_name} is {ref.dtype} but {name} is {t.dtype}")


# ---- linear ---------------------------------------------------------------------------------
_ACTIVATIONS = (None, "relu", "tanh", "sigmoid")


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None, *,
           activation: str | None = None) -> Tensor:
    """y = input @ weight.T + bias; input (..., in), weight (out, in), bias (out,).

    ``activation`` ("relu", "tanh" or "sigmoid"; Keras's ``Dense(activation=...)``) applies
    it in the same GEMM, to each tile of y as the product completes it: equal to
    ``relu(linear(...))`` without a second pass over y or a second graph node.
    ``nn.Sequential`` uses it for a Linear followed by ReLU, Tanh or Sigmoid.
    """
    # Every layer's forward calls this: the valid case is recognised in a few attribute reads
    # of the arrays; anything else goes through the full checks and their messages.
    if isinstance(input, Tensor) and isinstance(weight, Tensor):
        x, w = input._data, weight._data
        d = x.dtype
        if (w.dtype is d and d.kind == "f" and input._be is weight._be and w.ndim == 2
                and x.ndim >= 1 and x.shape[-1] == w.shape[1] and activation in _ACTIVATIONS):
            if bias is None:
                return Fn.Linear.apply(input, weight, None, activation=activation)
            if (isinstance(bias, Tensor) and bias._data.dtype is d and bias._be is input._be
                    and bias._data.shape == (w.shape[0],)):
                return Fn.Linear.apply(input, weight, bias, activation=activation)
    return _linear_checked(input, weight, bias, activation)


def _check_activation(what: str, activation: str | None) -> None:
    if activation not in _ACTIVATIONS:
        raise ValueError(f"{what}: activation must be None, 'relu', 'tanh' or 'sigmoid', "
                         f"got {activation!r}")


def _linear_checked(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                    activation: str | None = None) -> Tensor:
    """linear with every check (wrapped below with the Tensor-parameter check too)."""
    _check_activation("linear", activation)
    _float_operands("linear", ("input", input), ("weight", weight), ("bias", bias))
    if weight.ndim != 2 or input.ndim < 1 or input.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input shape {tuple(input.shape)} does not match weight shape "
            f"{tuple(weight.shape)} (expected input (..., {weight.shape[-1]}))"
        )
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(
            f"linear: bias shape {tuple(bias.shape)}, expected ({weight.shape[0]},) for weight "
            f"{tuple(weight.shape)}"
        )
    return Fn.Linear.apply(input, weight, bias, activation=activation)


# ---- convolution and pooling ----------------------------------------------------------------
def _conv_padding(padding: Any, kernel: tuple[int, int], dilation: tuple[int, int],
                  stride: tuple[int, int]) -> tuple[int, int, int, int]:
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError("conv2d: padding='same' needs stride 1 (as in torch)")
            th, tw = dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)
            return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        raise ValueError(f"conv2d: padding: expected an int, a pair, 'same' or 'valid', got "
                         f"{padding!r}")
    ph, pw = _pair(padding, "conv2d: padding")
    return (ph, ph, pw, pw)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
           stride: IntPair = 1, padding: Any = 0, dilation: IntPair = 1,
           groups: int = 1, *, activation: str | None = None) -> Tensor:
    """2-D cross-correlation, NCHW; weight (O, C/groups, KH, KW); padding int, pair, 'same' or
    'valid' (zeros); any stride, dilation and groups.

    ``activation`` ("relu", "tanh", "sigmoid") is applied by the kernel: with "relu", as each
    block of the output is written (conv + bias + ReLU in one pass). ``nn.Sequential`` uses it
    for a Conv2d followed by ReLU.
    """
    _check_activation("conv2d", activation)
    _float_operands("conv2d", ("input", input), ("weight", weight), ("bias", bias))
    unbatched = input.ndim == 3
    if unbatched:
        input = input.unsqueeze(0)
    if input.ndim != 4 or weight.ndim != 4:
        raise ValueError(f"conv2d: expected input (N, C, H, W) and weight (O, C/groups, KH, KW), "
                         f"got {tuple(input.shape)} and {tuple(weight.shape)}")
    if input.shape[1] != weight.shape[1] * groups:
        raise ValueError(
            f"conv2d: input has {input.shape[1]} channels but weight {tuple(weight.shape)} with "
            f"groups={groups} expects {weight.shape[1] * groups}"
        )
    st, dil = _pair(stride, "conv2d: stride"), _pair(dilation, "conv2d: dilation")
    pad = _conv_padding(padding, tuple(weight.shape[2:]), dil, st)
    out = Fn.Conv2d.apply(input, weight, bias, stride=st, padding=pad, dilation=dil,
                          groups=groups, activation=activation)
    return out.squeeze(0) if unbatched else out


def _pool_args(kernel_size: IntPair, stride: Any, padding: IntPair, what: str) -> tuple:
    k = _pair(kernel_size, f"{what}: kernel_size")
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _pair(
        stride, f"{what}: stride")
    p = _pair(padding, f"{what}: padding")
    # As PyTorch, and before any arithmetic on them (ceil_mode divides by the stride).
    for name, v, low in (("kernel_size", k, 1), ("stride", s, 1), ("padding", p, 0)):
        if min(v) < low or max(v) > 2**31 - 1:
            raise ValueError(f"{what}: {name} must be in [{low}, 2^31 - 1], got {v}")
    return k, s, p


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant",
        value: float | None = None) -> Tensor:
    """Padding as torch: ``pad`` = (left, right) of the last dim, then (top, bottom) of the one
    before, and so on; mode 'constant' (``value``), 'reflect', 'replicate' or 'circular'."""
    if mode in ("reflect", "replicate", "circular"):
        from dl_kernels.nn.functional_conv import pad_by_mode

        if len(pad) % 2 or len(pad) // 2 > input.ndim:
            raise ValueError(f"pad: expected an even number of widths for at most {input.ndim} "
                             f"dims, got {tuple(pad)}")
        return pad_by_mode(input, pad, mode)
    if mode != "constant":
        raise NotImplementedError(f"pad: mode {mode!r} (constant, reflect, replicate, circular)")
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: expected an even number of widths for at most {input.ndim} dims, "
                         f"got {tuple(pad)}")
    if any(int(p) < 0 for p in pad):  # negative widths crop, as in PyTorch
        crop = [slice(None)] * input.ndim
        for i in range(len(pad) // 2):
            lo, hi = int(pad[2 * i]), int(pad[2 * i + 1])
            n = input.shape[input.ndim - 1 - i]
            crop[input.ndim - 1 - i] = slice(max(-lo, 0), n - max(-hi, 0))
        input = input[tuple(crop)]
        pad = [max(int(p), 0) for p in pad]
    widths = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        widths[input.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    return Fn.Pad.apply(input, widths=tuple(widths), value=0.0 if value is None else value)


def _ceil_extra(size: int, k: int, s: int, p: int) -> int:
    """Extra bottom/right padding that makes a floor-mode pool produce the ceil-mode size
    (the last window must start inside the input or the left padding, as torch)."""
    out = -(-(size + 2 * p - k) // s) + 1
    if (out - 1) * s >= size + p:
        out -= 1
    return max((out - 1) * s + k - (size + 2 * p), 0)


def max_pool2d(input: Tensor, kernel_size: IntPair, stride: Any = None,
               padding: IntPair = 0, dilation: IntPair = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """Max over each window (stride defaults to the kernel); the gradient goes to the first
    maximum of each window. return_indices gives the flat h * W + w index per output.
    ceil_mode pads the input explicitly with -inf (one copy) and pools that."""
    k, s, p = _pool_args(kernel_size, stride, padding, "max_pool2d")
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    dil = _pair(dilation, "max_pool2d: dilation")
    if dil != (1, 1):  # not on the kernel: a max over gathered windows
        from dl_kernels.nn.functional_conv import max_pool2d_dilated

        if 2 * p[0] > k[0] or 2 * p[1] > k[1]:
            raise ValueError(f"max_pool2d: padding {p} should be at most half the kernel {k}")
        out = max_pool2d_dilated(x, k, s, p, dil, ceil_mode, return_indices)
        if unbatched:
            return tuple(o.squeeze(0) for o in out) if return_indices else out.squeeze(0)
        return out
    h, w = x.shape[2], x.shape[3]
    offset = (0, 0)
    if ceil_mode:
        if 2 * p[0] > k[0] or 2 * p[1] > k[1]:
            raise ValueError(f"max_pool2d: padding {p} should be at most half the kernel {k}")
        eh, ew = _ceil_extra(h, k[0], s[0], p[0]), _ceil_extra(w, k[1], s[1], p[1])
        x = pad(x, (p[1], p[1] + ew, p[0], p[0] + eh), value=-math.inf)
        offset, p = p, (0, 0)
    if not return_indices:
        out = Fn.MaxPool2d.apply(x, kernel=k, stride=s, padding=p)
    else:
        out, idx = Fn.MaxPool2d.apply(x, kernel=k, stride=s, padding=p, return_indices=True)
        idx = idx.detach()  # integer positions: not differentiable
        if ceil_mode:  # indices into the padded plane -> indices into the input
            wp = x.shape[3]
            idx = (idx // wp - offset[0]) * w + (idx % wp - offset[1])
        if unbatched:
            return out.squeeze(0), idx.squeeze(0)
        return out, idx
    return out.squeeze(0) if unbatched else out


def avg_pool2d(input: Tensor, kernel_size: IntPair, stride: Any = None,
               padding: IntPair = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Mean over each window (zero padding counted when count_include_pad)."""
    k, s, p = _pool_args(kernel_size, stride, padding, "avg_pool2d")
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    if ceil_mode:
        from dl_kernels.nn.functional_conv import avg_pool2d_ceil

        out = avg_pool2d_ceil(x, k, s, p, count_include_pad, divisor_override)
        return out.squeeze(0) if unbatched else out
    out = Fn.AvgPool2d.apply(x, kernel=k, stride=s, padding=p,
                             count_include_pad=count_include_pad)
    if divisor_override is not None:
        out = out * (float(k[0] * k[1]) / divisor_override)
    return out.squeeze(0) if unbatched else out


# ---- activations ----------------------------------------------------------------------------
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(0, x) elementwise (Nair & Hinton 2010); the gradient is 1 where x > 0, else 0.

    Example:
        >>> relu(dlk.tensor([-1.0, 2.0])).tolist()
        [0.0, 2.0]
    """
    return Fn.Relu.apply(input)


def leaky_relu(input: Tensor, negative_slope: float = 0.01,
               inplace: bool = False) -> Tensor:
    """x where x > 0, ``negative_slope`` * x elsewhere (Maas et al. 2013)."""
    return Fn.LeakyRelu.apply(input, slope=negative_slope)


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-x)) elementwise, in (0, 1).

    Example:
        >>> sigmoid(dlk.tensor([0.0])).tolist()
        [0.5]
    """
    return Fn.Sigmoid.apply(_floating(input))


def tanh(input: Tensor) -> Tensor:
    """The hyperbolic tangent elementwise, in (-1, 1)."""
    return Fn.Tanh.apply(_floating(input))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, linear above threshold (as torch)."""
    return Fn.Softplus.apply(_floating(input), beta=beta, threshold=threshold)


def step(input: Tensor, low: float = 0.0, high: float = 1.0) -> Tensor:
    """The notes' step function: ``high`` where input >= 0, else ``low`` (the perceptron uses
    low=-1). Its gradient is zero."""
    return Fn.Step.apply(_floating(input), low=low, high=high)


def noisy_relu(input: Tensor, sigma: float = 1.0, training: bool = True) -> Tensor:
    """max(0, x + eps), eps ~ N(0, sigma^2) while training; plain ReLU otherwise."""
    if not training or sigma == 0:
        return relu(input)
    noise = randn_like(input)
    return relu(input + noise * sigma)


def _pieces(input: Tensor, num_pieces: int, dim: int, what: str) -> tuple[Tensor, int]:
    """Group consecutive units of ``dim`` into pieces of ``num_pieces``: (..., C/k, k, ...)."""
    dim = dim % input.ndim
    c = input.shape[dim]
    if num_pieces < 1 or c % num_pieces:
        raise ValueError(f"{what}: dimension {dim} has {c} units, not divisible by "
                         f"num_pieces={num_pieces}")
    shape = tuple(input.shape[:dim]) + (c // num_pieces, num_pieces) + tuple(input.shape[dim + 1:])
    return input.reshape(shape), dim + 1


def maxout(input: Tensor, num_pieces: int, dim: int = 1) -> Tensor:
    """phi(y_1..y_k) = max_i y_i over groups of ``num_pieces`` consecutive units of ``dim``."""
    x, d = _pieces(input, num_pieces, dim, "maxout")
    return x.amax(d)


def soft_maxout(input: Tensor, num_pieces: int, dim: int = 1) -> Tensor:
    """phi(y_1..y_k) = log sum_i exp(y_i) over each group (a smooth maxout)."""
    x, d = _pieces(input, num_pieces, dim, "soft_maxout")
    return x.logsumexp(d)


def p_norm(input: Tensor, num_pieces: int, p: float = 2.0, dim: int = 1) -> Tensor:
    """phi(y_1..y_k) = (sum_i abs(y_i)^p)^(1/p) over each group. (The notes print the sum without
    the inner power; with it this is the p-norm the name and the cited work mean.)"""
    x, d = _pieces(input, num_pieces, dim, "p_norm")
    return (x.abs() ** p).sum(d) ** (1.0 / p)


def _softmax_dim(ndim: int) -> int:
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim`` (PyTorch's implicit choice when None), computed
    as exp(log_softmax) on the fused kernel.

    Example:
        >>> softmax(dlk.tensor([[1.0, 1.0, 1.0, 1.0]]), dim=1).tolist()
        [[0.25, 0.25, 0.25, 0.25]]
    """
    x = input if dtype is None else input.to(dtype)
    if dim is None:
        dim = _softmax_dim(x.ndim)
    return log_softmax(x, dim).exp()


def log_softmax(input: Tensor, dim: int | None = None,
                dtype: Any = None) -> Tensor:
    """Numerically stable log-softmax on the fused kernel (over the last axis; other axes are
    moved last and back)."""
    x = _floating(input if dtype is None else input.to(dtype))
    if dim is None:
        dim = _softmax_dim(x.ndim)
    if x.ndim == 0:
        return x - x
    dim = dim % x.ndim
    if dim == x.ndim - 1:
        return Fn.LogSoftmaxLast.apply(x)
    return Fn.LogSoftmaxLast.apply(x.transpose(dim, -1)).transpose(dim, -1)


def dropout(input: Tensor, p: float = 0.5, training: bool = True,
            inplace: bool = False) -> Tensor:
    """Inverted dropout: zero each element with probability p and scale the rest by 1/(1-p)
    while training; the identity otherwise."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    mask = empty_like(input).bernoulli_(1.0 - p)
    return input * mask.mul_(1.0 / (1.0 - p))


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` (num_embeddings, dim) picked by integer ``input`` (any shape)."""
    if input.is_floating_point():
        raise TypeError(f"embedding: indices must be int64, got {input.dtype}")
    n = weight.shape[0]
    if input.numel():
        lo, hi = int(input.min().item()), int(input.max().item())
        if lo < 0 or hi >= n:
            # IndexError as PyTorch; negative indices would silently pick rows from the end
            raise IndexError(f"embedding: indices must be in [0, {n}) for weight "
                             f"{tuple(weight.shape)}, got range [{lo}, {hi}]")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += n
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse")
    return Fn.Embedding.apply(weight, input, padding_idx=padding_idx)


# ---- recurrent cells and sequences ---------------------------------------------------------
def _rnn_bias(b_ih: Tensor | None, b_hh: Tensor | None, w_ih: Tensor) -> Tensor:
    """The kernels take one bias per gate: b_ih + b_hh when both are given (torch's layout)."""
    if b_ih is None and b_hh is None:
        return zeros(w_ih.shape[0], dtype=w_ih.dtype, device=w_ih.device)
    if b_ih is None or b_hh is None:
        return b_ih if b_hh is None else b_hh
    return b_ih + b_hh


def _rnn_checks(what: str, x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, gates: int,
                bias: Tensor | None, peephole: Tensor | None) -> None:
    _float_operands(what, ("input", x), ("hidden state", h), ("w_ih", w_ih), ("w_hh", w_hh),
                    ("bias", bias), ("peephole", peephole))
    hidden = w_hh.shape[1] if w_hh.ndim == 2 else -1
    if w_hh.ndim != 2 or w_hh.shape[0] != gates * hidden:
        raise ValueError(f"{what}: w_hh shape {tuple(w_hh.shape)}, expected ({gates} * H, H)")
    if w_ih.ndim != 2 or tuple(w_ih.shape) != (gates * hidden, x.shape[-1]):
        raise ValueError(f"{what}: w_ih shape {tuple(w_ih.shape)} does not match input shape "
                         f"{tuple(x.shape)}: expected ({gates * hidden}, {x.shape[-1]})")
    if h.shape[-1] != hidden:
        raise ValueError(f"{what}: hidden state shape {tuple(h.shape)} does not match w_hh "
                         f"{tuple(w_hh.shape)} (hidden size {hidden})")


_LSTM_GATES = {"standard": 4, "peephole": 4, "coupled": 3}


def _lstm_gates(variant: str, peephole: Tensor | None) -> int:
    if variant not in _LSTM_GATES:
        raise ValueError(f"lstm: variant: expected one of {sorted(_LSTM_GATES)}, got {variant!r}")
    if (variant == "peephole") != (peephole is not None):
        raise ValueError("lstm: variant='peephole' needs peephole weights (3, H); the other "
                         "variants take peephole=None")
    return _LSTM_GATES[variant]


def lstm_cell(input: Tensor, hx: tuple[Tensor, Tensor] | None, w_ih: Tensor,
              w_hh: Tensor, b_ih: Tensor | None = None, b_hh: Tensor | None = None,
              peephole: Tensor | None = None, variant: str = "standard",
              step_group: Any = None) -> tuple[Tensor, Tensor]:
    """One LSTM step on the fused kernel: input (N, I), hx = (h, c) each (N, H) (zeros when
    None); w_ih (G*H, I), w_hh (G*H, H), gate order i, f, g, o as torch (variant 'coupled':
    f, g, o with i = 1 - f; 'peephole': peephole (3, H) for i, f, o). Returns (h_new, c_new).

    step_group (autograd.function.StepGroup, CPU, not peephole): the steps of one sequence
    share it, and their weight gradients are formed in one GEMM at the first step's backward
    (a decoder run step by step trains faster)."""
    gates = _lstm_gates(variant, peephole)
    n, hidden = input.shape[0], w_hh.shape[1]
    if hx is None:
        z = zeros_state(input, (n, hidden))
        hx = (z, z)
    h, c = hx
    bias = _rnn_bias(b_ih, b_hh, w_ih)
    _rnn_checks("lstm_cell", input, h, w_ih, w_hh, gates, bias, peephole)
    if step_group is not None and peephole is None and input.device.type == "cpu":
        return Fn.LSTMCellGrouped.apply(input, h, c, w_ih, w_hh, bias, variant=variant,
                                        group=step_group)
    return Fn.LSTMCell.apply(input, h, c, w_ih, w_hh, bias, peephole, variant=variant)


def lstm(input: Tensor, hx: tuple[Tensor, Tensor] | None, w_ih: Tensor,
         w_hh: Tensor, b_ih: Tensor | None = None, b_hh: Tensor | None = None,
         peephole: Tensor | None = None, variant: str = "standard", reverse: bool = False,
         batch_first: bool = False, batch_sizes: Any = None
         ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """One LSTM layer over a whole sequence on the sequence driver (one input GEMM for all
    steps, one recurrent GEMM and a fused pointwise step per time step). input (T, N, I), or
    (N, T, I) with batch_first; reverse runs from the last step to the first. Returns
    (output (T, N, H), (h_T, c_T)) where h_T is the state after the last step processed.

    batch_sizes (int64 (T,)): packed sequences (nn.utils.rnn.PackedSequence's data and
    batch_sizes): input is (R, I), each step runs on its batch_sizes[t] active rows only,
    output is (R, H) and h_T/c_T hold each sequence's state after its own last step."""
    gates = _lstm_gates(variant, peephole)
    bs = _packed_sizes("lstm", input, batch_sizes)
    x = input.transpose(0, 1) if batch_first and bs is None else input
    hidden = w_hh.shape[1]
    if hx is None:
        z = zeros_state(input, (x.shape[1] if bs is None else int(bs[0]), hidden))
        hx = (z, z)
    h0, c0 = hx
    bias = _rnn_bias(b_ih, b_hh, w_ih)
    _rnn_checks("lstm", x, h0, w_ih, w_hh, gates, bias, peephole)
    y, h_t, c_t = Fn.LSTM.apply(x, h0, c0, w_ih, w_hh, bias, peephole, variant=variant,
                                reverse=reverse, batch_sizes=bs)
    return (y.transpose(0, 1) if batch_first and bs is None else y), (h_t, c_t)


def _packed_sizes(what: str, input: Tensor, batch_sizes: Any) -> Any:
    """batch_sizes as a contiguous int64 numpy array (None stays None), with input (R, I)."""
    if batch_sizes is None:
        return None
    if isinstance(batch_sizes, Tensor):
        batch_sizes = batch_sizes.detach().numpy()
    bs = np.ascontiguousarray(batch_sizes, dtype=np.int64)
    if bs.ndim != 1 or len(bs) == 0:
        raise ValueError(f"{what}: batch_sizes must be a non-empty 1-D array, got shape "
                         f"{bs.shape}")
    if input.ndim != 2 or input.shape[0] != int(bs.sum()):
        raise ValueError(f"{what}: packed input must be (sum(batch_sizes), I) = "
                         f"({int(bs.sum())}, I), got shape {tuple(input.shape)}")
    if input.device.type != "cpu":
        raise NotImplementedError(f"{what}: packed sequences run on the CPU kernels only; got "
                                  f"a {input.device.type} input")
    return bs


_GRU_VARIANTS = ("notes", "reset_after")


def _gru_biases(b_ih: Tensor | None, b_hh: Tensor | None, w_ih: Tensor, variant: str,
                b_hn: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    """torch's two biases -> the kernel's b (3H,) and, for reset_after, b_hn (H,). With b_hn
    given, b_ih is already the kernel's b (and b_hh must be None)."""
    if variant not in _GRU_VARIANTS:
        raise ValueError(f"gru: variant: expected one of {_GRU_VARIANTS}, got {variant!r}")
    hidden = w_ih.shape[0] // 3
    if b_hn is not None:
        if variant != "reset_after" or b_hh is not None:
            raise ValueError("gru: b_hn is the reset_after variant's bias and replaces b_hh")
        b = b_ih if b_ih is not None else zeros_state(w_ih, (3 * hidden,))
        return b, b_hn
    if variant == "notes":
        return _rnn_bias(b_ih, b_hh, w_ih), None
    b = b_ih if b_ih is not None else zeros_state(w_ih, (3 * hidden,))
    if b_hh is None:
        return b, zeros_state(w_ih, (hidden,))

    b = b + cat([b_hh[: 2 * hidden], zeros_state(w_ih, (hidden,))])
    return b, b_hh[2 * hidden :]


def gru_cell(input: Tensor, hx: Tensor | None, w_ih: Tensor, w_hh: Tensor,
             b_ih: Tensor | None = None, b_hh: Tensor | None = None,
             variant: str = "notes", b_hn: Tensor | None = None) -> Tensor:
    """One GRU step on the fused kernel: input (N, I), hx (N, H) (zeros when None); w_ih (3H, I),
    w_hh (3H, H), gate order r, z, n. variant 'notes': n = tanh(W_n[r h, x] + b_n),
    h' = (1 - z) h + z n; 'reset_after' (torch.nn.GRU): n = tanh(W_in x + b_in + r (W_hn h +
    b_hn)), h' = (1 - z) n + z h, with torch's b_ih, b_hh layout; or the kernel's layout:
    b_ih = b (3H,) and b_hn (H,). Returns h_new."""
    if hx is None:
        hx = zeros_state(input, (input.shape[0], w_hh.shape[1]))
    b, b_hn = _gru_biases(b_ih, b_hh, w_ih, variant, b_hn)
    _rnn_checks("gru_cell", input, hx, w_ih, w_hh, 3, b, None)
    return Fn.GRUCell.apply(input, hx, w_ih, w_hh, b, b_hn, variant=variant)


def gru(input: Tensor, hx: Tensor | None, w_ih: Tensor, w_hh: Tensor,
        b_ih: Tensor | None = None, b_hh: Tensor | None = None, variant: str = "notes",
        reverse: bool = False, batch_first: bool = False, b_hn: Tensor | None = None,
        batch_sizes: Any = None) -> tuple[Tensor, Tensor]:
    """One GRU layer over a whole sequence on the sequence driver; input (T, N, I) or (N, T, I)
    with batch_first. Returns (output (T, N, H), h_T). See gru_cell for the variants, and lstm
    for batch_sizes (packed sequences)."""
    bs = _packed_sizes("gru", input, batch_sizes)
    x = input.transpose(0, 1) if batch_first and bs is None else input
    if hx is None:
        hx = zeros_state(input, (x.shape[1] if bs is None else int(bs[0]), w_hh.shape[1]))
    b, b_hn = _gru_biases(b_ih, b_hh, w_ih, variant, b_hn)
    _rnn_checks("gru", x, hx, w_ih, w_hh, 3, b, None)
    y, h_t = Fn.GRU.apply(x, hx, w_ih, w_hh, b, b_hn, variant=variant, reverse=reverse,
                          batch_sizes=bs)
    return (y.transpose(0, 1) if batch_first and bs is None else y), h_t


def zeros_state(like: Tensor, shape: tuple[int, ...]) -> Tensor:
    """A zero hidden state of ``like``'s dtype and device."""
    return zeros(shape, dtype=like.dtype, device=like.device)


# ---- similarity and encoding ---------------------------------------------------------------
def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """input / max(||input||_p over dim, eps)."""
    return input / input.norm(p, dim, keepdim=True).clamp(min=eps)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 x2) / (max(||x1||, eps) max(||x2||, eps)) over dim, after broadcasting x1 and
    x2 to one shape (norms taken before broadcasting would count a broadcast entry once)."""
    shape = broadcast_shapes(x1.shape, x2.shape)
    x1, x2 = x1.expand(shape), x2.expand(shape)
    n1 = x1.norm(2, dim, keepdim=True).clamp(min=eps)
    n2 = x2.norm(2, dim, keepdim=True).clamp(min=eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding along a new last dim (num_classes = max + 1 when -1)."""
    if tensor.is_floating_point():
        raise TypeError(f"one_hot: expected an int64 tensor, got {tensor.dtype}")
    if num_classes < 0:
        num_classes = int(tensor.max().item()) + 1 if tensor.numel() else 0
    classes = arange(num_classes, device=tensor.device)
    if tensor.numel() and (int(tensor.min().item()) < 0 or
                           int(tensor.max().item()) >= num_classes):
        raise ValueError(f"one_hot: class values must be in [0, {num_classes})")
    return (tensor.unsqueeze(-1) == classes).long()


# ---- losses ---------------------------------------------------------------------------------
def _class_last(input: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """(N, C, d1, ...) logits and (N, d1, ...) targets -> (M, C) and (M,)."""
    if input.ndim == 1:
        return input.unsqueeze(0), target.reshape(1)
    if input.ndim == 2:
        return input, target
    c = input.shape[1]
    perm = (0,) + tuple(range(2, input.ndim)) + (1,)
    return input.permute(perm).reshape(-1, c), target.reshape(-1)


def _check_targets(input: Tensor, target: Tensor, what: str) -> None:
    if target.is_floating_point():
        return
    n = input.shape[0] if input.ndim > 1 else 1
    expected = (input.shape[:1] + input.shape[2:]) if input.ndim > 1 else ()
    if tuple(target.shape) != tuple(expected):
        raise ValueError(f"{what}: input shape {tuple(input.shape)} needs target shape "
                         f"{tuple(expected)}, got {tuple(target.shape)}")
    del n


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
             ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """-input[i, target[i]] * weight[target[i]]; 'mean' divides by the summed weights of the
    non-ignored targets (as torch)."""
    _check_targets(input, target, "nll_loss")
    out_shape = tuple(target.shape)
    x, t = _class_last(input, target)
    c = x.shape[1]
    ignored = t == ignore_index
    valid = ~ignored
    tv = t[valid] if t.numel() else t
    if tv.numel():
        lo, hi = int(tv.min().item()), int(tv.max().item())
        if lo < 0 or hi >= c:
            raise ValueError(f"nll_loss: targets must be in [0, {c}) or "
                             f"ignore_index={ignore_index}, got range [{lo}, {hi}]")
    safe = t.masked_fill(ignored, 0)
    picked = x[arange(x.shape[0], device=x.device), safe]
    w = valid.to(x.dtype)
    if weight is not None:  # class weights are constants here, as in torch
        w = w * weight.detach()[safe]
    loss = -(picked * w)
    if reduction == "none":
        return loss.reshape(out_shape)
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / w.sum()
    raise ValueError(f"nll_loss: reduction: expected one of {_REDUCTIONS}, got {reduction!r}")


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  size_average: Any = None, ignore_index: int = -100, reduce: Any = None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy over class dim 1 (torch semantics: class-index targets with
    ignore_index, or class-probability targets; label_smoothing; reduction). (N, C) logits with
    index targets and no weight run on the fused kernel."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction: expected one of {_REDUCTIONS}, got "
                         f"{reduction!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    _float_operands("cross_entropy", ("input", input), ("weight", weight))
    if target.is_floating_point():  # class probabilities
        _same_shape(input, target, "cross_entropy")
        logp = log_softmax(input, 1 if input.ndim > 1 else 0)
        c = input.shape[1] if input.ndim > 1 else input.shape[0]
        t = target
        if label_smoothing:
            t = t * (1.0 - label_smoothing) + label_smoothing / c
        prod = logp * t
        if weight is not None:
            wshape = (1, c) + (1,) * (input.ndim - 2) if input.ndim > 1 else (c,)
            prod = prod * weight.reshape(wshape)
        loss = -prod.sum(1 if input.ndim > 1 else 0)
        if reduction == "mean" and input.ndim > 1:
            return loss.sum() / (loss.numel())
        return _reduce(loss, reduction)
    _check_targets(input, target, "cross_entropy")
    if input.ndim == 2 and weight is None:
        return Fn.SoftmaxCrossEntropy.apply(
            input, target, ignore_index=ignore_index,
            label_smoothing=float(label_smoothing), reduction=reduction)
    logp = log_softmax(input, 1 if input.ndim > 1 else 0)
    nll = nll_loss(logp, target, weight, ignore_index, reduction)
    if not label_smoothing:
        return nll
    x, t = _class_last(logp, target)
    c = x.shape[1]
    valid = t != ignore_index
    w = valid.to(x.dtype)
    per_class = x if weight is None else x * weight.reshape(1, c)
    smooth = -(per_class.sum(1) * w)
    if reduction == "none":
        smooth = smooth.reshape(tuple(target.shape))
    elif reduction == "sum":
        smooth = smooth.sum()
    else:
        if weight is None:
            denom = w.sum()
        else:
            denom = (weight.detach()[t.masked_fill(~valid, 0)] * w).sum()
        smooth = smooth.sum() / float(denom.item())
    return nll * (1.0 - label_smoothing) + smooth * (label_smoothing / c)


def mse_loss(input: Tensor, target: Tensor, size_average: Any = None,
             reduce: Any = None, reduction: str = "mean") -> Tensor:
    """Mean squared error: mean (or sum, or none) of (input - target)^2; the shapes must match.

    Example:
        >>> mse_loss(dlk.tensor([1.0, 3.0]), dlk.tensor([0.0, 0.0])).item()
        5.0
    """
    _same_shape(input, target, "mse_loss")
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean (or sum, or none) absolute error; the shapes must match."""
    _same_shape(input, target, "l1_loss")
    return _reduce((input - target).abs(), reduction)


def binary_cross_entropy(input: Tensor, target: Tensor,
                         weight: Tensor | None = None, size_average: Any = None,
                         reduce: Any = None, reduction: str = "mean") -> Tensor:
    """-(t log p + (1 - t) log(1 - p)) with the logs clamped at -100 (as torch)."""
    _same_shape(input, target, "binary_cross_entropy")
    lp = input.log().clamp(min=-100.0)
    lq = (1.0 - input).log().clamp(min=-100.0)
    loss = -(target * lp + (1.0 - target) * lq)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,
                                     weight: Tensor | None = None, size_average: Any = None,
                                     reduce: Any = None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Stable BCE on logits: (1 - t) x + (1 + (pw - 1) t) softplus(-x)."""
    _same_shape(input, target, "binary_cross_entropy_with_logits")
    sp = Fn.Softplus.apply(-input, beta=1.0, threshold=math.inf)
    if pos_weight is not None:
        loss = (1.0 - target) * input + (1.0 + (pos_weight - 1.0) * target) * sp
    else:
        loss = (1.0 - target) * input + sp
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def gaussian_nll_loss(input: Tensor, target: Tensor, var: Any,
                      full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """0.5 (log max(var, eps) + (input - target)^2 / max(var, eps)) [+ 0.5 log 2 pi]; var may be
    a tensor of input's shape, of input's shape with one fewer trailing dim or a trailing 1, or
    a float. The clamp at eps passes the gradient through, as in torch."""
    if not isinstance(var, Tensor):
        var = tensor(float(var), dtype=input.dtype)
    shape = broadcast_shapes(input.shape, target.shape)  # a broadcast target, as PyTorch
    input, target = input.expand(shape), target.expand(shape)
    if var.ndim == input.ndim - 1 and tuple(var.shape) == tuple(input.shape[:-1]):
        var = var.unsqueeze(-1)
    elif var.ndim > 0 and tuple(var.shape) != tuple(input.shape) and not (
        tuple(var.shape[:-1]) == tuple(input.shape[:-1]) and var.shape[-1] == 1
    ):
        raise ValueError(f"gaussian_nll_loss: var shape {tuple(var.shape)} does not match input "
                         f"shape {tuple(input.shape)}")
    if bool((var < 0).any()):
        raise ValueError("gaussian_nll_loss: var has negative entries")
    clamped = var.detach().clamp(min=eps)
    v = var + (clamped - var.detach())
    loss = 0.5 * (v.log() + (input - target) ** 2 / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


__all__ = [
    "avg_pool2d",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "conv2d",
    "cosine_similarity",
    "cross_entropy",
    "dropout",
    "embedding",
    "gaussian_nll_loss",
    "gru",
    "gru_cell",
    "l1_loss",
    "leaky_relu",
    "linear",
    "log_softmax",
    "lstm",
    "lstm_cell",
    "max_pool2d",
    "maxout",
    "mse_loss",
    "nll_loss",
    "noisy_relu",
    "normalize",
    "one_hot",
    "p_norm",
    "pad",
    "relu",
    "sigmoid",
    "soft_maxout",
    "softmax",
    "softplus",
    "step",
    "tanh",
]

# ---- the rest of torch.nn.functional, one file per family (imported last: they use the
# functions above) -----------------------------------------------------------------------------
from dl_kernels.nn.functional_act import (
    celu,
    elu,
    gelu,
    glu,
    hardshrink,
    hardsigmoid,
    hardswish,
    hardtanh,
    logsigmoid,
    mish,
    prelu,
    relu6,
    rrelu,
    selu,
    silu,
    softmin,
    softshrink,
    softsign,
    tanhshrink,
    threshold,
)
from dl_kernels.nn.functional_attention import scaled_dot_product_attention
from dl_kernels.nn.functional_conv import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_avg_pool3d,
    avg_pool1d,
    conv1d,
    conv3d,
    conv_transpose1d,
    conv_transpose2d,
    interpolate,
    max_pool1d,
    max_unpool1d,
    max_unpool2d,
    upsample,
    upsample_bilinear,
    upsample_nearest,
)
from dl_kernels.nn.functional_norm import (
    batch_norm,
    group_norm,
    instance_norm,
    layer_norm,
)

__all__ += [
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "avg_pool1d",
    "batch_norm", "celu", "conv1d", "conv3d", "conv_transpose1d", "conv_transpose2d", "elu", "gelu", "glu",
    "group_norm", "hardshrink", "hardsigmoid", "hardswish", "hardtanh", "instance_norm",
    "interpolate", "layer_norm", "logsigmoid", "max_pool1d", "max_unpool1d", "max_unpool2d",
    "mish", "prelu", "relu6", "rrelu", "scaled_dot_product_attention", "selu", "silu",
    "softmin", "softshrink", "softsign", "tanhshrink", "threshold", "upsample",
    "upsample_bilinear", "upsample_nearest",
]

# ---- argument types ---------------------------------------------------------------------------
# A float, list or string where a Tensor belongs used to fail deep inside with an
# AttributeError ("'float' object has no attribute 'shape'"). Every public function checks its
# Tensor parameters (from the annotations: `Tensor` must be one, `Tensor | None` may be None)
# and raises TypeError naming the function, the parameter and what came: a few isinstance
# tests per call.
def _check_tensor_params(fn: Any) -> Any:
    import functools
    import inspect

    params = list(inspect.signature(fn).parameters.values())
    required, optional = [], []
    for i, p in enumerate(params):
        ann = str(p.annotation).replace(" ", "")
        if ann == "Tensor":
            required.append((i, p.name))
        elif ann in ("Tensor|None", "Optional[Tensor]"):
            optional.append((i, p.name))
    if not required and not optional:
        return fn

    def bad(name: str, value: Any, may_be_none: bool) -> TypeError:
        want = "a Tensor or None" if may_be_none else "a Tensor"
        return TypeError(f"{fn.__name__}: {name}: expected {want}, got {type(value).__name__}")

    @functools.wraps(fn)
    def checked(*args: Any, **kwargs: Any) -> Any:
        for spots, may_be_none in ((required, False), (optional, True)):
            for i, name in spots:
                v = args[i] if i < len(args) else kwargs.get(name)
                if v is None and (may_be_none or (i >= len(args) and name not in kwargs)):
                    continue
                if not isinstance(v, Tensor):
                    raise bad(name, v, may_be_none)
        return fn(*args, **kwargs)

    return checked


for _name in __all__:
    if _name != "linear":  # linear checks its own parameters (the fast path above)
        globals()[_name] = _check_tensor_params(globals()[_name])
del _name
_linear_checked.__name__ = "linear"  # the name its messages give
_linear_checked = _check_tensor_params(_linear_checked)
