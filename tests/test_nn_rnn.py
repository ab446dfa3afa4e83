"""Recurrent layers: parameter layout, torch.nn equivalence (LSTM, GRU reset-after, RNN,
stacked and bidirectional), the notes' LSTM variants and GRU against a numpy transcription,
dropout placement, and the notes' Keras model (386,438 parameters)."""

from __future__ import annotations

import dl_kernels as dlk
import numpy as np
import pytest
from dl_kernels import nn, optim

F64 = dlk.float64


def _rand(*shape, seed=0, scale=1.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale


def sig(a):
    return 1 / (1 + np.exp(-a))


# ---- numpy transcriptions of the notes' equations (LSTM with peepholes, Gers & Schmidhuber 2000; GRU, Cho et al. 2014) ---------------------------
def lstm_reference(x, h, c, w_ih, w_hh, b, variant="standard", peep=None):
    """x (T, N, I). Gates written out one by one, as the notes do; W[h, x] = W_hh h + W_ih x."""
    hid = w_hh.shape[1]

    def gate(k, hh, xx):
        sl = slice(k * hid, (k + 1) * hid)
        return xx @ w_ih[sl].T + hh @ w_hh[sl].T + b[sl]

    ys = []
    for xt in x:
        if variant == "coupled":                           # gates f, g, o
            f = sig(gate(0, h, xt))
            c_tilde = np.tanh(gate(1, h, xt))
            c = f * c + (1 - f) * c_tilde                   # C_t = f C + (1 − f) C̃
            o = sig(gate(2, h, xt))
        else:                                              # gates i, f, g, o
            pi = peep[0] * c if variant == "peephole" else 0.0
            pf = peep[1] * c if variant == "peephole" else 0.0
            i = sig(gate(0, h, xt) + pi)
            f = sig(gate(1, h, xt) + pf)
            c_tilde = np.tanh(gate(2, h, xt))
            c = f * c + i * c_tilde
            po = peep[2] * c if variant == "peephole" else 0.0   # o looks at c_t
            o = sig(gate(3, h, xt) + po)
        h = o * np.tanh(c)
        ys.append(h)
    return np.stack(ys), h, c


def gru_notes_reference(x, h, w_ih, w_hh, b):
    """z = σ(W_z[h, x]), r = σ(W_r[h, x]), h̃ = tanh(W[r ⊙ h, x]), h = (1 − z) h + z h̃."""
    hid = w_hh.shape[1]
    r_, z_, n_ = (slice(k * hid, (k + 1) * hid) for k in range(3))
    ys = []
    for xt in x:
        r = sig(xt @ w_ih[r_].T + h @ w_hh[r_].T + b[r_])
        z = sig(xt @ w_ih[z_].T + h @ w_hh[z_].T + b[z_])
        h_tilde = np.tanh(xt @ w_ih[n_].T + (r * h) @ w_hh[n_].T + b[n_])
        h = (1 - z) * h + z * h_tilde
        ys.append(h)
    return np.stack(ys), h


def _np(t):
    return t.detach().numpy()


# ---- layout ----------------------------------------------------------------------------------
def test_parameter_names_and_shapes():
    lstm = nn.LSTM(5, 3, num_layers=2, bidirectional=True)
    shapes = {n: tuple(p.shape) for n, p in lstm.named_parameters()}
    assert shapes == {
        "weight_ih_l0": (12, 5), "weight_hh_l0": (12, 3), "bias_l0": (12,),
        "weight_ih_l0_reverse": (12, 5), "weight_hh_l0_reverse": (12, 3),
        "bias_l0_reverse": (12,),
        "weight_ih_l1": (12, 6), "weight_hh_l1": (12, 3), "bias_l1": (12,),
        "weight_ih_l1_reverse": (12, 6), "weight_hh_l1_reverse": (12, 3),
        "bias_l1_reverse": (12,)}
    peep = {n: tuple(p.shape) for n, p in nn.LSTM(5, 3, variant="peephole").named_parameters()}
    assert peep == {"weight_ih_l0": (12, 5), "weight_hh_l0": (12, 3), "bias_l0": (12,),
                    "weight_ch_l0": (3, 3)}
    coupled = {n: tuple(p.shape) for n, p in nn.LSTM(5, 3, variant="coupled").named_parameters()}
    assert coupled == {"weight_ih_l0": (9, 5), "weight_hh_l0": (9, 3), "bias_l0": (9,)}
    gru = {n: tuple(p.shape) for n, p in nn.GRU(5, 3).named_parameters()}
    assert gru == {"weight_ih_l0": (9, 5), "weight_hh_l0": (9, 3), "bias_l0": (9,)}
    gru_ra = {n: tuple(p.shape) for n, p in nn.GRU(5, 3, reset_after=True).named_parameters()}
    assert gru_ra == {"weight_ih_l0": (9, 5), "weight_hh_l0": (9, 3), "bias_l0": (9,),
                      "bias_hn_l0": (3,)}


def test_default_init_is_uniform_within_one_over_sqrt_hidden():
    lstm = nn.LSTM(7, 16, num_layers=2)
    for p in lstm.parameters():
        v = _np(p)
        assert np.abs(v).max() <= 0.25 and v.std() > 0.1


def test_init_orthogonal_makes_each_recurrent_gate_block_orthogonal():
    gru = nn.GRU(4, 6, dtype=F64).init_orthogonal_()
    w = _np(gru.weight_hh_l0)
    for k in range(3):
        blk = w[k * 6:(k + 1) * 6]
        np.testing.assert_allclose(blk @ blk.T, np.eye(6), atol=1e-12)


def test_keras_sentiment_model_has_386438_parameters():
    model = nn.Sequential(
        nn.Embedding(5000, 64),
        nn.Dropout(0.5),
        nn.LSTM(64, 64, batch_first=True), nn.RNNOutput(return_sequences=True),
        nn.LSTM(64, 64, batch_first=True), nn.RNNOutput(return_sequences=False,
                                                         batch_first=True),
        nn.Linear(64, 6))
    assert model.num_parameters() == 386_438
    assert [m.num_parameters() for m in model] == [320_000, 0, 33_024, 0, 33_024, 0, 390]
    assert "# 386,438 parameters" in repr(model).splitlines()[0]


# ---- torch equivalence ---------------------------------------------------------------------
def _compare_with_torch(torch, ours, ref, x, batch_first, hx=None, rtol=1e-9, atol=1e-10):
    ours.from_torch_state_dict(ref.state_dict())
    xo = dlk.tensor(x).requires_grad_()
    xt = torch.tensor(x, requires_grad=True)
    if hx is None:
        out, state = ours(xo)
        exp, tstate = ref(xt)
        ins_o, ins_t = [xo], [xt]
    else:
        hx_o = tuple(dlk.tensor(a).requires_grad_() for a in hx)
        hx_t = tuple(torch.tensor(a, requires_grad=True) for a in hx)
        arg_o = hx_o if len(hx) == 2 else hx_o[0]
        arg_t = hx_t if len(hx) == 2 else hx_t[0]
        out, state = ours(xo, arg_o)
        exp, tstate = ref(xt, arg_t)
        ins_o, ins_t = [xo, *hx_o], [xt, *hx_t]
    states_o = list(state) if isinstance(state, tuple) else [state]
    states_t = list(tstate) if isinstance(tstate, tuple) else [tstate]
    np.testing.assert_allclose(_np(out), exp.detach().numpy(), rtol=rtol, atol=atol)
    for a, b in zip(states_o, states_t):
        np.testing.assert_allclose(_np(a), b.detach().numpy(), rtol=rtol, atol=atol)
    # one backward through output and every final state
    loss_o = (out * dlk.tensor(_rand(*exp.shape, seed=5))).sum()
    loss_t = (exp * torch.tensor(_rand(*exp.shape, seed=5))).sum()
    for k, (a, b) in enumerate(zip(states_o, states_t)):
        w = _rand(*b.shape, seed=6 + k)
        loss_o = loss_o + (a * dlk.tensor(w)).sum()
        loss_t = loss_t + (b * torch.tensor(w)).sum()
    loss_o.backward()
    loss_t.backward()
    for a, b in zip(ins_o, ins_t):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=atol)
    # parameter gradients, mapped back to torch's names
    grads = {n: p.grad for n, p in ours.named_parameters()}
    tgrads = {n: p.grad.numpy() for n, p in ref.named_parameters()}
    # our bias gradient equals torch's b_ih gradient (b_ih and b_hh get the same gradient in
    # the gates both feed), the reset-after candidate bias equals b_hh's n part
    h = ours.hidden_size
    for name, g in grads.items():
        if name.startswith("weight"):
            np.testing.assert_allclose(g.numpy(), tgrads[name], rtol=rtol, atol=atol,
                                       err_msg=name)
        elif name.startswith("bias_hn"):
            sfx = name[len("bias_hn"):]
            np.testing.assert_allclose(g.numpy(), tgrads["bias_hh" + sfx][2 * h:], rtol=rtol,
                                       atol=atol, err_msg=name)
        else:
            sfx = name[len("bias"):]
            np.testing.assert_allclose(g.numpy(), tgrads["bias_ih" + sfx], rtol=rtol,
                                       atol=atol, err_msg=name)


RNN_CONFIGS = [
    {"num_layers": 1, "bidirectional": False, "batch_first": False},
    {"num_layers": 2, "bidirectional": False, "batch_first": True},
    {"num_layers": 1, "bidirectional": True, "batch_first": False},
    {"num_layers": 3, "bidirectional": True, "batch_first": True},
]


@pytest.mark.parametrize("cfg", RNN_CONFIGS)
@pytest.mark.parametrize("with_state", [False, True])
def test_lstm_equals_torch_stacked_and_bidirectional(cfg, with_state):
    torch = pytest.importorskip("torch")
    i, h, t, n = 5, 4, 6, 3
    ours = nn.LSTM(i, h, dtype=F64, **cfg)
    ref = torch.nn.LSTM(i, h, **cfg).double()
    x = _rand(n, t, i) if cfg["batch_first"] else _rand(t, n, i)
    layers = cfg["num_layers"] * (2 if cfg["bidirectional"] else 1)
    hx = (_rand(layers, n, h, seed=1), _rand(layers, n, h, seed=2)) if with_state else None
    _compare_with_torch(torch, ours, ref, x, cfg["batch_first"], hx)


@pytest.mark.parametrize("cfg", RNN_CONFIGS)
@pytest.mark.parametrize("with_state", [False, True])
def test_gru_reset_after_equals_torch_stacked_and_bidirectional(cfg, with_state):
    torch = pytest.importorskip("torch")
    i, h, t, n = 4, 5, 7, 2
    ours = nn.GRU(i, h, reset_after=True, dtype=F64, **cfg)
    ref = torch.nn.GRU(i, h, **cfg).double()
    x = _rand(n, t, i) if cfg["batch_first"] else _rand(t, n, i)
    layers = cfg["num_layers"] * (2 if cfg["bidirectional"] else 1)
    hx = (_rand(layers, n, h, seed=3),) if with_state else None
    _compare_with_torch(torch, ours, ref, x, cfg["batch_first"], hx)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_equals_torch(nonlinearity):
    torch = pytest.importorskip("torch")
    cfg = {"num_layers": 2, "bidirectional": True, "batch_first": False}
    ours = nn.RNN(3, 4, nonlinearity=nonlinearity, dtype=F64, **cfg)
    ref = torch.nn.RNN(3, 4, nonlinearity=nonlinearity, **cfg).double()
    _compare_with_torch(torch, ours, ref, _rand(5, 2, 3), False)


def test_unbatched_input_like_torch():
    torch = pytest.importorskip("torch")
    ours = nn.LSTM(3, 2, dtype=F64)
    ref = torch.nn.LSTM(3, 2).double()
    ours.from_torch_state_dict(ref.state_dict())
    x = _rand(4, 3)
    out, (h, c) = ours(dlk.tensor(x))
    exp, (_, tc) = ref(torch.tensor(x))
    assert out.shape == (4, 2) and h.shape == (1, 2)
    np.testing.assert_allclose(_np(out), exp.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(_np(c), tc.detach().numpy(), rtol=1e-10)


def test_cells_equal_torch_cells():
    torch = pytest.importorskip("torch")
    x, h, c = _rand(3, 4), _rand(3, 5, seed=1), _rand(3, 5, seed=2)
    lc, tlc = nn.LSTMCell(4, 5, dtype=F64), torch.nn.LSTMCell(4, 5).double()
    lc.from_torch_state_dict(tlc.state_dict())
    h1, c1 = lc(dlk.tensor(x), (dlk.tensor(h), dlk.tensor(c)))
    th1, tc1 = tlc(torch.tensor(x), (torch.tensor(h), torch.tensor(c)))
    np.testing.assert_allclose(_np(h1), th1.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(_np(c1), tc1.detach().numpy(), rtol=1e-10)
    gc, tgc = nn.GRUCell(4, 5, reset_after=True, dtype=F64), torch.nn.GRUCell(4, 5).double()
    gc.from_torch_state_dict(tgc.state_dict())
    np.testing.assert_allclose(_np(gc(dlk.tensor(x), dlk.tensor(h))),
                               tgc(torch.tensor(x), torch.tensor(h)).detach().numpy(),
                               rtol=1e-10)
    rc, trc = nn.RNNCell(4, 5, dtype=F64), torch.nn.RNNCell(4, 5).double()
    rc.from_torch_state_dict(trc.state_dict())
    np.testing.assert_allclose(_np(rc(dlk.tensor(x), dlk.tensor(h))),
                               trc(torch.tensor(x), torch.tensor(h)).detach().numpy(),
                               rtol=1e-10)


def test_torch_state_dict_round_trip_and_unconvertible_variants():
    torch = pytest.importorskip("torch")
    ref = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True)
    ours = nn.GRU(3, 4, num_layers=2, bidirectional=True, reset_after=True)
    ours.from_torch_state_dict(ref.state_dict())
    ref2 = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True)
    ref2.load_state_dict(ours.to_torch_state_dict(convert=torch.from_numpy))
    x = torch.randn(5, 2, 3)
    np.testing.assert_allclose(ref2(x)[0].detach().numpy(), ref(x)[0].detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="reset-after"):
        nn.GRU(3, 4).to_torch_state_dict()
    with pytest.raises(ValueError, match="peephole"):
        nn.LSTM(3, 4, variant="peephole").to_torch_state_dict()


# ---- the notes' variants against the numpy transcription --------------------------------------
@pytest.mark.parametrize("variant", ["standard", "peephole", "coupled"])
@pytest.mark.parametrize("reverse_layer", [False, True])
def test_lstm_variants_follow_the_notes_equations(variant, reverse_layer):
    i, h, t, n = 3, 4, 5, 2
    lstm = nn.LSTM(i, h, variant=variant, bidirectional=reverse_layer, dtype=F64)
    x, h0, c0 = _rand(t, n, i), _rand(n, h, seed=1), _rand(n, h, seed=2)
    dirs = 2 if reverse_layer else 1
    hx = (dlk.tensor(np.stack([h0] * dirs)), dlk.tensor(np.stack([c0] * dirs)))
    out, (hn, cn) = lstm(dlk.tensor(x), hx)
    params = [_np(lstm.weight_ih_l0), _np(lstm.weight_hh_l0), _np(lstm.bias_l0)]
    peep = _np(lstm.weight_ch_l0) if variant == "peephole" else None
    ys, h_t, c_t = lstm_reference(x, h0, c0, *params, variant=variant, peep=peep)
    np.testing.assert_allclose(_np(out)[..., :h], ys, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_np(hn)[0], h_t, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_np(cn)[0], c_t, rtol=1e-10, atol=1e-12)
    if reverse_layer:   # the reverse direction reads the sequence from the end
        params = [_np(lstm.weight_ih_l0_reverse), _np(lstm.weight_hh_l0_reverse),
                  _np(lstm.bias_l0_reverse)]
        peep = _np(lstm.weight_ch_l0_reverse) if variant == "peephole" else None
        ys, h_t, c_t = lstm_reference(x[::-1], h0, c0, *params, variant=variant, peep=peep)
        np.testing.assert_allclose(_np(out)[..., h:], ys[::-1], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(_np(cn)[1], c_t, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("variant", ["standard", "peephole", "coupled"])
def test_lstm_cell_variants_follow_the_notes_equations(variant):
    cell = nn.LSTMCell(3, 4, variant=variant, dtype=F64)
    x, h0, c0 = _rand(2, 3), _rand(2, 4, seed=1), _rand(2, 4, seed=2)
    h1, c1 = cell(dlk.tensor(x), (dlk.tensor(h0), dlk.tensor(c0)))
    peep = _np(cell.weight_ch) if variant == "peephole" else None
    _, h_t, c_t = lstm_reference(x[None], h0, c0, _np(cell.weight_ih), _np(cell.weight_hh),
                                 _np(cell.bias), variant=variant, peep=peep)
    np.testing.assert_allclose(_np(h1), h_t, rtol=1e-10)
    np.testing.assert_allclose(_np(c1), c_t, rtol=1e-10)


def test_gru_default_is_the_notes_form():
    gru = nn.GRU(3, 4, dtype=F64)
    x, h0 = _rand(6, 2, 3), _rand(2, 4, seed=1)
    out, hn = gru(dlk.tensor(x), dlk.tensor(h0[None]))
    ys, h_t = gru_notes_reference(x, h0, _np(gru.weight_ih_l0), _np(gru.weight_hh_l0),
                                  _np(gru.bias_l0))
    np.testing.assert_allclose(_np(out), ys, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_np(hn)[0], h_t, rtol=1e-10, atol=1e-12)
    cell = nn.GRUCell(3, 4, dtype=F64)
    _, h1 = gru_notes_reference(x[:1], h0, _np(cell.weight_ih), _np(cell.weight_hh),
                                _np(cell.bias))
    np.testing.assert_allclose(_np(cell(dlk.tensor(x[0]), dlk.tensor(h0))), h1, rtol=1e-10)


@pytest.mark.parametrize("reset_after", [False, True])
def test_gru_modules_feed_their_bias_parameters_to_the_kernel_as_they_are(reset_after):
    """The parameters are kept in the kernel's layout (b (3H,), b_hn (H,)): no conversion to
    PyTorch's two biases and back on each forward, so the kernel's node reads them directly."""
    gru = nn.GRU(3, 4, reset_after=reset_after)
    out, _ = gru(dlk.randn(5, 2, 3))
    node = out.grad_fn
    assert type(node).__name__ == "GRU" and node.inputs[4] is gru.bias_l0
    assert node.inputs[5] is (gru.bias_hn_l0 if reset_after else None)
    cell = nn.GRUCell(3, 4, reset_after=reset_after)
    node = cell(dlk.randn(2, 3)).grad_fn
    assert type(node).__name__ == "GRUCell" and node.inputs[4] is cell.bias
    assert node.inputs[5] is (cell.bias_hn if reset_after else None)


@pytest.mark.parametrize("variant", ["peephole", "coupled", "gru-notes", "gru-reset-after"])
def test_recurrent_variant_gradients_by_finite_differences(variant):
    if variant.startswith("gru"):
        lstm = nn.GRU(2, 3, reset_after=variant.endswith("after"), dtype=F64)
    else:
        lstm = nn.LSTM(2, 3, variant=variant, dtype=F64)
    x = _rand(4, 2, 2)
    w = _rand(4, 2, 3, seed=8)

    def loss_value():
        with dlk.no_grad():
            return float((lstm(dlk.tensor(x))[0] * dlk.tensor(w)).sum().item())

    (lstm(dlk.tensor(x))[0] * dlk.tensor(w)).sum().backward()
    eps = 1e-6
    for name, p in lstm.named_parameters():
        base = _np(p).copy()
        num = np.zeros_like(base)
        for idx in np.ndindex(base.shape):
            for sign in (1, -1):
                v = base.copy()
                v[idx] += sign * eps
                p.data = dlk.tensor(v)
                num[idx] += sign * loss_value() / (2 * eps)
        p.data = dlk.tensor(base)
        np.testing.assert_allclose(p.grad.numpy(), num, rtol=1e-5, atol=1e-8, err_msg=name)


# ---- dropout placement -------------------------------------------------------------------------
def test_dropout_is_applied_between_layers_only():
    x = dlk.tensor(_rand(5, 2, 3))
    one = nn.LSTM(3, 8, num_layers=1, dropout=0.9, dtype=F64)
    # a single layer has no "between": training mode changes nothing (no recurrent dropout)
    np.testing.assert_array_equal(_np(one(x)[0]), _np(one.eval()(x)[0]))
    two = nn.GRU(3, 8, num_layers=2, dropout=0.9, dtype=F64)
    a = _np(two(x)[0])
    b = _np(two.eval()(x)[0])
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(b, _np(two(x)[0]))  # eval: deterministic


def test_errors_name_expected_and_actual():
    lstm = nn.LSTM(3, 4, num_layers=2)
    with pytest.raises(ValueError, match="input_size=3"):
        lstm(dlk.zeros(5, 2, 4))
    with pytest.raises(ValueError, match=r"h_0 of shape \(2, 2, 4\), got \(1, 2, 4\)"):
        lstm(dlk.zeros(5, 2, 3), (dlk.zeros(1, 2, 4), dlk.zeros(2, 2, 4)))
    with pytest.raises(ValueError, match="variant"):
        nn.LSTM(3, 4, variant="clockwork")


# ---- the notes' Keras model, end to end --------------------------------------------------------
class SentimentLSTM(nn.Module):
    """Embedding(5000, 64) → Dropout(0.5) → LSTM(64, all steps) → LSTM(64, last) → Linear(64, 6)."""

    def __init__(self, vocab=5000, dim=64, classes=6):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.dropout = nn.Dropout(0.5)
        self.lstm1 = nn.LSTM(dim, dim, batch_first=True)
        self.lstm2 = nn.LSTM(dim, dim, batch_first=True)
        self.out = nn.Linear(dim, classes)

    def forward(self, tokens):
        x = self.dropout(self.embedding(tokens))
        x, _ = self.lstm1(x)
        _, (h, _) = self.lstm2(x)
        return self.out(h[-1])


def test_keras_sentiment_model_trains_saves_and_loads(tmp_path):
    dlk.manual_seed(0)
    model = SentimentLSTM()
    assert model.num_parameters() == 386_438
    tokens = dlk.randint(0, 5000, (8, 12))
    labels = dlk.tensor(np.arange(8) % 6)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    crit = nn.CrossEntropyLoss()
    losses = []
    for _ in range(6):
        opt.zero_grad()
        loss = crit(model(tokens), labels)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    model.eval()
    model.save(tmp_path / "sentiment.ckpt")
    clone = SentimentLSTM().load(tmp_path / "sentiment.ckpt").eval()
    np.testing.assert_array_equal(_np(clone(tokens)), _np(model(tokens)))
