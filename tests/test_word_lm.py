"""Word language model: the importance-sampled softmax is an unbiased estimate of the full
softmax's partition function (so E[e^L̂] = e^L), tends to the full loss and gradient as K
grows, passes gradcheck, ignores accidental hits; the model's windows and perplexity."""

from __future__ import annotations

import math

import dl_kernels as dlk
import numpy as np
import pytest
from dl_kernels import optim
from dl_kernels.autograd import gradcheck
from dl_kernels.models.word_lm import UnigramSampler, WordLSTM, evaluate, sampled_softmax_loss
from dl_kernels.nn import functional as F


@pytest.fixture(autouse=True)
def _one_thread():
    before = dlk.get_num_threads()
    dlk.set_num_threads(1)
    yield
    dlk.set_num_threads(before)


def _layer(v=40, h=6, m=4, seed=0):
    rng = np.random.default_rng(seed)
    hidden = dlk.tensor(rng.standard_normal((m, h)), requires_grad=True)
    weight = dlk.tensor(rng.standard_normal((v, h)) * 0.7, requires_grad=True)
    bias = dlk.tensor(rng.standard_normal(v) * 0.5, requires_grad=True)
    targets = rng.integers(0, v, m)
    return hidden, weight, bias, targets, rng


def _full(hidden, weight, bias, targets, reduction="mean"):
    return F.cross_entropy(hidden @ weight.t() + bias, dlk.tensor(targets), reduction=reduction)


def test_unigram_sampler_draws_by_count_to_the_three_quarters():
    counts = np.array([1000, 100, 10, 0])
    s = UnigramSampler(counts)
    q = np.array([1000, 100, 10, 1.0]) ** 0.75
    np.testing.assert_allclose(s.q, q / q.sum())
    draws = s.sample(200000, np.random.default_rng(0))
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / draws.size, s.q, atol=4e-3)


def test_expected_exp_of_the_sampled_loss_is_exp_of_the_full_loss():
    """Ẑ is unbiased for Z, and e^{L̂} = Ẑ / e^{s_y}: the Monte-Carlo mean of e^{L̂} over many
    draws agrees with e^{L} within a few standard errors, row by row."""
    hidden, weight, bias, targets, rng = _layer(v=30, m=3)
    sampler = UnigramSampler(rng.integers(1, 50, 30))
    with dlk.no_grad():
        full = np.exp(_full(hidden, weight, bias, targets, "none").numpy())
        draws = np.array([np.exp(sampled_softmax_loss(hidden, weight, bias, targets,
                                                      sampler.sample(8, rng), sampler.q,
                                                      reduction="none").numpy())
                          for _ in range(1200)])
    mean, se = draws.mean(0), draws.std(0) / math.sqrt(len(draws))
    assert np.all(np.abs(mean - full) < 4 * se), (mean, full, se)
    # ...while the loss itself is biased low (Jensen): the expectation is of e^L, not of L.
    assert np.all(np.log(draws).mean(0) < np.log(full))


def test_many_samples_give_the_full_loss_and_gradient():
    hidden, weight, bias, targets, rng = _layer(v=25, m=5, seed=1)
    sampler = UnigramSampler(np.ones(25))
    full = _full(hidden, weight, bias, targets)
    full.backward()
    g_full = hidden.grad.numpy().copy()
    hidden.grad = None
    est = sampled_softmax_loss(hidden, weight, bias, targets, sampler.sample(40000, rng),
                               sampler.q)
    est.backward()
    assert est.item() == pytest.approx(full.item(), rel=2e-3)
    np.testing.assert_allclose(hidden.grad.numpy(), g_full, atol=1e-2)


def test_sampled_loss_passes_gradcheck_including_an_accidental_hit():
    hidden, weight, bias, targets, _ = _layer(v=12, h=3, m=3, seed=2)
    sampled = np.array([targets[0], 5, 7, 5])  # the first row's target was drawn: masked
    q = np.full(12, 1 / 12)
    assert gradcheck(lambda h, w, b: sampled_softmax_loss(h, w, b, targets, sampled, q),
                     [hidden, weight, bias])


def test_accidental_hits_do_not_count_twice():
    hidden, weight, bias, _, _ = _layer(v=6, m=1, seed=3)
    q = np.full(6, 1 / 6)
    with dlk.no_grad():
        hit = sampled_softmax_loss(hidden, weight, bias, np.array([2]), np.array([2, 4]), q)
        s = (hidden @ weight.t() + bias).numpy()[0]
    # Ẑ = e^{s_2} + e^{s_4} / (2 · 1/6): the drawn target contributes nothing.
    want = math.log(math.exp(s[2]) + math.exp(s[4]) * 3) - s[2]
    assert hit.item() == pytest.approx(want, rel=1e-10)


def test_bad_arguments_are_refused_with_the_shapes():
    hidden, weight, bias, targets, _ = _layer(v=10, m=4)
    q = np.full(10, 0.1)
    with pytest.raises(ValueError, match="targets"):
        sampled_softmax_loss(hidden, weight, bias, targets[:3], np.array([1]), q)
    with pytest.raises(ValueError, match=r"in \[0, 10\)"):
        sampled_softmax_loss(hidden, weight, bias, targets, np.array([10]), q)
    with pytest.raises(ValueError, match=r"q must be \(10,\)"):
        sampled_softmax_loss(hidden, weight, bias, targets, np.array([1]), q[:5])
    with pytest.raises(ValueError, match="at least one"):
        sampled_softmax_loss(hidden, weight, bias, targets, np.array([], np.int64), q)


def test_word_lstm_learns_a_repeating_text_with_the_sampled_softmax():
    dlk.manual_seed(0)
    rng = np.random.default_rng(0)
    ids = np.tile(np.arange(20), 30)
    model = WordLSTM(20, embed=8, hidden=16)
    logits, state = model(ids[None, :7])
    assert tuple(logits.shape) == (1, 7, 20) and tuple(state[0].shape) == (1, 1, 16)
    before = evaluate(model, ids, batch_size=4, seq_len=10)
    sampler = UnigramSampler(np.bincount(ids))
    opt = optim.Adam(model.parameters(), lr=2e-2)
    starts = range(0, 560, 23)
    x = np.stack([ids[i:i + 20] for i in starts])
    y = np.stack([ids[i + 1:i + 21] for i in starts])
    for _ in range(40):
        loss, _ = model.loss(x, y, None, sampler, 5, rng)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = evaluate(model, ids, batch_size=4, seq_len=10)
    assert before["ppl"] > 15 and after["ppl"] < 3
    assert after["loss"] == pytest.approx(math.log(after["ppl"]))
