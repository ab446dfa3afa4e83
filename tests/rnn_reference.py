"""float64 numpy transcriptions of the course notes' recurrent cells, shared by the RNN tests."""

from __future__ import annotations

import numpy as np
import pytest
from dl_kernels import _C

# (pointwise rung, GEMM path): every float32 path the RNN dispatcher can take on this CPU.
# "packed" splits each step's product by columns, "rows" splits the step's rows (product and
# pointwise part together) over the threads, "sweep" gives each thread a block of rows for the
# whole sequence.
RNN_PATHS = ("library", "packed", "rows", "sweep")
RNN_RUNGS = [(rung, path) for rung in ["reference"] + (
    ["avx512"] if _C.build_info()["cpu_avx512"] else []) + (
    ["avx2"] if _C.build_info()["cpu_avx2_fma"] else []) for path in RNN_PATHS]


def force_rnn_rung(request: pytest.FixtureRequest):
    """Fixture body: force one (rung, GEMM path) for a test, then restore automatic choice.
    Test modules declare it with `rung = pytest.fixture(params=RNN_RUNGS, ...)(force_rnn_rung)`."""
    _C.set_rnn_rung(request.param[0])
    _C.set_rnn_gemm_path(request.param[1])
    yield request.param
    _C.set_rnn_rung("auto")
    _C.set_rnn_gemm_path("auto")


def sigmoid(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp(-z) = inf for z << 0 gives the right limit, 0
        return 1.0 / (1.0 + np.exp(-z))


def lstm_cell(x, h, c, w_ih, w_hh, b, p, variant):
    """f = s(W_f[h, x] + b_f), i = s(W_i[...] + b_i), C~ = tanh(W_C[...] + b_C),
    C = f C' + i C~, o = s(W_o[...] + b_o), h = o tanh(C); peephole: i, f see C', o sees C;
    coupled: i = 1 - f (gates f, g, o)."""
    a = x @ w_ih.T + h @ w_hh.T + b
    if variant == "coupled":
        af, ag, ao = np.split(a, 3, axis=1)
        f = sigmoid(af)
        i = 1.0 - f
    else:
        ai, af, ag, ao = np.split(a, 4, axis=1)
        if variant == "peephole":
            ai = ai + p[0] * c
            af = af + p[1] * c
        i, f = sigmoid(ai), sigmoid(af)
    c_new = f * c + i * np.tanh(ag)
    if variant == "peephole":
        ao = ao + p[2] * c_new
    h_new = sigmoid(ao) * np.tanh(c_new)
    return h_new, c_new


def lstm_seq(x, h0, c0, w_ih, w_hh, b, p, variant, reverse=False):
    y = np.zeros((x.shape[0], x.shape[1], h0.shape[1]))
    h, c = h0, c0
    order = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    for t in order:
        h, c = lstm_cell(x[t], h, c, w_ih, w_hh, b, p, variant)
        y[t] = h
    return y, h, c


def gru_cell(x, h, w_ih, w_hh, b, b_hn, variant):
    """notes: r = s(W_r[h, x] + b_r), z = s(W_z[h, x] + b_z), n = tanh(W_n[r h, x] + b_n),
    h' = (1 - z) h + z n.  reset_after (PyTorch): n = tanh(W_in x + b_in + r (W_hn h + b_hn)),
    h' = (1 - z) n + z h."""
    H = h.shape[1]
    xi = x @ w_ih.T + b
    wr, wz, wn = w_hh[:H], w_hh[H : 2 * H], w_hh[2 * H :]
    r = sigmoid(xi[:, :H] + h @ wr.T)
    z = sigmoid(xi[:, H : 2 * H] + h @ wz.T)
    if variant == "reset_after":
        n = np.tanh(xi[:, 2 * H :] + r * (h @ wn.T + b_hn))
        return (1.0 - z) * n + z * h
    n = np.tanh(xi[:, 2 * H :] + (r * h) @ wn.T)
    return (1.0 - z) * h + z * n


def gru_seq(x, h0, w_ih, w_hh, b, b_hn, variant, reverse=False):
    y = np.zeros((x.shape[0], x.shape[1], h0.shape[1]))
    h = h0
    order = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    for t in order:
        h = gru_cell(x[t], h, w_ih, w_hh, b, b_hn, variant)
        y[t] = h
    return y, h


def central_difference(f, arrays, eps=1e-6):
    """Gradient of the scalar f() w.r.t. each array in `arrays` (modified in place, restored)."""
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        for idx in np.ndindex(*a.shape):
            old = a[idx]
            a[idx] = old + eps
            fp = f()
            a[idx] = old - eps
            fm = f()
            a[idx] = old
            g[idx] = (fp - fm) / (2 * eps)
        grads.append(g)
    return grads
