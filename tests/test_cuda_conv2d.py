"""CUDA conv2d (im2col + our GEMM) forward, grad-input, grad-weight and grad-bias against a
float64 numpy reference on awkward shapes: batch 1, primes, stride > kernel, padding >= half
the kernel, dilation 2-3, groups (depthwise included) and the 1x1 fast path."""

from __future__ import annotations

import numpy as np
import pytest
from _cuda_util import dev, f32, mod, needs_gpu

pytestmark = needs_gpu

# x shape, (K, R, S), stride, padding (t, b, l, r), dilation, groups
CASES = [
    ((1, 1, 5, 5), (1, 3, 3), (1, 1), (0, 0, 0, 0), (1, 1), 1),
    ((2, 3, 7, 11), (5, 3, 2), (1, 1), (1, 1, 0, 1), (1, 1), 1),
    ((3, 4, 9, 8), (6, 3, 3), (2, 3), (2, 1, 2, 2), (1, 1), 2),
    ((2, 6, 13, 7), (6, 3, 3), (1, 1), (1, 1, 1, 1), (2, 3), 6),  # depthwise, dilated
    ((1, 5, 6, 6), (7, 2, 2), (4, 4), (0, 0, 0, 0), (1, 1), 1),  # stride > kernel
    ((2, 8, 5, 3), (4, 1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1),  # 1x1 fast path
    ((2, 8, 5, 3), (4, 1, 1), (2, 1), (1, 0, 0, 1), (1, 1), 2),  # 1x1 with stride/padding
]


def conv_ref(x, w, b, stride, pad, dil, groups):
    n, c, h, wd = x.shape
    k, cg, r, s = w.shape
    pt, pb, pl, pr = pad
    xp = np.zeros((n, c, h + pt + pb, wd + pl + pr))
    xp[:, :, pt:pt + h, pl:pl + wd] = x
    oh = (h + pt + pb - dil[0] * (r - 1) - 1) // stride[0] + 1
    ow = (wd + pl + pr - dil[1] * (s - 1) - 1) // stride[1] + 1
    kg = k // groups
    y = np.zeros((n, k, oh, ow))
    for g in range(groups):
        xs = xp[:, g * cg:(g + 1) * cg]
        for i in range(r):
            for j in range(s):
                patch = xs[:, :, i * dil[0]:i * dil[0] + stride[0] * (oh - 1) + 1:stride[0],
                           j * dil[1]:j * dil[1] + stride[1] * (ow - 1) + 1:stride[1]]
                y[:, g * kg:(g + 1) * kg] += np.einsum("nchw,kc->nkhw", patch,
                                                       w[g * kg:(g + 1) * kg, :, i, j])
    if b is not None:
        y += b[None, :, None, None]
    return y


def conv_grads_ref(x, w, dy, stride, pad, dil, groups):
    """dx and dw as the adjoints of the (linear) forward map, via its transpose on patches."""
    n, c, h, wd = x.shape
    k, cg, r, s = w.shape
    pt, pb, pl, pr = pad
    xp = np.zeros((n, c, h + pt + pb, wd + pl + pr))
    xp[:, :, pt:pt + h, pl:pl + wd] = x
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    oh, ow = dy.shape[2:]
    kg = k // groups
    for g in range(groups):
        for i in range(r):
            for j in range(s):
                sl = (slice(None), slice(g * cg, (g + 1) * cg),
                      slice(i * dil[0], i * dil[0] + stride[0] * (oh - 1) + 1, stride[0]),
                      slice(j * dil[1], j * dil[1] + stride[1] * (ow - 1) + 1, stride[1]))
                dyg = dy[:, g * kg:(g + 1) * kg]
                dw[g * kg:(g + 1) * kg, :, i, j] += np.einsum("nkhw,nchw->kc", dyg, xp[sl])
                dxp[sl] += np.einsum("nkhw,kc->nchw", dyg, w[g * kg:(g + 1) * kg, :, i, j])
    return dxp[:, :, pt:pt + h, pl:pl + wd], dw


@pytest.mark.parametrize("xshape,wk,stride,pad,dil,groups", CASES)
def test_conv2d_forward_and_gradients_match_float64(xshape, wk, stride, pad, dil, groups, rng):
    k, r, s = wk
    x = f32(rng.standard_normal(xshape))
    w = f32(rng.standard_normal((k, xshape[1] // groups, r, s)) * 0.5)
    b = f32(rng.standard_normal(k))
    kw = {"stride": stride, "padding": pad, "dilation": dil, "groups": groups}
    y = mod().conv2d_forward(dev(x), dev(w), dev(b), **kw)
    ref = conv_ref(x, w, b, stride, pad, dil, groups)
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-4, atol=1e-4)
    dy = f32(rng.standard_normal(ref.shape))
    ref_dx, ref_dw = conv_grads_ref(x, w, dy, stride, pad, dil, groups)
    dx = mod().conv2d_backward_input(dev(dy), dev(w), xshape[2:], **kw)
    dw = mod().conv2d_backward_weight(dev(dy), dev(x), w.shape[2:], **kw)
    db = mod().conv2d_backward_bias(dev(dy))
    np.testing.assert_allclose(dx.numpy(), ref_dx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dw.numpy(), ref_dw, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db.numpy(), dy.sum((0, 2, 3)), rtol=1e-4, atol=1e-4)


def test_conv2d_without_bias_and_with_symmetric_padding_pair(rng):
    x, w = f32(rng.standard_normal((1, 2, 4, 4))), f32(rng.standard_normal((3, 2, 3, 3)))
    y = mod().conv2d_forward(dev(x), dev(w), None, (1, 1), (1, 2))
    np.testing.assert_allclose(y.numpy(), conv_ref(x, w, None, (1, 1), (1, 1, 2, 2), (1, 1), 1),
                               rtol=1e-4, atol=1e-4)


def test_conv2d_rejects_bad_geometry():
    x = mod().zeros((1, 4, 5, 5))
    with pytest.raises(ValueError, match=r"weight: expected shape \(6, 2, 3, 3\), got \(6, 4, 3, 3\)"):
        mod().conv2d_forward(x, mod().zeros((6, 4, 3, 3)), groups=2)
    with pytest.raises(ValueError, match="groups: 3 must divide"):
        mod().conv2d_forward(x, mod().zeros((6, 1, 3, 3)), groups=3)
    with pytest.raises(ValueError, match="larger than the padded input"):
        mod().conv2d_forward(x, mod().zeros((2, 4, 3, 3)), dilation=(3, 3))
    with pytest.raises(ValueError, match=r"bias: expected shape \(2,\)"):
        mod().conv2d_forward(x, mod().zeros((2, 4, 3, 3)), mod().zeros((3,)))
    with pytest.raises(ValueError, match="padding: expected"):
        mod().conv2d_forward(x, mod().zeros((2, 4, 3, 3)), padding=(1, 1, 1))
