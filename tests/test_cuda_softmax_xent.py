"""CUDA fused softmax cross-entropy and log-softmax against float64 numpy: every row-kernel
rung, class counts from 1 to 5000 (aligned and not for the float4 path), reductions,
ignore_index, label smoothing, logits up to 1e4, bad targets raising ValueError."""

from __future__ import annotations

import numpy as np
import pytest
from _cuda_util import dev, f32, mod, needs_gpu

pytestmark = needs_gpu

SHAPES = [(1, 1), (1, 10), (7, 10), (33, 3), (5, 127), (17, 1000), (4, 1029), (3, 4096),
          (2, 5003)]


@pytest.fixture(params=["reference", "warp", "block", "auto"])
def rung(request):
    mod().set_softmax_xent_rung(request.param)
    yield request.param
    mod().set_softmax_xent_rung("auto")


def lse_ref(x):
    m = x.max(1, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(1, keepdims=True)))[:, 0]


def xent_ref(x, t, reduction, ignore_index, eps):
    n, c = x.shape
    lse = lse_ref(x)
    valid = t != ignore_index
    tt = np.where(valid, t, 0)
    q = np.full((n, c), eps / c)
    q[np.arange(n), tt] += 1 - eps
    rows = np.where(valid, lse - (q * x).sum(1), 0.0)
    p = np.exp(x - lse[:, None])
    if reduction == "none":
        scale = np.ones(n)
        loss = rows
    elif reduction == "sum":
        scale = np.ones(n)
        loss = rows.sum()
    else:
        scale = np.full(n, 1.0 / valid.sum())
        loss = rows.sum() / valid.sum()
    grad = (p - q) * (scale * valid)[:, None]
    return loss, lse, grad


def logits_and_targets(rng, n, c, scale=3.0, ignore=False):
    x = f32(rng.standard_normal((n, c)) * scale)
    t = rng.integers(0, c, n)
    if ignore and n > 1:
        t[:: 3] = -100
    return x, t


@pytest.mark.parametrize("n,c", SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_forward_and_backward_match_float64(rung, n, c, reduction, rng):
    x, t = logits_and_targets(rng, n, c)
    loss, lse = mod().softmax_cross_entropy_forward(dev(x), dev(t), reduction=reduction)
    ref_loss, ref_lse, ref_grad = xent_ref(x, t, reduction, -100, 0.0)
    np.testing.assert_allclose(lse.numpy(), ref_lse, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(loss.numpy(), ref_loss, rtol=1e-5, atol=1e-5)
    grad = dev(np.ones(n)) if reduction == "none" else 1.0
    g = mod().softmax_cross_entropy_backward(dev(x), dev(t), lse, grad, reduction=reduction)
    np.testing.assert_allclose(g.numpy(), ref_grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("n,c", [(10, 7), (9, 1000), (6, 3001)])
def test_ignore_index_rows_give_no_loss_no_gradient_and_leave_the_mean(rung, n, c, rng):
    x, t = logits_and_targets(rng, n, c, ignore=True)
    # ignore_index may be any value, a valid class index included
    for ignore_index in (-100, 3 % c):
        tt = np.where(t == -100, ignore_index, t)
        loss, lse = mod().softmax_cross_entropy_forward(dev(x), dev(tt), ignore_index=ignore_index)
        ref_loss, _, ref_grad = xent_ref(x, tt, "mean", ignore_index, 0.0)
        np.testing.assert_allclose(loss.numpy(), ref_loss, rtol=1e-5)
        g = mod().softmax_cross_entropy_backward(dev(x), dev(tt), lse, 2.0,
                                                 ignore_index=ignore_index)
        np.testing.assert_allclose(g.numpy(), 2.0 * ref_grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("eps", [0.1, 1.0])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_label_smoothing_matches_smoothed_targets(rung, eps, reduction, rng):
    x, t = logits_and_targets(rng, 13, 257, ignore=True)
    loss, lse = mod().softmax_cross_entropy_forward(dev(x), dev(t), reduction=reduction,
                                                    label_smoothing=eps)
    ref_loss, _, ref_grad = xent_ref(x, t, reduction, -100, eps)
    np.testing.assert_allclose(loss.numpy(), ref_loss, rtol=1e-5, atol=1e-5)
    gout = rng.standard_normal(13)
    grad = dev(gout) if reduction == "none" else 0.5
    g = mod().softmax_cross_entropy_backward(dev(x), dev(t), lse, grad, reduction=reduction,
                                             label_smoothing=eps)
    scale = f32(gout)[:, None] if reduction == "none" else 0.5
    np.testing.assert_allclose(g.numpy(), scale * ref_grad, rtol=1e-4, atol=1e-6)


def test_cross_entropy_is_stable_for_logits_of_1e4(rung, rng):
    x, t = logits_and_targets(rng, 8, 100, scale=1e4)
    loss, lse = mod().softmax_cross_entropy_forward(dev(x), dev(t), reduction="none")
    ref_loss, ref_lse, ref_grad = xent_ref(x, t, "none", -100, 0.0)
    assert np.isfinite(loss.numpy()).all()
    np.testing.assert_allclose(lse.numpy(), ref_lse, rtol=1e-6)
    np.testing.assert_allclose(loss.numpy(), ref_loss, rtol=1e-5, atol=2e-2)
    g = mod().softmax_cross_entropy_backward(dev(x), dev(t), lse, dev(np.ones(8)),
                                             reduction="none")
    np.testing.assert_allclose(g.numpy(), ref_grad, atol=1e-5)


@pytest.mark.parametrize("bad", [-1, 10, 1 << 40])
def test_out_of_range_target_raises_value_error_naming_it(bad, rng):
    x, t = logits_and_targets(rng, 6, 10)
    t[4] = bad
    with pytest.raises(ValueError, match=rf"targets: expected class indices in \[0, 10\).*got {bad} at row 4"):
        mod().softmax_cross_entropy_forward(dev(x), dev(t))


def test_cross_entropy_rejects_bad_arguments():
    x = mod().zeros((4, 3))
    with pytest.raises(ValueError, match=r"targets: expected shape \(4,\), got \(3,\)"):
        mod().softmax_cross_entropy_forward(x, mod().zeros((3,), "int64"))
    with pytest.raises(ValueError, match="targets: expected a int64 DeviceArray, got float32"):
        mod().softmax_cross_entropy_forward(x, mod().zeros((4,)))
    with pytest.raises(ValueError, match="reduction"):
        mod().softmax_cross_entropy_forward(x, mod().zeros((4,), "int64"), reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        mod().softmax_cross_entropy_forward(x, mod().zeros((4,), "int64"), label_smoothing=1.5)


@pytest.mark.parametrize("n,c", SHAPES)
def test_log_softmax_forward_and_backward_match_float64(rung, n, c, rng):
    x = f32(rng.standard_normal((n, c)) * 4)
    y = mod().log_softmax_forward(dev(x))
    ref = x - lse_ref(x)[:, None]
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-5, atol=1e-5)
    dy = f32(rng.standard_normal((n, c)))
    dx = mod().log_softmax_backward(dev(dy), y)
    ref_dx = dy - np.exp(ref) * dy.sum(1, keepdims=True)
    np.testing.assert_allclose(dx.numpy(), ref_dx, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("n,c", SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_fused_forward_backward_matches_the_separate_formulas(rung, n, c, reduction, eps, rng):
    x, t = logits_and_targets(rng, n, c, ignore=True)
    loss, lse, g = mod().softmax_cross_entropy_fused(dev(x), dev(t), reduction=reduction,
                                                     label_smoothing=eps, grad_loss=0.75)
    ref_loss, ref_lse, ref_grad = xent_ref(x, t, reduction, -100, eps)
    np.testing.assert_allclose(lse.numpy(), ref_lse, rtol=1e-5, atol=1e-5)
    if reduction == "mean" and not (t != -100).any():
        assert np.isnan(loss.numpy())
    else:
        np.testing.assert_allclose(loss.numpy(), ref_loss, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(g.numpy(), 0.75 * ref_grad, rtol=1e-4, atol=1e-6)


def test_fused_rejects_out_of_range_targets(rng):
    x, t = logits_and_targets(rng, 5, 7)
    t[2] = 7
    with pytest.raises(ValueError, match="got 7 at row 2"):
        mod().softmax_cross_entropy_fused(dev(x), dev(t))
