"""A recurrent step split over threads by rows (each thread: its rows' share of h W_hh^T, then
their pointwise part, one parallel region per step), and a whole sweep split by rows (each thread
keeps its block of rows for every step, one region per call), compute what the column split does
(the product split by columns, then the pointwise part by rows) and what the float64 notes say.

The batches here are large enough (>= 24 rows, a few MFLOP a step) for the row split to engage
on two threads; below that both paths run the step whole.
"""

from __future__ import annotations

import dl_kernels
import numpy as np
import pytest
from dl_kernels import _C
from rnn_reference import gru_seq, lstm_seq

T, I = 4, 24
# (N, H): a batch split 25 + 26, and a prime batch at H = 160 (GRU gates 480 wide).
SHAPES = [(51, 128), (37, 160)]
LENGTHS = {51: [4] * 20 + [3] * 17 + [2] * 9 + [1] * 5, 37: [4] * 30 + [2] * 7}


@pytest.fixture(autouse=True)
def two_threads():
    before, follow = dl_kernels.get_num_threads(), dl_kernels.get_follow_free_cores()
    dl_kernels.set_num_threads(2)
    dl_kernels.set_follow_free_cores(False)  # split even when the test machine is busy
    yield
    dl_kernels.set_num_threads(before)
    dl_kernels.set_follow_free_cores(follow)
    _C.set_rnn_gemm_path("auto")


def run_both(fn):
    """fn() under the column split, and the results under the step row split and the sweep row
    split (which must agree with each other)."""
    out = []
    for path in ("packed", "rows", "sweep"):
        _C.set_rnn_gemm_path(path)
        out.append(fn())
    assert_same(out[1], out[2])
    return out[:2]


def assert_same(cols, rows):
    for a, b in zip(cols, rows, strict=True):
        if a is None:
            assert b is None
            continue
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6)


def lstm_args(N, H, variant, rng):
    G = 3 if variant == "coupled" else 4
    x = rng.standard_normal((T, N, I)).astype(np.float32)
    h0 = (rng.standard_normal((N, H)) * 0.5).astype(np.float32)
    c0 = (rng.standard_normal((N, H)) * 0.5).astype(np.float32)
    w_ih = (rng.standard_normal((G * H, I)) / np.sqrt(I)).astype(np.float32)
    w_hh = (rng.standard_normal((G * H, H)) / np.sqrt(H)).astype(np.float32)
    b = (rng.standard_normal(G * H) * 0.3).astype(np.float32)
    p = (rng.standard_normal((3, H)) * 0.3).astype(np.float32) if variant == "peephole" else None
    return x, h0, c0, w_ih, w_hh, b, p


@pytest.mark.parametrize("N,H", SHAPES)
@pytest.mark.parametrize("variant", ["standard", "peephole", "coupled"])
@pytest.mark.parametrize("reverse", [False, True])
def test_lstm_row_split_equals_column_split_and_the_notes(N, H, variant, reverse):
    rng = np.random.default_rng(N + H)
    x, h0, c0, w_ih, w_hh, b, p = lstm_args(N, H, variant, rng)
    dy = rng.standard_normal((T, N, H)).astype(np.float32)

    def fwd_bwd():
        y, hT, cT, saved = _C.lstm_forward(x, h0, c0, w_ih, w_hh, b, p, variant, reverse)
        grads = _C.lstm_backward(x, h0, c0, w_ih, w_hh, p, variant, reverse, y, saved, dy)
        return (y, hT, cT, *grads)

    cols, rows = run_both(fwd_bwd)
    assert_same(cols, rows)
    want = lstm_seq(*(a.astype(np.float64) if a is not None else None
                      for a in (x, h0, c0, w_ih, w_hh, b, p)), variant, reverse)[0]
    np.testing.assert_allclose(rows[0], want, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("N,H", SHAPES)
@pytest.mark.parametrize("variant", ["notes", "reset_after"])
@pytest.mark.parametrize("reverse", [False, True])
def test_gru_row_split_equals_column_split_and_the_notes(N, H, variant, reverse):
    rng = np.random.default_rng(N * H)
    x = rng.standard_normal((T, N, I)).astype(np.float32)
    h0 = (rng.standard_normal((N, H)) * 0.5).astype(np.float32)
    w_ih = (rng.standard_normal((3 * H, I)) / np.sqrt(I)).astype(np.float32)
    w_hh = (rng.standard_normal((3 * H, H)) / np.sqrt(H)).astype(np.float32)
    b = (rng.standard_normal(3 * H) * 0.3).astype(np.float32)
    b_hn = (rng.standard_normal(H) * 0.3).astype(np.float32) if variant == "reset_after" else None
    dy = rng.standard_normal((T, N, H)).astype(np.float32)

    def fwd_bwd():
        y, hT, saved = _C.gru_forward(x, h0, w_ih, w_hh, b, b_hn, variant, reverse)
        grads = _C.gru_backward(x, h0, w_ih, w_hh, variant, reverse, y, saved, dy)
        return (y, hT, *grads)

    cols, rows = run_both(fwd_bwd)
    assert_same(cols, rows)
    want = gru_seq(*(a.astype(np.float64) if a is not None else None
                     for a in (x, h0, w_ih, w_hh, b, b_hn)), variant, reverse)[0]
    np.testing.assert_allclose(rows[0], want, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("N,H", SHAPES)
@pytest.mark.parametrize("reverse", [False, True])
def test_packed_sequences_split_by_rows_as_by_columns(N, H, reverse):
    """Packed batches shrink step by step (batch_sizes): each step splits its own active rows; a
    sweep cuts the batch where the blocks' total steps are equal."""
    rng = np.random.default_rng(7)
    lengths = np.array(LENGTHS[N])
    batch_sizes = np.array([(lengths > t).sum() for t in range(T)], dtype=np.int64)
    R = int(batch_sizes.sum())
    _, h0, c0, w_ih, w_hh, b, _ = lstm_args(N, H, "standard", rng)
    xp = rng.standard_normal((R, I)).astype(np.float32)
    dy = rng.standard_normal((R, H)).astype(np.float32)

    def fwd_bwd():
        y, hT, cT, saved = _C.lstm_forward(xp, h0, c0, w_ih, w_hh, b, None, "standard", reverse,
                                           batch_sizes)
        grads = _C.lstm_backward(xp, h0, c0, w_ih, w_hh, None, "standard", reverse, y, saved, dy,
                                 None, None, batch_sizes)
        return (y, hT, cT, *grads)

    assert_same(*run_both(fwd_bwd))
