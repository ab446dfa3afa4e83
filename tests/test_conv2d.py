"""conv2d kernels (dl_kernels._C.conv2d_*): every rung against float64 numpy references."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dl_kernels
import numpy as np
import pytest
from dl_kernels import _C

CPU = dl_kernels.config()
# "implicit" (float32, AVX2) falls back to im2col for float64 and for the shapes it does not cover.
RUNGS = ["reference", "im2col", "im2col_per_image", "winograd", "auto"] + [
    "implicit"
] * CPU["cpu_avx2_fma"]


@contextmanager
def conv_rung(name: str) -> Iterator[None]:
    _C.set_conv2d_rung(name)
    try:
        yield
    finally:
        _C.set_conv2d_rung("auto")


# ---- numpy references (float64, the formula with slices and einsum) -------------------------
def out_size(n: int, k: int, s: int, lo: int, hi: int, d: int) -> int:
    return (n + lo + hi - d * (k - 1) - 1) // s + 1


def taps(xp: np.ndarray, kh: int, kw: int, oh: int, ow: int, s: tuple, d: tuple) -> np.ndarray:
    """xp[..., oh*sh + kh*dh, ow*sw + kw*dw] for every output position (a strided slice)."""
    h0, w0 = kh * d[0], kw * d[1]
    return xp[..., h0 : h0 + s[0] * (oh - 1) + 1 : s[0], w0 : w0 + s[1] * (ow - 1) + 1 : s[1]]


def conv_ref(x, w, b, stride, padding, dilation, groups):
    n, _c, h, wd = x.shape
    o, cg, kh_, kw_ = w.shape
    pt, pb, pl, pr = padding
    oh = out_size(h, kh_, stride[0], pt, pb, dilation[0])
    ow = out_size(wd, kw_, stride[1], pl, pr, dilation[1])
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    y = np.zeros((n, o, oh, ow))
    og = o // groups
    for g in range(groups):
        xs = xp[:, g * cg : (g + 1) * cg]
        for kh in range(kh_):
            for kw in range(kw_):
                wk = w[g * og : (g + 1) * og, :, kh, kw].astype(np.float64)
                y[:, g * og : (g + 1) * og] += np.einsum(
                    "nchw,oc->nohw", taps(xs, kh, kw, oh, ow, stride, dilation), wk
                )
    if b is not None:
        y += b.astype(np.float64)[None, :, None, None]
    return y


def conv_backward_ref(gy, x, w, stride, padding, dilation, groups):
    """(gx, gw, gb): the adjoint of conv_ref, slice by slice."""
    _n, _c, h, wd = x.shape
    o, cg, kh_, kw_ = w.shape
    pt, pb, pl, pr = padding
    oh, ow = gy.shape[2:]
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    gxp = np.zeros_like(xp)
    gw = np.zeros(w.shape)
    og = o // groups
    gy = gy.astype(np.float64)
    for g in range(groups):
        xs, gxs = xp[:, g * cg : (g + 1) * cg], gxp[:, g * cg : (g + 1) * cg]
        gyg = gy[:, g * og : (g + 1) * og]
        for kh in range(kh_):
            for kw in range(kw_):
                wk = w[g * og : (g + 1) * og, :, kh, kw].astype(np.float64)
                taps(gxs, kh, kw, oh, ow, stride, dilation)[...] += np.einsum(
                    "nohw,oc->nchw", gyg, wk
                )
                gw[g * og : (g + 1) * og, :, kh, kw] = np.einsum(
                    "nohw,nchw->oc", gyg, taps(xs, kh, kw, oh, ow, stride, dilation)
                )
    gx = gxp[:, :, pt : pt + h, pl : pl + wd]
    return gx, gw, gy.sum(axis=(0, 2, 3))


# (N, C, H, W, O, (KH, KW), stride, padding (t, b, l, r), dilation, groups)
CONFIGS = [
    (1, 1, 7, 7, 1, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    (2, 3, 11, 13, 5, (3, 2), (2, 1), (1, 2, 0, 3), (2, 1), 1),  # asymmetric everything
    (3, 4, 7, 5, 8, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1),  # 1x1 fast path
    (2, 6, 9, 7, 4, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 2),  # 1x1, groups
    (1, 5, 9, 9, 5, (3, 3), (3, 4), (2, 2, 2, 2), (1, 3), 5),  # depthwise, stride > kernel
    (2, 4, 13, 11, 8, (3, 3), (1, 1), (2, 2, 2, 2), (3, 2), 4),  # depthwise x2, dilation 3
    (1, 6, 10, 9, 9, (2, 3), (2, 2), (1, 0, 2, 1), (2, 2), 3),  # groups 3
    (4, 3, 17, 19, 7, (5, 5), (1, 1), (3, 3, 3, 3), (1, 1), 1),  # padding > kernel / 2
    (1, 2, 5, 6, 3, (5, 6), (1, 1), (0, 0, 0, 0), (1, 1), 1),  # kernel = image: 1 x 1 output
    (2, 2, 6, 6, 3, (1, 1), (2, 3), (1, 0, 0, 1), (1, 1), 1),  # 1x1 strided and padded: im2col
    (2, 5, 9, 8, 7, (3, 3), (1, 1), (0, 2, 1, 0), (1, 1), 1),  # Winograd, odd output rows
    (1, 3, 6, 11, 4, (3, 3), (1, 1), (3, 0, 2, 2), (1, 1), 1),  # pad 3: Winograd forward only
]


def make(cfg, dtype, seed=0):
    n, c, h, w, o, k, *_ = cfg
    groups = cfg[-1]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((o, c // groups, *k)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    return x, wt, b


def tol(dtype) -> dict:
    return {"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32 else {"rtol": 1e-11, "atol": 1e-11}


@pytest.mark.parametrize("rung", RUNGS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", CONFIGS, ids=[str(i) for i in range(len(CONFIGS))])
def test_forward_and_backward_match_numpy_reference(cfg, dtype, rung):
    x, w, b = make(cfg, dtype)
    _, _, h, wd, _, k, s, p, d, g = cfg
    ref = conv_ref(x, w, b, s, p, d, g)
    gy = np.random.default_rng(1).standard_normal(ref.shape).astype(dtype)
    gx_ref, gw_ref, gb_ref = conv_backward_ref(gy, x, w, s, p, d, g)
    kw = {"stride": s, "padding": p, "dilation": d, "groups": g}
    with conv_rung(rung):
        y = _C.conv2d_forward(x, w, b, **kw)
        y_nobias = _C.conv2d_forward(x, w, None, **kw)
        gx = _C.conv2d_backward_input(gy, w, input_hw=(h, wd), **kw)
        gw = _C.conv2d_backward_weight(gy, x, kernel_hw=k, **kw)
        gb = _C.conv2d_backward_bias(gy)
    for got in (y, gx, gw, gb):
        assert got.dtype == dtype
    np.testing.assert_allclose(y, ref, **tol(dtype))
    np.testing.assert_allclose(
        y_nobias, ref - b.astype(np.float64)[None, :, None, None], **tol(dtype)
    )
    np.testing.assert_allclose(gx, gx_ref, **tol(dtype))
    np.testing.assert_allclose(gw, gw_ref, **tol(dtype))
    np.testing.assert_allclose(gb, gb_ref, **tol(dtype))


@pytest.mark.parametrize("rung", ["im2col", "winograd"])
@pytest.mark.parametrize("threads", [1, 2])
def test_chunked_and_threaded_rungs_agree_with_reference(threads, rung):
    # im2col: 16 * 9 rows of 4 bytes, 512 KiB / 576 B = 910 positions per chunk, 70 * 65 = 4550
    # positions: five chunks per image. Winograd: 1 MiB / (16 * 16 * 4 B) = 1024 tiles per
    # chunk, 35 * 33 = 1155 tiles: two chunks, odd last tile column. Batch 3 leaves the
    # threads an uneven split.
    cfg = (3, 16, 70, 65, 6, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1)
    x, w, b = make(cfg, np.float32, seed=3)
    _, _, h, wd, _, k, s, p, d, g = cfg
    kw = {"stride": s, "padding": p, "dilation": d, "groups": g}
    ref = conv_ref(x, w, b, s, p, d, g)
    gy = np.random.default_rng(4).standard_normal(ref.shape).astype(np.float32)
    gx_ref, gw_ref, _ = conv_backward_ref(gy, x, w, s, p, d, g)
    old = _C.get_num_threads()
    _C.set_num_threads(threads)
    try:
        with conv_rung(rung):
            y = _C.conv2d_forward(x, w, b, **kw)
            gx = _C.conv2d_backward_input(gy, w, input_hw=(h, wd), **kw)
            gw = _C.conv2d_backward_weight(gy, x, kernel_hw=k, **kw)
    finally:
        _C.set_num_threads(old)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(gx, gx_ref, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(gw, gw_ref, rtol=1e-4, atol=1e-2)


@pytest.mark.parametrize("rung", ["im2col", "im2col_per_image"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
def test_image_blocks_with_a_short_last_block_agree_with_reference(threads, dtype, rung):
    # 7 x 7 = 49 positions per image: im2col lays ceil(512 / 49) = 11 images side by side, so
    # 13 images make blocks of 7 + 6 (1 thread) or 5 + 5 + 3 (2 threads); im2col_per_image
    # keeps one image per GEMM. Groups, stride, dilation and uneven padding change every
    # image's column matrix (and grad-weight's transposed one) differently.
    cfg = (13, 4, 14, 8, 6, (3, 3), (2, 1), (1, 2, 0, 1), (2, 1), 2)
    x, w, b = make(cfg, dtype, seed=5)
    _, _, h, wd, _, k, s, p, d, g = cfg
    kw = {"stride": s, "padding": p, "dilation": d, "groups": g}
    ref = conv_ref(x, w, b, s, p, d, g)
    assert ref.shape[2:] == (7, 7)
    gy = np.random.default_rng(6).standard_normal(ref.shape).astype(dtype)
    gx_ref, gw_ref, _ = conv_backward_ref(gy, x, w, s, p, d, g)
    old = _C.get_num_threads()
    _C.set_num_threads(threads)
    try:
        with conv_rung(rung):
            y = _C.conv2d_forward(x, w, b, **kw)
            gx = _C.conv2d_backward_input(gy, w, input_hw=(h, wd), **kw)
            gw = _C.conv2d_backward_weight(gy, x, kernel_hw=k, **kw)
    finally:
        _C.set_num_threads(old)
    np.testing.assert_allclose(y, ref, **tol(dtype))
    np.testing.assert_allclose(gx, gx_ref, **tol(dtype))
    np.testing.assert_allclose(gw, gw_ref, **tol(dtype))


GEMM_RUNGS = ["portable"] + ["avx2"] * CPU["cpu_avx2_fma"] + ["avx512"] * CPU["cpu_avx512"]


@pytest.mark.parametrize("gemm_rung", GEMM_RUNGS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("relu", [False, True])
def test_column_matrix_built_in_every_gemm_tile_layout(gemm_rung, dtype, relu):
    # Whole images build the column matrix straight into the GEMM's packed layout, whose
    # sliver width is the micro-kernel's tile (portable 8 or 4, AVX2 16 or 8, AVX-512 32 or 16
    # columns for float32 or float64); 9 images of 5 x 9 positions leave a partial last sliver.
    # The bias and ReLU ride on the GEMM's epilogue.
    cfg = (9, 4, 7, 9, 6, (3, 3), (1, 1), (0, 0, 1, 1), (1, 1), 2)
    x, w, b = make(cfg, dtype, seed=7)
    *_, s, p, d, g = cfg
    ref = conv_ref(x, w, b, s, p, d, g)
    if relu:
        ref = np.maximum(ref, 0)
    _C.set_gemm_rung(gemm_rung)
    try:
        with conv_rung("im2col"):
            y = _C.conv2d_forward(x, w, b, stride=s, padding=p, dilation=d, groups=g,
                                  activation="relu" if relu else "none")
    finally:
        _C.set_gemm_rung("auto")
    assert ref.shape[2:] == (5, 9)
    np.testing.assert_allclose(y, ref, **tol(dtype))


@pytest.mark.skipif(not CPU["cpu_avx2_fma"], reason="the implicit rung needs AVX2 + FMA")
@pytest.mark.parametrize(
    "cfg",
    [
        (64, 16, 14, 14, 32, (5, 5), (1, 1), (0, 0, 0, 0), (1, 1), 1),  # LeNet's conv2
        (5, 1, 28, 28, 16, (5, 5), (1, 1), (2, 2, 2, 2), (1, 1), 1),  # LeNet's conv1
        # 17 and 33 output channels (a part-filled last 16-wide tile), 7 * 2 * 3 = 42 and 3 * 3 * 5
        # = 45 taps, 4 x 9 and 1 x 1 positions (not multiples of the 6-row tile), uneven padding.
        (3, 7, 6, 11, 17, (2, 3), (1, 1), (1, 0, 2, 1), (1, 1), 1),
        (2, 5, 3, 3, 33, (3, 3), (1, 1), (0, 0, 0, 0), (1, 1), 1),
        # Grad-input on the implicit form too ("same" padding, >= 12 input channels), one of
        # them with uneven padding.
        (3, 13, 9, 7, 17, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
        (2, 16, 6, 11, 5, (2, 3), (1, 1), (1, 0, 1, 1), (1, 1), 1),
    ],
    ids=["lenet-conv2", "lenet-conv1", "ragged", "one-position", "same-13", "same-uneven"],
)
def test_implicit_gemm_rung_matches_reference_with_bias_and_relu(cfg, threads):
    x, w, b = make(cfg, np.float32, seed=11)
    _, _, h, wd, _, k, s, p, d, g = cfg
    kw = {"stride": s, "padding": p, "dilation": d, "groups": g}
    ref = conv_ref(x, w, b, s, p, d, g)
    gy = np.random.default_rng(12).standard_normal(ref.shape).astype(np.float32)
    gx_ref, gw_ref, _ = conv_backward_ref(gy, x, w, s, p, d, g)
    with conv_rung("implicit"):  # at 1 and 2 threads (the threads fixture)
        y = _C.conv2d_forward(x, w, b, activation="relu", **kw)
        gx = _C.conv2d_backward_input(gy, w, input_hw=(h, wd), **kw)
        gw = _C.conv2d_backward_weight(gy, x, kernel_hw=k, **kw)
    # Sums of up to 800 products (forward, grad-input) and 64 * 100 (grad-weight) in float32.
    np.testing.assert_allclose(y, np.maximum(ref, 0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gx, gx_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gw, gw_ref, rtol=1e-4, atol=1e-3)


@pytest.mark.skipif(not CPU["cpu_avx2_fma"], reason="the implicit rung needs AVX2 + FMA")
def test_implicit_gemm_rung_propagates_nan_and_inf_like_im2col():
    """A NaN input reaches exactly the outputs whose window holds it; an infinite one gives
    +-inf or NaN there; ReLU keeps NaN. The im2col rung is the yardstick (same padded taps)."""
    cfg = (3, 12, 9, 8, 5, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1)
    x, w, b = make(cfg, np.float32, seed=13)
    x[0, 1, 2, 3] = np.nan
    x[2, 0, 5, 5] = np.inf
    kw = {"padding": (1, 1, 1, 1)}
    gy = np.random.default_rng(14).standard_normal((3, 5, 9, 8)).astype(np.float32)
    gy[1, 2, 0, 0] = np.nan
    out = {}
    for rung in ("im2col", "implicit"):
        with conv_rung(rung):
            out[rung] = (_C.conv2d_forward(x, w, b, activation="relu", **kw),
                         _C.conv2d_backward_input(gy, w, input_hw=(9, 8), **kw),
                         _C.conv2d_backward_weight(gy, x, kernel_hw=(3, 3), **kw))
    for got, want in zip(out["implicit"], out["im2col"]):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
        finite = np.isfinite(want)
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-4, atol=1e-3)
    assert all(np.isnan(a).any() for a in out["implicit"])


@pytest.mark.skipif(not CPU["cpu_avx2_fma"], reason="the implicit rung needs AVX2 + FMA")
def test_implicit_grad_input_with_an_infinite_weight_matches_the_tap_sum():
    """A padded tap is no term of the grad-input sum: with w = inf, a border gx whose taps never
    meet that weight stays finite (the implicit form, which would multiply 0 * inf there, hands
    such weights to col2im)."""
    cfg = (2, 12, 6, 7, 4, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1)
    x, w, _ = make(cfg, np.float32, seed=15)
    w[1, 2, 0, 0] = np.inf
    gy = np.random.default_rng(16).standard_normal((2, 4, 6, 7)).astype(np.float32)
    gx_ref, _, _ = conv_backward_ref(gy, x, w, (1, 1), (1, 1, 1, 1), (1, 1), 1)
    with conv_rung("implicit"):
        gx = _C.conv2d_backward_input(gy, w, input_hw=(6, 7), padding=(1, 1, 1, 1))
    np.testing.assert_array_equal(np.isfinite(gx), np.isfinite(gx_ref))
    assert np.isfinite(gx[:, 2, -1, -1]).all()  # the last row/column never meet tap (0, 0)
    finite = np.isfinite(gx_ref)
    np.testing.assert_allclose(gx[finite], gx_ref[finite], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("rung", ["reference", "im2col", "winograd"])
@pytest.mark.parametrize(
    "cfg", [CONFIGS[1], CONFIGS[5], CONFIGS[6], CONFIGS[10]], ids=["asym", "dw", "grp", "3x3"]
)
def test_backward_matches_central_finite_differences(cfg, rung):
    x, w, b = make(cfg, np.float64, seed=5)
    _, _, h, wd, _, k, s, p, d, g = cfg
    kw = {"stride": s, "padding": p, "dilation": d, "groups": g}
    rng = np.random.default_rng(6)
    with conv_rung(rung):
        gy = rng.standard_normal(_C.conv2d_forward(x, w, b, **kw).shape)

        def loss(xx, ww, bb):
            return float(np.sum(_C.conv2d_forward(xx, ww, bb, **kw) * gy))

        grads = {
            "x": _C.conv2d_backward_input(gy, w, input_hw=(h, wd), **kw),
            "w": _C.conv2d_backward_weight(gy, x, kernel_hw=k, **kw),
            "b": _C.conv2d_backward_bias(gy),
        }
        eps = 1e-6
        for name, arr in (("x", x), ("w", w), ("b", b)):
            for flat in rng.choice(arr.size, size=min(arr.size, 12), replace=False):
                idx = np.unravel_index(flat, arr.shape)
                args = {"x": x.copy(), "w": w.copy(), "b": b.copy()}
                args[name][idx] += eps
                up = loss(args["x"], args["w"], args["b"])
                args[name][idx] -= 2 * eps
                down = loss(args["x"], args["w"], args["b"])
                numeric = (up - down) / (2 * eps)
                assert grads[name][idx] == pytest.approx(numeric, rel=1e-6, abs=1e-6), (name, idx)


@pytest.mark.parametrize(
    "cfg",
    [
        (2, 3, 12, 10, 4, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1),
        (1, 4, 9, 9, 4, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 4),
        (3, 6, 8, 7, 6, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 3),
    ],
    ids=["strided", "depthwise-dilated", "1x1-groups"],
)
def test_matches_torch(cfg):
    torch = pytest.importorskip("torch")
    x, w, b = make(cfg, np.float32, seed=7)
    _, _, h, wd, _, k, s, p, d, g = cfg
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    pt_, pb, pl, pr = p
    yt = torch.nn.functional.conv2d(
        torch.nn.functional.pad(xt, (pl, pr, pt_, pb)), wt, bt, stride=s, dilation=d, groups=g
    )
    gy = np.random.default_rng(8).standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(gy))
    kw = {"stride": s, "padding": p, "dilation": d, "groups": g}
    np.testing.assert_allclose(_C.conv2d_forward(x, w, b, **kw), yt.detach().numpy(), atol=1e-4)
    np.testing.assert_allclose(
        _C.conv2d_backward_input(gy, w, input_hw=(h, wd), **kw), xt.grad.numpy(), atol=1e-4
    )
    np.testing.assert_allclose(
        _C.conv2d_backward_weight(gy, x, kernel_hw=k, **kw), wt.grad.numpy(), atol=1e-3
    )
    np.testing.assert_allclose(_C.conv2d_backward_bias(gy), bt.grad.numpy(), atol=1e-4)


def test_padding_pair_means_symmetric_padding():
    x, w, b = make(CONFIGS[0], np.float64)
    np.testing.assert_array_equal(
        _C.conv2d_forward(x, w, b, padding=(1, 1)), _C.conv2d_forward(x, w, b, padding=(1, 1, 1, 1))
    )


def test_rung_names_round_trip_and_unknown_rung_is_rejected():
    with conv_rung("reference"):
        assert _C.get_conv2d_rung() == "reference"
    assert _C.get_conv2d_rung() == "auto"
    with pytest.raises(ValueError, match="unknown conv2d rung"):
        _C.set_conv2d_rung("winograd9")


X = np.zeros((2, 4, 8, 8), np.float32)
W = np.zeros((6, 4, 3, 3), np.float32)
GY = np.zeros((2, 6, 6, 6), np.float32)


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: _C.conv2d_forward(X, np.zeros((6, 3, 3, 3), np.float32)),
            r"w.shape\[1\].*4.*got 3",
        ),
        (lambda: _C.conv2d_forward(X, np.zeros((6, 2, 3, 3), np.float32), groups=3), "divisible"),
        (lambda: _C.conv2d_forward(X, np.zeros((5, 2, 3, 3), np.float32), groups=2), "divisible"),
        (lambda: _C.conv2d_forward(X, np.zeros((6, 4, 9, 3), np.float32)), "output size"),
        (lambda: _C.conv2d_forward(X, W, dilation=(4, 1)), "output size"),
        (lambda: _C.conv2d_forward(X, W.astype(np.float64)), "dtype float32"),
        (lambda: _C.conv2d_forward(X.astype(np.int32), W), "float32 or float64"),
        (lambda: _C.conv2d_forward(X[0], W), "4-D"),
        (lambda: _C.conv2d_forward(X, W, np.zeros(5, np.float32)), r"bias.*\(6,\).*\(5,\)"),
        (lambda: _C.conv2d_forward(X, W, stride=(0, 1)), "stride"),
        (lambda: _C.conv2d_forward(X, W, padding=(1, 1, 1)), "padding"),
        (lambda: _C.conv2d_forward(X, W, padding=(-1, 0)), "padding"),
        (lambda: _C.conv2d_forward(X, W, groups=0), "groups"),
        (lambda: _C.conv2d_backward_input(GY, W, input_hw=(9, 8)), r"gy.*\(2, 6, 7, 6\)"),
        (lambda: _C.conv2d_backward_input(GY, W, input_hw=(8,)), "input_hw"),
        (lambda: _C.conv2d_backward_weight(GY, X, kernel_hw=(2, 3)), r"gy.*\(2, 6, 7, 6\)"),
        (lambda: _C.conv2d_backward_weight(GY, X, kernel_hw=(3, 3), groups=3), "divisible"),
        (lambda: _C.conv2d_backward_weight(GY, X.astype(np.float64), kernel_hw=(3, 3)), "dtype"),
        (lambda: _C.conv2d_backward_bias(GY[0]), "4-D"),
    ],
)
def test_bad_input_raises_value_error_naming_expected_and_actual(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_strided_views_are_taken_as_they_are_and_equal_contiguous_copies():
    """The bindings make inputs C-contiguous themselves (a copy only where needed)."""
    x = np.random.default_rng(5).standard_normal((2, 4, 9, 16)).astype(np.float32)[..., ::2]
    w0 = np.random.default_rng(4).standard_normal((6, 4, 3, 3)).astype(np.float32)
    w = np.ascontiguousarray(w0.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)  # a strided view
    assert not x.flags.c_contiguous and not w.flags.c_contiguous
    xc, wc = np.ascontiguousarray(x), np.ascontiguousarray(w)
    y = _C.conv2d_forward(x, w, padding=(1, 1))
    np.testing.assert_array_equal(y, _C.conv2d_forward(xc, wc, padding=(1, 1)))
    gy = np.random.default_rng(6).standard_normal((2, 6, 9, 16)).astype(np.float32)[..., ::2]
    np.testing.assert_array_equal(
        _C.conv2d_backward_input(gy, w, (9, 8), padding=(1, 1)),
        _C.conv2d_backward_input(np.ascontiguousarray(gy), wc, (9, 8), padding=(1, 1)))
    np.testing.assert_array_equal(
        _C.conv2d_backward_weight(gy, x, (3, 3), padding=(1, 1)),
        _C.conv2d_backward_weight(np.ascontiguousarray(gy), xc, (3, 3), padding=(1, 1)))
    np.testing.assert_array_equal(_C.conv2d_backward_bias(gy),
                                  _C.conv2d_backward_bias(np.ascontiguousarray(gy)))
