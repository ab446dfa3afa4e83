"""create_graph (double backward) and autograd.grad: gradients that are themselves
differentiable, checked by gradcheck of the gradient and against torch.autograd.grad."""

from __future__ import annotations

import dl_kernels as dk
import dl_kernels.nn.functional as dF
import numpy as np
import pytest
from dl_kernels.autograd import grad, gradcheck

# f(L, F, x, w) -> scalar, written once for dl_kernels and torch
FUNCTIONS = [
    ("poly_trig", lambda L, F, x, w: (x ** 3 * x.sin() + (x * w).tanh() / (1.0 + w * w)).sum()),
    ("exp_log_sqrt", lambda L, F, x, w: ((x * x + 1.0).log() * w.exp() + (w * w + 1.0).sqrt())
     .sum()),
    ("pow_tensor", lambda L, F, x, w: ((x * x + 0.5) ** w).sum()),
    ("matmul_sigmoid", lambda L, F, x, w: (x.reshape(2, 3) @ w.reshape(3, 2)).sigmoid().sum()),
    ("linear_softmax", lambda L, F, x, w: (F.softmax(F.linear(x.reshape(2, 3), w.reshape(2, 3)),
                                                     1) ** 2).sum()),
    ("log_softmax_mean", lambda L, F, x, w: (F.log_softmax(x.reshape(3, 2) * w.reshape(3, 2), 0)
                                             ** 2).mean()),
    ("where_abs_cat", lambda L, F, x, w: (L.where(x > 0, x * w, w.abs()) ** 2).sum()
     + L.cat([x, w * 2]).cos().sum()),
    ("slice_permute", lambda L, F, x, w: (x.reshape(2, 3)[:, 1:] * w.reshape(3, 2).permute(1, 0)
                                          [:, :2]).exp().sum()),
    ("special_reductions", lambda L, F, x, w: (L.erf(x) * L.tan(w) + x.var() * w.logsumexp(0)
                                               + L.maximum(x, w).amax() * F.softplus(w).sum())
     .sum()),
    ("clamp_split_scan", lambda L, F, x, w: sum((p * p).sum() for p in x.clamp(-1.0, 1.0)
                                                .split(2)) + (L.cumsum(w * x, 0).flip(0)
                                                              * F.pad(x, (1, 0))[:6]).sum()),
    ("relu_expand", lambda L, F, x, w: (F.relu(x).unsqueeze(0).expand(2, 6) * w).pow(2).sum()),
]
IDS = [f[0] for f in FUNCTIONS]


def _inputs(seed):
    r = np.random.default_rng(seed)
    return r.uniform(-1.5, 1.5, 6), r.uniform(-1.0, 1.0, 6)


@pytest.mark.parametrize("name,f", FUNCTIONS, ids=IDS)
def test_the_gradient_passes_gradcheck(name, f):
    xa, wa = _inputs(0)
    x, w = dk.tensor(xa, requires_grad=True), dk.tensor(wa, requires_grad=True)

    def gradient(x, w):
        with dk.enable_grad():  # gradcheck's finite differences run under no_grad
            gx, gw = grad(f(dk, dF, x, w), (x, w), create_graph=True)
            return (gx * gx).sum() + (gx * gw).sum()

    assert gradcheck(gradient, (x, w))


@pytest.mark.parametrize("name,f", FUNCTIONS, ids=IDS)
def test_second_derivatives_match_pytorch(name, f):
    torch = pytest.importorskip("torch")
    xa, wa = _inputs(1)
    results = []
    for lib, F, g in ((dk, dF, grad), (torch, torch.nn.functional, torch.autograd.grad)):
        x = lib.tensor(xa, requires_grad=True)
        w = lib.tensor(wa, requires_grad=True)
        gx, gw = g(f(lib, F, x, w), (x, w), create_graph=True)
        hx, hw = g((gx * gw).sum() + (gx ** 2).sum(), (x, w))
        results.append([t.detach().numpy() for t in (gx, gw, hx, hw)])
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


def test_backward_with_create_graph_gives_differentiable_grads():
    torch = pytest.importorskip("torch")
    wa = np.random.default_rng(0).standard_normal((3, 2))
    xa = np.random.default_rng(1).standard_normal((4, 3))
    out = []
    for lib in (dk, torch):
        w = lib.tensor(wa, requires_grad=True)
        loss = (lib.tensor(xa) @ w).tanh().sum()
        loss.backward(create_graph=True)
        penalty = (w.grad ** 2).sum()
        first = w.grad.detach().numpy().copy()
        w.grad = None
        penalty.backward()
        out.append((first, w.grad.numpy()))
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-10)
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-10)


def test_grad_without_create_graph_works_for_every_op_and_leaves_grad_alone():
    x = dk.tensor(np.random.default_rng(0).standard_normal((1, 2, 5, 5)), requires_grad=True)
    w = dk.tensor(np.random.default_rng(1).standard_normal((3, 2, 3, 3)), requires_grad=True)
    y = dF.conv2d(x, w).sum()
    gx, gw = grad(y, (x, w), retain_graph=True)
    y.backward()
    np.testing.assert_allclose(gx.numpy(), x.grad.numpy())
    np.testing.assert_allclose(gw.numpy(), w.grad.numpy())


def test_create_graph_through_an_op_without_a_tensor_rule_raises():
    x = dk.tensor(np.ones((3, 1, 1)), requires_grad=True)  # (T, N, I)
    h = dk.tensor(np.ones((1, 1, 2)), requires_grad=True)
    c = dk.tensor(np.ones((1, 1, 2)), requires_grad=True)
    out, _ = dk.nn.LSTM(1, 2, dtype=dk.float64)(x, (h, c))
    with pytest.raises(NotImplementedError, match="LSTM"):
        grad(out.sum(), x, create_graph=True)


@pytest.mark.parametrize("kw", [{}, {"stride": 2, "padding": 1, "groups": 2},
                                {"dilation": 2, "padding": (1, 0)}],
                         ids=["plain", "strided_grouped", "dilated"])
def test_conv2d_double_backward_matches_pytorch(kw):
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(0)
    xa, wa, ba = r.standard_normal((2, 4, 6, 5)), r.standard_normal((3 * 2, 2 if kw.get(
        "groups") else 4, 3, 2)), r.standard_normal(6)
    results = []
    for lib, F, g in ((dk, dF, grad), (torch, torch.nn.functional, torch.autograd.grad)):
        x, w, b = (lib.tensor(a, requires_grad=True) for a in (xa, wa, ba))
        y = (F.conv2d(x, w, b, **kw).tanh() ** 2).sum()
        gx, gw, gb = g(y, (x, w, b), create_graph=True)
        hx, hw, hb = g((gx ** 2).sum() + (gw ** 2).sum() + (gb * gb).sum(), (x, w, b))
        results.append([t.detach().numpy() for t in (gx, gw, gb, hx, hw, hb)])
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-10)


def test_grad_of_an_unused_input():
    x, z = dk.tensor([1.0], requires_grad=True), dk.tensor([2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="allow_unused"):
        grad((x * 2).sum(), (x, z))
    gx, gz = grad((x * 2).sum(), (x, z), allow_unused=True)
    assert gx.item() == 2.0 and gz is None
