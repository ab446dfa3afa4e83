"""Variable-length sequences through RNN/LSTM/GRU (nn.utils.rnn packing; the kernels' per-step
active batch): a padded batch gives what each sequence gives alone, padding gets zero outputs
and zero gradients, and everything matches PyTorch's packed LSTM/GRU."""

import dl_kernels as dlk
import numpy as np
import pytest
from dl_kernels import nn
from dl_kernels.autograd import gradcheck
from dl_kernels.nn import functional as F
from dl_kernels.nn.utils.rnn import (
    PackedSequence,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
    unpack_sequence,
)

LENGTHS = [3, 7, 1, 5, 7]  # unsorted, with a tie and a length-1 sequence

MODELS = [
    ("LSTM", {}),
    ("LSTM", {"variant": "peephole"}),
    ("LSTM", {"variant": "coupled"}),
    ("GRU", {}),
    ("GRU", {"reset_after": True}),
    ("RNN", {}),
    ("RNN", {"nonlinearity": "relu"}),
]


def _model(kind, kw, batch_first=False, layers=2, bidirectional=True):
    dlk.manual_seed(0)
    return getattr(nn, kind)(4, 5, num_layers=layers, bidirectional=bidirectional,
                             batch_first=batch_first, dtype=dlk.float64, **kw)


def _seqs(seed=0, feat=4):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, feat)) for n in LENGTHS]


def _state(out):
    return out[1][0] if isinstance(out[1], tuple) else out[1]


@pytest.mark.parametrize("kind,kw", MODELS)
@pytest.mark.parametrize("batch_first", [False, True])
@dlk.no_grad()
def test_padded_batch_equals_each_sequence_alone(kind, kw, batch_first):
    m = _model(kind, kw, batch_first)
    seqs = _seqs()
    padded = pad_sequence([dlk.tensor(s) for s in seqs], batch_first=batch_first)
    packed = pack_padded_sequence(padded, LENGTHS, batch_first=batch_first, enforce_sorted=False)
    out = m(packed)
    y, lengths = pad_packed_sequence(out[0], batch_first=batch_first)
    assert lengths.numpy().tolist() == LENGTHS
    y = y.numpy() if batch_first else y.numpy().transpose(1, 0, 2)
    hn = _state(out).numpy()
    for b, s in enumerate(seqs):
        alone = m(dlk.tensor(s[None] if batch_first else s[:, None]))
        ya = alone[0].numpy()[0] if batch_first else alone[0].numpy()[:, 0]
        np.testing.assert_allclose(y[b, :len(s)], ya, rtol=1e-10, atol=1e-12)
        assert np.all(y[b, len(s):] == 0)  # padded steps give zero outputs
        np.testing.assert_allclose(hn[:, b], _state(alone).numpy()[:, 0], rtol=1e-10,
                                   atol=1e-12)
        if kind == "LSTM":
            np.testing.assert_allclose(out[1][1].numpy()[:, b], alone[1][1].numpy()[:, 0],
                                       rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind,kw", MODELS)
def test_gradients_equal_the_sum_over_sequences_and_vanish_on_padding(kind, kw):
    m = _model(kind, kw)
    seqs = _seqs(1)
    rng = np.random.default_rng(2)
    weights = [rng.standard_normal((len(s), 10)) for s in seqs]
    padded = pad_sequence([dlk.tensor(s) for s in seqs])
    padded.requires_grad_(True)
    out = m(pack_padded_sequence(padded, LENGTHS, enforce_sorted=False))
    y, _ = pad_packed_sequence(out[0])
    w = pad_sequence([dlk.tensor(v) for v in weights])
    ((y * w).sum() + _state(out).sum()).backward()
    grads = {k: p.grad.numpy().copy() for k, p in m.named_parameters()}
    gx = padded.grad.numpy()
    m.zero_grad()
    for b, (s, v) in enumerate(zip(seqs, weights)):
        xa = dlk.tensor(s[:, None])
        xa.requires_grad_(True)
        alone = m(xa)
        ((alone[0][:, 0] * dlk.tensor(v)).sum() + _state(alone).sum()).backward()
        np.testing.assert_allclose(gx[:len(s), b], xa.grad.numpy()[:, 0], rtol=1e-9, atol=1e-11)
        assert np.all(gx[len(s):, b] == 0)  # nothing flows into padding
    for k, p in m.named_parameters():
        np.testing.assert_allclose(grads[k], p.grad.numpy(), rtol=1e-9, atol=1e-11, err_msg=k)


@pytest.mark.parametrize("fn,kw", [(F.lstm, {}), (F.lstm, {"variant": "peephole"}),
                                   (F.gru, {}), (F.gru, {"variant": "reset_after"})])
@pytest.mark.parametrize("reverse", [False, True])
def test_packed_kernels_gradcheck(fn, kw, reverse):
    rng = np.random.default_rng(3)
    bs = np.array([3, 3, 2, 1], dtype=np.int64)
    h, i = 3, 2
    lstm = fn is F.lstm
    g = 4 if lstm else 3

    def t(*shape):
        return dlk.tensor(rng.standard_normal(shape), dtype=dlk.float64, requires_grad=True)

    x, h0, c0 = t(int(bs.sum()), i), t(3, h), t(3, h)
    w_ih, w_hh, b = t(g * h, i), t(g * h, h), t(g * h)
    extra = {"peephole": t(3, h)} if kw.get("variant") == "peephole" else {}
    if not lstm and kw.get("variant") == "reset_after":
        extra = {"b_hh": t(g * h)}

    def run(x, h0, c0, w_ih, w_hh, b, *more):
        opt = dict(zip(extra, more))
        if lstm:
            y, (hT, cT) = fn(x, (h0, c0), w_ih, w_hh, b, None, reverse=reverse,
                             batch_sizes=bs, **kw, **opt)
            return y.sum() + (hT * hT).sum() + (cT * 2).sum()
        y, hT = fn(x, h0, w_ih, w_hh, b, reverse=reverse, batch_sizes=bs, **kw, **opt)
        return (y * y).sum() + (hT * 3).sum() + 0 * c0.sum()

    assert gradcheck(run, [x, h0, c0, w_ih, w_hh, b, *extra.values()])


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_packed_forward_and_backward_equal_pytorch(kind, batch_first):
    torch = pytest.importorskip("torch")
    from torch.nn.utils import rnn as trnn

    torch.manual_seed(0)
    ref = getattr(torch.nn, kind)(4, 5, num_layers=2, bidirectional=True,
                                  batch_first=batch_first).double()
    kw = {"reset_after": True} if kind == "GRU" else {}
    m = _model(kind, kw, batch_first).from_torch_state_dict(ref.state_dict())
    seqs = _seqs(4)
    rng = np.random.default_rng(5)
    h0 = rng.standard_normal((4, len(seqs), 5))
    c0 = rng.standard_normal((4, len(seqs), 5))

    tx = trnn.pad_sequence([torch.tensor(s, requires_grad=True) for s in seqs],
                           batch_first=batch_first)
    tx.retain_grad()
    tp = trnn.pack_padded_sequence(tx, LENGTHS, batch_first=batch_first, enforce_sorted=False)
    th = (torch.tensor(h0, requires_grad=True), torch.tensor(c0, requires_grad=True))
    tout, tstate = ref(tp, th if kind == "LSTM" else th[0])
    ty, _ = trnn.pad_packed_sequence(tout, batch_first=batch_first)
    tstates = tstate if kind == "LSTM" else (tstate,)
    (ty.pow(2).sum() + sum(s.sum() for s in tstates)).backward()

    x = pad_sequence([dlk.tensor(s) for s in seqs], batch_first=batch_first)
    x.requires_grad_(True)
    p = pack_padded_sequence(x, LENGTHS, batch_first=batch_first, enforce_sorted=False)
    for a, b in zip(p[:2], tp[:2]):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy())
    np.testing.assert_array_equal(p.sorted_indices.numpy(), tp.sorted_indices.numpy())
    np.testing.assert_array_equal(p.unsorted_indices.numpy(), tp.unsorted_indices.numpy())
    hh = (dlk.tensor(h0, requires_grad=True), dlk.tensor(c0, requires_grad=True))
    out, state = m(p, hh if kind == "LSTM" else hh[0])
    y, _ = pad_packed_sequence(out, batch_first=batch_first)
    states = state if kind == "LSTM" else (state,)
    ((y * y).sum() + sum(s.sum() for s in states)).backward()

    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-9, atol=1e-12)
    for s, ts in zip(states, tstates):
        np.testing.assert_allclose(s.detach().numpy(), ts.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-8, atol=1e-11)
    for ours, theirs in zip(hh[:len(states)], th):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-8, atol=1e-11)
    for name, tw in ref.named_parameters():  # the weights map one to one (biases are merged)
        if name.startswith("weight"):
            np.testing.assert_allclose(getattr(m, name).grad.numpy(), tw.grad.numpy(),
                                       rtol=1e-8, atol=1e-11, err_msg=name)


def test_pack_and_pad_round_trip_like_pytorch():
    torch = pytest.importorskip("torch")
    from torch.nn.utils import rnn as trnn

    seqs = _seqs(6, feat=2)
    ours = pack_sequence([dlk.tensor(s) for s in seqs], enforce_sorted=False)
    ref = trnn.pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=False)
    np.testing.assert_array_equal(ours.data.numpy(), ref.data.numpy())
    np.testing.assert_array_equal(ours.batch_sizes.numpy(), ref.batch_sizes.numpy())
    padded, lengths = pad_packed_sequence(ours, batch_first=True, padding_value=-1.0,
                                          total_length=9)
    tpadded, tlengths = trnn.pad_packed_sequence(ref, batch_first=True, padding_value=-1.0,
                                                 total_length=9)
    np.testing.assert_array_equal(padded.numpy(), tpadded.numpy())
    np.testing.assert_array_equal(lengths.numpy(), tlengths.numpy())
    for a, s in zip(unpack_sequence(ours), seqs):
        np.testing.assert_array_equal(a.numpy(), s)
    sorted_pack = pack_padded_sequence(dlk.tensor(np.ones((4, 2, 1))), [4, 2])
    assert sorted_pack.sorted_indices is None and isinstance(sorted_pack, PackedSequence)


def test_bad_lengths_and_packed_inputs_raise_clear_errors():
    x = dlk.zeros(5, 3, 4)
    with pytest.raises(ValueError, match="sorted in decreasing order"):
        pack_padded_sequence(x, [2, 5, 1])
    with pytest.raises(ValueError, match="length > 0"):
        pack_padded_sequence(x, [5, 0, 1], enforce_sorted=False)
    with pytest.raises(ValueError, match="exceeds the padded length"):
        pack_padded_sequence(x, [6, 2, 1])
    with pytest.raises(ValueError, match="expected 3 lengths"):
        pack_padded_sequence(x, [5, 2])
    with pytest.raises(ValueError, match="total_length"):
        pad_packed_sequence(pack_padded_sequence(x, [5, 2, 1]), total_length=3)
    with pytest.raises(ValueError, match="input_size=3"):
        nn.LSTM(3, 2)(pack_padded_sequence(x, [5, 2, 1]))
    w = dlk.zeros(8, 4)
    with pytest.raises(ValueError, match="sum\\(batch_sizes\\)"):
        F.lstm(dlk.zeros(7, 4), None, w, dlk.zeros(8, 2), batch_sizes=[3, 2, 1])
    with pytest.raises(ValueError, match="non-increasing"):
        F.lstm(dlk.zeros(6, 4), None, w, dlk.zeros(8, 2), batch_sizes=[2, 3, 1])
