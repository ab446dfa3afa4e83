"""Accuracy of the float32 softmax cross-entropy against float64 (issue 12, item 6).

The measure is the gradient's error relative to its largest entry over the batch,
max|dx - dx64| / max|dx64|: an element-wise relative error is meaningless for softmax entries
that underflow. On random logits scaled up to 1000 PyTorch's float32 has 1e-8 to 6e-7 by this
measure without label smoothing; with it, its error grows with C (2e-6 at 1009 classes, 9e-6 at
4099, 1e-4 at 32000). These kernels once had 1e-5 to 1e-4, from an lse rounded to float32 (half
an ulp of 1000 is 3e-5); now at most 1.2e-7. The bound here is the issue's, 3e-6; where torch is
importable each case also measures PyTorch on the same inputs and asks ours to be no worse than
max(2 x PyTorch's error, 5e-7). The exp itself is held to 1 ulp of
float64 from exp(-87) to overflow, and to 0 or float64's value below.
"""

from __future__ import annotations

import numpy as np
import pytest
from dl_kernels import _C

_INFO = _C.build_info()
RUNGS = ["reference"] + ["avx2"] * bool(_INFO["cpu_avx2_fma"]) + ["avx512"] * bool(_INFO["cpu_avx512"])
# (N, C): C = 1, primes, non-multiples of 8 and 16, a row longer than the float partial sums'
# blocks, N = 0.
SHAPES = [(1, 1), (5, 1), (7, 3), (13, 31), (9, 33), (17, 1009), (4, 4099), (0, 7)]
SCALES = [1.0, 10.0, 100.0, 1000.0]
GRAD_BOUND = 3e-6


@pytest.fixture(params=RUNGS)
def rung(request: pytest.FixtureRequest):
    _C.set_softmax_xent_rung(request.param)
    yield request.param
    _C.set_softmax_xent_rung("auto")


def reference(x: np.ndarray, t: np.ndarray, eps: float):
    """lse, loss per row and the gradient of the summed loss, in float64."""
    x = x.astype(np.float64)
    n, c = x.shape
    m = x.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]
    rows = np.arange(n)
    loss = (1 - eps) * (lse - x[rows, t])
    if eps != 0:  # (so that a -inf logit gives PyTorch's finite loss without smoothing)
        loss += eps * (lse - x.mean(axis=1))
    grad = np.exp(x - lse[:, None]) - eps / c
    grad[rows, t] -= 1 - eps
    return lse, loss, grad


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """max|got - want| / max|want|; 0 for empty arrays, and an all-zero want (C = 1) asks for
    exact zeros."""
    if want.size == 0:
        return 0.0
    return float(np.abs(got.astype(np.float64) - want).max() / max(np.abs(want).max(), 1e-300))


def logits(n: int, c: int, scale: float, seed: int):
    rng = np.random.default_rng(seed)
    # Half the rows normal, half uniform in [-scale, scale]: peaked and flat rows both.
    x = rng.standard_normal((n, c)) * scale
    x[n // 2 :] = rng.uniform(-scale, scale, (n - n // 2, c))
    return x.astype(np.float32), rng.integers(0, c, n).astype(np.int64)


def torch_error(x: np.ndarray, t: np.ndarray, eps: float, grad64: np.ndarray) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.cross_entropy(xt, torch.tensor(t), label_smoothing=eps,
                                      reduction="sum").backward()
    return relative_error(xt.grad.numpy(), grad64)


@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("n,c", SHAPES)
def test_gradient_is_within_3e_6_of_float64_for_logits_up_to_1000(rung, n, c, scale, eps):
    x, t = logits(n, c, scale, seed=int(scale) + 7 * c + n)
    lse64, loss64, grad64 = reference(x, t, eps)
    loss, lse = _C.softmax_cross_entropy_forward(x, t, label_smoothing=eps, reduction="none")
    dx = _C.softmax_cross_entropy_backward(x, t, lse, np.ones(n, np.float32), label_smoothing=eps,
                                           reduction="none")
    assert lse.dtype == np.float64 and loss.dtype == np.float32 and dx.dtype == np.float32
    assert dx.shape == (n, c)
    ours = relative_error(dx, grad64)
    assert ours <= GRAD_BOUND
    theirs = torch_error(x, t, eps, grad64)
    if theirs is not None:
        assert ours <= max(2 * theirs, 5e-7), f"ours {ours:.2e}, PyTorch float32 {theirs:.2e}"
    # lse to the error of the row's sum of exp (a few 1e-7 relative), not to float32's ulp of
    # lse (6e-5 at 1000). The loss to a few float32 ulps of itself, and 2e-7 absolute: a loss
    # near 0 (the target at the max) is log s with s = 1 + tiny summed in float, as in PyTorch.
    np.testing.assert_allclose(lse, lse64, rtol=1e-12, atol=4e-7)
    np.testing.assert_allclose(loss, loss64, rtol=4e-7, atol=2e-7)
    if theirs is not None:
        import torch

        ref = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t),
                                                label_smoothing=eps, reduction="none").numpy()
        assert np.abs(loss - loss64).max(initial=0) <= max(2 * np.abs(ref - loss64).max(initial=0),
                                                           2e-7)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mean_and_sum_scale_the_same_accurate_gradient(rung, reduction):
    x, t = logits(33, 1001, 1000.0, seed=5)
    _, _, grad64 = reference(x, t, 0.05)
    _, lse = _C.softmax_cross_entropy_forward(x, t, label_smoothing=0.05, reduction=reduction)
    dx = _C.softmax_cross_entropy_backward(x, t, lse, 0.5, label_smoothing=0.05,
                                           reduction=reduction)
    scale = 0.5 / 33 if reduction == "mean" else 0.5
    assert relative_error(dx, grad64 * scale) <= GRAD_BOUND


def test_a_float32_lse_from_an_older_caller_is_still_accepted(rung):
    # Accepted and widened; the gradient is then only as exact as that lse (here scale 1, where
    # float32's ulp of lse is small).
    x, t = logits(6, 40, 1.0, seed=2)
    _, lse = _C.softmax_cross_entropy_forward(x, t)
    dx = _C.softmax_cross_entropy_backward(x, t, lse.astype(np.float32), 1.0)
    assert relative_error(dx, reference(x, t, 0.0)[2] / 6) <= GRAD_BOUND
    with pytest.raises(ValueError, match="lse: expected a float64"):
        _C.softmax_cross_entropy_backward(x, t, lse.astype(np.int64), 1.0)


@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_log_softmax_is_float32_rounding_of_the_float64_value(rung, scale):
    x, _ = logits(11, 517, scale, seed=3)
    lse64 = reference(x, np.zeros(11, np.int64), 0.0)[0]
    want = x.astype(np.float64) - lse64[:, None]
    y = _C.log_softmax_forward(x)
    # Within ~2 ulp of y itself plus the lse's error: near the row max, |y| is small and
    # float32's ulp of lse (6e-5 at 1000) must not show.
    np.testing.assert_allclose(y, want, rtol=2.5e-7, atol=4e-7)


def ulp_error(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """|y - exp(x)| in units of float32's spacing at exp(x) (2^-149 below the normal range)."""
    exact = np.exp(x.astype(np.float64))
    with np.errstate(over="ignore"):
        spacing = np.spacing(exact.astype(np.float32)).astype(np.float64)
    return np.abs(y.astype(np.float64) - exact) / np.maximum(spacing, 2.0**-149)


def test_exp_is_within_one_ulp_of_float64_over_its_range(rung):
    # 2M points from exp(-87) ~ 1.6e-38 to exp(88.72) ~ 3.4e38, and every float in [-1, -0.5]
    # and [0.5, 1] (where the reduced argument sweeps its interval).
    x = np.linspace(-87.0, 88.72, 2_000_001, dtype=np.float32)
    bits = np.arange(0x3F000000, 0x3F800001, dtype=np.int32).view(np.float32)
    x = np.concatenate([x, bits, -bits])
    err = ulp_error(_C.softmax_xent_exp(x), x)
    assert err.max() <= 1.0, f"max {err.max():.3f} ulp at x = {x[err.argmax()]!r}"


def test_exp_below_minus_87_is_float64s_value_or_zero(rung):
    # The vector rungs flush what would be a subnormal result (below exp(-87)) to 0: a subnormal
    # result costs a microcode assist, and no softmax sum or gradient sees 1.6e-38.
    x = np.linspace(-120.0, -87.0001, 100_001, dtype=np.float32)
    y = _C.softmax_xent_exp(x)
    want = np.exp(x.astype(np.float64)).astype(np.float32)
    assert ((y == want) | (y == 0)).all()
    if rung != "reference":
        assert not y.any()


def test_exp_edges_follow_float64(rung):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, -87.0, 88.72, 88.73, 89.0, 1e4, -104.0,
                  -1e4], np.float32)
    with np.errstate(over="ignore"):
        want = np.exp(x.astype(np.float64)).astype(np.float32)
    np.testing.assert_array_equal(_C.softmax_xent_exp(x), want)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_nan_and_inf_logits_give_pytorchs_pattern(rung, eps):
    # Rows: finite; a NaN; a +inf; a -inf non-target (finite loss without smoothing, inf with);
    # all -inf (NaN); -inf at the target (inf loss, finite gradient). Ignored rows are 0.
    x = np.tile(np.float32([0.5, 1, 2, -1, 3, 0.25, 7, 1.5, 2, 1]), (7, 1))
    x[1, 1], x[2, 2], x[3, 2], x[4], x[5, 3] = np.nan, np.inf, -np.inf, -np.inf, -np.inf
    t = np.array([0, 0, 0, 0, 0, 3, -100])
    x[6, 4] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        _, loss64, grad64 = reference(x, np.where(t < 0, 0, t), eps)
    loss64[6], grad64[6] = 0.0, 0.0
    loss, lse = _C.softmax_cross_entropy_forward(x, t, label_smoothing=eps, reduction="none")
    dx = _C.softmax_cross_entropy_backward(x, t, lse, np.ones(7, np.float32), label_smoothing=eps,
                                           reduction="none")
    np.testing.assert_allclose(loss, loss64, rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(dx, grad64, rtol=1e-6, atol=1e-7, equal_nan=True)
    assert np.isfinite(loss[0]) and np.isfinite(loss[3]) == (eps == 0.0)
    assert np.isnan(loss[[1, 2, 4]]).all() and np.isposinf(loss[5]) and np.isfinite(dx[5]).all()
    assert loss[6] == 0 and not dx[6].any()  # ignored: its NaN goes nowhere
    torch = pytest.importorskip("torch")
    xt = torch.tensor(x, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(xt, torch.tensor(t), label_smoothing=eps,
                                            reduction="none")
    ref.backward(torch.ones(7))
    # Not row 6: PyTorch's gradient of an ignored row is 0 * NaN there.
    np.testing.assert_allclose(loss, ref.detach().numpy(), rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(dx[:6], xt.grad.numpy()[:6], rtol=1e-6, atol=1e-7, equal_nan=True)
