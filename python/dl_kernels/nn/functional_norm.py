"""Normalisation layers' functions, as compositions of Tensor ops: batch normalisation (Ioffe
& Szegedy 2015), layer normalisation (Ba, Kiros & Hinton 2016), group normalisation (Wu & He
2018) and instance normalisation (Ulyanov et al. 2016). Statistics use the biased variance;
the running variance is updated with the unbiased one, as PyTorch does."""

from __future__ import annotations

from collections.abc import Sequence

from dl_kernels.autograd.engine import no_grad
from dl_kernels.errors import OpError
from dl_kernels.tensor import Tensor


def _channel_view(t: Tensor, ndim: int) -> Tensor:
    return t.reshape((1, -1) + (1,) * (ndim - 2))


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float | None = 0.1,
               eps: float = 1e-5) -> Tensor:
    """(x − mean) / √(var + eps) · weight + bias per channel (dim 1); batch statistics while
    training (updating the running ones), the running statistics otherwise."""
    if input.ndim < 2:
        raise OpError(f"batch_norm: expected an input with a channel dim (N, C, ...), got shape "
                      f"{tuple(input.shape)}")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise OpError(f"batch_norm: {name} shape {tuple(t.shape)}, expected ({c},)")
    axes = (0,) + tuple(range(2, input.ndim))
    if training:
        n = input.numel() // max(c, 1)
        if n <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when "
                             f"training, got input shape {tuple(input.shape)}")
        mean = input.mean(axes)
        var = input.var(axes, correction=0)
        if running_mean is not None and running_var is not None:
            m = 0.1 if momentum is None else momentum
            with no_grad():
                running_mean.mul_(1.0 - m).add_(mean.detach() * m)
                running_var.mul_(1.0 - m).add_(var.detach() * (m * n / (n - 1)))
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are needed when not "
                             "training")
        mean, var = running_mean, running_var
    y = (input - _channel_view(mean, input.ndim)) / _channel_view((var + eps).sqrt(), input.ndim)
    if weight is not None:
        y = y * _channel_view(weight, input.ndim)
    if bias is not None:
        y = y + _channel_view(bias, input.ndim)
    return y


def layer_norm(input: Tensor, normalized_shape: Sequence[int] | int,
               weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` dims of each sample."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if tuple(input.shape[input.ndim - k:]) != shape or k > input.ndim:
        raise OpError(f"layer_norm: normalized_shape {shape} does not match the trailing dims of "
                      f"input shape {tuple(input.shape)}")
    axes = tuple(range(input.ndim - k, input.ndim))
    if not axes:
        y = (input - input) / (eps ** 0.5)
    else:
        mean = input.mean(axes, keepdim=True)
        var = input.var(axes, correction=0, keepdim=True)
        y = (input - mean) / (var + eps).sqrt()
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise each sample over groups of num_groups consecutive channels (and all spatial
    positions), then an affine map per channel."""
    n, c = input.shape[0], input.shape[1]
    if c % num_groups:
        raise OpError(f"group_norm: {c} channels are not divisible by num_groups={num_groups}")
    x = input.reshape(n, num_groups, input.numel() // max(n * num_groups, 1))
    mean = x.mean(2, keepdim=True)
    var = x.var(2, correction=0, keepdim=True)
    y = ((x - mean) / (var + eps).sqrt()).reshape(*input.shape)
    if weight is not None:
        y = y * _channel_view(weight, input.ndim)
    if bias is not None:
        y = y + _channel_view(bias, input.ndim)
    return y


def instance_norm(input: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each (sample, channel) plane over its spatial positions."""
    if not use_input_stats:
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    axes = tuple(range(2, input.ndim))
    mean = input.mean(axes, keepdim=True)
    var = input.var(axes, correction=0, keepdim=True)
    y = (input - mean) / (var + eps).sqrt()
    if weight is not None:
        y = y * _channel_view(weight, input.ndim)
    if bias is not None:
        y = y + _channel_view(bias, input.ndim)
    return y


