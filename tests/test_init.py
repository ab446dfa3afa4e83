"""nn.init: each initialiser's distribution, in place, reproducible under manual_seed."""

from __future__ import annotations

import math

import dl_kernels as dlk
import numpy as np
import pytest
from dl_kernels import nn
from dl_kernels.nn import init


def _p(*shape, dtype=None):
    return nn.Parameter(dlk.zeros(*shape, dtype=dtype or dlk.float64))


def _np(t):
    return t.detach().numpy()


def test_fills_in_place_return_the_tensor_and_build_no_graph():
    p = _p(40, 30)
    out = init.normal_(p, 0.0, 0.02)
    assert out is p
    assert p.grad_fn is None and p.requires_grad


def test_constant_zeros_ones():
    p = _p(3, 4)
    np.testing.assert_array_equal(_np(init.constant_(p, 2.5)), np.full((3, 4), 2.5))
    np.testing.assert_array_equal(_np(init.zeros_(p)), np.zeros((3, 4)))
    np.testing.assert_array_equal(_np(init.ones_(p)), np.ones((3, 4)))


def test_uniform_and_normal_moments():
    p = _p(300, 200)
    v = _np(init.uniform_(p, -0.3, 0.5))
    assert v.min() >= -0.3 and v.max() <= 0.5
    assert v.mean() == pytest.approx(0.1, abs=0.01)
    assert v.var() == pytest.approx(0.8**2 / 12, rel=0.03)
    v = _np(init.normal_(p, 1.0, 0.02))
    assert v.mean() == pytest.approx(1.0, abs=5e-4)
    assert v.std() == pytest.approx(0.02, rel=0.02)


@pytest.mark.parametrize("shape", [(257, 129), (64, 8, 3, 5)])
def test_xavier_variance_is_gain2_times_2_over_fan_in_plus_fan_out(shape):
    p = _p(*shape)
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    fan_in, fan_out = shape[1] * receptive, shape[0] * receptive
    target = 2.0 * 4.0 / (fan_in + fan_out)          # gain 2
    v = _np(init.xavier_uniform_(p, gain=2.0))
    bound = 2.0 * math.sqrt(6.0 / (fan_in + fan_out))
    assert np.abs(v).max() <= bound
    assert v.var() == pytest.approx(target, rel=0.05)
    assert _np(init.xavier_normal_(p, gain=2.0)).var() == pytest.approx(target, rel=0.05)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_variance_is_2_over_fan_for_relu(mode):
    p = _p(96, 64, 3, 3)
    fan = (64 if mode == "fan_in" else 96) * 9
    v = _np(init.kaiming_normal_(p, mode=mode, nonlinearity="relu"))
    assert v.var() == pytest.approx(2.0 / fan, rel=0.05)
    v = _np(init.kaiming_uniform_(p, mode=mode, nonlinearity="relu"))
    assert np.abs(v).max() <= math.sqrt(6.0 / fan)
    assert v.var() == pytest.approx(2.0 / fan, rel=0.05)
    # leaky ReLU with slope a: gain² = 2/(1 + a²)
    v = _np(init.kaiming_normal_(p, a=0.5, mode=mode))
    assert v.var() == pytest.approx(2.0 / (1.25 * fan), rel=0.05)


@pytest.mark.parametrize("shape", [(7, 7), (5, 11), (11, 5), (6, 2, 3)])
def test_orthogonal_rows_or_columns_are_orthonormal(shape):
    p = _p(*shape)
    q = _np(init.orthogonal_(p, gain=1.0)).reshape(shape[0], -1)
    rows, cols = q.shape
    gram = q @ q.T if rows <= cols else q.T @ q
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=1e-12)
    q3 = _np(init.orthogonal_(p, gain=3.0)).reshape(rows, -1)
    gram3 = q3 @ q3.T if rows <= cols else q3.T @ q3
    np.testing.assert_allclose(gram3, 9 * np.eye(min(rows, cols)), atol=1e-10)


def test_orthogonal_square_matrix_preserves_norms_as_the_notes_say():
    p = _p(16, 16)
    w = _np(init.orthogonal_(p))
    x = np.random.default_rng(0).standard_normal((16, 5))
    np.testing.assert_allclose(np.linalg.norm(w @ x, axis=0), np.linalg.norm(x, axis=0))


def test_orthogonal_is_haar_uniform_not_biased_to_positive_diagonal():
    # QR without the sign fix gives R with a positive diagonal and a biased Q; with it the
    # mean of Q's diagonal over many draws is ~0.
    diag = [np.diag(_np(init.orthogonal_(_p(4, 4)))) for _ in range(400)]
    assert abs(np.mean(diag)) < 0.06


def test_float32_tensors_are_filled_in_their_own_dtype():
    p = nn.Parameter(dlk.zeros(10, 10))
    init.xavier_uniform_(p)
    assert p.dtype == dlk.float32
    assert np.abs(_np(p)).max() > 0


def test_manual_seed_makes_initialisation_reproducible():
    dlk.manual_seed(123)
    a = _np(init.normal_(_p(5, 5))).copy()
    dlk.manual_seed(123)
    b = _np(init.normal_(_p(5, 5))).copy()
    np.testing.assert_array_equal(a, b)
    rng1, rng2 = np.random.default_rng(7), np.random.default_rng(7)
    np.testing.assert_array_equal(_np(init.uniform_(_p(3), generator=rng1)),
                                  _np(init.uniform_(_p(3), generator=rng2)))


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.xavier_uniform_(_p(5))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.orthogonal_(_p(5))
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_normal_(_p(3, 3), mode="fan_avg")
    with pytest.raises(ValueError, match="nonlinearity"):
        init.calculate_gain("swish")


def test_calculate_gain_matches_torch():
    torch = pytest.importorskip("torch")
    for name, param in [("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                        ("leaky_relu", None), ("leaky_relu", 0.2), ("conv2d", None)]:
        assert init.calculate_gain(name, param) == pytest.approx(
            torch.nn.init.calculate_gain(name, param))
