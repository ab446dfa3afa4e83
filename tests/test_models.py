"""dl_kernels.models: shapes, parameter counts, the perceptron rule, each model's loss falls,
perplexity conventions, sampling and beam search."""

from __future__ import annotations

import math

import dl_kernels as dlk
import numpy as np
import pytest
from dl_kernels import nn, optim
from dl_kernels.models import (
    MLP,
    CharRNN,
    InceptionNet,
    LeNet,
    LogisticRegression,
    Perceptron,
    beam_search,
    get_model_spec,
    perceptron_targets,
    perplexities,
    sample,
)


@pytest.fixture(autouse=True)
def _one_thread():
    before = dlk.get_num_threads()
    dlk.set_num_threads(1)
    dlk.manual_seed(0)
    yield
    dlk.set_num_threads(before)


def test_logistic_regression_has_the_notes_7850_parameters_on_28x28():
    assert LogisticRegression((1, 28, 28), 10).num_parameters() == 28 * 28 * 10 + 10 == 7850


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 13, 11)])
@pytest.mark.parametrize("cls", [LogisticRegression, Perceptron, MLP, LeNet, InceptionNet])
def test_image_models_map_a_batch_to_class_scores(cls, shape):
    model = cls(shape, 7)
    x = dlk.tensor(np.random.default_rng(0).standard_normal((3, *shape)).astype(np.float32))
    out = model(x)
    assert tuple(out.shape) == (3, 7)
    assert np.isfinite(out.detach().numpy()).all()


def test_cnn_rejects_flat_inputs_naming_the_shape():
    with pytest.raises(ValueError, match=r"\(C, H, W\).*\(64,\)"):
        LeNet((64,), 10)


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown model 'resnet'.*mlp"):
        get_model_spec("resnet")
    assert get_model_spec("LeNet").name == "cnn"


def test_perceptron_step_is_the_notes_rule():
    """beta(i+1) = beta(i) + 0.5 (y(i) - f(x(i))) x(i): zero change when right, +-x when wrong."""
    model = Perceptron((3,), 2)
    with dlk.no_grad():
        model.linear.weight.copy_(dlk.tensor(np.array([[1.0, -0.8, 0.0], [0.0, 0.0, 0.0]],
                                                      dtype=np.float32)))
    opt = optim.Perceptron(model.parameters(), lr=0.5)
    x = np.array([[0.5, 1.0, 2.0]], dtype=np.float32)  # class 0 scores 0.5 - 0.8 < 0: wrong
    w0 = model.linear.weight.detach().numpy().copy()
    b0 = model.linear.bias.detach().numpy().copy()
    loss = nn.PerceptronLoss()(model(dlk.tensor(x)), perceptron_targets(np.array([0]), 2))
    opt.zero_grad()
    loss.backward()
    opt.step()
    y = np.array([1.0, -1.0])  # one-vs-rest targets for class 0
    f = np.where(w0 @ x[0] + b0 >= 0, 1.0, -1.0)
    e = y - f
    np.testing.assert_allclose(model.linear.weight.detach().numpy(), w0 + 0.5 * e[:, None] * x[0],
                               atol=1e-6)
    np.testing.assert_allclose(model.linear.bias.detach().numpy(), b0 + 0.5 * e, atol=1e-6)


def _separable(n: int, d: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, d)) * 3
    y = rng.integers(0, classes, n)
    x = centres[y] + rng.standard_normal((n, d))
    return x.astype(np.float32), y.astype(np.int64)


@pytest.mark.parametrize("name", ["logreg", "perceptron", "mlp", "cnn", "inception"])
def test_each_image_model_loss_falls(name):
    spec = get_model_spec(name)
    x, y = _separable(64, 64, 4)
    x = x.reshape(64, 1, 8, 8)
    model = spec.build((1, 8, 8), 4)
    if name == "perceptron":
        opt = optim.Perceptron(model.parameters(), lr=0.5)
        loss_fn = nn.PerceptronLoss()
        target = perceptron_targets(y, 4)
    else:
        opt = optim.Adam(model.parameters(), lr=3e-3)
        loss_fn = nn.CrossEntropyLoss()
        target = dlk.tensor(y)
    losses, errors = [], []
    for _ in range(15):
        opt.zero_grad()
        out = model(dlk.tensor(x))
        loss = loss_fn(out, target)
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
        errors.append(int((out.detach().numpy().argmax(1) != y).sum()))
    if name == "perceptron":
        # Zero initial weights score 0 everywhere, so the criterion starts at 0 although
        # everything is misclassified: its falling quantity is the error count.
        assert errors[-1] < 0.25 * errors[0], errors
    else:
        assert losses[-1] < 0.5 * losses[0], losses


def test_perplexity_reports_both_conventions():
    p = perplexities(math.log(4.0))  # uniform over 4 characters: 2 bits
    assert p["ppl"] == pytest.approx(4.0)
    assert p["bits"] == pytest.approx(2.0)
    assert p["ppl2"] == pytest.approx(2.0 ** math.log(4.0))


def _train_char(cell: str, steps: int = 40) -> tuple[CharRNN, list[float]]:
    text = np.array([0, 1, 2, 3, 2, 1] * 40 + [0], dtype=np.int64)  # a periodic "language"
    model = CharRNN(4, embed=8, hidden=16, cell=cell)
    opt = optim.Adam(model.parameters(), lr=2e-2)
    x = text[:-1].reshape(5, -1)[:, :40]
    y = text[1:].reshape(5, -1)[:, :40]
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        logits, _ = model(x)
        loss = nn.CrossEntropyLoss()(logits.reshape(-1, 4), dlk.tensor(y.reshape(-1)))
        loss.backward()
        optim.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        losses.append(float(loss.item()))
    return model, losses


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_char_model_loss_falls_and_it_learns_the_pattern(cell):
    model, losses = _train_char(cell)
    assert losses[-1] < 0.3 * losses[0], losses
    greedy = sample(model, np.array([0, 1, 2]), 9, temperature=0)
    assert greedy.tolist() == [3, 2, 1, 0, 1, 2, 3, 2, 1]
    best, logp = beam_search(model, np.array([0, 1, 2]), 9, beam=3)
    assert best.tolist() == greedy.tolist()
    assert logp <= 0


def test_sampling_is_seeded_and_temperature_sharpens():
    model = CharRNN(5, embed=4, hidden=8)
    a = sample(model, np.array([1]), 50, temperature=1.0, rng=3)
    b = sample(model, np.array([1]), 50, temperature=1.0, rng=3)
    assert a.tolist() == b.tolist()
    assert ((a >= 0) & (a < 5)).all()
    cold = sample(model, np.array([1]), 50, temperature=1e-3, rng=4)
    assert cold.tolist() == sample(model, np.array([1]), 50, temperature=0).tolist()


def test_beam_search_finds_a_sequence_at_least_as_likely_as_greedy():
    dlk.manual_seed(5)
    model = CharRNN(6, embed=4, hidden=8)

    def logprob(prime: np.ndarray, cont: np.ndarray) -> float:
        ids = np.concatenate([prime, cont])
        with dlk.no_grad():
            logits, _ = model(ids[None, :-1])
        z = logits.numpy()[0].astype(np.float64)
        lp = z - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)) - \
            z.max(1, keepdims=True)
        tail = lp[len(prime) - 1:]
        return float(tail[np.arange(len(cont)), cont].sum())

    prime = np.array([2, 3])
    greedy = sample(model, prime, 6, temperature=0)
    best, score = beam_search(model, prime, 6, beam=4)
    assert score == pytest.approx(logprob(prime, best), abs=1e-4)
    assert score >= logprob(prime, greedy) - 1e-6
