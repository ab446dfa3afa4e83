"""Attention (additive, dot, general) with a source mask; greedy and beam search over any
step decoder; the attentional encoder-decoder (masked loss, padding-independent outputs,
decoding)."""

import itertools

import dl_kernels as dlk
import numpy as np
import pytest
from dl_kernels import nn
from dl_kernels.autograd import gradcheck
from dl_kernels.decoding import EnsembleDecoder, beam_search, greedy_decode, reorder_state
from dl_kernels.models.seq2seq import Seq2Seq, translate


# ---- attention ------------------------------------------------------------------------------
def _softmax_masked(e, mask):
    e = np.where(mask, e, -np.inf)
    e = e - e.max(axis=1, keepdims=True)
    p = np.exp(e)
    return p / p.sum(axis=1, keepdims=True)


def _inputs(n=3, t=5, dq=4, dk=4, dv=3, seed=0):
    rng = np.random.default_rng(seed)
    q, k, v = rng.standard_normal((n, dq)), rng.standard_normal((n, t, dk)), \
        rng.standard_normal((n, t, dv))
    mask = np.arange(t)[None, :] < np.array([5, 1, 3])[:n, None]
    return q, k, v, mask


@pytest.mark.parametrize("kind", ["dot", "general", "additive"])
def test_attention_matches_the_formula_and_masks_padding(kind):
    q, k, v, mask = _inputs(dk=4)
    dlk.manual_seed(1)
    if kind == "additive":
        att = nn.AdditiveAttention(4, 4, 6, dtype=dlk.float64)
        wq, wk = att.query_proj.weight.detach().numpy(), att.key_proj.weight.detach().numpy()
        bk, vv = att.key_proj.bias.detach().numpy(), att.v.weight.detach().numpy()[0]
        e = np.tanh((q @ wq.T)[:, None, :] + k @ wk.T + bk) @ vv
    else:
        att = nn.LuongAttention(4, 4, score=kind, dtype=dlk.float64)
        kk = k @ att.key_proj.weight.detach().numpy().T if kind == "general" else k
        e = np.einsum("nd,ntd->nt", q, kk)
    with dlk.no_grad():
        ctx, alpha = att(dlk.tensor(q), dlk.tensor(k), dlk.tensor(v), mask=dlk.tensor(mask))
        again, _ = att(dlk.tensor(q), dlk.tensor(k), dlk.tensor(v), mask=dlk.tensor(mask),
                       projected=att.project_keys(dlk.tensor(k)))
    ref = _softmax_masked(e, mask)
    np.testing.assert_allclose(alpha.numpy(), ref, rtol=1e-10, atol=1e-12)
    assert np.all(alpha.numpy()[~mask] == 0)
    np.testing.assert_allclose(ctx.numpy(), np.einsum("nt,ntd->nd", ref, v), rtol=1e-10)
    np.testing.assert_array_equal(again.numpy(), ctx.numpy())


@pytest.mark.parametrize("kind", ["general", "additive"])
def test_attention_gradcheck(kind):
    q, k, v, mask = _inputs(n=2, t=3, dq=3, dk=2, dv=2, seed=2)
    dlk.manual_seed(0)
    att = nn.AdditiveAttention(3, 2, 4, dtype=dlk.float64) if kind == "additive" else \
        nn.LuongAttention(3, 2, score="general", dtype=dlk.float64)
    m = dlk.tensor(mask[:2, :3])
    tq, tk, tv = (dlk.tensor(a, requires_grad=True) for a in (q, k, v))

    def f(q, k, v):
        ctx, alpha = att(q, k, v, mask=m)
        return (ctx * ctx).sum() + (alpha * alpha).sum()

    assert gradcheck(f, [tq, tk, tv])


def test_attention_rejects_bad_shapes():
    att = nn.LuongAttention(4, 6)
    with pytest.raises(ValueError, match="keys \\(N, T, 6\\)"):
        att(dlk.zeros(2, 4), dlk.zeros(2, 3, 5))
    with pytest.raises(ValueError, match="mask must be"):
        att(dlk.zeros(2, 4), dlk.zeros(2, 3, 6), mask=dlk.zeros(2, 4))
    with pytest.raises(ValueError, match="query_size == key_size"):
        nn.LuongAttention(4, 6, score="dot")


# ---- decoding -------------------------------------------------------------------------------
class MarkovDecoder:
    """log p(next | row, previous token) from a fixed table; the state is each hypothesis's
    row (so a batch of rows decodes different chains)."""

    def __init__(self, table):
        self.table = table  # (rows, V, V) log-probabilities

    def step(self, tokens, state):
        return self.table[state, tokens], state

    def reorder(self, state, index):
        return state[index]

    def logp(self, row, start, tokens, eos):
        seq = [start, *tokens] + ([eos] if eos is not None else [])
        return sum(self.table[row, a, b] for a, b in zip(seq[:-1], seq[1:]))


def _table(rows, v, seed, peaked=2.0):
    z = np.random.default_rng(seed).standard_normal((rows, v, v)) * peaked
    return z - np.log(np.exp(z).sum(axis=2, keepdims=True))


@pytest.mark.parametrize("seed", range(6))
def test_beam_width_one_is_greedy_and_wider_beams_never_score_below_greedy(seed):
    dec = MarkovDecoder(_table(4, 5, seed))
    rows = np.arange(4)
    greedy = greedy_decode(dec, rows, 3, eos=0, max_len=7, batch=4)
    one = beam_search(dec, rows, 3, eos=0, max_len=7, beam=1, batch=4)
    for g, b in zip(greedy, one):
        assert b[0].tokens.tolist() == g.tokens.tolist() and b[0].logp == pytest.approx(g.logp)
    for k in (2, 3, 5):
        res = beam_search(dec, rows, 3, eos=0, max_len=7, beam=k, batch=4, n_best=k)
        for r, (g, hyps) in enumerate(zip(greedy, res)):
            assert hyps[0].score >= g.score - 1e-12
            scores = [h.score for h in hyps]
            assert scores == sorted(scores, reverse=True)
            assert len({tuple(h.tokens) for h in hyps}) == len(hyps)
            for h in hyps:  # the scores are the model's own
                eos = 0 if h.finished else None
                assert h.logp == pytest.approx(dec.logp(r, 3, h.tokens.tolist(), eos))


def test_a_wide_beam_finds_the_exact_best_sequence():
    v, max_len = 3, 4
    dec = MarkovDecoder(_table(1, v, 7, peaked=1.0))
    best = -np.inf
    for n in range(max_len):  # every sequence that ends with the end token 0
        for toks in itertools.product([1, 2], repeat=n):
            best = max(best, dec.logp(0, 1, list(toks), 0))
    for toks in itertools.product([1, 2], repeat=max_len):  # or runs out of length
        best = max(best, dec.logp(0, 1, list(toks), None))
    res = beam_search(dec, np.zeros(1, dtype=np.int64), 1, eos=0, max_len=max_len, beam=16)
    assert res[0][0].logp == pytest.approx(best)


def test_length_normalisation_ranks_by_mean_log_probability():
    dec = MarkovDecoder(_table(2, 4, 3))
    for h in beam_search(dec, np.arange(2), 1, eos=0, max_len=6, beam=3, batch=2, n_best=3,
                         length_penalty=1.0)[0]:
        n = len(h.tokens) + (1 if h.finished else 0)
        assert h.score == pytest.approx(h.logp / n)


def test_batched_beams_equal_one_row_at_a_time():
    dec = MarkovDecoder(_table(3, 6, 11))
    together = beam_search(dec, np.arange(3), 2, eos=0, max_len=8, beam=3, batch=3, n_best=2)
    for r in range(3):
        alone = beam_search(dec, np.array([r]), 2, eos=0, max_len=8, beam=3, n_best=2)[0]
        assert [h.tokens.tolist() for h in alone] == [h.tokens.tolist() for h in together[r]]


def test_decoding_argument_errors_and_reorder_state():
    dec = MarkovDecoder(_table(1, 3, 0))
    with pytest.raises(ValueError, match="beam must be >= 1"):
        beam_search(dec, np.zeros(1, dtype=np.int64), 1, 0, 5, beam=0)
    with pytest.raises(ValueError, match="n_best"):
        beam_search(dec, np.zeros(1, dtype=np.int64), 1, 0, 5, beam=2, n_best=3)
    with pytest.raises(ValueError, match="max_len"):
        greedy_decode(dec, np.zeros(1, dtype=np.int64), 1, 0, 0)
    state = {"h": (dlk.tensor(np.arange(6.0).reshape(1, 3, 2)),), "x": [np.arange(6).reshape(1, 3, 2)], "none": None}
    out = reorder_state(state, np.array([2, 2]), axis=1)
    assert out["h"][0].numpy().tolist() == [[[4.0, 5.0], [4.0, 5.0]]]
    assert out["x"][0].tolist() == [[[4, 5], [4, 5]]] and out["none"] is None


def test_an_ensemble_decodes_the_weighted_mean_of_its_members_probabilities():
    a, b = MarkovDecoder(_table(3, 5, 1)), MarkovDecoder(_table(3, 5, 2))
    ens = EnsembleDecoder([a, b], weights=[3.0, 1.0])
    mixed = np.log(0.75 * np.exp(a.table) + 0.25 * np.exp(b.table))
    lp, state = ens.step(np.array([4, 0, 2]), (np.arange(3), np.arange(3)))
    np.testing.assert_allclose(lp, mixed[np.arange(3), [4, 0, 2]], rtol=1e-12)
    assert [s.tolist() for s in ens.reorder(state, np.array([2, 2]))] == [[2, 2], [2, 2]]
    # beam search over the ensemble is beam search over the mixture's table
    res = beam_search(ens, (np.arange(3), np.arange(3)), 1, eos=0, max_len=6, beam=3, batch=3,
                      n_best=3)
    ref = beam_search(MarkovDecoder(mixed), np.arange(3), 1, eos=0, max_len=6, beam=3, batch=3,
                      n_best=3)
    for got, want in zip(res, ref):
        assert [h.tokens.tolist() for h in got] == [h.tokens.tolist() for h in want]
        assert [h.logp for h in got] == pytest.approx([h.logp for h in want])


def test_an_ensemble_of_one_model_or_of_copies_decodes_like_the_model():
    dec = MarkovDecoder(_table(2, 4, 5))
    rows = np.arange(2)
    alone = beam_search(dec, rows, 1, eos=0, max_len=6, beam=3, batch=2, n_best=2)
    for ens, state in [(EnsembleDecoder([dec]), (rows,)),
                       (EnsembleDecoder([dec, dec, dec]), (rows, rows, rows))]:
        res = beam_search(ens, state, 1, eos=0, max_len=6, beam=3, batch=2, n_best=2)
        for got, want in zip(res, alone):
            assert [h.tokens.tolist() for h in got] == [h.tokens.tolist() for h in want]
            assert [h.logp for h in got] == pytest.approx([h.logp for h in want], abs=1e-12)


def test_an_ensemble_keeps_impossible_tokens_impossible_and_nan_visible():
    table = _table(1, 3, 0)
    table[0, :, 2] = -np.inf  # token 2 is impossible for both members
    nan = table.copy()
    nan[0, 1, 1] = np.nan
    lp, _ = EnsembleDecoder([MarkovDecoder(table), MarkovDecoder(nan)]).step(
        np.array([1]), (np.zeros(1, dtype=np.int64),) * 2)
    assert lp[0, 2] == -np.inf and np.isnan(lp[0, 1]) and np.isfinite(lp[0, 0])
    with pytest.raises(ValueError, match="at least one decoder"):
        EnsembleDecoder([])
    with pytest.raises(ValueError, match="expected 2 positive weights"):
        EnsembleDecoder([MarkovDecoder(table)] * 2, weights=[1.0, 0.0])


# ---- the encoder-decoder --------------------------------------------------------------------
def _batch(seed=0, n=5, s=6, t=4):
    rng = np.random.default_rng(seed)
    lengths = np.array([6, 2, 4, 1, 6])[:n]
    src = rng.integers(1, 9, (n, s))
    src[np.arange(s)[None, :] >= lengths[:, None]] = 0
    tl = np.array([4, 1, 3, 2, 4])[:n]
    tout = rng.integers(3, 10, (n, t))
    tout[np.arange(t)[None, :] >= tl[:, None]] = 0
    tout[np.arange(n), tl - 1] = 2
    tin = np.concatenate([np.ones((n, 1), dtype=np.int64), tout[:, :-1]], axis=1)
    tin[tin == 2] = 0
    return src, lengths, tin, tout


@pytest.mark.parametrize("cell,attention", [("lstm", "general"), ("gru", "additive"),
                                            ("lstm", "dot")])
def test_padding_changes_no_output_and_the_loss_ignores_it(cell, attention):
    dlk.manual_seed(0)
    m = Seq2Seq(10, 10, embed=8, hidden=12, enc_layers=2, dec_layers=2, cell=cell,
                attention=attention, dropout=0.0)
    m.eval()
    src, lengths, tin, tout = _batch()
    with dlk.no_grad():
        logits = m(src, lengths, tin).numpy()
        for i in range(len(src)):
            alone = m(src[i:i + 1, :lengths[i]], lengths[i:i + 1], tin[i:i + 1]).numpy()
            np.testing.assert_allclose(logits[i], alone[0], rtol=1e-4, atol=1e-5)
        loss = float(m.loss(src, lengths, tin, tout).item())
    z = logits.astype(np.float64)
    lse = np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1)) + z.max(-1)
    nll = lse - np.take_along_axis(z, tout[..., None], -1)[..., 0]
    keep = tout != 0
    assert loss == pytest.approx(nll[keep].mean(), rel=1e-4)


@pytest.mark.parametrize("cell,dec_layers", [("lstm", 1), ("lstm", 2), ("gru", 2)])
def test_the_loss_runs_only_unfinished_rows_and_equals_the_padded_loss(cell, dec_layers):
    """loss() steps the decoder over the rows whose target is still going; value and
    gradients (float64) equal the cross-entropy of forward's padded logits, whatever the
    rows' length order, with a row whose target is empty."""
    from dl_kernels.nn import functional as F

    dlk.manual_seed(1)
    m = Seq2Seq(10, 10, embed=8, hidden=12, enc_layers=2, dec_layers=dec_layers, cell=cell,
                dropout=0.0).double()
    src, lengths, tin, tout = _batch()
    tout[2], tin[2, 1:] = 0, 0  # nothing to predict for row 2

    def run(packed):
        m.zero_grad()
        if packed:
            loss = m.loss(src, lengths, tin, tout)
        else:
            logits = m(src, lengths, tin)
            loss = F.cross_entropy(logits.reshape(-1, 10), dlk.tensor(tout).reshape(-1),
                                   ignore_index=0)
        loss.backward()
        return float(loss.item()), [p.grad.numpy().copy() for p in m.parameters()]

    (a, ga), (b, gb) = run(True), run(False)
    assert a == pytest.approx(b, rel=1e-12)
    for x, y in zip(ga, gb):
        np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-14)
    with pytest.raises(ValueError, match="one shape"):
        m.loss(src, lengths, tin[:, :-1], tout)
    with pytest.raises(TypeError, match="integer token ids"):
        m.loss(src, lengths, tin.astype(np.float64), tout)
    with pytest.raises(ValueError, match="src has 5 rows"):
        m.loss(src, lengths[:4], tin, tout)


def test_sequence_logp_is_the_sum_of_the_decoders_step_log_probabilities():
    """Scoring given outputs (for rescoring n-best lists) agrees with stepping the decoder
    along them, row by row, and with the loss; padding adds nothing; training mode returns."""
    dlk.manual_seed(2)
    m = Seq2Seq(10, 10, embed=8, hidden=12, enc_layers=1, dec_layers=2, dropout=0.3).double()
    src, lengths, tin, tout = _batch()
    scores = m.sequence_logp(src, lengths, tin, tout)
    assert scores.shape == (5,) and scores.dtype == np.float64 and m.training
    for i in range(len(src)):
        with dlk.no_grad():
            m.eval()
            dec, state = m.decoder_for(src[i:i + 1, :lengths[i]], lengths[i:i + 1])
            total = 0.0
            for t in range(int((tout[i] != 0).sum())):
                logp, state = dec.step(tin[i:i + 1, t], state)
                total += float(logp.numpy()[0, tout[i, t]])
            m.train()
        assert scores[i] == pytest.approx(total, rel=1e-10)
    m.eval()
    with dlk.no_grad():
        loss = float(m.loss(src, lengths, tin, tout).item())
    assert -scores.sum() / (tout != 0).sum() == pytest.approx(loss, rel=1e-10)
    wider = np.pad(tout, ((0, 0), (0, 3))), np.pad(tin, ((0, 0), (0, 3)))
    np.testing.assert_allclose(m.sequence_logp(src, lengths, wider[1], wider[0]), scores,
                               rtol=1e-10)
    with pytest.raises(ValueError, match="one shape"):
        m.sequence_logp(src, lengths, tin[:, :-1], tout)
    empty = m.sequence_logp(src[:0], lengths[:0], tin[:0], tout[:0])
    assert empty.shape == (0,) and empty.dtype == np.float64


def test_seq2seq_learns_to_reverse_and_beam_never_scores_below_greedy():
    rng = np.random.default_rng(0)
    dlk.manual_seed(0)
    m = Seq2Seq(6, 8, embed=16, hidden=32, enc_layers=1, dropout=0.0)
    from dl_kernels import optim

    opt = optim.Adam(m.parameters(), lr=0.01)

    def batch(n=32):
        lengths = rng.integers(1, 5, n)
        src = np.zeros((n, 4), dtype=np.int64)
        tin = np.zeros((n, 5), dtype=np.int64)
        tout = np.zeros((n, 5), dtype=np.int64)
        for i, L in enumerate(lengths):
            w = rng.integers(1, 6, L)
            src[i, :L] = w
            tout[i, :L + 1] = [*(w[::-1] + 2), 2]
            tin[i, :L + 1] = [1, *(w[::-1] + 2)]
        return src, lengths, tin, tout

    for _ in range(150):
        loss = m.loss(*batch())
        opt.zero_grad()
        loss.backward()
        opt.step()
    src, lengths, _, tout = batch(16)
    greedy = m.translate(src, lengths, beam=1)
    beams = m.translate(src, lengths, beam=3, n_best=2)
    right = sum(g[0].tokens.tolist() == tout[i, :lengths[i]].tolist()
                for i, g in enumerate(greedy))
    assert right >= 12, right
    for g, b in zip(greedy, beams):
        assert b[0].score >= g[0].score - 1e-6
    w = m.attention_weights(src[:1], lengths[:1], greedy[0][0].tokens)
    assert w.shape == (len(greedy[0][0].tokens) + 1, lengths[0])
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-5)


def test_seq2seq_ensembles_decode_the_mean_of_their_members():
    dlk.manual_seed(3)
    a, b = (Seq2Seq(9, 10, embed=8, hidden=16, enc_layers=1, dropout=0.0) for _ in range(2))
    src, lengths, _, _ = _batch(seed=2)
    alone = a.translate(src, lengths, beam=3, n_best=2)
    for got, want in zip(translate([a, a], src, lengths, beam=3, n_best=2), alone):
        assert [h.tokens.tolist() for h in got] == [h.tokens.tolist() for h in want]
        assert [h.logp for h in got] == pytest.approx([h.logp for h in want], rel=1e-5)
    # the ensemble's first greedy token maximises the members' summed probabilities
    with dlk.no_grad():
        probs = []
        for m in (a.eval(), b.eval()):
            dec, state = m.decoder_for(src, lengths)
            probs.append(np.exp(dec.step(np.ones(len(lengths), np.int64), state)[0].numpy()))
    first = [h[0].tokens[0] if len(h[0].tokens) else 2
             for h in translate([a, b], src, lengths, beam=1)]
    assert first == (probs[0] + probs[1]).argmax(axis=1).tolist()
    with pytest.raises(ValueError, match="one target vocabulary"):
        translate([a, Seq2Seq(9, 11, embed=8, hidden=16, enc_layers=1)], src, lengths)


def test_grouped_lstm_cell_steps_give_the_same_gradients_as_step_by_step():
    from dl_kernels.autograd.function import StepGroup

    rng = np.random.default_rng(4)
    cell = nn.LSTMCell(3, 4, dtype=dlk.float64)
    xs = [dlk.tensor(rng.standard_normal((2, 3)), requires_grad=True) for _ in range(4)]
    w = [rng.standard_normal((2, 4)) for _ in range(4)]

    def run(group):
        state, total = None, 0
        for x, wt in zip(xs, w):
            state = cell(x, state, step_group=group)
            total = total + (state[0] * dlk.tensor(wt)).sum() + state[1].sum()
        total.backward()
        grads = [p.grad.numpy().copy() for p in cell.parameters()] + \
            [x.grad.numpy().copy() for x in xs]
        cell.zero_grad()
        for x in xs:
            x.grad = None
        return grads

    for a, b in zip(run(None), run(StepGroup())):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
