"""Convolution relatives, resampling and padding: conv1d, conv_transpose1d/2d, interpolate
(nearest, nearest-exact, linear / bilinear / trilinear, bicubic), max_unpool1d/2d, and the
reflect / replicate / circular padding modes.

conv1d runs on the conv2d kernel with a height of 1; conv_transpose2d on conv2d's
input-gradient kernel. Interpolation and padding modes are separable index selections
(``index_select`` with computed indices and weights), so their gradients come from the
indexing ops and need no Function of their own."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from dl_kernels.autograd import conv_ops as C
from dl_kernels.dtypes import float64
from dl_kernels.errors import OpError
from dl_kernels.factories import arange, zeros
from dl_kernels.ops.shape import scatter
from dl_kernels.tensor import Tensor, tensor


def _tuple(v: Any, n: int, name: str) -> tuple[int, ...]:
    if isinstance(v, int):
        return (v,) * n
    v = tuple(int(x) for x in v)
    if len(v) != n:
        raise ValueError(f"{name}: expected an int or {n} values, got {v}")
    return v


def _float_pair(input: Tensor, weight: Tensor, bias: Tensor | None, what: str) -> None:
    for name, t in (("input", input), ("weight", weight), ("bias", bias)):
        if t is not None and not t.is_floating_point():
            raise TypeError(f"{what}: {name} must be floating point, got {t.dtype}")
        if t is not None and t.dtype is not input.dtype:
            raise TypeError(f"{what}: input is {input.dtype} but {name} is {t.dtype}")


# ---- 1-d convolution on the 2-d kernel --------------------------------------------------------
def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """1-D cross-correlation, (N, C, L) or (C, L); weight (O, C/groups, K)."""
    from dl_kernels.nn.functional import conv2d

    unbatched = input.ndim == 2
    x = input.unsqueeze(0) if unbatched else input
    if x.ndim != 3 or weight.ndim != 3:
        raise OpError(f"conv1d: expected input (N, C, L) and weight (O, C/groups, K), got "
                      f"{tuple(input.shape)} and {tuple(weight.shape)}")
    (s,), (d,) = _tuple(stride, 1, "conv1d: stride"), _tuple(dilation, 1, "conv1d: dilation")
    pad = padding if isinstance(padding, str) else (0, _tuple(padding, 1, "conv1d: padding")[0])
    y = conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias, (1, s), pad, (1, d), groups)
    y = y.squeeze(2)
    return y.squeeze(0) if unbatched else y


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """3-D cross-correlation, (N, C, D, H, W); weight (O, C/groups, KD, KH, KW). Runs as KD
    conv2d calls on the conv2d kernel: for each depth tap k, the input planes that tap reads
    for every output depth go into the batch, and the KD results are summed."""
    from dl_kernels.nn.functional import conv2d, pad

    unbatched = input.ndim == 4
    x = input.unsqueeze(0) if unbatched else input
    if x.ndim != 5 or weight.ndim != 5:
        raise OpError(f"conv3d: expected input (N, C, D, H, W) and weight (O, C/groups, KD, KH, "
                      f"KW), got {tuple(input.shape)} and {tuple(weight.shape)}")
    st, dl = _tuple(stride, 3, "conv3d: stride"), _tuple(dilation, 3, "conv3d: dilation")
    if isinstance(padding, str):
        if padding == "valid":
            depth_pad, hw_pad = (0, 0), (0, 0)
        elif padding == "same" and st == (1, 1, 1):
            t = dl[0] * (weight.shape[2] - 1)  # PyTorch: the extra one goes after
            depth_pad, hw_pad = (t // 2, t - t // 2), "same"
        else:
            raise ValueError(f"conv3d: padding {padding!r} (an int, 3 ints, 'valid', or 'same' "
                             "with stride 1)")
    else:
        pd = _tuple(padding, 3, "conv3d: padding")
        depth_pad, hw_pad = (pd[0], pd[0]), pd[1:]
    n, kd = x.shape[0], weight.shape[2]
    if depth_pad != (0, 0):
        x = pad(x, (0, 0, 0, 0) + depth_pad)
    depth = x.shape[2]
    d_out = (depth - dl[0] * (kd - 1) - 1) // st[0] + 1
    if d_out <= 0:
        raise OpError(f"conv3d: input depth {input.shape[-3]} is too small for kernel depth {kd}")
    y = None
    for k in range(kd):
        planes = x.index_select(2, tensor([o * st[0] + k * dl[0] for o in range(d_out)]))
        planes = planes.permute(0, 2, 1, 3, 4).reshape(n * d_out, x.shape[1], x.shape[3],
                                                        x.shape[4])
        part = conv2d(planes, weight[:, :, k], None, st[1:], hw_pad, dl[1:], groups)
        y = part if y is None else y + part
    y = y.reshape(n, d_out, *y.shape[1:]).permute(0, 2, 1, 3, 4)
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1, 1)
    return y.squeeze(0) if unbatched else y


def _transpose_out(size: int, k: int, s: int, p: int, d: int, op: int) -> int:
    return (size - 1) * s - 2 * p + d * (k - 1) + op + 1


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: Any = 1, padding: Any = 0, output_padding: Any = 0,
                     groups: int = 1, dilation: Any = 1) -> Tensor:
    """Transposed 2-D convolution (the gradient of conv2d with respect to its input), NCHW;
    weight (C_in, C_out/groups, KH, KW). Output size (H − 1)·stride − 2·padding +
    dilation·(KH − 1) + output_padding + 1."""
    _float_pair(input, weight, bias, "conv_transpose2d")
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    if x.ndim != 4 or weight.ndim != 4:
        raise OpError(f"conv_transpose2d: expected input (N, C_in, H, W) and weight (C_in, "
                      f"C_out/groups, KH, KW), got {tuple(input.shape)} and "
                      f"{tuple(weight.shape)}")
    if x.shape[1] != weight.shape[0] or x.shape[1] % groups:
        raise OpError(f"conv_transpose2d: input has {x.shape[1]} channels but weight "
                      f"{tuple(weight.shape)} expects {weight.shape[0]} (groups={groups})")
    st = _tuple(stride, 2, "conv_transpose2d: stride")
    pd = _tuple(padding, 2, "conv_transpose2d: padding")
    op = _tuple(output_padding, 2, "conv_transpose2d: output_padding")
    dl = _tuple(dilation, 2, "conv_transpose2d: dilation")
    for o, s, d in zip(op, st, dl):
        if o >= max(s, d):
            raise OpError(f"conv_transpose2d: output_padding {op} must be smaller than stride "
                          f"{st} or dilation {dl}")
    kh, kw = weight.shape[2], weight.shape[3]
    out_hw = (_transpose_out(x.shape[2], kh, st[0], pd[0], dl[0], op[0]),
              _transpose_out(x.shape[3], kw, st[1], pd[1], dl[1], op[1]))
    if out_hw[0] <= 0 or out_hw[1] <= 0:
        raise OpError(f"conv_transpose2d: output size {out_hw} is not positive")
    if bias is not None and tuple(bias.shape) != (weight.shape[1] * groups,):
        raise OpError(f"conv_transpose2d: bias shape {tuple(bias.shape)}, expected "
                      f"({weight.shape[1] * groups},)")
    # The kernel computes conv2d's input gradient, so conv2d over out_hw must give x's size.
    # With output_padding >= stride (allowed when < dilation) it would not: the extra rows
    # are then taken from less bottom/right padding, and past the uncropped output (where
    # nothing reaches) they are zeros.
    pads, reach = [], []
    for o, p_, s_, op_ in zip(out_hw, pd, st, op):
        extra = max(op_ - (s_ - 1), 0)
        pads += [p_, max(p_ - extra, 0)]
        reach.append(o - max(extra - p_, 0))
    y = C.ConvTranspose2d.apply(x, weight, None, stride=st, padding=tuple(pads), dilation=dl,
                                groups=groups, out_hw=tuple(reach))
    if tuple(reach) != out_hw:
        from dl_kernels.nn.functional import pad

        y = pad(y, (0, out_hw[1] - reach[1], 0, out_hw[0] - reach[0]))
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1)
    return y.squeeze(0) if unbatched else y


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: Any = 1, padding: Any = 0, output_padding: Any = 0,
                     groups: int = 1, dilation: Any = 1) -> Tensor:
    """Transposed 1-D convolution, (N, C_in, L); weight (C_in, C_out/groups, K)."""
    unbatched = input.ndim == 2
    x = input.unsqueeze(0) if unbatched else input
    y = conv_transpose2d(x.unsqueeze(2), weight.unsqueeze(2), bias,
                         (1, _tuple(stride, 1, "stride")[0]), (0, _tuple(padding, 1, "padding")[0]),
                         (0, _tuple(output_padding, 1, "output_padding")[0]), groups,
                         (1, _tuple(dilation, 1, "dilation")[0]))
    y = y.squeeze(2)
    return y.squeeze(0) if unbatched else y


# ---- interpolation ----------------------------------------------------------------------------
_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "trilinear", "bicubic", "area")
_DIMS = {"linear": 1, "bilinear": 2, "trilinear": 3, "bicubic": 2}


def _source_coords(out: int, size: int, scale: float | None, align_corners: bool,
                   cubic: bool = False) -> list[float]:
    """PyTorch's map from output to input coordinate along one dim."""
    if align_corners:
        step = (size - 1) / (out - 1) if out > 1 else 0.0
        return [i * step for i in range(out)]
    ratio = 1.0 / scale if scale is not None else size / out
    src = [(i + 0.5) * ratio - 0.5 for i in range(out)]
    return src if cubic else [max(c, 0.0) for c in src]


def _linear_along(x: Tensor, dim: int, out: int, scale: float | None,
                  align_corners: bool) -> Tensor:
    size = x.shape[dim]
    src = _source_coords(out, size, scale, align_corners)
    i0 = [min(math.floor(c), size - 1) for c in src]
    i1 = [min(i + 1, size - 1) for i in i0]
    lam = [c - i for c, i in zip(src, i0)]
    shape = [1] * x.ndim
    shape[dim] = out
    w = tensor(lam, dtype=float64).to(x.dtype).reshape(shape)
    a = x.index_select(dim, tensor(i0))
    b = x.index_select(dim, tensor(i1))
    return a + (b - a) * w


def _cubic_weights(t: float, a: float = -0.75) -> list[float]:
    """Keys' cubic convolution weights (A = -0.75, as PyTorch) for taps at -1, 0, 1, 2."""
    def near(x: float) -> float:
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x: float) -> float:
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _cubic_along(x: Tensor, dim: int, out: int, scale: float | None,
                 align_corners: bool) -> Tensor:
    size = x.shape[dim]
    src = _source_coords(out, size, scale, align_corners, cubic=True)
    base = [math.floor(c) for c in src]
    weights = [_cubic_weights(c - b) for c, b in zip(src, base)]
    shape = [1] * x.ndim
    shape[dim] = out
    result = None
    for k in range(4):
        idx = [min(max(b - 1 + k, 0), size - 1) for b in base]
        w = tensor([wt[k] for wt in weights], dtype=float64).to(x.dtype).reshape(shape)
        term = x.index_select(dim, tensor(idx)) * w
        result = term if result is None else result + term
    return result


def _area_along(x: Tensor, dim: int, out: int) -> Tensor:
    """Adaptive average along one dim: output i averages inputs [floor(i n / out),
    ceil((i + 1) n / out)), as a product with an (out, n) averaging matrix."""
    n = x.shape[dim]
    rows = []
    for i in range(out):
        start, end = (i * n) // out, -((-(i + 1) * n) // out)
        rows.append([1.0 / (end - start) if start <= j < end else 0.0 for j in range(n)])
    w = tensor(rows, dtype=float64).to(x.dtype) if out else zeros(0, n, dtype=x.dtype)
    return (x.movedim(dim, -1) @ w.t()).movedim(-1, dim)


def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:
    """Average over (N, C, L) windows that split L into ``output_size`` near-equal parts."""
    return _area_along(input, input.ndim - 1, _tuple(output_size, 1, "output_size")[0])


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Adaptive average pooling of the last two dims (None keeps a dim's size)."""
    sizes = (output_size, output_size) if isinstance(output_size, int) or output_size is None \
        else tuple(output_size)
    x = input
    for i, out in enumerate(sizes):
        dim = input.ndim - 2 + i
        x = _area_along(x, dim, x.shape[dim] if out is None else int(out))
    return x


def adaptive_avg_pool3d(input: Tensor, output_size: Any) -> Tensor:
    """Adaptive average pooling of the last three dims (None keeps a dim's size)."""
    sizes = (output_size,) * 3 if isinstance(output_size, int) or output_size is None \
        else tuple(output_size)
    x = input
    for i, out in enumerate(sizes):
        dim = input.ndim - 3 + i
        x = _area_along(x, dim, x.shape[dim] if out is None else int(out))
    return x


def _nearest_along(x: Tensor, dim: int, out: int, scale: float | None, exact: bool) -> Tensor:
    size = x.shape[dim]
    ratio = 1.0 / scale if scale is not None else size / out
    off = 0.5 if exact else 0.0
    idx = [min(math.floor((i + off) * ratio), size - 1) for i in range(out)]
    return x.index_select(dim, tensor(idx))


def interpolate(input: Tensor, size: Any = None, scale_factor: Any = None,
                mode: str = "nearest", align_corners: bool | None = None,
                recompute_scale_factor: bool | None = None, antialias: bool = False) -> Tensor:
    """Resize the spatial dims (all but N, C) of (N, C, L), (N, C, H, W) or (N, C, D, H, W)
    to ``size`` or by ``scale_factor``, as torch.nn.functional.interpolate."""
    if mode not in _MODES:
        raise NotImplementedError(f"interpolate: mode {mode!r} (supported: {_MODES})")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True")
    spatial = input.ndim - 2
    if spatial < 1:
        raise OpError(f"interpolate: expected an input with a batch, a channel and spatial "
                      f"dims, got shape {tuple(input.shape)}")
    if mode in _DIMS and _DIMS[mode] != spatial:
        raise OpError(f"interpolate: mode {mode!r} needs a {_DIMS[mode] + 2}-D input, got "
                      f"{input.ndim}-D")
    if align_corners is not None and (mode.startswith("nearest") or mode == "area"):
        raise ValueError("interpolate: align_corners only applies to the linear and cubic modes")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    in_sizes = tuple(input.shape[2:])
    scales: list[float | None]
    if size is not None:
        out_sizes = _tuple(size, spatial, "interpolate: size")
        scales = [None] * spatial
    else:
        sf = [float(v) for v in (scale_factor if isinstance(scale_factor, (tuple, list))
                                 else [scale_factor] * spatial)]
        if len(sf) != spatial:
            raise ValueError(f"interpolate: scale_factor {scale_factor} for {spatial} dims")
        out_sizes = tuple(math.floor(n * s) for n, s in zip(in_sizes, sf))
        scales = [None] * spatial if recompute_scale_factor else list(sf)
    x = input if input.is_floating_point() or mode.startswith("nearest") else input.float()
    ac = bool(align_corners)
    for i, (out, sc) in enumerate(zip(out_sizes, scales)):
        dim = 2 + i
        if mode == "area":
            x = _area_along(x, dim, out)
        elif mode.startswith("nearest"):
            x = _nearest_along(x, dim, out, sc, mode == "nearest-exact")
        elif mode == "bicubic":
            x = _cubic_along(x, dim, out, sc, ac)
        else:
            x = _linear_along(x, dim, out, sc, ac)
    return x


def upsample(input: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
             align_corners: bool | None = None) -> Tensor:
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size: Any = None, scale_factor: Any = None) -> Tensor:
    return interpolate(input, size, scale_factor, "nearest")


def upsample_bilinear(input: Tensor, size: Any = None, scale_factor: Any = None) -> Tensor:
    return interpolate(input, size, scale_factor, "bilinear", align_corners=True)


# ---- unpooling --------------------------------------------------------------------------------
def max_unpool2d(input: Tensor, indices: Tensor, kernel_size: Any, stride: Any = None,
                 padding: Any = 0, output_size: Any = None) -> Tensor:
    """The inverse of max_pool2d(return_indices=True): zeros with each value put back at its
    flat index h·W + w of the output plane."""
    k = _tuple(kernel_size, 2, "max_unpool2d: kernel_size")
    s = k if stride is None else _tuple(stride, 2, "max_unpool2d: stride")
    p = _tuple(padding, 2, "max_unpool2d: padding")
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    idx = indices.unsqueeze(0) if unbatched else indices
    if tuple(idx.shape) != tuple(x.shape):
        raise OpError(f"max_unpool2d: indices shape {tuple(indices.shape)} differs from input "
                      f"shape {tuple(input.shape)}")
    h = (x.shape[2] - 1) * s[0] - 2 * p[0] + k[0]
    w = (x.shape[3] - 1) * s[1] - 2 * p[1] + k[1]
    if output_size is not None:
        h, w = tuple(output_size)[-2:]
    n, c = x.shape[0], x.shape[1]
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= h * w):
        raise IndexError(f"max_unpool2d: indices must be in [0, {h * w}) for output {(h, w)}")
    flat = zeros(n, c, h * w, dtype=x.dtype, device=x.device)
    out = scatter(flat, 2, idx.reshape(n, c, -1), x.reshape(n, c, -1)).reshape(n, c, h, w)
    return out.squeeze(0) if unbatched else out


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size: Any, stride: Any = None,
                 padding: Any = 0, output_size: Any = None) -> Tensor:
    k = _tuple(kernel_size, 1, "kernel_size")[0]
    s = k if stride is None else _tuple(stride, 1, "stride")[0]
    p = _tuple(padding, 1, "padding")[0]
    osz = None if output_size is None else (1, tuple(output_size)[-1])
    y = max_unpool2d(input.unsqueeze(-2), indices.unsqueeze(-2), (1, k), (1, s), (0, p), osz)
    return y.squeeze(-2)


# ---- padding modes ----------------------------------------------------------------------------
def _pad_index(n: int, lo: int, hi: int, mode: str) -> list[int]:
    idx = []
    if mode == "circular":  # PyTorch crops (negative widths) first, then wraps what is left
        first, last = max(-lo, 0), n - max(-hi, 0)
        m = last - first
        return [first + (i % m) for i in range(-max(lo, 0), m + max(hi, 0))] if m > 0 else []
    for i in range(-lo, n + hi):
        if mode == "replicate":
            idx.append(min(max(i, 0), n - 1))
        else:  # reflect about the edge entries (not repeating them)
            period = 2 * (n - 1)
            j = i % period if period else 0
            idx.append(j if j < n else period - j)
    return idx


def pad_by_mode(input: Tensor, pad: Sequence[int], mode: str) -> Tensor:
    """reflect / replicate / circular padding of the last len(pad) // 2 dims (PyTorch's pad
    order: last dim first); negative widths crop."""
    x = input
    for i in range(len(pad) // 2):
        dim = input.ndim - 1 - i
        lo, hi = int(pad[2 * i]), int(pad[2 * i + 1])
        n = x.shape[dim]
        if mode == "reflect" and (lo >= n or hi >= n):
            raise OpError(f"pad: reflect padding ({lo}, {hi}) must be smaller than the dim's "
                          f"size {n}")
        if mode == "circular" and (lo > n or hi > n):
            raise OpError(f"pad: circular padding ({lo}, {hi}) must be at most the dim's size {n}")
        if n == 0 and (lo or hi):
            raise OpError(f"pad: cannot {mode}-pad an empty dim")
        x = x.index_select(dim, tensor(_pad_index(n, lo, hi, mode), dtype="int64"))
    return x



# ---- pooling beyond the kernels: dilation, avg ceil_mode, 1-d -----------------------------------
def _pool_out(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output size (a last window must start inside input or left pad)."""
    span = size + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _windows(x: Tensor, dim: int, out: int, k: int, s: int, d: int) -> Tensor:
    """(.., n, ..) -> (.., out, k, ..): the k taps (d apart) of each of the out windows."""
    idx = [o * s + j * d for o in range(out) for j in range(k)]
    shape = tuple(x.shape)
    y = x.index_select(dim, tensor(idx, dtype="int64"))
    return y.reshape(shape[:dim] + (out, k) + shape[dim + 1:])


def max_pool2d_dilated(x: Tensor, k: tuple, s: tuple, p: tuple, d: tuple, ceil_mode: bool,
                       return_indices: bool) -> Any:
    """max_pool2d for any dilation, as a max over gathered windows of the -inf-padded input.
    x is (N, C, H, W)."""
    from dl_kernels.nn.functional import pad

    h, w = x.shape[2], x.shape[3]
    oh = _pool_out(h, k[0], s[0], p[0], d[0], ceil_mode)
    ow = _pool_out(w, k[1], s[1], p[1], d[1], ceil_mode)
    need_h = (oh - 1) * s[0] + d[0] * (k[0] - 1) + 1
    need_w = (ow - 1) * s[1] + d[1] * (k[1] - 1) + 1
    extra_h = max(need_h - (h + 2 * p[0]), 0)
    extra_w = max(need_w - (w + 2 * p[1]), 0)
    xp = pad(x, (p[1], p[1] + extra_w, p[0], p[0] + extra_h), value=-math.inf)
    win = _windows(_windows(xp, 2, oh, k[0], s[0], d[0]), 4, ow, k[1], s[1], d[1])
    win = win.permute(0, 1, 2, 4, 3, 5).reshape(x.shape[0], x.shape[1], oh, ow, k[0] * k[1])
    values = win.amax(-1)
    if not return_indices:
        return values
    a = win.detach().argmax(-1)
    kh, kw = a // k[1], a % k[1]
    rows = arange(oh).reshape(oh, 1) * s[0] + kh * d[0] - p[0]
    cols = arange(ow).reshape(1, ow) * s[1] + kw * d[1] - p[1]
    return values, rows * w + cols


def avg_pool2d_ceil(x: Tensor, k: tuple, s: tuple, p: tuple, count_include_pad: bool,
                    divisor_override: int | None) -> Tensor:
    """avg_pool2d with ceil_mode: window sums over the zero-padded input divided by PyTorch's
    count (windows clipped at the padded edge; padding counted only with count_include_pad)."""
    from dl_kernels.nn.functional import pad

    h, w = x.shape[2], x.shape[3]
    oh = _pool_out(h, k[0], s[0], p[0], 1, True)
    ow = _pool_out(w, k[1], s[1], p[1], 1, True)
    extra_h = max((oh - 1) * s[0] + k[0] - (h + 2 * p[0]), 0)
    extra_w = max((ow - 1) * s[1] + k[1] - (w + 2 * p[1]), 0)
    xp = pad(x, (p[1], p[1] + extra_w, p[0], p[0] + extra_h))
    win = _windows(_windows(xp, 2, oh, k[0], s[0], 1), 4, ow, k[1], s[1], 1)
    sums = win.sum((3, 5))

    def counts(out: int, size: int, kk: int, ss: int, pp: int) -> list[int]:
        res = []
        for o in range(out):
            start = o * ss - pp
            end = min(start + kk, size + pp)
            if not count_include_pad:
                start, end = max(start, 0), min(end, size)
            res.append(end - start)
        return res

    if divisor_override is not None:
        return sums / float(divisor_override)
    ch = tensor(counts(oh, h, k[0], s[0], p[0]), dtype=x.dtype).reshape(oh, 1)
    cw = tensor(counts(ow, w, k[1], s[1], p[1]), dtype=x.dtype).reshape(1, ow)
    return sums / (ch * cw)


def max_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """max_pool2d over (N, C, 1, L)."""
    from dl_kernels.nn.functional import max_pool2d

    k = _tuple(kernel_size, 1, "kernel_size")[0]
    s = k if stride is None or stride == [] else _tuple(stride, 1, "stride")[0]
    out = max_pool2d(input.unsqueeze(-2), (1, k), (1, s), (0, _tuple(padding, 1, "padding")[0]),
                     (1, _tuple(dilation, 1, "dilation")[0]), ceil_mode, return_indices)
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


def avg_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    from dl_kernels.nn.functional import avg_pool2d

    k = _tuple(kernel_size, 1, "kernel_size")[0]
    s = k if stride is None or stride == [] else _tuple(stride, 1, "stride")[0]
    return avg_pool2d(input.unsqueeze(-2), (1, k), (1, s), (0, _tuple(padding, 1, "padding")[0]),
                      ceil_mode, count_include_pad).squeeze(-2)
