"""Fused LSTM step and sequence driver (dl_kernels._C) against the notes' formulas in float64.

Layout: w_ih[G*H, I], w_hh[G*H, H], one bias per gate b[G*H], gate order i, f, g, o (G = 4);
peephole adds p[3, H] (i, f see c_{t-1}, o sees c_t); coupled uses gates f, g, o (G = 3) and
i = 1 - f. Backward is checked by central differences; nn.LSTM (bias_hh = 0) must agree.
"""

from __future__ import annotations

import numpy as np
import pytest
from dl_kernels import _C
from rnn_reference import RNN_RUNGS, central_difference, force_rnn_rung, lstm_cell, lstm_seq

VARIANTS = ["standard", "peephole", "coupled"]

rung = pytest.fixture(params=RNN_RUNGS, ids=["-".join(r) for r in RNN_RUNGS])(force_rnn_rung)


def params(T, N, I, H, variant, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed + 1000 * T + 100 * N + 10 * I + H)
    G = 3 if variant == "coupled" else 4
    x = rng.standard_normal((T, N, I))
    h0 = rng.standard_normal((N, H)) * 0.5
    c0 = rng.standard_normal((N, H)) * 0.5
    w_ih = rng.standard_normal((G * H, I)) / np.sqrt(I)
    w_hh = rng.standard_normal((G * H, H)) / np.sqrt(H)
    b = rng.standard_normal(G * H) * 0.3
    p = rng.standard_normal((3, H)) * 0.5 if variant == "peephole" else None
    cast = [a.astype(dtype) if a is not None else None for a in (x, h0, c0, w_ih, w_hh, b, p)]
    return cast


SHAPES = [(1, 1, 1, 1), (3, 1, 5, 7), (4, 3, 2, 17), (5, 2, 13, 19), (2, 5, 31, 37), (3, 9, 5, 33)]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("T,N,I,H", SHAPES)
@pytest.mark.parametrize("reverse", [False, True])
def test_sequence_forward_matches_the_notes_formulas(rung, variant, T, N, I, H, reverse):
    for dtype, tol in [(np.float64, 1e-12), (np.float32, 2e-5)]:
        x, h0, c0, w_ih, w_hh, b, p = params(T, N, I, H, variant, dtype)
        y, hT, cT, _saved = _C.lstm_forward(x, h0, c0, w_ih, w_hh, b, p, variant, reverse)
        f64 = [a.astype(np.float64) if a is not None else None for a in (x, h0, c0, w_ih, w_hh, b, p)]
        yr, hr, cr = lstm_seq(*f64, variant, reverse)
        for got, want in [(y, yr), (hT, hr), (cT, cr)]:
            assert got.dtype == dtype
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("T,N,I,H", [(3, 2, 3, 5), (2, 1, 4, 3)])
@pytest.mark.parametrize("reverse", [False, True])
def test_sequence_backward_is_the_derivative_by_central_differences(variant, T, N, I, H,
                                                                     reverse):
    x, h0, c0, w_ih, w_hh, b, p = params(T, N, I, H, variant, seed=3)
    rng = np.random.default_rng(5)
    wy, wh, wc = (rng.standard_normal((T, N, H)), rng.standard_normal((N, H)),
                  rng.standard_normal((N, H)))

    def loss():
        y, hT, cT, _ = _C.lstm_forward(x, h0, c0, w_ih, w_hh, b, p, variant, reverse)
        return float((y * wy).sum() + (hT * wh).sum() + (cT * wc).sum())

    y, _, _, saved = _C.lstm_forward(x, h0, c0, w_ih, w_hh, b, p, variant, reverse)
    grads = _C.lstm_backward(x, h0, c0, w_ih, w_hh, p, variant, reverse, y, saved, wy, wh, wc)
    wrt = [x, h0, c0, w_ih, w_hh, b] + ([p] if p is not None else [])
    for got, want in zip(grads, central_difference(loss, wrt)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
    assert (grads[6] is None) == (p is None)


@pytest.mark.parametrize("variant", VARIANTS)
def test_float32_backward_rungs_agree_with_float64(rung, variant):
    T, N, I, H = 4, 3, 7, 23
    x, h0, c0, w_ih, w_hh, b, p = params(T, N, I, H, variant, seed=9)
    dy = np.random.default_rng(2).standard_normal((T, N, H))
    y, _, _, saved = _C.lstm_forward(x, h0, c0, w_ih, w_hh, b, p, variant, False)
    want = _C.lstm_backward(x, h0, c0, w_ih, w_hh, p, variant, False, y, saved, dy)
    f32 = [a.astype(np.float32) if a is not None else None for a in (x, h0, c0, w_ih, w_hh, b, p)]
    y32, _, _, s32 = _C.lstm_forward(*f32, variant, False)
    got = _C.lstm_backward(*f32[:5], f32[6], variant, False, y32, s32, dy.astype(np.float32))
    for g, w in zip(got, want):
        if w is not None:
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("N", [1, 2, 5])
def test_cell_step_forward_and_backward(variant, N):
    I, H = 6, 11
    x, h, c, w_ih, w_hh, b, p = params(1, N, I, H, variant, seed=4)
    x = x[0]
    h_new, c_new, saved = _C.lstm_cell_forward(x, h, c, w_ih, w_hh, b, p, variant)
    hr, cr = lstm_cell(x, h, c, w_ih, w_hh, b, p, variant)
    np.testing.assert_allclose(h_new, hr, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(c_new, cr, rtol=1e-12, atol=1e-12)
    rng = np.random.default_rng(6)
    wh, wc = rng.standard_normal((N, H)), rng.standard_normal((N, H))

    def loss():
        hn, cn, _ = _C.lstm_cell_forward(x, h, c, w_ih, w_hh, b, p, variant)
        return float((hn * wh).sum() + (cn * wc).sum())

    grads = _C.lstm_cell_backward(x, h, c, w_ih, w_hh, p, variant, c_new, saved, wh, wc)
    wrt = [x, h, c, w_ih, w_hh, b] + ([p] if p is not None else [])
    for got, want in zip(grads, central_difference(loss, wrt)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def test_coupled_variant_has_three_gates_and_no_dead_parameters():
    x, h0, c0, w_ih, w_hh, b, _ = params(2, 2, 3, 4, "coupled")
    assert w_ih.shape == (12, 3)
    with pytest.raises(ValueError, match=r"w_ih: expected shape \(12, 3\)"):
        _C.lstm_forward(x, h0, c0, np.zeros((16, 3)), w_hh, b, None, "coupled")


def test_bad_inputs_raise_valueerror():
    x, h0, c0, w_ih, w_hh, b, p = params(3, 2, 4, 5, "peephole")
    with pytest.raises(ValueError, match="w_hh: expected shape"):
        _C.lstm_forward(x, h0, c0, w_ih, w_hh[:, :4], b, p, "peephole")
    with pytest.raises(ValueError, match="b: expected shape"):
        _C.lstm_forward(x, h0, c0, w_ih, w_hh, b[:-1], p, "peephole")
    with pytest.raises(ValueError, match="needs peephole"):
        _C.lstm_forward(x, h0, c0, w_ih, w_hh, b, None, "peephole")
    with pytest.raises(ValueError, match="takes peephole=None"):
        _C.lstm_forward(x, h0, c0, w_ih, w_hh, b, p, "standard")
    with pytest.raises(ValueError, match="peephole: expected shape"):
        _C.lstm_forward(x, h0, c0, w_ih, w_hh, b, p[:2], "peephole")
    with pytest.raises(ValueError, match="variant"):
        _C.lstm_forward(x, h0, c0, w_ih, w_hh, b, None, "gru")
    with pytest.raises(ValueError, match="h0: expected shape"):
        _C.lstm_forward(x, h0[:1], c0, w_ih, w_hh, b, p, "peephole")
    with pytest.raises(ValueError, match="c0: expected dtype float64"):
        _C.lstm_forward(x, h0, c0.astype(np.float32), w_ih, w_hh, b, p, "peephole")
    with pytest.raises(ValueError, match="x: expected a 3-D array"):
        _C.lstm_forward(x[0], h0, c0, w_ih, w_hh, b, p, "peephole")
    y, _, _, saved = _C.lstm_forward(x, h0, c0, w_ih, w_hh, b, p, "peephole")
    with pytest.raises(ValueError, match="dy: expected shape"):
        _C.lstm_backward(x, h0, c0, w_ih, w_hh, p, "peephole", False, y, saved, y[:2])
    with pytest.raises(ValueError, match="saved"):
        _C.lstm_backward(x, h0, c0, w_ih, w_hh, p, "peephole", False, y, saved[:2], y)


def torch_lstm(torch, w_ih, w_hh, b, bidirectional=False):
    I, H = w_ih.shape[1], w_hh.shape[1]
    m = torch.nn.LSTM(I, H, bidirectional=bidirectional).double()
    with torch.no_grad():
        for sfx in ["_l0"] + (["_l0_reverse"] if bidirectional else []):
            getattr(m, "weight_ih" + sfx).copy_(torch.tensor(w_ih))
            getattr(m, "weight_hh" + sfx).copy_(torch.tensor(w_hh))
            getattr(m, "bias_ih" + sfx).copy_(torch.tensor(b))
            getattr(m, "bias_hh" + sfx).zero_()
    return m


@pytest.mark.parametrize("reverse", [False, True])
def test_matches_torch_nn_lstm_forward_and_backward(reverse):
    torch = pytest.importorskip("torch")
    T, N, I, H = 6, 3, 5, 9
    x, h0, c0, w_ih, w_hh, b, _ = params(T, N, I, H, "standard", seed=12)
    dy = np.random.default_rng(3).standard_normal((T, N, H))
    m = torch_lstm(torch, w_ih, w_hh, b, bidirectional=reverse)
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(np.stack([h0, h0]) if reverse else h0[None], requires_grad=True)
    c0t = torch.tensor(np.stack([c0, c0]) if reverse else c0[None], requires_grad=True)
    yt, (hTt, cTt) = m(xt, (h0t, c0t))
    d = 1 if reverse else 0
    yt_dir = yt[..., d * H : (d + 1) * H]
    (yt_dir * torch.tensor(dy)).sum().backward()
    y, hT, cT, saved = _C.lstm_forward(x, h0, c0, w_ih, w_hh, b, None, "standard", reverse)
    np.testing.assert_allclose(y, yt_dir.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hT, hTt[d].detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cT, cTt[d].detach().numpy(), rtol=1e-10, atol=1e-12)
    dx, dh0, dc0, dw_ih, dw_hh, db, _ = _C.lstm_backward(x, h0, c0, w_ih, w_hh, None, "standard",
                                                         reverse, y, saved, dy)
    sfx = "_l0_reverse" if reverse else "_l0"
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dh0, h0t.grad[d].numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dc0, c0t.grad[d].numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dw_ih, getattr(m, "weight_ih" + sfx).grad.numpy(), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(dw_hh, getattr(m, "weight_hh" + sfx).grad.numpy(), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(db, getattr(m, "bias_ih" + sfx).grad.numpy(), rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("N", [1, 4])
def test_float32_cell_step_at_tiny_batch_agrees_with_float64(rung, variant, N):
    x, h, c, w_ih, w_hh, b, p = params(1, N, 9, 21, variant, seed=8)
    x = x[0]
    dh = np.random.default_rng(1).standard_normal((N, 21))
    want_h, want_c, s64 = _C.lstm_cell_forward(x, h, c, w_ih, w_hh, b, p, variant)
    want = _C.lstm_cell_backward(x, h, c, w_ih, w_hh, p, variant, want_c, s64, dh, None)
    f32 = [a.astype(np.float32) if a is not None else None for a in (x, h, c, w_ih, w_hh, b, p)]
    got_h, got_c, s32 = _C.lstm_cell_forward(*f32, variant)
    got = _C.lstm_cell_backward(*f32[:5], f32[6], variant, got_c, s32, dh.astype(np.float32))
    np.testing.assert_allclose(got_h, want_h, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_c, want_c, rtol=1e-5, atol=1e-5)
    for g, w in zip(got, want):
        if w is not None:
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("variant", VARIANTS)
def test_saturated_gates_stay_finite_and_exact_in_float32(rung, variant):
    # Pre-activations of +-hundreds: sigmoid and tanh must saturate to 0/1/-1, never NaN.
    x, h0, c0, w_ih, w_hh, b, p = params(3, 4, 5, 18, variant, seed=21)
    w_ih, w_hh = w_ih * 200, w_hh * 200
    want = lstm_seq(x, h0, c0, w_ih, w_hh, b, p, variant)
    f32 = [a.astype(np.float32) if a is not None else None for a in (x, h0, c0, w_ih, w_hh, b, p)]
    y, hT, cT, _ = _C.lstm_forward(*f32, variant)
    for got, w in zip((y, hT, cT), want):
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, w, rtol=1e-4, atol=1e-4)
