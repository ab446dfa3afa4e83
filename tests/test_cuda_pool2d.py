"""CUDA max and average pool2d, forward and backward, against float64 numpy loops on awkward
shapes: overlapping windows (stride < kernel), stride > kernel, explicit per-side padding,
count_include_pad on and off, deterministic first-maximum ties."""

from __future__ import annotations

import numpy as np
import pytest
from _cuda_util import dev, f32, mod, needs_gpu

pytestmark = needs_gpu

# (N, C, H, W), kernel, stride, padding (top, bottom, left, right)
CASES = [
    ((1, 1, 1, 1), (1, 1), (1, 1), (0, 0, 0, 0)),
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0, 0, 0)),
    ((1, 2, 7, 9), (3, 3), (2, 2), (1, 1, 1, 1)),
    ((3, 1, 11, 5), (3, 2), (1, 1), (1, 0, 0, 1)),
    ((2, 5, 13, 13), (2, 3), (3, 4), (0, 1, 1, 0)),
    ((1, 4, 6, 17), (4, 4), (1, 3), (2, 2, 2, 1)),
]


def windows(x, kernel, stride, pad, fill):
    n, c, h, w = x.shape
    kh, kw = kernel
    sh, sw = stride
    pt, pb, pl, pr = pad
    xp = np.full((n, c, h + pt + pb, w + pl + pr), fill)
    xp[:, :, pt:pt + h, pl:pl + w] = x
    inside = np.zeros(xp.shape[2:], bool)
    inside[pt:pt + h, pl:pl + w] = True
    oh, ow = (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1
    return xp, inside, oh, ow


def max_ref(x, kernel, stride, pad):
    xp, _, oh, ow = windows(x, kernel, stride, pad, -np.inf)
    n, c, _, w = x.shape
    kh, kw = kernel
    pt, _, pl, _ = pad
    y = np.empty((n, c, oh, ow))
    arg = np.empty((n, c, oh, ow), np.int64)
    for i in range(oh):
        for j in range(ow):
            win = xp[:, :, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw]
            flat = win.reshape(n, c, -1)
            k = flat.argmax(-1)  # first maximum in row-major order
            y[:, :, i, j] = flat.max(-1)
            r, s = k // kw + i * stride[0] - pt, k % kw + j * stride[1] - pl
            arg[:, :, i, j] = r * w + s
    return y, arg


def avg_ref(x, kernel, stride, pad, include_pad):
    xp, inside, oh, ow = windows(x, kernel, stride, pad, 0.0)
    kh, kw = kernel
    y = np.empty(x.shape[:2] + (oh, ow))
    div = np.empty((oh, ow))
    for i in range(oh):
        for j in range(ow):
            rs, cs = slice(i * stride[0], i * stride[0] + kh), slice(j * stride[1], j * stride[1] + kw)
            y[:, :, i, j] = xp[:, :, rs, cs].sum((2, 3))
            div[i, j] = kh * kw if include_pad else inside[rs, cs].sum()
    return y / div, div


def avg_bwd_ref(dy, xshape, kernel, stride, pad, include_pad):
    n, c, h, w = xshape
    pt, pb, pl, pr = pad
    _, div = avg_ref(np.zeros(xshape), kernel, stride, pad, include_pad)
    dxp = np.zeros((n, c, h + pt + pb, w + pl + pr))
    for i in range(dy.shape[2]):
        for j in range(dy.shape[3]):
            dxp[:, :, i * stride[0]:i * stride[0] + kernel[0],
                j * stride[1]:j * stride[1] + kernel[1]] += (dy[:, :, i, j] / div[i, j])[:, :, None, None]
    return dxp[:, :, pt:pt + h, pl:pl + w]


@pytest.mark.parametrize("shape,kernel,stride,pad", CASES)
def test_max_pool_forward_and_backward_match_numpy(shape, kernel, stride, pad, rng):
    x = f32(rng.standard_normal(shape))
    y, arg = mod().max_pool2d_forward(dev(x), kernel, stride, pad)
    ref_y, ref_arg = max_ref(x, kernel, stride, pad)
    np.testing.assert_array_equal(y.numpy(), ref_y.astype(np.float32))
    np.testing.assert_array_equal(arg.numpy(), ref_arg)
    dy = f32(rng.standard_normal(ref_y.shape))
    ref_dx = np.zeros(shape)
    n, c = shape[:2]
    for a in range(n):
        for b in range(c):
            np.add.at(ref_dx[a, b].reshape(-1), ref_arg[a, b].reshape(-1), dy[a, b].reshape(-1))
    gather = mod().max_pool2d_backward(dev(dy), arg, shape[2:], kernel, stride, pad).numpy()
    np.testing.assert_allclose(gather, ref_dx, rtol=1e-6, atol=1e-6)
    scatter = mod().max_pool2d_backward(dev(dy), arg, shape[2:]).numpy()
    np.testing.assert_allclose(scatter, ref_dx, rtol=1e-6, atol=1e-6)


def test_max_pool_backward_rejects_argmax_outside_the_plane():
    arg = mod().from_numpy(np.array([[[[0, 16]]]], np.int64))
    with pytest.raises(ValueError, match=r"argmax: expected indices in \[0, 16\)"):
        mod().max_pool2d_backward(mod().zeros((1, 1, 1, 2)), arg, (4, 4))


def test_max_pool_ties_pick_the_first_maximum():
    x = np.ones((1, 1, 4, 4), np.float32)
    _, arg = mod().max_pool2d_forward(dev(x), (2, 2), (2, 2))
    assert arg.numpy().reshape(-1).tolist() == [0, 2, 8, 10]


@pytest.mark.parametrize("shape,kernel,stride,pad", CASES)
@pytest.mark.parametrize("include_pad", [True, False])
def test_avg_pool_forward_and_backward_match_numpy(shape, kernel, stride, pad, include_pad, rng):
    x = f32(rng.standard_normal(shape))
    y = mod().avg_pool2d_forward(dev(x), kernel, stride, pad, include_pad)
    ref_y, _ = avg_ref(x, kernel, stride, pad, include_pad)
    np.testing.assert_allclose(y.numpy(), ref_y, rtol=1e-5, atol=1e-6)
    dy = f32(rng.standard_normal(ref_y.shape))
    dx = mod().avg_pool2d_backward(dev(dy), shape[2:], kernel, stride, pad, include_pad)
    np.testing.assert_allclose(dx.numpy(), avg_bwd_ref(dy, shape, kernel, stride, pad, include_pad),
                               rtol=1e-5, atol=1e-6)


def test_stride_defaults_to_the_kernel_and_a_padding_pair_pads_both_sides(rng):
    x = f32(rng.standard_normal((1, 2, 6, 6)))
    y, _ = mod().max_pool2d_forward(dev(x), (3, 3))
    assert y.shape == (1, 2, 2, 2)
    y = mod().avg_pool2d_forward(dev(x), (3, 3), (1, 1), (1, 0))
    ref, _ = avg_ref(x, (3, 3), (1, 1), (1, 1, 0, 0), True)
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-5, atol=1e-6)


def test_pool_rejects_bad_geometry():
    x = mod().zeros((1, 1, 4, 4))
    with pytest.raises(ValueError, match="larger than the padded input"):
        mod().max_pool2d_forward(x, (5, 5))
    with pytest.raises(ValueError, match="stride: expected positive"):
        mod().avg_pool2d_forward(x, (2, 2), (0, 1))
    with pytest.raises(ValueError, match=r"gy: expected shape \(1, 1, 2, 2\), got \(1, 1, 3, 3\)"):
        mod().avg_pool2d_backward(mod().zeros((1, 1, 3, 3)), (4, 4), (2, 2))
    with pytest.raises(ValueError, match=r"x: expected shape \(-1, -1, -1, -1\), got \(4, 4\)"):
        mod().max_pool2d_forward(mod().zeros((4, 4)), (2, 2))
