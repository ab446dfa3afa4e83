"""Fused GRU step and sequence driver (dl_kernels._C) against the notes' formulas in float64.

Gate order r, z, n; w_ih[3H, I], w_hh[3H, H], b[3H]. 'notes': n = tanh(W_n[r h, x] + b_n),
h' = (1 - z) h + z n. 'reset_after' (torch.nn.GRU): n = tanh(W_in x + b_n + r (W_hn h + b_hn)),
h' = (1 - z) n + z h, with torch's biases mapping to b = b_ih + [b_hr, b_hz, 0], b_hn = b_hh[n].
"""

from __future__ import annotations

import numpy as np
import pytest
from dl_kernels import _C
from rnn_reference import RNN_RUNGS, central_difference, force_rnn_rung, gru_cell, gru_seq

VARIANTS = ["notes", "reset_after"]

rung = pytest.fixture(params=RNN_RUNGS, ids=["-".join(r) for r in RNN_RUNGS])(force_rnn_rung)


def params(T, N, I, H, variant, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed + 1000 * T + 100 * N + 10 * I + H)
    x = rng.standard_normal((T, N, I))
    h0 = rng.standard_normal((N, H)) * 0.5
    w_ih = rng.standard_normal((3 * H, I)) / np.sqrt(I)
    w_hh = rng.standard_normal((3 * H, H)) / np.sqrt(H)
    b = rng.standard_normal(3 * H) * 0.3
    b_hn = rng.standard_normal(H) * 0.3 if variant == "reset_after" else None
    return [a.astype(dtype) if a is not None else None for a in (x, h0, w_ih, w_hh, b, b_hn)]


SHAPES = [(1, 1, 1, 1), (3, 1, 5, 7), (4, 3, 2, 17), (5, 2, 13, 19), (2, 5, 31, 37), (3, 9, 5, 33)]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("T,N,I,H", SHAPES)
@pytest.mark.parametrize("reverse", [False, True])
def test_sequence_forward_matches_the_notes_formulas(rung, variant, T, N, I, H, reverse):
    for dtype, tol in [(np.float64, 1e-12), (np.float32, 2e-5)]:
        args = params(T, N, I, H, variant, dtype)
        y, hT, _saved = _C.gru_forward(*args, variant, reverse)
        f64 = [a.astype(np.float64) if a is not None else None for a in args]
        yr, hr = gru_seq(*f64, variant, reverse)
        assert y.dtype == dtype
        np.testing.assert_allclose(y, yr, rtol=tol, atol=tol)
        np.testing.assert_allclose(hT, hr, rtol=tol, atol=tol)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("T,N,I,H", [(3, 2, 3, 5), (2, 1, 4, 3)])
@pytest.mark.parametrize("reverse", [False, True])
def test_sequence_backward_is_the_derivative_by_central_differences(variant, T, N, I, H,
                                                                     reverse):
    x, h0, w_ih, w_hh, b, b_hn = params(T, N, I, H, variant, seed=3)
    rng = np.random.default_rng(5)
    wy, wh = rng.standard_normal((T, N, H)), rng.standard_normal((N, H))

    def loss():
        y, hT, _ = _C.gru_forward(x, h0, w_ih, w_hh, b, b_hn, variant, reverse)
        return float((y * wy).sum() + (hT * wh).sum())

    y, _, saved = _C.gru_forward(x, h0, w_ih, w_hh, b, b_hn, variant, reverse)
    grads = _C.gru_backward(x, h0, w_ih, w_hh, variant, reverse, y, saved, wy, wh)
    wrt = [x, h0, w_ih, w_hh, b] + ([b_hn] if b_hn is not None else [])
    for got, want in zip(grads, central_difference(loss, wrt)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
    assert (grads[5] is None) == (b_hn is None)


@pytest.mark.parametrize("variant", VARIANTS)
def test_float32_backward_rungs_agree_with_float64(rung, variant):
    T, N, I, H = 4, 3, 7, 23
    args = params(T, N, I, H, variant, seed=9)
    dy = np.random.default_rng(2).standard_normal((T, N, H))
    y, _, saved = _C.gru_forward(*args, variant, False)
    want = _C.gru_backward(*args[:4], variant, False, y, saved, dy)
    f32 = [a.astype(np.float32) if a is not None else None for a in args]
    y32, _, s32 = _C.gru_forward(*f32, variant, False)
    got = _C.gru_backward(*f32[:4], variant, False, y32, s32, dy.astype(np.float32))
    for g, w in zip(got, want):
        if w is not None:
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("N", [1, 2, 5])
def test_cell_step_forward_and_backward(variant, N):
    I, H = 6, 11
    x, h, w_ih, w_hh, b, b_hn = params(1, N, I, H, variant, seed=4)
    x = x[0]
    h_new, saved = _C.gru_cell_forward(x, h, w_ih, w_hh, b, b_hn, variant)
    np.testing.assert_allclose(h_new, gru_cell(x, h, w_ih, w_hh, b, b_hn, variant), rtol=1e-12,
                               atol=1e-12)
    wh = np.random.default_rng(6).standard_normal((N, H))

    def loss():
        return float((_C.gru_cell_forward(x, h, w_ih, w_hh, b, b_hn, variant)[0] * wh).sum())

    grads = _C.gru_cell_backward(x, h, w_ih, w_hh, variant, saved, wh)
    wrt = [x, h, w_ih, w_hh, b] + ([b_hn] if b_hn is not None else [])
    for got, want in zip(grads, central_difference(loss, wrt)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def test_bad_inputs_raise_valueerror():
    x, h0, w_ih, w_hh, b, b_hn = params(3, 2, 4, 5, "reset_after")
    with pytest.raises(ValueError, match="w_ih: expected shape"):
        _C.gru_forward(x, h0, w_ih[:, :3], w_hh, b, b_hn, "reset_after")
    with pytest.raises(ValueError, match="needs the recurrent candidate bias"):
        _C.gru_forward(x, h0, w_ih, w_hh, b, None, "reset_after")
    with pytest.raises(ValueError, match="takes b_hn=None"):
        _C.gru_forward(x, h0, w_ih, w_hh, b, b_hn, "notes")
    with pytest.raises(ValueError, match="b_hn: expected shape"):
        _C.gru_forward(x, h0, w_ih, w_hh, b, b_hn[:-1], "reset_after")
    with pytest.raises(ValueError, match="variant"):
        _C.gru_forward(x, h0, w_ih, w_hh, b, None, "lstm")
    with pytest.raises(ValueError, match="b: expected dtype float64"):
        _C.gru_forward(x, h0, w_ih, w_hh, b.astype(np.float32), b_hn, "reset_after")
    y, _, saved = _C.gru_forward(x, h0, w_ih, w_hh, b, b_hn, "reset_after")
    with pytest.raises(ValueError, match="saved"):
        _C.gru_backward(x, h0, w_ih, w_hh, "reset_after", False, y, saved[:1], y)
    with pytest.raises(ValueError, match=r"saved\[1\] \(extra\): expected shape"):
        _C.gru_backward(x, h0, w_ih, w_hh, "reset_after", False, y, (saved[0], y[:1]), y)


@pytest.mark.parametrize("reverse", [False, True])
def test_reset_after_matches_torch_nn_gru_forward_and_backward(reverse):
    torch = pytest.importorskip("torch")
    T, N, I, H = 6, 3, 5, 9
    rng = np.random.default_rng(12)
    m = torch.nn.GRU(I, H, bidirectional=reverse).double()
    sfx = "_l0_reverse" if reverse else "_l0"
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape)) * 0.4))
    w_ih = getattr(m, "weight_ih" + sfx).detach().numpy().copy()
    w_hh = getattr(m, "weight_hh" + sfx).detach().numpy().copy()
    b_ih = getattr(m, "bias_ih" + sfx).detach().numpy()
    b_hh = getattr(m, "bias_hh" + sfx).detach().numpy()
    b = b_ih + np.concatenate([b_hh[: 2 * H], np.zeros(H)])
    b_hn = b_hh[2 * H :].copy()
    x = rng.standard_normal((T, N, I))
    h0 = rng.standard_normal((N, H)) * 0.5
    dy = rng.standard_normal((T, N, H))
    d = 1 if reverse else 0
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(np.stack([h0, h0]) if reverse else h0[None], requires_grad=True)
    yt, hTt = m(xt, h0t)
    yt_dir = yt[..., d * H : (d + 1) * H]
    (yt_dir * torch.tensor(dy)).sum().backward()
    y, hT, saved = _C.gru_forward(x, h0, w_ih, w_hh, b, b_hn, "reset_after", reverse)
    np.testing.assert_allclose(y, yt_dir.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hT, hTt[d].detach().numpy(), rtol=1e-10, atol=1e-12)
    dx, dh0, dw_ih, dw_hh, db, db_hn = _C.gru_backward(x, h0, w_ih, w_hh, "reset_after", reverse,
                                                       y, saved, dy)
    close = {"rtol": 1e-10, "atol": 1e-12}
    np.testing.assert_allclose(dx, xt.grad.numpy(), **close)
    np.testing.assert_allclose(dh0, h0t.grad[d].numpy(), **close)
    np.testing.assert_allclose(dw_ih, getattr(m, "weight_ih" + sfx).grad.numpy(), **close)
    np.testing.assert_allclose(dw_hh, getattr(m, "weight_hh" + sfx).grad.numpy(), **close)
    np.testing.assert_allclose(db, getattr(m, "bias_ih" + sfx).grad.numpy(), **close)
    gbh = getattr(m, "bias_hh" + sfx).grad.numpy()
    np.testing.assert_allclose(np.concatenate([db[: 2 * H], db_hn]), gbh, **close)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("N", [1, 4])
def test_float32_cell_step_at_tiny_batch_agrees_with_float64(rung, variant, N):
    x, h, w_ih, w_hh, b, b_hn = params(1, N, 9, 21, variant, seed=8)
    x = x[0]
    dh = np.random.default_rng(1).standard_normal((N, 21))
    want_h, s64 = _C.gru_cell_forward(x, h, w_ih, w_hh, b, b_hn, variant)
    want = _C.gru_cell_backward(x, h, w_ih, w_hh, variant, s64, dh)
    f32 = [a.astype(np.float32) if a is not None else None for a in (x, h, w_ih, w_hh, b, b_hn)]
    got_h, s32 = _C.gru_cell_forward(*f32, variant)
    got = _C.gru_cell_backward(*f32[:4], variant, s32, dh.astype(np.float32))
    np.testing.assert_allclose(got_h, want_h, rtol=1e-5, atol=1e-5)
    for g, w in zip(got, want):
        if w is not None:
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("variant", VARIANTS)
def test_saturated_gates_stay_finite_and_exact_in_float32(rung, variant):
    # Pre-activations of +-hundreds: sigmoid and tanh must saturate to 0/1/-1, never NaN.
    x, h0, w_ih, w_hh, b, b_hn = params(3, 4, 5, 18, variant, seed=21)
    w_ih, w_hh = w_ih * 200, w_hh * 200
    want = gru_seq(x, h0, w_ih, w_hh, b, b_hn, variant)
    f32 = [a.astype(np.float32) if a is not None else None for a in (x, h0, w_ih, w_hh, b, b_hn)]
    y, hT, _ = _C.gru_forward(*f32, variant)
    for got, w in zip((y, hT), want):
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, w, rtol=1e-4, atol=1e-4)
