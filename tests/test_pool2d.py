"""pool2d kernels (dl_kernels._C.max_pool2d_* / avg_pool2d_*): every rung against numpy loops."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dl_kernels
import numpy as np
import pytest
from dl_kernels import _C

# "avx2": the 2x2 float32 max-pool that "fast" runs on an AVX2 CPU without AVX-512.
RUNGS = ["reference", "fast", "portable", "auto"] + ["avx2"] * dl_kernels.config()["cpu_avx2_fma"]


@contextmanager
def pool_rung(name: str) -> Iterator[None]:
    _C.set_pool2d_rung(name)
    try:
        yield
    finally:
        _C.set_pool2d_rung("auto")


# ---- numpy references (float64 loops over windows) -------------------------------------------
def windows(h, w, k, s, p):
    """Yields (oh, ow, rows, cols): the window's taps inside the image, PyTorch floor mode."""
    oh_n = (h + 2 * p[0] - k[0]) // s[0] + 1
    ow_n = (w + 2 * p[1] - k[1]) // s[1] + 1
    for oh in range(oh_n):
        for ow in range(ow_n):
            h0, w0 = oh * s[0] - p[0], ow * s[1] - p[1]
            rows = range(max(h0, 0), min(h0 + k[0], h))
            cols = range(max(w0, 0), min(w0 + k[1], w))
            yield oh, ow, rows, cols


def out_shape(x_shape, k, s, p):
    n, c, h, w = x_shape
    return (n, c, (h + 2 * p[0] - k[0]) // s[0] + 1, (w + 2 * p[1] - k[1]) // s[1] + 1)


def max_ref(x, k, s, p):
    n, c, h, w = x.shape
    y = np.zeros(out_shape(x.shape, k, s, p))
    am = np.zeros(y.shape, np.int64)
    for oh, ow, rows, cols in windows(h, w, k, s, p):
        win = x[:, :, rows.start : rows.stop, cols.start : cols.stop].reshape(n, c, -1)
        first = win.argmax(axis=2)  # numpy: the first maximum in row-major order
        y[:, :, oh, ow] = win.max(axis=2)
        am[:, :, oh, ow] = (rows.start + first // len(cols)) * w + cols.start + first % len(cols)
    return y, am


def max_backward_ref(gy, am, h, w):
    n, c = gy.shape[:2]
    gx = np.zeros((n * c, h * w))
    np.add.at(gx, (np.arange(n * c)[:, None], am.reshape(n * c, -1)), gy.reshape(n * c, -1))
    return gx.reshape(n, c, h, w)


def avg_ref(x, k, s, p, cip):
    h, w = x.shape[2:]
    y = np.zeros(out_shape(x.shape, k, s, p))
    for oh, ow, rows, cols in windows(h, w, k, s, p):
        div = k[0] * k[1] if cip else len(rows) * len(cols)
        win = x[:, :, rows.start : rows.stop, cols.start : cols.stop].astype(np.float64)
        y[:, :, oh, ow] = win.sum(axis=(2, 3)) / div
    return y


def avg_backward_ref(gy, h, w, k, s, p, cip):
    n, c = gy.shape[:2]
    gx = np.zeros((n, c, h, w))
    for oh, ow, rows, cols in windows(h, w, k, s, p):
        div = k[0] * k[1] if cip else len(rows) * len(cols)
        gx[:, :, rows.start : rows.stop, cols.start : cols.stop] += (
            gy[:, :, oh, ow, None, None] / div
        )
    return gx


# (N, C, H, W, kernel, stride, padding)
CONFIGS = [
    (1, 1, 4, 4, (2, 2), (2, 2), (0, 0)),
    (2, 3, 9, 11, (2, 2), (2, 2), (0, 0)),  # odd sizes: last row / column dropped
    (2, 3, 9, 11, (2, 2), (2, 2), (1, 1)),  # 2x2 with padding (edge windows)
    (1, 2, 13, 7, (3, 3), (2, 2), (1, 1)),  # overlapping
    (3, 1, 20, 17, (5, 3), (1, 2), (2, 1)),  # stride 1 rows, overlapping
    (1, 5, 11, 13, (2, 3), (3, 4), (1, 0)),  # stride > kernel
    (2, 2, 7, 5, (7, 5), (1, 1), (3, 2)),  # window as large as the image
    (1, 1, 1, 1, (1, 1), (1, 1), (0, 0)),
    (2, 3, 37, 41, (3, 2), (2, 2), (0, 1)),  # long rows: vector loop with remainders
    (2, 2, 7, 71, (2, 2), (2, 2), (0, 0)),  # 2x2 rows of 35 outputs: 16 + 16 + 3 lanes
    (2, 3, 28, 28, (2, 2), (2, 2), (0, 0)),  # LeNet's first pool: 14 outputs, 8 + 6 lanes
    (2, 3, 10, 10, (2, 2), (2, 2), (0, 0)),  # its second: 5 outputs, one masked register
]
IDS = [str(i) for i in range(len(CONFIGS))]


def tol(dtype) -> dict:
    return {"rtol": 1e-6, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-13, "atol": 1e-13}


@pytest.mark.parametrize("rung", RUNGS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", CONFIGS, ids=IDS)
def test_max_pool_matches_numpy_reference(cfg, dtype, rung):
    n, c, h, w, k, s, p = cfg
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    y_ref, am_ref = max_ref(x, k, s, p)
    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    with pool_rung(rung):
        y, am = _C.max_pool2d_forward(x, k, s, p)
        gx = _C.max_pool2d_backward(gy, am, (h, w))
    assert y.dtype == dtype and am.dtype == np.int64 and gx.dtype == dtype
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(am, am_ref)
    np.testing.assert_allclose(gx, max_backward_ref(gy, am_ref, h, w), **tol(dtype))


@pytest.mark.parametrize("rung", RUNGS)
@pytest.mark.parametrize("cfg", [CONFIGS[1], CONFIGS[3], CONFIGS[4], CONFIGS[8]], ids=IDS[:4])
def test_max_pool_ties_go_to_the_first_tap_in_scan_order(cfg, rung):
    n, c, h, w, k, s, p = cfg
    # Few distinct values: most windows hold ties; all-equal planes too.
    x = np.random.default_rng(1).integers(0, 3, (n, c, h, w)).astype(np.float32)
    x[0, 0] = 1.0
    with pool_rung(rung):
        y, am = _C.max_pool2d_forward(x, k, s, p)
    y_ref, am_ref = max_ref(x, k, s, p)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(am, am_ref)


@pytest.mark.parametrize("rung", RUNGS)
@pytest.mark.parametrize("cfg", [CONFIGS[1], CONFIGS[9], CONFIGS[10], CONFIGS[11]],
                         ids=["odd", "35-wide", "lenet1", "lenet2"])
def test_max_pool_window_with_a_nan_gives_nan_and_points_at_its_last_nan(cfg, rung):
    """NaN wins over every number (and a later NaN over an earlier one), as the reference
    rung's "replace on greater or unordered" scan does; -inf and +inf stay ordinary values."""
    n, c, h, w, k, s, p = cfg
    x = np.random.default_rng(5).standard_normal((n, c, h, w)).astype(np.float32)
    flat = x.reshape(-1)
    pick = np.random.default_rng(6).choice(flat.size, size=max(3, flat.size // 7), replace=False)
    flat[pick[0::3]] = np.nan
    flat[pick[1::3]] = np.inf
    flat[pick[2::3]] = -np.inf
    with pool_rung("reference"):
        y_ref, am_ref = _C.max_pool2d_forward(x, k, s, p)
    with pool_rung(rung):
        y, am = _C.max_pool2d_forward(x, k, s, p)
    assert np.isnan(y_ref).any()
    np.testing.assert_array_equal(y, y_ref)  # NaN == NaN positions for assert_array_equal
    np.testing.assert_array_equal(am, am_ref)


@pytest.mark.parametrize("rung", RUNGS)
def test_max_pool_of_all_minus_infinity_points_at_the_first_tap_inside_the_image(rung):
    x = np.full((1, 1, 5, 5), -np.inf, np.float32)
    with pool_rung(rung):
        y, am = _C.max_pool2d_forward(x, (3, 3), (2, 2), (1, 1))
    assert np.all(y == -np.inf)
    np.testing.assert_array_equal(am[0, 0], [[0, 1, 3], [5, 6, 8], [15, 16, 18]])


@pytest.mark.parametrize("rung", RUNGS)
@pytest.mark.parametrize("cip", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", CONFIGS, ids=IDS)
def test_avg_pool_matches_numpy_reference(cfg, dtype, cip, rung):
    n, c, h, w, k, s, p = cfg
    rng = np.random.default_rng(2)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    y_ref = avg_ref(x, k, s, p, cip)
    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    with pool_rung(rung):
        y = _C.avg_pool2d_forward(x, k, s, p, cip)
        gx = _C.avg_pool2d_backward(gy, (h, w), k, s, p, cip)
    assert y.dtype == dtype and gx.dtype == dtype
    np.testing.assert_allclose(y, y_ref, **tol(dtype))
    np.testing.assert_allclose(gx, avg_backward_ref(gy, h, w, k, s, p, cip), **tol(dtype))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("cfg", [CONFIGS[3], CONFIGS[8]], ids=["overlap", "long"])
def test_threaded_pooling_agrees_with_reference(cfg, threads):
    _n, c, h, w, k, s, p = cfg
    x = np.random.default_rng(3).standard_normal((16, c, h, w)).astype(np.float32)
    old = _C.get_num_threads()
    _C.set_num_threads(threads)
    try:
        y, am = _C.max_pool2d_forward(x, k, s, p)
        ya = _C.avg_pool2d_forward(x, k, s, p, False)
        gx = _C.max_pool2d_backward(y, am, (h, w))
        gxa = _C.avg_pool2d_backward(ya, (h, w), k, s, p, False)
    finally:
        _C.set_num_threads(old)
    y_ref, am_ref = max_ref(x, k, s, p)
    np.testing.assert_array_equal(am, am_ref)
    np.testing.assert_allclose(gx, max_backward_ref(y_ref, am_ref, h, w), rtol=1e-6)
    np.testing.assert_allclose(ya, avg_ref(x, k, s, p, False), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        gxa, avg_backward_ref(ya.astype(np.float64), h, w, k, s, p, False), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("rung", ["reference", "fast", "portable"])
@pytest.mark.parametrize("cfg", [CONFIGS[2], CONFIGS[3], CONFIGS[5]], ids=["pad", "overlap", "gap"])
def test_backward_matches_central_finite_differences(cfg, rung):
    n, c, h, w, k, s, p = cfg
    rng = np.random.default_rng(4)
    x = rng.standard_normal((n, c, h, w))  # distinct values: max is locally linear
    gy = rng.standard_normal(out_shape(x.shape, k, s, p))
    eps = 1e-6
    with pool_rung(rung):
        _, am = _C.max_pool2d_forward(x, k, s, p)
        for cip in (None, True, False):
            if cip is None:
                grad = _C.max_pool2d_backward(gy, am, (h, w))

                def f(xx):
                    return _C.max_pool2d_forward(xx, k, s, p)[0]
            else:
                grad = _C.avg_pool2d_backward(gy, (h, w), k, s, p, cip)

                def f(xx, cip=cip):
                    return _C.avg_pool2d_forward(xx, k, s, p, cip)

            for flat in rng.choice(x.size, size=15, replace=False):
                idx = np.unravel_index(flat, x.shape)
                xp, xm = x.copy(), x.copy()
                xp[idx] += eps
                xm[idx] -= eps
                numeric = float(np.sum((f(xp) - f(xm)) * gy)) / (2 * eps)
                assert grad[idx] == pytest.approx(numeric, rel=1e-6, abs=1e-8), (cip, idx)


@pytest.mark.parametrize(
    "cfg",
    [(2, 3, 9, 11, (2, 2), (2, 2), (0, 0)), (1, 2, 13, 7, (3, 3), (2, 1), (1, 1))],
    ids=["2x2", "3x3-pad"],
)
def test_matches_torch(cfg):
    torch = pytest.importorskip("torch")
    n, c, h, w, k, s, p = cfg
    x = np.random.default_rng(5).standard_normal((n, c, h, w)).astype(np.float32)
    y, am = _C.max_pool2d_forward(x, k, s, p)
    yt, it = torch.nn.functional.max_pool2d(torch.tensor(x), k, s, p, return_indices=True)
    np.testing.assert_array_equal(y, yt.numpy())
    np.testing.assert_array_equal(am, it.numpy())
    for cip in (True, False):
        xt = torch.tensor(x, requires_grad=True)
        yt = torch.nn.functional.avg_pool2d(xt, k, s, p, count_include_pad=cip)
        gy = np.ones(tuple(yt.shape), np.float32)
        yt.backward(torch.tensor(gy))
        np.testing.assert_allclose(_C.avg_pool2d_forward(x, k, s, p, cip), yt.detach(), atol=1e-6)
        np.testing.assert_allclose(
            _C.avg_pool2d_backward(gy, (h, w), k, s, p, cip), xt.grad, atol=1e-6
        )


X = np.zeros((2, 3, 8, 8), np.float32)
GY = np.zeros((2, 3, 4, 4), np.float32)
AM = np.zeros((2, 3, 4, 4), np.int64)


def bad_argmax(value: int) -> np.ndarray:
    am = AM.copy()
    am[1, 2, 3, 3] = value
    return am


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: _C.max_pool2d_forward(X, (2, 2), (2, 2), (2, 1)), r"at most half.*\(2, 1\)"),
        (lambda: _C.max_pool2d_forward(X, (9, 2), (1, 1)), "output size"),
        (lambda: _C.max_pool2d_forward(X, (0, 2), (1, 1)), "kernel"),
        (lambda: _C.max_pool2d_forward(X, (2, 2), (2, 0)), "stride"),
        (lambda: _C.max_pool2d_forward(X, (2, 2, 2), (2, 2)), "kernel"),
        (lambda: _C.max_pool2d_forward(X[0], (2, 2), (2, 2)), "4-D"),
        (lambda: _C.max_pool2d_forward(X.astype(np.int64), (2, 2), (2, 2)), "float32 or float64"),
        (lambda: _C.max_pool2d_backward(GY, bad_argmax(64), (8, 8)), r"\[0, 64\).*1 out of range"),
        (lambda: _C.max_pool2d_backward(GY, bad_argmax(-1), (8, 8)), "out of range"),
        (lambda: _C.max_pool2d_backward(GY, AM[:1], (8, 8)), r"argmax.*\(2, 3, 4, 4\)"),
        (lambda: _C.max_pool2d_backward(GY, AM.astype(np.float32), (8, 8)), "integer array"),
        (lambda: _C.avg_pool2d_forward(X, (3, 3), (1, 1), (2, 2)), "at most half"),
        (lambda: _C.avg_pool2d_backward(GY, (11, 8), (2, 2), (2, 2)), r"gy.*\(2, 3, 5, 4\)"),
        (lambda: _C.avg_pool2d_backward(GY, (7, 8), (2, 2), (2, 2)), r"gy.*\(2, 3, 3, 4\)"),
        (lambda: _C.avg_pool2d_backward(GY.astype(np.float16), (8, 8), (2, 2), (2, 2)), "float"),
    ],
)
def test_bad_input_raises_value_error_naming_expected_and_actual(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_rung_names_round_trip_and_unknown_rung_is_rejected():
    with pool_rung("reference"):
        assert _C.get_pool2d_rung() == "reference"
    assert _C.get_pool2d_rung() == "auto"
    with pytest.raises(ValueError, match="unknown pool2d rung"):
        _C.set_pool2d_rung("simd")


def test_strided_views_and_narrower_integer_argmax_are_taken_as_they_are():
    """The bindings make inputs C-contiguous (and argmax int64) themselves."""
    x = np.random.default_rng(7).standard_normal((2, 3, 8, 16)).astype(np.float32)[..., ::2]
    y, am = _C.max_pool2d_forward(x, (2, 2), (2, 2))
    y_ref, am_ref = _C.max_pool2d_forward(np.ascontiguousarray(x), (2, 2), (2, 2))
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(am, am_ref)
    gy = np.ones((2, 3, 4, 8), np.float32)[..., ::2]
    np.testing.assert_array_equal(_C.max_pool2d_backward(gy, am.astype(np.int32), (8, 8)),
                                  _C.max_pool2d_backward(np.ascontiguousarray(gy), am, (8, 8)))
    np.testing.assert_array_equal(_C.avg_pool2d_forward(x, (2, 2), (2, 2)),
                                  _C.avg_pool2d_forward(np.ascontiguousarray(x), (2, 2), (2, 2)))
