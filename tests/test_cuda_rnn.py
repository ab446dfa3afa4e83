"""CUDA LSTM and GRU (the CPU kernels' interface): fused pointwise steps, cells and sequence
drivers against a direct numpy transcription of the formulas (float64), every variant (standard,
peephole, coupled; the notes' GRU and reset_after; both directions), backward checked by central
finite differences of the float64 reference."""

from __future__ import annotations

import numpy as np
import pytest
from _cuda_util import dev, f32, mod, needs_gpu

pytestmark = needs_gpu


def sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def lstm_ref(x, h0, c0, w_ih, w_hh, b, peep, variant, reverse):
    """Gate order i, f, g, o; 'coupled' stores f, g, o only (i = 1 - f)."""
    T, H = x.shape[0], h0.shape[1]
    h, c = h0, c0
    hs, cs = [None] * T, [None] * T
    p = peep if variant == "peephole" else np.zeros((3, H))
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        a = x[t] @ w_ih.T + h @ w_hh.T + b
        if variant == "coupled":
            af, ag, ao = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
            f = sig(af)
            i = 1 - f
        else:
            ai, af, ag, ao = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            f = sig(af + p[1] * c)
            i = sig(ai + p[0] * c)
        c = f * c + i * np.tanh(ag)
        o = sig(ao + p[2] * c)
        h = o * np.tanh(c)
        hs[t], cs[t] = h, c
    return np.stack(hs), np.stack(cs)


def gru_ref(x, h0, w_ih, w_hh, b, b_hn, variant, reverse):
    T, H = x.shape[0], h0.shape[1]
    h = h0
    hs = [None] * T
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        xp = x[t] @ w_ih.T + b
        if variant == "reset_after":
            hp = h @ w_hh.T
            hp[:, 2 * H:] += b_hn
            r = sig(xp[:, :H] + hp[:, :H])
            z = sig(xp[:, H:2 * H] + hp[:, H:2 * H])
            n = np.tanh(xp[:, 2 * H:] + r * hp[:, 2 * H:])
            h = (1 - z) * n + z * h
        else:
            r = sig(xp[:, :H] + h @ w_hh[:H].T)
            z = sig(xp[:, H:2 * H] + h @ w_hh[H:2 * H].T)
            n = np.tanh(xp[:, 2 * H:] + (r * h) @ w_hh[2 * H:].T)
            h = (1 - z) * h + z * n
        hs[t] = h
    return np.stack(hs)


def finite_difference(loss, params, eps=1e-6):
    grads = []
    for p in params:
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            up = loss()
            p[idx] = old - eps
            down = loss()
            p[idx] = old
            g[idx] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


def lstm_params(rng, T, N, I, H, variant):
    G = (3 if variant == "coupled" else 4) * H
    return [f32(rng.standard_normal(s) * sc) for s, sc in
            [((T, N, I), 1.0), ((N, H), 0.5), ((N, H), 0.5), ((G, I), 0.4), ((G, H), 0.4),
             ((G,), 0.3), ((3, H), 0.5)]]


@pytest.mark.parametrize("variant", ["standard", "peephole", "coupled"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("T,N,I,H", [(1, 1, 1, 1), (4, 3, 5, 7), (3, 2, 33, 36)])
def test_lstm_sequence_forward_and_backward_match_float64(variant, reverse, T, N, I, H, rng):
    x, h0, c0, w_ih, w_hh, b, peep = lstm_params(rng, T, N, I, H, variant)
    peep_dev = dev(peep) if variant == "peephole" else None
    y, h_T, c_T, saved = mod().lstm_forward(dev(x), dev(h0), dev(c0), dev(w_ih), dev(w_hh),
                                            dev(b), peep_dev, variant, reverse)
    ref_y, ref_c = lstm_ref(x, h0, c0, w_ih, w_hh, b, peep, variant, reverse)
    last = 0 if reverse else T - 1
    np.testing.assert_allclose(y.numpy(), ref_y, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(h_T.numpy(), ref_y[last], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(c_T.numpy(), ref_c[last], rtol=1e-4, atol=1e-5)

    if T * N * I * H > 1000:
        return  # finite differences on the small shapes only
    dy = f32(rng.standard_normal((T, N, H)))
    dh_T = f32(rng.standard_normal((N, H)))
    dc_T = f32(rng.standard_normal((N, H)))
    params = [x, h0, c0, w_ih, w_hh, b] + ([peep] if variant == "peephole" else [])

    def loss():
        rh, rc = lstm_ref(*params[:6], peep, variant, reverse)
        return (rh * dy).sum() + (rh[last] * dh_T).sum() + (rc[last] * dc_T).sum()

    want = finite_difference(loss, params)
    got = mod().lstm_backward(dev(x), dev(h0), dev(c0), dev(w_ih), dev(w_hh), peep_dev, variant,
                              reverse, y, saved, dev(dy), dev(dh_T), dev(dc_T))
    names = ["dx", "dh0", "dc0", "dw_ih", "dw_hh", "db", "dpeephole"]
    for name, g, w in zip(names, got, want):
        np.testing.assert_allclose(g.numpy(), w, rtol=2e-3, atol=2e-4, err_msg=name)
    if variant != "peephole":
        assert got[6] is None


@pytest.mark.parametrize("variant", ["standard", "peephole", "coupled"])
def test_lstm_cell_is_one_step_of_the_sequence(variant, rng):
    N, I, H = 3, 4, 5
    x, h0, c0, w_ih, w_hh, b, peep = lstm_params(rng, 1, N, I, H, variant)
    peep_dev = dev(peep) if variant == "peephole" else None
    h1, c1, saved = mod().lstm_cell_forward(dev(x[0]), dev(h0), dev(c0), dev(w_ih), dev(w_hh),
                                            dev(b), peep_dev, variant)
    ref_y, ref_c = lstm_ref(x, h0, c0, w_ih, w_hh, b, peep, variant, False)
    np.testing.assert_allclose(h1.numpy(), ref_y[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(c1.numpy(), ref_c[0], rtol=1e-4, atol=1e-5)
    dh1, dc1 = f32(rng.standard_normal((N, H))), f32(rng.standard_normal((N, H)))
    got = mod().lstm_cell_backward(dev(x[0]), dev(h0), dev(c0), dev(w_ih), dev(w_hh), peep_dev,
                                   variant, c1, saved, dev(dh1), dev(dc1))
    params = [x, h0, c0, w_ih, w_hh, b] + ([peep] if variant == "peephole" else [])

    def loss():
        rh, rc = lstm_ref(*params[:6], peep, variant, False)
        return (rh[0] * dh1).sum() + (rc[0] * dc1).sum()

    want = finite_difference(loss, params)
    want[0] = want[0][0]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w, rtol=2e-3, atol=2e-4)


def test_lstm_pointwise_step_matches_the_formulas(rng):
    N, H = 5, 6
    gates, c_prev, bias, peep = (f32(rng.standard_normal(s)) for s in
                                 [(N, 4 * H), (N, H), (4 * H,), (3, H)])
    h, c, act = mod().lstm_pointwise_forward(dev(gates), dev(c_prev), dev(bias), dev(peep))
    a = gates + bias
    i = sig(a[:, :H] + peep[0] * c_prev)
    f = sig(a[:, H:2 * H] + peep[1] * c_prev)
    ref_c = f * c_prev + i * np.tanh(a[:, 2 * H:3 * H])
    o = sig(a[:, 3 * H:] + peep[2] * ref_c)
    np.testing.assert_allclose(c.numpy(), ref_c, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h.numpy(), o * np.tanh(ref_c), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(act.numpy()[:, 3 * H:], o, rtol=1e-5, atol=1e-6)
    dh, dc = f32(rng.standard_normal((N, H))), f32(rng.standard_normal((N, H)))
    dg, dcp, dpeep = mod().lstm_pointwise_backward(dev(dh), dev(dc), dev(c_prev), c, act,
                                                   dev(peep))
    params = [gates, c_prev, peep]

    def loss():
        a = params[0] + bias
        p = params[2]
        i = sig(a[:, :H] + p[0] * params[1])
        f = sig(a[:, H:2 * H] + p[1] * params[1])
        cc = f * params[1] + i * np.tanh(a[:, 2 * H:3 * H])
        o = sig(a[:, 3 * H:] + p[2] * cc)
        return (o * np.tanh(cc) * dh).sum() + (cc * dc).sum()

    want = finite_difference(loss, params)
    for g, w in zip([dg, dcp, dpeep], want):
        np.testing.assert_allclose(g.numpy(), w, rtol=2e-3, atol=2e-4)


def gru_params(rng, T, N, I, H):
    return [f32(rng.standard_normal(s) * sc) for s, sc in
            [((T, N, I), 1.0), ((N, H), 0.5), ((3 * H, I), 0.4), ((3 * H, H), 0.4),
             ((3 * H,), 0.3), ((H,), 0.3)]]


@pytest.mark.parametrize("variant", ["notes", "reset_after"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("T,N,I,H", [(1, 1, 1, 1), (4, 3, 5, 6), (3, 2, 33, 37)])
def test_gru_sequence_forward_and_backward_match_float64(variant, reverse, T, N, I, H, rng):
    params = gru_params(rng, T, N, I, H)
    x, h0, w_ih, w_hh, b, b_hn = params
    ra = variant == "reset_after"
    y, h_T, saved = mod().gru_forward(dev(x), dev(h0), dev(w_ih), dev(w_hh), dev(b),
                                      dev(b_hn) if ra else None, variant, reverse)
    ref = gru_ref(*params, variant, reverse)
    last = 0 if reverse else T - 1
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(h_T.numpy(), ref[last], rtol=1e-4, atol=1e-5)
    if T * N * I * H > 1000:
        return
    dy = f32(rng.standard_normal((T, N, H)))
    dh_T = f32(rng.standard_normal((N, H)))
    fd_params = params if ra else params[:5]

    def loss():
        out = gru_ref(*params, variant, reverse)
        return (out * dy).sum() + (out[last] * dh_T).sum()

    want = finite_difference(loss, fd_params)
    got = mod().gru_backward(dev(x), dev(h0), dev(w_ih), dev(w_hh), variant, reverse, y, saved,
                             dev(dy), dev(dh_T))
    for name, g, w in zip(["dx", "dh0", "dw_ih", "dw_hh", "db", "db_hn"], got, want):
        np.testing.assert_allclose(g.numpy(), w, rtol=2e-3, atol=2e-4, err_msg=name)
    if not ra:
        assert got[5] is None


@pytest.mark.parametrize("variant", ["notes", "reset_after"])
def test_gru_cell_is_one_step_of_the_sequence(variant, rng):
    N, I, H = 3, 4, 5
    params = gru_params(rng, 1, N, I, H)
    x, h0, w_ih, w_hh, b, b_hn = params
    ra = variant == "reset_after"
    h1, saved = mod().gru_cell_forward(dev(x[0]), dev(h0), dev(w_ih), dev(w_hh), dev(b),
                                       dev(b_hn) if ra else None, variant)
    np.testing.assert_allclose(h1.numpy(), gru_ref(*params, variant, False)[0], rtol=1e-4,
                               atol=1e-5)
    dh1 = f32(rng.standard_normal((N, H)))
    got = mod().gru_cell_backward(dev(x[0]), dev(h0), dev(w_ih), dev(w_hh), variant, saved,
                                  dev(dh1))
    fd_params = params if ra else params[:5]
    want = finite_difference(lambda: (gru_ref(*params, variant, False)[0] * dh1).sum(), fd_params)
    want[0] = want[0][0]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w, rtol=2e-3, atol=2e-4)


def test_rnn_rejects_bad_shapes_and_variants():
    x = mod().zeros((2, 3, 4))
    h = mod().zeros((3, 2))
    with pytest.raises(ValueError, match=r"w_ih: expected shape \(8, 4\), got \(8, 5\)"):
        mod().lstm_forward(x, h, h, mod().zeros((8, 5)), mod().zeros((8, 2)), mod().zeros((8,)))
    with pytest.raises(ValueError, match=r"w_ih: expected shape \(6, 4\), got \(8, 4\)"):
        mod().lstm_forward(x, h, h, mod().zeros((8, 4)), mod().zeros((8, 2)), mod().zeros((8,)),
                           None, "coupled")
    with pytest.raises(ValueError, match="variant"):
        mod().gru_forward(x, h, mod().zeros((6, 4)), mod().zeros((6, 2)), None, None, "cudnn")
    with pytest.raises(ValueError, match=r"h0: expected shape \(3, -1\)"):
        mod().gru_forward(x, mod().zeros((2, 2)), mod().zeros((6, 4)), mod().zeros((6, 2)), None)
