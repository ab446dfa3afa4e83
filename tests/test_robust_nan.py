"""NaN in, NaN out: every float32 fast path (AVX-512 polynomial exp / sigmoid / tanh, vector max)
propagates a NaN exactly where the float64 reference rung and PyTorch do, never turning it into
a finite number (the clamp inside the fast exp used to map NaN to exp(-104) = 0)."""

import numpy as np
import pytest
from dl_kernels import _C

HAS_AVX512 = bool(_C.build_info()["cpu_avx512"])
# The avx512 rung is what `auto` runs on an AVX-512 CPU; elsewhere it cannot run and skips.
RUNGS = [
    "reference",
    pytest.param("avx512", marks=pytest.mark.skipif(not HAS_AVX512, reason="CPU lacks AVX-512")),
]


@pytest.fixture(params=RUNGS)
def rnn_rung(request):
    _C.set_rnn_rung(request.param)
    yield request.param
    _C.set_rnn_rung("auto")


# softmax_xent also has an AVX2 rung: what `auto` runs on an AVX2 CPU without AVX-512.
XENT_RUNGS = [
    *RUNGS,
    pytest.param("avx2", marks=pytest.mark.skipif(not _C.build_info()["cpu_avx2_fma"],
                                                  reason="CPU lacks AVX2 + FMA")),
]


@pytest.fixture(params=XENT_RUNGS)
def xent_rung(request):
    _C.set_softmax_xent_rung(request.param)
    yield request.param
    _C.set_softmax_xent_rung("auto")


def _rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("H", [2, 17, 40])
def test_gru_forward_propagates_nan_from_input(rnn_rung, H):
    r = _rng()
    T, N, I = 3, 2, 3
    x = r.standard_normal((T, N, I)).astype(np.float32)
    x[1, 0, 0] = np.nan
    y, hT, _ = _C.gru_forward(x, np.zeros((N, H), np.float32),
                              r.standard_normal((3 * H, I)).astype(np.float32),
                              r.standard_normal((3 * H, H)).astype(np.float32),
                              np.zeros(3 * H, np.float32))
    assert np.isfinite(y[0]).all()
    assert np.isnan(y[1, 0]).all() and np.isnan(hT[0]).all()  # every unit of sequence 0
    assert np.isfinite(y[:, 1]).all()  # the other sequence is untouched


@pytest.mark.parametrize("H", [2, 17])
def test_lstm_forward_propagates_nan_from_input(rnn_rung, H):
    r = _rng()
    T, N, I = 3, 2, 3
    x = r.standard_normal((T, N, I)).astype(np.float32)
    x[0, 1, 2] = np.nan
    z = np.zeros((N, H), np.float32)
    y, hT, cT, _ = _C.lstm_forward(x, z, z, r.standard_normal((4 * H, I)).astype(np.float32),
                                   r.standard_normal((4 * H, H)).astype(np.float32),
                                   np.zeros(4 * H, np.float32))
    assert np.isnan(y[:, 1]).all() and np.isnan(hT[1]).all() and np.isnan(cT[1]).all()
    assert np.isfinite(y[:, 0]).all()


@pytest.mark.parametrize("C", [3, 16, 33, 100])
def test_cross_entropy_forward_and_backward_propagate_nan(xent_rung, C):
    r = _rng()
    N = 20
    x = r.standard_normal((N, C)).astype(np.float32)
    t = r.integers(0, C, N).astype(np.int64)
    x[4, C // 2] = np.nan  # not necessarily the target: the logsumexp must still see it
    loss, lse = _C.softmax_cross_entropy_forward(x, t, reduction="none")
    assert np.isnan(lse[4]) and np.isnan(loss[4])
    assert np.isfinite(np.delete(lse, 4)).all()
    g = _C.softmax_cross_entropy_backward(x, t, lse, reduction="none", grad_loss=np.ones(N, np.float32))
    assert np.isnan(g[4]).all()
    assert np.isfinite(np.delete(g, 4, axis=0)).all()
    total, _ = _C.softmax_cross_entropy_forward(x, t)
    assert np.isnan(total)


@pytest.mark.parametrize("C", [5, 16, 47])
def test_log_softmax_forward_and_backward_propagate_nan(xent_rung, C):
    r = _rng()
    x = r.standard_normal((6, C)).astype(np.float32)
    x[2, 1] = np.nan
    y = _C.log_softmax_forward(x)
    assert np.isnan(y[2]).all() and np.isfinite(np.delete(y, 2, axis=0)).all()
    gy = r.standard_normal((6, C)).astype(np.float32)
    gy[3, 0] = np.nan
    gx = _C.log_softmax_backward(gy, y)
    assert np.isnan(gx[2]).all() and np.isnan(gx[3]).all()
    assert np.isfinite(gx[[0, 1, 4, 5]]).all()


def test_gru_module_on_nan_input_matches_pytorch_nan_pattern():
    """The issue's repro: GRU(3, 2) on an input holding a NaN returned -1."""
    torch = pytest.importorskip("torch")
    import dl_kernels as dk

    x = np.zeros((4, 1, 3), np.float32)
    x[2, 0, 1] = np.nan
    ours = dk.nn.GRU(3, 2)(dk.tensor(x))[0].detach().numpy()
    theirs = torch.nn.GRU(3, 2)(torch.from_numpy(x))[0].detach().numpy()
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
