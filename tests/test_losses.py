"""Loss modules against torch.nn and the notes' formulas (mixture density, perceptron,
penalties)."""

from __future__ import annotations

import math

import dl_kernels as dlk
import numpy as np
import pytest
from dl_kernels import nn

RNG = np.random.default_rng(11)


def _t(a, grad=False):
    t = dlk.tensor(np.asarray(a))
    return t.requires_grad_() if grad else t


def _both(torch, a):
    return _t(a, grad=True), torch.tensor(a, requires_grad=True)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_classification_losses_match_torch(reduction):
    torch = pytest.importorskip("torch")
    logits = RNG.standard_normal((7, 5))
    target = RNG.integers(0, 5, 7)
    target[2] = -100
    weight = RNG.random(5) + 0.5
    cases = [
        (nn.CrossEntropyLoss(reduction=reduction),
         torch.nn.CrossEntropyLoss(reduction=reduction), logits),
        (nn.CrossEntropyLoss(reduction=reduction, label_smoothing=0.2),
         torch.nn.CrossEntropyLoss(reduction=reduction, label_smoothing=0.2), logits),
        (nn.CrossEntropyLoss(weight=_t(weight), reduction=reduction),
         torch.nn.CrossEntropyLoss(weight=torch.tensor(weight), reduction=reduction), logits),
        (nn.NLLLoss(reduction=reduction), torch.nn.NLLLoss(reduction=reduction),
         logits - np.log(np.exp(logits).sum(1, keepdims=True))),
    ]
    for ours, ref, inp in cases:
        a, b = _both(torch, inp)
        out, exp = ours(a, _t(target)), ref(b, torch.tensor(target))
        np.testing.assert_allclose(out.detach().numpy(), exp.detach().numpy(), rtol=1e-10,
                                   atol=1e-12)
        out.sum().backward()
        exp.sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_and_binary_losses_match_torch(reduction):
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((4, 3))
    y = RNG.standard_normal((4, 3))
    p = 1 / (1 + np.exp(-x))
    t01 = (RNG.random((4, 3)) > 0.5).astype(np.float64)
    var = RNG.random((4, 3)) + 0.1
    cases = [
        (nn.MSELoss(reduction=reduction), torch.nn.MSELoss(reduction=reduction), x, y, ()),
        (nn.BCELoss(reduction=reduction), torch.nn.BCELoss(reduction=reduction), p, t01, ()),
        (nn.BCEWithLogitsLoss(reduction=reduction),
         torch.nn.BCEWithLogitsLoss(reduction=reduction), x * 5, t01, ()),
        (nn.GaussianNLLLoss(reduction=reduction), torch.nn.GaussianNLLLoss(reduction=reduction),
         x, y, (var,)),
        (nn.GaussianNLLLoss(full=True, reduction=reduction),
         torch.nn.GaussianNLLLoss(full=True, reduction=reduction), x, y, (var,)),
    ]
    for ours, ref, inp, tgt, extra in cases:
        a, b = _both(torch, inp)
        out = ours(a, _t(tgt), *[_t(e) for e in extra])
        exp = ref(b, torch.tensor(tgt), *[torch.tensor(e) for e in extra])
        np.testing.assert_allclose(out.detach().numpy(), exp.detach().numpy(), rtol=1e-10,
                                   atol=1e-12, err_msg=type(ours).__name__)
        out.sum().backward()
        exp.sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_reduction_must_be_known():
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")


def _mdn_reference(out, y, k, d):
    """−log Σ_k π_k N(y; μ_k, diag exp(s_k)) per example, straight from the notes."""
    logits, mu, s = out[:, :k], out[:, k:k + k * d], out[:, k + k * d:]
    pi = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    mu, var = mu.reshape(-1, k, d), np.exp(s.reshape(-1, k, d))
    dens = np.prod(np.exp(-0.5 * (y[:, None, :] - mu) ** 2 / var) / np.sqrt(2 * np.pi * var),
                   axis=2)
    return -np.log((pi * dens).sum(1))


@pytest.mark.parametrize("k,d", [(1, 1), (3, 2), (5, 3)])
def test_mixture_density_loss_is_the_notes_likelihood(k, d):
    crit = nn.MixtureDensityLoss(k, d, reduction="none")
    out = RNG.standard_normal((6, crit.num_outputs)) * 0.7
    y = RNG.standard_normal((6, d))
    got = crit(_t(out), _t(y)).numpy()
    np.testing.assert_allclose(got, _mdn_reference(out, y, k, d), rtol=1e-10)
    mean = nn.MixtureDensityLoss(k, d)(_t(out), _t(y)).item()
    assert mean == pytest.approx(_mdn_reference(out, y, k, d).mean(), rel=1e-10)


def test_mixture_density_loss_with_one_component_is_gaussian_nll():
    torch = pytest.importorskip("torch")
    d = 3
    out = RNG.standard_normal((5, 1 + 2 * d))
    y = RNG.standard_normal((5, d))
    ours = nn.MixtureDensityLoss(1, d, reduction="sum")(_t(out), _t(y)).item()
    ref = torch.nn.GaussianNLLLoss(full=True, reduction="sum", eps=0)(
        torch.tensor(out[:, 1:1 + d]), torch.tensor(y), torch.tensor(np.exp(out[:, 1 + d:])))
    assert ours == pytest.approx(float(ref), rel=1e-10)


def test_mixture_density_loss_gradient_by_finite_differences():
    k, d = 2, 2
    crit = nn.MixtureDensityLoss(k, d, reduction="sum")
    out = RNG.standard_normal((3, crit.num_outputs)) * 0.5
    y = RNG.standard_normal((3, d))
    x = _t(out, grad=True)
    crit(x, _t(y)).backward()
    num = np.zeros_like(out)
    eps = 1e-6
    for idx in np.ndindex(out.shape):
        up, dn = out.copy(), out.copy()
        up[idx] += eps
        dn[idx] -= eps
        num[idx] = (_mdn_reference(up, y, k, d).sum() - _mdn_reference(dn, y, k, d).sum()) / (
            2 * eps)
    np.testing.assert_allclose(x.grad.numpy(), num, rtol=1e-6, atol=1e-8)


def test_mixture_density_loss_rejects_wrong_shapes():
    crit = nn.MixtureDensityLoss(2, 3)
    with pytest.raises(ValueError, match=r"\(N, 14\).*\(4, 13\)"):
        crit(_t(np.zeros((4, 13))), _t(np.zeros((4, 3))))
    with pytest.raises(ValueError, match="target"):
        crit(_t(np.zeros((4, 14))), _t(np.zeros((4, 2))))


def test_perceptron_loss_counts_only_misclassified_examples():
    z = np.array([[2.0], [-1.0], [0.5], [-3.0]])
    y = np.array([[1.0], [1.0], [-1.0], [-1.0]])
    # misclassified: #1 (z=-1, y=+1) and #2 (z=0.5, y=-1): loss = 2·1 + 2·0.5
    assert nn.PerceptronLoss()(_t(z), _t(y)).item() == pytest.approx(3.0)


def test_l1_and_l2_penalties():
    lin = nn.Linear(3, 2)
    w = [p.detach().numpy().astype(np.float64) for p in lin.parameters()]
    l2 = nn.l2_penalty(lin.parameters())
    l1 = nn.l1_penalty([lin.weight])
    assert l2.item() == pytest.approx(0.5 * sum((a**2).sum() for a in w), rel=1e-6)
    assert l1.item() == pytest.approx(np.abs(w[0]).sum(), rel=1e-6)
    l2.backward()
    np.testing.assert_allclose(lin.weight.grad.numpy(), w[0], rtol=1e-6)  # ∂(½w²)/∂w = w
    with pytest.raises(ValueError, match="no parameters"):
        nn.l2_penalty([])
    assert math.isfinite(l1.item())
