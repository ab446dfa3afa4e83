"""CUDA LSTM and GRU: the fused pointwise steps and the sequence drivers against a direct numpy
transcription of the notes' formulas (float64), every variant (peephole, coupled; the notes' GRU
and reset-after; both directions), backward checked by central finite differences of the
float64 reference."""

from __future__ import annotations

import numpy as np
import pytest
from _cuda_util import dev, f32, mod, needs_gpu

pytestmark = needs_gpu


def sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def lstm_ref(x, h0, c0, w_x, w_h, b, peep, coupled, reverse):
    T = x.shape[0]
    H = h0.shape[1]
    h, c = h0, c0
    hs, cs = [None] * T, [None] * T
    p = peep if peep is not None else np.zeros((3, H))
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        a = x[t] @ w_x.T + h @ w_h.T + b
        ai, af, ag, ao = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
        f = sig(af + p[1] * c)
        i = 1 - f if coupled else sig(ai + p[0] * c)
        c = f * c + i * np.tanh(ag)
        o = sig(ao + p[2] * c)
        h = o * np.tanh(c)
        hs[t], cs[t] = h, c
    return np.stack(hs), np.stack(cs)


def gru_ref(x, h0, w_x, w_h, b_x, b_h, reset_after, reverse):
    T = x.shape[0]
    H = h0.shape[1]
    h = h0
    hs = [None] * T
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        xp = x[t] @ w_x.T + b_x
        if reset_after:
            hp = h @ w_h.T + b_h
            r = sig(xp[:, :H] + hp[:, :H])
            z = sig(xp[:, H:2 * H] + hp[:, H:2 * H])
            n = np.tanh(xp[:, 2 * H:] + r * hp[:, 2 * H:])
        else:
            r = sig(xp[:, :H] + h @ w_h[:H].T + b_h[:H])
            z = sig(xp[:, H:2 * H] + h @ w_h[H:2 * H].T + b_h[H:2 * H])
            n = np.tanh(xp[:, 2 * H:] + (r * h) @ w_h[2 * H:].T + b_h[2 * H:])
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


def lstm_params(rng, T, N, I, H):
    return [f32(rng.standard_normal(s) * sc) for s, sc in
            [((T, N, I), 1.0), ((N, H), 0.5), ((N, H), 0.5), ((4 * H, I), 0.4),
             ((4 * H, H), 0.4), ((4 * H,), 0.3), ((3, H), 0.5)]]


VARIANTS = [{"peephole": p, "coupled": c} for c in (False, True) for p in (False, True)]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(k for k in v if v[k]) or "standard")
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("T,N,I,H", [(1, 1, 1, 1), (4, 3, 5, 7), (3, 2, 33, 36)])
def test_lstm_sequence_forward_and_backward_match_float64(variant, reverse, T, N, I, H, rng):
    x, h0, c0, w_x, w_h, b, peep = lstm_params(rng, T, N, I, H)
    peep_arg = peep if variant["peephole"] else None
    coupled = variant["coupled"]
    hs, cs, act = mod().lstm_forward(dev(x), dev(h0), dev(c0), dev(w_x), dev(w_h), dev(b),
                                     dev(peep) if peep_arg is not None else None,
                                     coupled=coupled, reverse=reverse)
    ref_hs, ref_cs = lstm_ref(x, h0, c0, w_x, w_h, b, peep_arg, coupled, reverse)
    np.testing.assert_allclose(hs.numpy(), ref_hs, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(cs.numpy(), ref_cs, rtol=1e-4, atol=1e-5)

    if T * N * I * H > 1000:
        return  # finite differences on the small shapes only
    dhs = f32(rng.standard_normal((T, N, H)))
    dcl = f32(rng.standard_normal((N, H)))
    last = 0 if reverse else T - 1
    params = [x, h0, c0, w_x, w_h, b] + ([peep] if peep_arg is not None else [])

    def loss():
        p = params[6] if peep_arg is not None else None
        rh, rc = lstm_ref(*params[:6], p, coupled, reverse)
        return (rh * dhs).sum() + (rc[last] * dcl).sum()

    want = finite_difference(loss, params)
    got = mod().lstm_backward(dev(dhs), dev(dcl), dev(x), dev(h0), dev(c0), dev(w_x), dev(w_h),
                              dev(b), hs, cs, act, dev(peep) if peep_arg is not None else None,
                              coupled=coupled, reverse=reverse)
    names = ["dx", "dh0", "dc0", "dw_x", "dw_h", "db", "dpeep"]
    for name, g, w in zip(names, got, want):
        np.testing.assert_allclose(g.numpy(), w, rtol=2e-3, atol=2e-4, err_msg=name)
    if peep_arg is None:
        assert got[6] is None


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


@pytest.mark.parametrize("reset_after", [False, True], ids=["notes", "reset_after"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("T,N,I,H", [(1, 1, 1, 1), (4, 3, 5, 6), (3, 2, 33, 37)])
def test_gru_sequence_forward_and_backward_match_float64(reset_after, reverse, T, N, I, H, rng):
    params = [f32(rng.standard_normal(s) * sc) for s, sc in
              [((T, N, I), 1.0), ((N, H), 0.5), ((3 * H, I), 0.4), ((3 * H, H), 0.4),
               ((3 * H,), 0.3), ((3 * H,), 0.3)]]
    x, h0, w_x, w_h, b_x, b_h = params
    hs, act, aux = mod().gru_forward(dev(x), dev(h0), dev(w_x), dev(w_h), dev(b_x), dev(b_h),
                                     reset_after=reset_after, reverse=reverse)
    np.testing.assert_allclose(hs.numpy(), gru_ref(*params, reset_after, reverse), rtol=1e-4,
                               atol=1e-5)
    if T * N * I * H > 1000:
        return
    dhs = f32(rng.standard_normal((T, N, H)))

    def loss():
        return (gru_ref(*params, reset_after, reverse) * dhs).sum()

    want = finite_difference(loss, params)
    got = mod().gru_backward(dev(dhs), dev(x), dev(h0), dev(w_x), dev(w_h), hs, act, aux,
                             reset_after=reset_after, reverse=reverse)
    for name, g, w in zip(["dx", "dh0", "dw_x", "dw_h", "db_x", "db_h"], got, want):
        np.testing.assert_allclose(g.numpy(), w, rtol=2e-3, atol=2e-4, err_msg=name)


def test_rnn_rejects_mismatched_shapes():
    x = mod().zeros((2, 3, 4))
    with pytest.raises(ValueError, match=r"w_x: expected shape \(8, 4\), got \(8, 5\)"):
        mod().lstm_forward(x, mod().zeros((3, 2)), mod().zeros((3, 2)), mod().zeros((8, 5)),
                           mod().zeros((8, 2)), mod().zeros((8,)))
    with pytest.raises(ValueError, match=r"h0: expected shape \(3, 2\)"):
        mod().gru_forward(x, mod().zeros((2, 2)), mod().zeros((6, 4)), mod().zeros((6, 2)))
