"""What the fuzz tests (test_fuzz.py) call: every binding of dl_kernels._C and the public
functional API, each with a template of valid arguments that hypothesis draws, then mutates.

A case is plain data (JSON): the target's name, its arguments as specs (an array spec
{"arr": [shape, dtype, fill, layout]} or a plain value), and what the oracle expects:
  expect "valid"    the template unchanged: the call must succeed;
         "invalid"  a mutation every binding must refuse (a wrong dtype or rank for a _C
                    kernel): the call must raise, accepting it is a silent wrong answer;
         "any"      anything else: succeed or raise a clear error, never crash or hang.
  nan      index of an argument filled with NaN: a successful call must return some NaN
           (outputs present and non-empty), never a NaN turned into a number.
  alias    [out_arg, src_arg, shift]: the output argument is a view of an input's memory;
           the call must raise or give what it gives on separate copies.
Properties checked for every case (fuzz_worker.py): no crash (the worker runs in a subprocess),
no hang (a timeout), only ValueError / TypeError / IndexError / NotImplementedError /
MemoryError with a message (never a pybind11 "Unable to cast" or "C++ type"), and the above.
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable

import numpy as np
from hypothesis import strategies as st

# ---- specs ------------------------------------------------------------------------------------


def A(shape, dtype: str = "f4", fill: Any = "normal", layout: str = "c") -> dict:
    return {"arr": [list(shape), dtype, fill, layout]}


def is_arr(spec: Any) -> bool:
    return isinstance(spec, dict) and "arr" in spec


def make_array(spec: dict, rng: np.random.Generator) -> np.ndarray:
    shape, dtype, fill, layout = spec["arr"]
    shape = tuple(shape)
    dt = np.dtype(dtype)
    if isinstance(fill, list) and fill[0] == "int":  # ["int", lo, hi]: class indices etc.
        a = rng.integers(fill[1], max(fill[1] + 1, fill[2]), size=shape).astype(dt)
    elif dt.kind in "iub":
        a = rng.integers(0, 3, size=shape).astype(dt)
    elif dt.kind == "O":
        a = np.empty(shape, dtype=object)
        a.fill(1.0)
    else:
        a = rng.standard_normal(shape).astype(dt) if dt.kind != "c" else \
            (rng.standard_normal(shape) + 1j).astype(dt)
        if fill == "nan":
            a[...] = np.nan
        elif fill == "nan1" and a.size:
            a.reshape(-1)[rng.integers(a.size)] = np.nan
        elif fill == "inf" and a.size:
            a.reshape(-1)[rng.integers(a.size)] = np.inf
            a.reshape(-1)[rng.integers(a.size)] = -np.inf
        elif fill == "big":
            a *= 1e30 if dt.itemsize >= 4 else 1e4
        elif fill == "zeros":
            a[...] = 0
        elif fill == "positive":  # abs() of a complex array is real: keep the drawn dtype
            a = (np.abs(a) + 0.1).astype(dt)
        elif fill == "unit":
            a = ((np.abs(a) % 1.0) * 0.98 + 0.01).astype(dt)
    if layout == "f":
        a = np.asfortranarray(a)
    elif layout == "slice" and a.ndim >= 1:  # every other element of the last axis
        big = np.repeat(a, 2, axis=-1)
        a = big[..., ::2]
    elif layout == "neg" and a.ndim >= 1:
        a = a[..., ::-1].copy()[..., ::-1]
    elif layout == "bcast" and a.ndim >= 1 and a.shape[0] > 0:
        a = np.broadcast_to(a[:1], a.shape)
    elif layout == "ro":
        a.setflags(write=False)
    return a


# ---- the targets ------------------------------------------------------------------------------
# name -> Target(call, template, kind): `call(*args, **kwargs)` receives the materialised
# arguments; `template(draw)` returns {"args": [...], "kwargs": {...}, "main": i} with `main`
# the float input whose NaN must reach the output (None: no such guarantee).


class Target:
    def __init__(self, call: Callable, template: Callable, kind: str, nan_ok: bool = True,
                 rank_free: tuple = (), alias: tuple | None = None) -> None:
        self.call, self.template, self.kind = call, template, kind
        self.nan_ok = nan_ok  # False: NaN may legitimately vanish (an empty window, a mask)
        self.rank_free = rank_free  # argument positions whose rank is not fixed
        self.alias = alias  # (out kwarg name, input position) pairs a case may alias


TARGETS: dict[str, Target] = {}


def target(name: str, kind: str = "C", **kw) -> Callable:
    def deco(template: Callable) -> Callable:
        TARGETS[name] = Target(kw.pop("call"), template, kind, **kw)
        return template
    return deco


def _C():
    from dl_kernels import _C as c
    return c


def _dims(draw, n: int, lo: int = 0, hi: int = 6) -> list[int]:
    return [draw(st.integers(lo, hi)) for _ in range(n)]


def _dt(draw) -> str:
    return draw(st.sampled_from(["f4", "f8"]))


# -- GEMM
@target("gemm", call=lambda *a, **k: _C().gemm(*a, **k), alias=("c", 0))
def _t_gemm(draw):
    M, N, K = _dims(draw, 3, 0, 40)
    ta, tb = draw(st.booleans()), draw(st.booleans())
    dt = _dt(draw)
    kw = {"trans_a": ta, "trans_b": tb, "alpha": draw(st.sampled_from([1.0, -0.5, 2.0])),
          "beta": draw(st.sampled_from([0.0, 1.0, 0.5]))}
    if draw(st.booleans()):
        kw["c"] = A([M, N], dt)
    return {"args": [A([K, M] if ta else [M, K], dt), A([N, K] if tb else [K, N], dt)],
            "kwargs": kw, "main": 0 if K > 0 else None}


def _gemm_packed(a, b, trans_b=False, **kw):
    c = _C()
    return c.gemm_packed(a, c.pack_b(b, trans_b=trans_b), **kw)


@target("gemm_packed", call=_gemm_packed)
def _t_gemm_packed(draw):
    M, N, K = _dims(draw, 3, 0, 40)
    ta, tb = draw(st.booleans()), draw(st.booleans())
    dt = _dt(draw)
    return {"args": [A([K, M] if ta else [M, K], dt), A([N, K] if tb else [K, N], dt)],
            "kwargs": {"trans_a": ta, "trans_b": tb}, "main": 0 if K > 0 else None}


@target("gemm_packed_wrong_b", call=lambda a, b: _C().gemm_packed(a, b))
def _t_gemm_packed_wrong(draw):
    return {"args": [A([2, 3]), draw(st.sampled_from([None, 1, "b", [1.0]]))], "kwargs": {},
            "main": None, "expect": "invalid"}


# -- conv2d
def _conv_geom(draw):
    N, Cg, O_g = draw(st.integers(0, 4)), draw(st.integers(0, 4)), draw(st.integers(1, 4))
    g = draw(st.sampled_from([1, 1, 2]))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    pad = [draw(st.integers(0, 2)) for _ in range(4)]
    H = draw(st.integers(max(0, dh * (kh - 1) + 1 - pad[0] - pad[1]), 12))
    W = draw(st.integers(max(0, dw * (kw - 1) + 1 - pad[2] - pad[3]), 12))
    OH = (H + pad[0] + pad[1] - dh * (kh - 1) - 1) // sh + 1
    OW = (W + pad[2] + pad[3] - dw * (kw - 1) - 1) // sw + 1
    return {"N": N, "C": Cg * g, "O": O_g * g, "g": g, "kh": kh, "kw": kw, "H": H, "W": W, "OH": OH, "OW": OW,
                "kwargs": {"stride": [sh, sw], "padding": pad, "dilation": [dh, dw], "groups": g}}


@target("conv2d_forward", call=lambda *a, **k: _C().conv2d_forward(*a, **k))
def _t_conv_fwd(draw):
    s, dt = _conv_geom(draw), _dt(draw)
    args = [A([s["N"], s["C"], s["H"], s["W"]], dt), A([s["O"], s["C"] // s["g"], s["kh"], s["kw"]], dt)]
    if draw(st.booleans()):
        args.append(A([s["O"]], dt))
    return {"args": args, "kwargs": s["kwargs"],
            "main": 0 if s["N"] and s["C"] and s["H"] and s["W"] else None}


@target("conv2d_backward_input", call=lambda *a, **k: _C().conv2d_backward_input(*a, **k))
def _t_conv_gi(draw):
    s, dt = _conv_geom(draw), _dt(draw)
    return {"args": [A([s["N"], s["O"], s["OH"], s["OW"]], dt),
                     A([s["O"], s["C"] // s["g"], s["kh"], s["kw"]], dt), [s["H"], s["W"]]],
            "kwargs": s["kwargs"], "main": 0 if s["N"] and s["C"] and s["H"] and s["W"] else None}


@target("conv2d_backward_weight", call=lambda *a, **k: _C().conv2d_backward_weight(*a, **k))
def _t_conv_gw(draw):
    s, dt = _conv_geom(draw), _dt(draw)
    return {"args": [A([s["N"], s["O"], s["OH"], s["OW"]], dt),
                     A([s["N"], s["C"], s["H"], s["W"]], dt), [s["kh"], s["kw"]]],
            "kwargs": s["kwargs"], "main": 0 if s["N"] and s["C"] and s["H"] and s["W"] else None}


@target("conv2d_backward_bias", call=lambda *a: _C().conv2d_backward_bias(*a))
def _t_conv_gb(draw):
    N, O, H, W = _dims(draw, 4)
    return {"args": [A([N, O, H, W], _dt(draw))], "kwargs": {}, "main": 0 if N * H * W else None}


# -- pooling
def _pool_geom(draw):
    N, C = draw(st.integers(0, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    H = draw(st.integers(max(1, kh - 2 * ph), 12))
    W = draw(st.integers(max(1, kw - 2 * pw), 12))
    return N, C, H, W, [kh, kw], [sh, sw], [ph, pw]


@target("max_pool2d_forward", call=lambda *a: _C().max_pool2d_forward(*a))
def _t_maxpool(draw):
    N, C, H, W, k, s, p = _pool_geom(draw)
    return {"args": [A([N, C, H, W], _dt(draw)), k, s, p], "kwargs": {}, "main": 0 if N else None}


def _maxpool_fb(x, k, s, p, gy_fill_like=None):
    c = _C()
    y, am = c.max_pool2d_forward(x, k, s, p)
    return c.max_pool2d_backward(y, am, list(x.shape[2:]))


@target("max_pool2d_backward", call=_maxpool_fb)
def _t_maxpool_b(draw):
    N, C, H, W, k, s, p = _pool_geom(draw)
    return {"args": [A([N, C, H, W], _dt(draw)), k, s, p], "kwargs": {}, "main": 0 if N else None}


@target("max_pool2d_backward_raw", call=lambda *a: _C().max_pool2d_backward(*a))
def _t_maxpool_raw(draw):
    N, C, OH, OW = _dims(draw, 4, 0, 4)
    H, W = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    return {"expect": "any", "args": [A([N, C, OH, OW], _dt(draw)),
                     A([N, C, OH, OW], "i8", ["int", -2, H * W + 2]), [H, W]],
            "kwargs": {}, "main": None}


@target("avg_pool2d_forward", call=lambda *a: _C().avg_pool2d_forward(*a))
def _t_avgpool(draw):
    N, C, H, W, k, s, p = _pool_geom(draw)
    return {"args": [A([N, C, H, W], _dt(draw)), k, s, p, draw(st.booleans())], "kwargs": {},
            "main": 0 if N else None}


@target("avg_pool2d_backward", call=lambda *a: _C().avg_pool2d_backward(*a))
def _t_avgpool_b(draw):
    N, C, H, W, k, s, p = _pool_geom(draw)
    OH, OW = (H + 2 * p[0] - k[0]) // s[0] + 1, (W + 2 * p[1] - k[1]) // s[1] + 1
    return {"args": [A([N, C, OH, OW], _dt(draw)), [H, W], k, s, p, draw(st.booleans())],
            "kwargs": {}, "main": 0 if N else None}


# -- softmax cross-entropy, log-softmax
def _xent_args(draw):
    N, C = draw(st.integers(0, 40)), draw(st.integers(1, 40))
    kw = {"ignore_index": draw(st.sampled_from([-100, 0, 1])),
          "label_smoothing": draw(st.sampled_from([0.0, 0.1, 1.0])),
          "reduction": draw(st.sampled_from(["mean", "sum", "none"]))}
    return N, C, kw


@target("softmax_cross_entropy_forward",
        call=lambda *a, **k: _C().softmax_cross_entropy_forward(*a, **k))
def _t_xent(draw):
    N, C, kw = _xent_args(draw)
    kw["ignore_index"] = -100  # an ignored row legitimately drops its NaN
    return {"args": [A([N, C], _dt(draw)), A([N], "i8", ["int", 0, C])], "kwargs": kw,
            "main": 0 if N else None}


def _xent_fb(x, t, **kw):
    c = _C()
    red = kw.get("reduction", "mean")
    _, lse = c.softmax_cross_entropy_forward(x, t, **kw)
    g = np.ones(len(x), x.dtype) if red == "none" else 1.0
    return c.softmax_cross_entropy_backward(x, t, lse, g, **kw)


@target("softmax_cross_entropy_backward", call=_xent_fb)
def _t_xent_b(draw):
    N, C, kw = _xent_args(draw)
    kw["ignore_index"] = -100
    return {"args": [A([N, C], _dt(draw)), A([N], "i8", ["int", 0, C])], "kwargs": kw,
            "main": 0 if N else None}


@target("softmax_cross_entropy_backward_raw",
        call=lambda *a, **k: _C().softmax_cross_entropy_backward(*a, **k), alias=("out", 2))
def _t_xent_b_raw(draw):
    N, C, kw = _xent_args(draw)
    dt = _dt(draw)
    kw["out"] = A([N, C], dt)
    g = A([N], dt) if kw["reduction"] == "none" else 1.0
    return {"expect": "any", "args": [A([N, C], dt), A([N], "i8", ["int", -1, C + 1]), A([N], dt), g],
            "kwargs": kw, "main": None}


@target("log_softmax_forward", call=lambda *a, **k: _C().log_softmax_forward(*a, **k),
        rank_free=(0,), alias=("out", 0))
def _t_lsm(draw):
    shape = _dims(draw, draw(st.integers(1, 3)), 0, 20)
    dt = _dt(draw)
    kw = {"out": A(shape, dt)} if draw(st.booleans()) else {}
    return {"args": [A(shape, dt)], "kwargs": kw,
            "main": 0 if int(np.prod(shape)) else None}


@target("log_softmax_backward", call=lambda *a, **k: _C().log_softmax_backward(*a, **k),
        rank_free=(0, 1), alias=("out", 0))
def _t_lsm_b(draw):
    shape = _dims(draw, draw(st.integers(1, 3)), 0, 20)
    dt = _dt(draw)
    kw = {"out": A(shape, dt)} if draw(st.booleans()) else {}
    return {"args": [A(shape, dt), A(shape, dt)], "kwargs": kw,
            "main": 0 if int(np.prod(shape)) else None}


# -- attention, one query per row
def _attention_dims(draw):
    return _dims(draw, 4, 0, 9) + [_dt(draw)]


def _mask(draw, n: int, s: int):
    return draw(st.sampled_from([None, A([n, s], "b1"), A([n, s], "i8")]))


@target("attention_forward", call=lambda *a, **k: _C().attention_forward(*a, **k))
def _t_attention(draw):
    N, S, D, Dv, dt = _attention_dims(draw)
    return {"args": [A([N, D], dt), A([N, S, D], dt), A([N, S, Dv], dt), _mask(draw, N, S)],
            "kwargs": {}, "main": 0 if N * S * D else None}


@target("attention_backward", call=lambda *a, **k: _C().attention_backward(*a, **k))
def _t_attention_b(draw):
    N, S, D, Dv, dt = _attention_dims(draw)
    g_w = A([N, S], dt) if draw(st.booleans()) else None
    return {"args": [A([N, Dv], dt), g_w, A([N, D], dt), A([N, S, D], dt), A([N, S, Dv], dt),
                     _mask(draw, N, S), A([N, S], dt, "unit")],
            "kwargs": {}, "main": 0 if N * S * Dv else None}


# -- LSTM / GRU
def _rnn_dims(draw):
    return draw(st.integers(0, 4)), draw(st.integers(0, 3)), draw(st.integers(0, 5)), \
        draw(st.integers(1, 20))


@target("lstm_forward", call=lambda *a, **k: _C().lstm_forward(*a, **k))
def _t_lstm(draw):
    T, N, I, H = _rnn_dims(draw)
    dt = _dt(draw)
    variant = draw(st.sampled_from(["standard", "peephole", "coupled"]))
    G = 3 if variant == "coupled" else 4
    kw = {"variant": variant, "reverse": draw(st.booleans())}
    if variant == "peephole":
        kw["peephole"] = A([3, H], dt)
    return {"args": [A([T, N, I], dt), A([N, H], dt), A([N, H], dt), A([G * H, I], dt),
                     A([G * H, H], dt), A([G * H], dt)], "kwargs": kw,
            "main": 0 if T * N * I else None}


def _lstm_fb(x, h0, c0, w_ih, w_hh, b, dy, variant="standard", reverse=False):
    c = _C()
    y, _hT, _cT, saved = c.lstm_forward(x, h0, c0, w_ih, w_hh, b, None, variant, reverse)
    return c.lstm_backward(x, h0, c0, w_ih, w_hh, None, variant, reverse, y, saved, dy)


@target("lstm_backward", call=_lstm_fb)
def _t_lstm_b(draw):
    T, N, I, H = _rnn_dims(draw)
    dt = _dt(draw)
    variant = draw(st.sampled_from(["standard", "coupled"]))
    G = 3 if variant == "coupled" else 4
    return {"args": [A([T, N, I], dt), A([N, H], dt), A([N, H], dt), A([G * H, I], dt),
                     A([G * H, H], dt), A([G * H], dt), A([T, N, H], dt)],
            "kwargs": {"variant": variant, "reverse": draw(st.booleans())},
            "main": 6 if T * N else None}


@target("gru_forward", call=lambda *a, **k: _C().gru_forward(*a, **k))
def _t_gru(draw):
    T, N, I, H = _rnn_dims(draw)
    dt = _dt(draw)
    variant = draw(st.sampled_from(["notes", "reset_after"]))
    kw = {"variant": variant, "reverse": draw(st.booleans())}
    if variant == "reset_after":
        kw["b_hn"] = A([H], dt)
    return {"args": [A([T, N, I], dt), A([N, H], dt), A([3 * H, I], dt), A([3 * H, H], dt),
                     A([3 * H], dt)], "kwargs": kw, "main": 0 if T * N * I else None}


def _gru_fb(x, h0, w_ih, w_hh, b, dy, variant="notes", reverse=False):
    c = _C()
    y, _hT, saved = c.gru_forward(x, h0, w_ih, w_hh, b, None, variant, reverse)
    return c.gru_backward(x, h0, w_ih, w_hh, variant, reverse, y, saved, dy)


@target("gru_backward", call=_gru_fb)
def _t_gru_b(draw):
    T, N, I, H = _rnn_dims(draw)
    dt = _dt(draw)
    return {"args": [A([T, N, I], dt), A([N, H], dt), A([3 * H, I], dt), A([3 * H, H], dt),
                     A([3 * H], dt), A([T, N, H], dt)],
            "kwargs": {"variant": "notes", "reverse": draw(st.booleans())},
            "main": 5 if T * N else None}


def _lstm_cell_fb(x, h, c_, w_ih, w_hh, b, dh):
    c = _C()
    _h1, c1, saved = c.lstm_cell_forward(x, h, c_, w_ih, w_hh, b)
    return c.lstm_cell_backward(x, h, c_, w_ih, w_hh, None, "standard", c1, saved, dh)


@target("lstm_cell", call=_lstm_cell_fb)
def _t_lstm_cell(draw):
    _, N, I, H = _rnn_dims(draw)
    dt = _dt(draw)
    return {"args": [A([N, I], dt), A([N, H], dt), A([N, H], dt), A([4 * H, I], dt),
                     A([4 * H, H], dt), A([4 * H], dt), A([N, H], dt)], "kwargs": {},
            "main": 1 if N else None}


def _gru_cell_fb(x, h, w_ih, w_hh, b, dh):
    c = _C()
    _h1, saved = c.gru_cell_forward(x, h, w_ih, w_hh, b)
    return c.gru_cell_backward(x, h, w_ih, w_hh, "notes", saved, dh)


@target("gru_cell", call=_gru_cell_fb)
def _t_gru_cell(draw):
    _, N, I, H = _rnn_dims(draw)
    dt = _dt(draw)
    return {"args": [A([N, I], dt), A([N, H], dt), A([3 * H, I], dt), A([3 * H, H], dt),
                     A([3 * H], dt), A([N, H], dt)], "kwargs": {}, "main": 1 if N else None}


# -- fused optimiser updates: lists of arrays, passed flat here so that a mutation reaches each
# array (the state lists only where the options use them: the binding ignores the others); the
# call returns the first parameter, updated (a NaN gradient must reach it)
def _sgd_update(p0, g0, p1, g1, *bufs, **kw):
    _C().sgd_update([p0, p1], [g0, g1], list(bufs) if bufs else None, **kw)
    return p0


@target("sgd_update", call=_sgd_update)
def _t_sgd_update(draw):
    dt, s0, s1 = _dt(draw), _dims(draw, 2, 0, 9), _dims(draw, 1, 0, 9)
    nesterov = draw(st.booleans())
    kw = {"lr": draw(st.sampled_from([0.0, 0.1, 3.0])),
          "momentum": draw(st.sampled_from([0.9] if nesterov else [0.0, 0.9])),
          "dampening": 0.0 if nesterov else draw(st.sampled_from([0.0, 0.5])),
          "weight_decay": draw(st.sampled_from([0.0, 0.01])), "nesterov": nesterov,
          "maximize": draw(st.booleans())}
    args = [A(s0, dt), A(s0, dt), A(s1, dt), A(s1, dt)]
    if kw["momentum"]:
        args += [A(s0, dt), A(s1, dt)]
    return {"args": args, "kwargs": kw, "main": 1 if int(np.prod(s0)) else None}


def _adam_update(p0, g0, m0, v0, p1, g1, m1, v1, *vmax, steps=(1, 1), **kw):
    _C().adam_update([p0, p1], [g0, g1], [m0, m1], [v0, v1], list(vmax) if vmax else None,
                     steps, **kw)
    return p0


@target("adam_update", call=_adam_update)
def _t_adam_update(draw):
    dt, s0, s1 = _dt(draw), _dims(draw, 2, 0, 9), _dims(draw, 1, 0, 9)
    kw = {"steps": [draw(st.integers(1, 5)), draw(st.integers(1, 10**6))],
          "lr": draw(st.sampled_from([0.0, 1e-3, 1.0])),
          "beta1": draw(st.sampled_from([0.0, 0.9])), "beta2": draw(st.sampled_from([0.0, 0.999])),
          "eps": draw(st.sampled_from([0.0, 1e-8])),
          "weight_decay": draw(st.sampled_from([0.0, 0.1])), "amsgrad": draw(st.booleans()),
          "maximize": draw(st.booleans()), "decoupled_weight_decay": draw(st.booleans())}
    # (negative second moments give NaN, which is fine here; a "positive" fill would turn a
    # complex dtype mutation back into a float one)
    args = [A(s0, dt), A(s0, dt), A(s0, dt), A(s0, dt), A(s1, dt), A(s1, dt), A(s1, dt),
            A(s1, dt)]
    if kw["amsgrad"]:
        args += [A(s0, dt), A(s1, dt)]
    return {"args": args, "kwargs": kw, "main": 1 if int(np.prod(s0)) else None}


# -- configuration bindings: strings and numbers only (one target per binding, so that a
# mutation replaces its argument, never the binding's name)
def _config_target(binding: str, values: list) -> None:
    def call(*a):
        c = _C()
        if binding == "set_num_threads":  # leave the worker's thread count as it was
            before = c.get_num_threads()
            try:
                return c.set_num_threads(*a)
            finally:
                c.set_num_threads(before)
        try:
            return getattr(c, binding)(*a)
        finally:
            if binding.startswith("set_") and binding.endswith(("_rung", "_path")):
                getattr(c, binding)("auto")

    def template(draw):
        return {"expect": "any", "args": [draw(st.sampled_from(v)) for v in values],
                "kwargs": {}, "main": None}

    TARGETS[binding] = Target(call, template, "C")


for _b in ("set_conv2d_rung", "set_gemm_rung", "set_pool2d_rung", "set_rnn_rung",
           "set_softmax_xent_rung", "set_rnn_gemm_path", "set_optim_update_rung"):
    _config_target(_b, [["auto", "reference", "nope", "", "avx512", "im2col", "fast"]])
_config_target("set_num_threads", [[1, 2, 0, -1, 2**31, 1.5, "2", None]])
for _b in ("fma_peak_gflops", "triad_bandwidth_gbps"):
    _config_target(_b, [[1, 0, -1, 10**6], [0.0, -1.0, math.inf, math.nan, 1e300]])


# ---- the public functional API ----------------------------------------------------------------
def _F():
    from dl_kernels.nn import functional
    return functional


def _fn(name: str) -> Callable:
    return lambda *a, **k: getattr(_F(), name)(*a, **k)


def _unary(name: str, extra: Callable | None = None, nan_ok: bool = True, valid: bool = True):
    def template(draw):
        shape = _dims(draw, draw(st.integers(1, 4)), 0, 6)
        kw = extra(draw) if extra else {}
        return {"args": [A(shape, "f4")], "kwargs": kw, "expect": "valid" if valid else "any",
                "main": 0 if int(np.prod(shape)) else None, "grad": True}
    TARGETS[f"F.{name}"] = Target(_fn(name), template, "F", nan_ok=nan_ok)


for _name in ("relu", "sigmoid", "tanh"):
    _unary(_name)
_unary("leaky_relu", lambda d: {"negative_slope": d(st.sampled_from([0.01, 0.0, -1.0]))})
_unary("softplus", lambda d: {"beta": d(st.sampled_from([1.0, 2.0])),
                              "threshold": d(st.sampled_from([20.0, 0.0]))})
_unary("dropout", lambda d: {"p": d(st.sampled_from([0.0, 0.5, 1.0, -0.1, 1.5, math.nan])),
                             "training": d(st.booleans())}, nan_ok=False, valid=False)
_unary("softmax", lambda d: {"dim": d(st.sampled_from([0, -1, 5]))}, valid=False)
_unary("log_softmax", lambda d: {"dim": d(st.sampled_from([0, -1, 5]))}, valid=False)
_unary("normalize", lambda d: {"p": d(st.sampled_from([2.0, 1.0])),
                               "dim": d(st.sampled_from([0, -1]))})


def _pieces(name):
    def template(draw):
        n, p = draw(st.integers(0, 4)), draw(st.integers(1, 3))
        pieces = draw(st.sampled_from([p, 0, -1]))
        return {"args": [A([n, 2 * p], "f4"), pieces], "kwargs": {}, "main": 0 if n else None,
                "grad": True, "expect": "valid" if pieces == p else "any"}
    TARGETS[f"F.{name}"] = Target(_fn(name), template, "F")


for _name in ("maxout", "soft_maxout", "p_norm"):
    _pieces(_name)


def _t_F_conv(draw):
    s = _conv_geom(draw)
    args = [A([s["N"], s["C"], s["H"], s["W"]]), A([s["O"], s["C"] // s["g"], s["kh"], s["kw"]])]
    args.append(A([s["O"]]) if draw(st.booleans()) else None)
    kw = dict(s["kwargs"])
    kw["padding"] = draw(st.sampled_from([kw["padding"][0], "same", "valid", [1, 2], -1]))
    return {"expect": "any", "args": args, "kwargs": kw, "grad": True,
            "main": 0 if s["N"] and s["C"] and s["H"] and s["W"] else None}


TARGETS["F.conv2d"] = Target(_fn("conv2d"), _t_F_conv, "F")


def _t_F_pool(draw):
    N, C, H, W, k, s, p = _pool_geom(draw)
    kw = {"stride": draw(st.sampled_from([s, None, 0, -1, 2**40])),
          "padding": draw(st.sampled_from([p, 0, k[0]])),
          "ceil_mode": draw(st.booleans())}
    return {"expect": "any", "args": [A([N, C, H, W]), draw(st.sampled_from([k, 0, 2**40]))], "kwargs": kw,
            "grad": True, "main": 0 if N else None}


TARGETS["F.max_pool2d"] = Target(_fn("max_pool2d"), _t_F_pool, "F")


def _t_F_avgpool(draw):
    case = _t_F_pool(draw)
    case["kwargs"]["ceil_mode"] = False
    return case


TARGETS["F.avg_pool2d"] = Target(_fn("avg_pool2d"), _t_F_avgpool, "F")


def _t_F_linear(draw):
    N, I, O = _dims(draw, 3, 0, 8)
    args = [A([N, I]), A([O, I])] + ([A([O])] if draw(st.booleans()) else [])
    return {"args": args, "kwargs": {}, "grad": True, "main": 0 if N and I and O else None}


TARGETS["F.linear"] = Target(_fn("linear"), _t_F_linear, "F")


def _t_F_ce(draw):
    N, C = draw(st.integers(0, 8)), draw(st.integers(1, 6))
    kw = {"reduction": draw(st.sampled_from(["mean", "sum", "none", "bogus"])),
          "label_smoothing": draw(st.sampled_from([0.0, 0.2, -0.1, 1.5, math.nan]))}
    return {"expect": "any", "args": [A([N, C]), A([N], "i8", ["int", 0, C])], "kwargs": kw, "grad": True,
            "main": 0 if N else None}


TARGETS["F.cross_entropy"] = Target(_fn("cross_entropy"), _t_F_ce, "F")


def _t_F_nll(draw):
    N, C = draw(st.integers(0, 8)), draw(st.integers(1, 6))
    return {"expect": "any", "args": [A([N, C]), A([N], "i8", ["int", -1, C + 1])],
            "kwargs": {"reduction": draw(st.sampled_from(["mean", "sum", "none"]))},
            "grad": True, "main": None}


TARGETS["F.nll_loss"] = Target(_fn("nll_loss"), _t_F_nll, "F")


def _pair_loss(name, fill_target="normal"):
    def template(draw):
        shape = _dims(draw, draw(st.integers(1, 3)), 0, 6)
        return {"args": [A(shape, "f4", "unit" if fill_target == "unit" else "normal"),
                         A(shape, "f4", fill_target)],
                "kwargs": {"reduction": draw(st.sampled_from(["mean", "sum", "none"]))},
                "grad": True, "main": 0 if int(np.prod(shape)) else None}
    TARGETS[f"F.{name}"] = Target(_fn(name), template, "F")


_pair_loss("mse_loss")
_pair_loss("l1_loss")
_pair_loss("binary_cross_entropy", "unit")
_pair_loss("binary_cross_entropy_with_logits", "unit")


def _t_F_embedding(draw):
    V, D, n = draw(st.integers(1, 6)), draw(st.integers(0, 4)), draw(st.integers(0, 6))
    return {"expect": "any", "args": [A([n], "i8", ["int", -1, V + 1]), A([V, D])],
            "kwargs": {"padding_idx": draw(st.sampled_from([None, 0, -1, V, 100]))},
            "grad": True, "main": None}


TARGETS["F.embedding"] = Target(_fn("embedding"), _t_F_embedding, "F")


def _t_F_one_hot(draw):
    n = draw(st.integers(0, 6))
    return {"expect": "any", "args": [A([n], "i8", ["int", -1, 5]), draw(st.sampled_from([-1, 0, 5, 3]))],
            "kwargs": {}, "main": None}


TARGETS["F.one_hot"] = Target(_fn("one_hot"), _t_F_one_hot, "F")


def _t_F_pad(draw):
    shape = _dims(draw, draw(st.integers(1, 4)), 0, 5)
    pad = draw(st.sampled_from([[1, 1], [0, 2, 1, 0], [1], [-1, 1], [2**40, 0], [1, 1] * 5]))
    return {"expect": "any", "args": [A(shape), pad], "kwargs": {}, "grad": True, "main": None}


TARGETS["F.pad"] = Target(_fn("pad"), _t_F_pad, "F")


def _rnn_F(name, gates):
    def template(draw):
        T, N, I, H = _rnn_dims(draw)
        T = max(T, 1)
        args = [A([T, N, I]), None, A([gates * H, I]), A([gates * H, H])]
        kw = {}
        if draw(st.booleans()):
            kw = {"b_ih": A([gates * H]), "b_hh": A([gates * H])}
        return {"args": args, "kwargs": kw, "grad": True, "main": 0 if N * I else None}
    TARGETS[f"F.{name}"] = Target(_fn(name), template, "F")


_rnn_F("lstm", 4)
_rnn_F("gru", 3)


def _t_F_cos(draw):
    shape = _dims(draw, 2, 0, 6)
    return {"args": [A(shape), A(shape)], "kwargs": {"dim": draw(st.sampled_from([0, 1, 2]))},
            "grad": True, "expect": "any", "main": 0 if int(np.prod(shape)) else None}


TARGETS["F.cosine_similarity"] = Target(_fn("cosine_similarity"), _t_F_cos, "F")


# ---- mutations --------------------------------------------------------------------------------
BAD_SCALARS = [-1, 0, 2**63 - 1, -(2**63), 2**64, math.nan, math.inf, -math.inf, 1.5, "x", None,
               [], [1, 2, 3], True]


@st.composite
def cases(draw, names: list[str] | None = None) -> dict:
    name = draw(st.sampled_from(sorted(names or TARGETS)))
    t = TARGETS[name]
    case = t.template(draw)
    case["t"] = name
    case.setdefault("expect", "valid")
    base = case["expect"]
    args, kwargs = case["args"], case["kwargs"]
    arr_pos = [i for i, a in enumerate(args) if is_arr(a)]
    float_pos = [i for i in arr_pos if args[i]["arr"][1] in ("f4", "f8")]
    main = case.pop("main", None)
    kind = draw(st.sampled_from(["none", "none", "nan", "nan", "nan1", "inf", "big", "zero",
                                 "dim", "rank", "dtype", "layout", "scalar", "type", "alias"]))
    case["mutation"] = kind
    if case["expect"] == "invalid" or kind == "none":
        return case
    case["expect"] = "any"
    if kind == "nan" and main is not None and t.nan_ok:
        args[main]["arr"][2] = "nan"
        case["nan"] = main
        case["expect"] = base
    elif kind in ("nan", "nan1", "inf", "big") and float_pos:
        args[draw(st.sampled_from(float_pos))]["arr"][2] = "nan1" if kind == "nan" else kind
    elif kind in ("zero", "dim") and arr_pos:
        i = draw(st.sampled_from(arr_pos))
        shape = args[i]["arr"][0]
        if shape:
            d = draw(st.integers(0, len(shape) - 1))
            shape[d] = 0 if kind == "zero" else draw(st.integers(0, 7))
    elif kind == "rank" and arr_pos:
        i = draw(st.sampled_from(arr_pos))
        shape = args[i]["arr"][0]
        if shape and draw(st.booleans()):
            shape.pop(draw(st.integers(0, len(shape) - 1)))
        else:
            shape.insert(draw(st.integers(0, len(shape))), draw(st.integers(1, 2)))
        if t.kind == "C" and i not in t.rank_free:
            case["expect"] = "invalid"
    elif kind == "dtype" and float_pos:
        i = draw(st.sampled_from(float_pos))
        args[i]["arr"][1] = draw(st.sampled_from(["f2", "i4", "i8", "c8", "?", "O"]))
        if t.kind == "C":
            case["expect"] = "invalid"
    elif kind == "layout" and arr_pos:
        args[draw(st.sampled_from(arr_pos))]["arr"][3] = draw(
            st.sampled_from(["f", "slice", "neg", "bcast", "ro"]))
    elif kind == "scalar":
        spots = [i for i, a in enumerate(args) if not is_arr(a)] + \
            [k for k, v in kwargs.items() if not is_arr(v)]
        if spots:
            spot = draw(st.sampled_from(spots))
            (args if isinstance(spot, int) else kwargs)[spot] = draw(st.sampled_from(BAD_SCALARS))
    elif kind == "type" and arr_pos:
        args[draw(st.sampled_from(arr_pos))] = draw(st.sampled_from([None, 1.0, "a", [1.0, 2.0]]))
    elif kind == "alias" and t.alias:
        out_name, src = t.alias
        if out_name in kwargs and is_arr(kwargs[out_name]) and is_arr(args[src]):
            case["alias"] = [out_name, src, draw(st.sampled_from([0, 0, 1, 3]))]
    return case


# ---- probes for the harness's own test (test_fuzz.py), never part of a fuzz run ---------------
def _probe(kind: str):
    import time

    if kind == "abort":
        os.abort()
    if kind == "hang":
        time.sleep(3600)
    if kind == "nan":
        return np.zeros(3)
    if kind == "unclear":
        raise TypeError("Unable to cast Python instance to C++ type '?'")
    return None


if os.environ.get("DLK_FUZZ_SELFTEST"):
    for _kind in ("ok", "abort", "hang", "nan", "unclear"):
        TARGETS[f"__probe_{_kind}"] = Target(lambda k=_kind: _probe(k), lambda draw: {}, "C")
