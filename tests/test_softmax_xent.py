"""Fused softmax cross-entropy and log-softmax (dl_kernels._C) against float64 references.

Rules: loss_i = (1 - eps)(lse_i - x_i,t) + eps (lse_i - mean_j x_ij), ignored rows count 0 and
'mean' divides by the number of non-ignored rows (PyTorch's rule); the backward is
(softmax - smoothed onehot) * scale; stable for logits up to +-1e4; bad targets raise ValueError.
"""

from __future__ import annotations

import numpy as np
import pytest
from dl_kernels import _C

_INFO = _C.build_info()
RUNGS = ["reference"] + ["avx2"] * bool(_INFO["cpu_avx2_fma"]) + ["avx512"] * bool(_INFO["cpu_avx512"])
SHAPES = [(1, 1), (1, 7), (5, 10), (13, 17), (40, 32), (31, 33), (7, 1000)]


@pytest.fixture(params=RUNGS)
def rung(request: pytest.FixtureRequest):
    _C.set_softmax_xent_rung(request.param)
    yield request.param
    _C.set_softmax_xent_rung("auto")


def ref_lse(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]


def ref_loss(x, t, ignore_index=-100, eps=0.0, reduction="mean"):
    x = x.astype(np.float64)
    lse = ref_lse(x)
    keep = t != ignore_index
    tt = np.where(keep, t, 0)
    rows = (1 - eps) * (lse - x[np.arange(len(t)), tt]) + eps * (lse - x.mean(axis=1))
    rows = np.where(keep, rows, 0.0)
    if reduction == "none":
        return rows
    if reduction == "sum":
        return rows.sum()
    return rows.sum() / keep.sum()


def ref_grad(x, t, ignore_index=-100, eps=0.0, reduction="mean", g=1.0):
    x = x.astype(np.float64)
    n, c = x.shape
    p = np.exp(x - ref_lse(x)[:, None])
    keep = t != ignore_index
    onehot = np.zeros_like(p)
    onehot[np.arange(n)[keep], t[keep]] = 1.0
    d = p - (1 - eps) * onehot - eps / c
    if reduction == "none":
        scale = np.asarray(g, dtype=np.float64)
    elif reduction == "sum":
        scale = np.full(n, g)
    else:
        scale = np.full(n, g / keep.sum())
    return np.where(keep[:, None], d * scale[:, None], 0.0)


def make(n, c, dtype, seed=0, spread=3.0):
    rng = np.random.default_rng(seed + 31 * n + c)
    x = (rng.standard_normal((n, c)) * spread).astype(dtype)
    t = rng.integers(0, c, size=n).astype(np.int64)
    return x, t


def tol(dtype):
    return {"rtol": 2e-5, "atol": 2e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-13}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,c", SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_loss_and_grad_match_the_float64_formula(rung, dtype, n, c, reduction):
    x, t = make(n, c, dtype)
    loss, lse = _C.softmax_cross_entropy_forward(x, t, reduction=reduction)
    np.testing.assert_allclose(lse, ref_lse(x), **tol(dtype))
    np.testing.assert_allclose(loss, ref_loss(x, t, reduction=reduction), **tol(dtype))
    assert loss.shape == ((n,) if reduction == "none" else ())
    g = np.linspace(-1, 2, n).astype(dtype) if reduction == "none" else 0.7
    dx = _C.softmax_cross_entropy_backward(x, t, lse, g, reduction=reduction)
    np.testing.assert_allclose(dx, ref_grad(x, t, reduction=reduction, g=g), **tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ignore_index_and_label_smoothing_follow_pytorchs_rule(rung, dtype):
    x, t = make(23, 11, dtype, seed=3)
    t[[0, 5, 6, 22]] = 7  # a class id used as the ignore index
    for reduction in ["mean", "sum", "none"]:
        loss, lse = _C.softmax_cross_entropy_forward(x, t, 7, 0.15, reduction)
        np.testing.assert_allclose(loss, ref_loss(x, t, 7, 0.15, reduction), **tol(dtype))
        g = np.ones(23, dtype) if reduction == "none" else 1.0
        dx = _C.softmax_cross_entropy_backward(x, t, lse, g, 7, 0.15, reduction)
        np.testing.assert_allclose(dx, ref_grad(x, t, 7, 0.15, reduction, g), **tol(dtype))
        assert not dx[[0, 5, 6, 22]].any()


def test_mean_over_only_ignored_targets_is_nan_like_pytorch(rung):
    x, t = make(4, 5, np.float32)
    t[:] = -100
    loss, _ = _C.softmax_cross_entropy_forward(x, t)
    assert np.isnan(loss)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logits_of_1e4_stay_finite_and_exact(rung, dtype):
    x, t = make(9, 37, dtype, seed=5, spread=1e4)
    x[0, :] = 1e4
    x[1, :] = -1e4
    loss, lse = _C.softmax_cross_entropy_forward(x, t, label_smoothing=0.1, reduction="none")
    assert np.isfinite(loss).all() and np.isfinite(lse).all()
    np.testing.assert_allclose(lse, ref_lse(x), rtol=1e-6)
    np.testing.assert_allclose(loss, ref_loss(x, t, eps=0.1, reduction="none"), rtol=1e-5,
                               atol=1e-2 if dtype == np.float32 else 1e-9)
    dx = _C.softmax_cross_entropy_backward(x, t, lse, np.ones(9, dtype), label_smoothing=0.1,
                                           reduction="none")
    # lse near 1e4 rounds to float32's ulp there (~1e-3): that bounds the float32 gradient.
    np.testing.assert_allclose(dx, ref_grad(x, t, eps=0.1, reduction="none", g=np.ones(9)),
                               atol=1e-4 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_backward_is_the_derivative_of_the_loss_by_central_differences(reduction):
    x, t = make(6, 9, np.float64, seed=11)
    t[2] = -100
    w = np.random.default_rng(1).standard_normal(6)

    def f(z):
        loss, _ = _C.softmax_cross_entropy_forward(z, t, label_smoothing=0.2, reduction=reduction)
        return float((loss * w).sum()) if reduction == "none" else float(loss)

    _, lse = _C.softmax_cross_entropy_forward(x, t, label_smoothing=0.2, reduction=reduction)
    g = w if reduction == "none" else 1.0
    dx = _C.softmax_cross_entropy_backward(x, t, lse, g, label_smoothing=0.2, reduction=reduction)
    num = np.zeros_like(x)
    h = 1e-6
    for idx in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        num[idx] = (f(xp) - f(xm)) / (2 * h)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-8)


def test_backward_bigger_than_the_caches_streams_the_same_values(rung):
    # > 16 MiB of dlogits takes the non-temporal-store path; odd C leaves rows unaligned.
    x, t = make(41, 131071, np.float32, spread=2.0)
    t[3] = -100
    _, lse = _C.softmax_cross_entropy_forward(x, t, label_smoothing=0.05)
    dx = _C.softmax_cross_entropy_backward(x, t, lse, 1.0, label_smoothing=0.05)
    np.testing.assert_allclose(dx, ref_grad(x, t, eps=0.05), rtol=1e-4, atol=1e-9)


def test_backward_reuses_the_out_buffer(rung):
    x, t = make(17, 19, np.float32)
    _, lse = _C.softmax_cross_entropy_forward(x, t)
    out = np.full_like(x, np.nan)
    dx = _C.softmax_cross_entropy_backward(x, t, lse, 1.0, out=out)
    assert dx is out or np.shares_memory(dx, out)
    np.testing.assert_allclose(out, ref_grad(x, t), **tol(np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1,), (3, 1), (7, 13), (2, 3, 129)])
def test_log_softmax_and_its_backward_over_the_last_axis(rung, dtype, shape):
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    y = _C.log_softmax_forward(x)
    x64 = x.astype(np.float64)
    m = x64.max(axis=-1, keepdims=True)
    yref = x64 - m - np.log(np.exp(x64 - m).sum(axis=-1, keepdims=True))
    np.testing.assert_allclose(y, yref, **tol(dtype))
    gx = _C.log_softmax_backward(gy, y)
    gref = gy - np.exp(yref) * gy.astype(np.float64).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(gx, gref, **tol(dtype))


def test_log_softmax_backward_by_central_differences():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 5))
    w = rng.standard_normal((3, 5))
    gx = _C.log_softmax_backward(w, _C.log_softmax_forward(x))
    num = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += 1e-6
        xm[idx] -= 1e-6
        num[idx] = ((_C.log_softmax_forward(xp) - _C.log_softmax_forward(xm)) * w).sum() / 2e-6
    np.testing.assert_allclose(gx, num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("bad", [5, 6, -1, -101, 2**40])
def test_targets_outside_the_classes_raise_valueerror(bad):
    x, t = make(4, 5, np.float32)
    t[2] = bad
    with pytest.raises(ValueError, match=r"targets\[2\]"):
        _C.softmax_cross_entropy_forward(x, t)
    with pytest.raises(ValueError, match=r"targets\[2\]"):
        _C.softmax_cross_entropy_backward(x, t, np.zeros(4, np.float32), 1.0)


def test_wrong_shapes_and_dtypes_raise_valueerror():
    x, t = make(4, 5, np.float32)
    with pytest.raises(ValueError, match="targets: expected shape"):
        _C.softmax_cross_entropy_forward(x, t[:3])
    with pytest.raises(ValueError, match="targets: expected an integer array"):
        _C.softmax_cross_entropy_forward(x, t.astype(np.float32))
    # narrower integer targets and strided views are taken as they are (widened, made contiguous)
    wide = _C.softmax_cross_entropy_forward(x, t)[0]
    assert _C.softmax_cross_entropy_forward(x, t.astype(np.int32))[0] == wide
    xs = np.repeat(x, 2, axis=1)[:, ::2]
    np.testing.assert_array_equal(_C.softmax_cross_entropy_forward(xs, t)[0], wide)
    with pytest.raises(ValueError, match="logits: expected a 2-D array"):
        _C.softmax_cross_entropy_forward(x[0], t)
    with pytest.raises(ValueError, match="reduction"):
        _C.softmax_cross_entropy_forward(x, t, reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        _C.softmax_cross_entropy_forward(x, t, label_smoothing=1.5)
    with pytest.raises(ValueError, match="lse: expected shape"):
        _C.softmax_cross_entropy_backward(x, t, np.zeros(3, np.float32), 1.0)
    with pytest.raises(ValueError, match="grad_loss"):
        _C.softmax_cross_entropy_backward(x, t, np.zeros(4, np.float32), 1.0, reduction="none")
    with pytest.raises(ValueError, match="out: expected shape"):
        _C.softmax_cross_entropy_backward(x, t, np.zeros(4, np.float32), 1.0,
                                          out=np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="gy: expected shape"):
        _C.log_softmax_backward(np.zeros((2, 3)), np.zeros((2, 4)))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_matches_torch_cross_entropy(reduction, eps):
    torch = pytest.importorskip("torch")
    x, t = make(37, 29, np.float32, seed=9)
    t[[3, 4]] = -100
    xt = torch.tensor(x, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(xt, torch.tensor(t), ignore_index=-100,
                                            label_smoothing=eps, reduction=reduction)
    g = torch.linspace(-1, 1, 37) if reduction == "none" else torch.tensor(1.3)
    ref.backward(g)
    loss, lse = _C.softmax_cross_entropy_forward(x, t, -100, eps, reduction)
    dx = _C.softmax_cross_entropy_backward(x, t, lse, g.numpy() if reduction == "none" else 1.3,
                                           -100, eps, reduction)
    np.testing.assert_allclose(loss, ref.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_auto_runs_the_widest_rung_this_cpu_has_and_others_refuse_clearly():
    want = "avx512" if _INFO["cpu_avx512"] else "avx2" if _INFO["cpu_avx2_fma"] else "reference"
    _C.set_softmax_xent_rung("auto")
    assert _C.get_softmax_xent_rung() == want
    for name, has in [("avx2", _INFO["cpu_avx2_fma"]), ("avx512", _INFO["cpu_avx512"])]:
        if has:
            continue
        with pytest.raises(ValueError, match=f"rung {name}: this CPU or build has no"):
            _C.set_softmax_xent_rung(name)
        assert _C.get_softmax_xent_rung() == want
    with pytest.raises(ValueError, match="expected 'auto', 'reference', 'avx2' or 'avx512'"):
        _C.set_softmax_xent_rung("sse")
