"""Normalisation modules with PyTorch's names, parameters and buffers: BatchNorm1d/2d/3d,
LayerNorm, GroupNorm, InstanceNorm1d/2d (see ``nn.functional_norm`` for the maths)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dl_kernels.dtypes import float32
from dl_kernels.errors import OpError
from dl_kernels.factories import full, ones, zeros
from dl_kernels.nn import functional_norm as N
from dl_kernels.nn.module import Module
from dl_kernels.nn.parameter import Parameter
from dl_kernels.tensor import tensor


def _param(shape: tuple, fill: float, dtype: Any, device: Any) -> Parameter:
    return Parameter(full(shape, fill, dtype=dtype or float32, device=device))


class _BatchNorm(Module):
    """weight (C,) = 1, bias (C,) = 0; buffers running_mean = 0, running_var = 1 and
    num_batches_tracked. momentum None: the running statistics are cumulative averages."""

    dims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = _param((num_features,), 1.0, dtype, device)
            self.bias = _param((num_features,), 0.0, dtype, device)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            d = dtype or float32
            self.register_buffer("running_mean", zeros(num_features, dtype=d, device=device))
            self.register_buffer("running_var", ones(num_features, dtype=d, device=device))
            self.register_buffer("num_batches_tracked", tensor(0))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1.0)
            self.num_batches_tracked.zero_()

    def forward(self, x: Any) -> Any:
        if x.ndim not in self.dims:
            raise OpError(f"{type(self).__name__}: expected a {' or '.join(map(str, self.dims))}"
                          f"-D input, got shape {tuple(x.shape)}")
        use_batch = self.training or not self.track_running_stats
        momentum = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if momentum is None:
                momentum = 1.0 / int(self.num_batches_tracked.item())
        return N.batch_norm(x, self.running_mean if not use_batch or self.training else None,
                            self.running_var if not use_batch or self.training else None,
                            self.weight, self.bias, use_batch, momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) (Ioffe & Szegedy 2015)."""

    dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W)."""

    dims = (4,)


class BatchNorm3d(_BatchNorm):
    """Batch normalisation over (N, C, D, H, W)."""

    dims = (5,)


class LayerNorm(Module):
    """Layer normalisation over the trailing ``normalized_shape`` dims (Ba et al. 2016)."""

    def __init__(self, normalized_shape: Sequence[int] | int, eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(
            normalized_shape)
        self.normalized_shape, self.eps = shape, eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = _param(shape, 1.0, dtype, device)
            if bias:
                self.bias = _param(shape, 0.0, dtype, device)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Any) -> Any:
        return N.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class GroupNorm(Module):
    """Group normalisation (Wu & He 2018)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels {num_channels} is not divisible by "
                             f"num_groups {num_groups}")
        self.num_groups, self.num_channels, self.eps, self.affine = (num_groups, num_channels,
                                                                     eps, affine)
        if affine:
            self.weight = _param((num_channels,), 1.0, dtype, device)
            self.bias = _param((num_channels,), 0.0, dtype, device)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Any) -> Any:
        return N.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class _InstanceNorm(Module):
    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = False, track_running_stats: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        if track_running_stats:
            raise NotImplementedError("InstanceNorm: track_running_stats=True")
        self.num_features, self.eps, self.affine = num_features, eps, affine
        if affine:
            self.weight = _param((num_features,), 1.0, dtype, device)
            self.bias = _param((num_features,), 0.0, dtype, device)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Any) -> Any:
        return N.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation over (N, C, L) (Ulyanov et al. 2016)."""


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation over (N, C, H, W)."""
