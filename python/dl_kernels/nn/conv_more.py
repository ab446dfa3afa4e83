"""Modules for the convolution relatives and resampling of ``nn.functional_conv``: Conv1d, Conv3d,
ConvTranspose1d/2d, Upsample (and UpsamplingNearest2d / UpsamplingBilinear2d), MaxUnpool1d/2d,
MaxPool1d, AvgPool1d. Parameters, shapes and default init as PyTorch's."""

from __future__ import annotations

import math
from typing import Any

from dl_kernels.dtypes import float32
from dl_kernels.factories import zeros
from dl_kernels.nn import functional_conv as FC
from dl_kernels.nn import init
from dl_kernels.nn.module import Module
from dl_kernels.nn.parameter import Parameter


def _tuple(v: Any, n: int) -> tuple[int, ...]:
    return (v,) * n if isinstance(v, int) else tuple(int(x) for x in v)


class _ConvNd(Module):
    """weight and bias ~ U(−1/√fan_in, 1/√fan_in), fan_in = weight.shape[1] · prod(kernel)."""

    def _make(self, in_channels: int, out_channels: int, kernel: tuple, groups: int,
              transposed: bool, bias: bool, dtype: Any, device: Any) -> None:
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"in_channels ({in_channels}) and out_channels ({out_channels}) "
                             f"must both be divisible by groups ({groups})")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = kernel
        shape = ((in_channels, out_channels // groups) if transposed
                 else (out_channels, in_channels // groups)) + kernel
        d = dtype or float32
        self.weight = Parameter(zeros(*shape, dtype=d, device=device))
        if bias:
            self.bias = Parameter(zeros(out_channels, dtype=d, device=device))
        else:
            self.register_parameter("bias", None)
        fan_in = shape[1] * math.prod(kernel)
        bound = 1.0 / math.sqrt(fan_in) if fan_in else 0.0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")


class Conv1d(_ConvNd):
    """1-D convolution over (N, C, L); weight (out, in/groups, k)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.stride, self.dilation = _tuple(stride, 1), _tuple(dilation, 1)
        self.padding = padding if isinstance(padding, str) else _tuple(padding, 1)
        self.padding_mode = padding_mode
        self._make(in_channels, out_channels, _tuple(kernel_size, 1), groups, False, bias, dtype,
                   device)

    def forward(self, x: Any) -> Any:
        if self.padding_mode != "zeros" and not isinstance(self.padding, str):
            p = self.padding[0]
            x = FC.pad_by_mode(x, (p, p), self.padding_mode)
            return FC.conv1d(x, self.weight, self.bias, self.stride, 0, self.dilation,
                             self.groups)
        return FC.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                         self.groups)


class Conv3d(_ConvNd):
    """3-D convolution over (N, C, D, H, W); weight (out, in/groups, kd, kh, kw)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        if padding_mode != "zeros":
            raise ValueError(f"Conv3d: only padding_mode='zeros', got {padding_mode!r}")
        self.stride, self.dilation = _tuple(stride, 3), _tuple(dilation, 3)
        self.padding = padding if isinstance(padding, str) else _tuple(padding, 3)
        self._make(in_channels, out_channels, _tuple(kernel_size, 3), groups, False, bias, dtype,
                   device)

    def forward(self, x: Any) -> Any:
        return FC.conv3d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                         self.groups)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution; weight (in, out/groups, kh, kw)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, padding_mode: str = "zeros", device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        if padding_mode != "zeros":
            raise ValueError(f"ConvTranspose2d: only padding_mode='zeros', got {padding_mode!r}")
        self.stride, self.padding = _tuple(stride, 2), _tuple(padding, 2)
        self.output_padding, self.dilation = _tuple(output_padding, 2), _tuple(dilation, 2)
        self._make(in_channels, out_channels, _tuple(kernel_size, 2), groups, True, bias, dtype,
                   device)

    def forward(self, x: Any, output_size: Any = None) -> Any:
        op = self.output_padding
        if output_size is not None:  # the output_padding that reaches the requested size
            want = tuple(output_size)[-2:]
            op = tuple(w - ((n - 1) * s - 2 * p + d * (k - 1) + 1) for w, n, s, p, d, k in zip(
                want, x.shape[-2:], self.stride, self.padding, self.dilation, self.kernel_size))
        return FC.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, op,
                                   self.groups, self.dilation)


class ConvTranspose1d(_ConvNd):
    """Transposed 1-D convolution; weight (in, out/groups, k)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, padding_mode: str = "zeros", device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.stride, self.padding = _tuple(stride, 1), _tuple(padding, 1)
        self.output_padding, self.dilation = _tuple(output_padding, 1), _tuple(dilation, 1)
        self._make(in_channels, out_channels, _tuple(kernel_size, 1), groups, True, bias, dtype,
                   device)

    def forward(self, x: Any) -> Any:
        return FC.conv_transpose1d(x, self.weight, self.bias, self.stride, self.padding,
                                   self.output_padding, self.groups, self.dilation)


class Upsample(Module):
    """Resize the spatial dims (see ``F.interpolate``)."""

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        self.size, self.scale_factor, self.mode = size, scale_factor, mode
        self.align_corners, self.recompute_scale_factor = align_corners, recompute_scale_factor

    def forward(self, x: Any) -> Any:
        return FC.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                              self.recompute_scale_factor)

    def extra_repr(self) -> str:
        what = f"size={self.size}" if self.size is not None else (
            f"scale_factor={self.scale_factor}")
        return f"{what}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, "nearest")


class UpsamplingBilinear2d(Upsample):
    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, "bilinear", align_corners=True)


class MaxUnpool2d(Module):
    """The inverse of MaxPool2d(return_indices=True)."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x: Any, indices: Any, output_size: Any = None) -> Any:
        return FC.max_unpool2d(x, indices, self.kernel_size, self.stride, self.padding,
                               output_size)


class MaxUnpool1d(MaxUnpool2d):
    def forward(self, x: Any, indices: Any, output_size: Any = None) -> Any:
        return FC.max_unpool1d(x, indices, self.kernel_size, self.stride, self.padding,
                               output_size)


class MaxPool1d(Module):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, return_indices: bool = False,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def forward(self, x: Any) -> Any:
        return FC.max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                             self.ceil_mode, self.return_indices)


class AvgPool1d(Module):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, x: Any) -> Any:
        return FC.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                             self.count_include_pad)
