"""Optimisers: PyTorch's update rules step for step, param groups, state_dict, and the
notes' perceptron rule and QuickProp."""

from __future__ import annotations

import dl_kernels as dlk
import numpy as np
import pytest
from dl_kernels import nn, optim

SHAPES = [(3, 5), (7,), (1, 1)]


def _grad_fn(step: int, p: np.ndarray, k: int) -> np.ndarray:
    """A deterministic, bounded, step-dependent gradient field (bounded so that ``maximize``
    cannot blow up): pulls p towards c, plus a wobble."""
    c = np.linspace(-1, 1, p.size).reshape(p.shape)
    return np.tanh(2.0 * (p - c)) + np.cos(p) * (0.3 + 0.1 * k) * np.sin(step + 1.0)


def _run_ours(cls, kwargs, inits, steps=20, groups=None):
    params = [nn.Parameter(dlk.tensor(a.copy())) for a in inits]
    if groups:
        opt = cls([{"params": params[:1], **groups[0]}, {"params": params[1:], **groups[1]}],
                  **kwargs)
    else:
        opt = cls(params, **kwargs)
    traj = []
    for s in range(steps):
        for k, p in enumerate(params):
            p.grad = dlk.tensor(_grad_fn(s, p.detach().numpy().astype(np.float64), k)
                                .astype(np.float32))
        opt.step()
        traj.append([p.detach().numpy().copy() for p in params])
    return traj, opt, params


def _run_torch(torch, cls, kwargs, inits, steps=20, groups=None):
    params = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in inits]
    if groups:
        opt = cls([{"params": params[:1], **groups[0]}, {"params": params[1:], **groups[1]}],
                  **kwargs)
    else:
        opt = cls(params, **kwargs)
    traj = []
    for s in range(steps):
        for k, p in enumerate(params):
            g = _grad_fn(s, p.detach().numpy().astype(np.float64), k).astype(np.float32)
            p.grad = torch.from_numpy(g)
        opt.step()
        traj.append([p.detach().numpy().copy() for p in params])
    return traj


def _inits(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in SHAPES]


CASES = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "maximize": True}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.02,
                 "initial_accumulator_value": 0.3}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.7, "centered": True,
                 "weight_decay": 0.01}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("Adam", {"lr": 0.05}),
    ("Adam", {"lr": 0.05, "betas": (0.8, 0.95), "weight_decay": 0.05, "amsgrad": True}),
    ("Adam", {"lr": 0.05, "eps": 1e-3, "maximize": True}),
    ("AdamW", {"lr": 0.05}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.3, "amsgrad": True}),
]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in
                                                     enumerate(CASES)])
def test_trajectory_over_20_steps_equals_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    inits = _inits()
    ours, _, _ = _run_ours(getattr(optim, name), kwargs, inits)
    ref = _run_torch(torch, getattr(torch.optim, name), kwargs, inits)
    for step, (a, b) in enumerate(zip(ours, ref)):
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5, err_msg=f"step {step}")


def test_param_groups_override_defaults_like_torch():
    torch = pytest.importorskip("torch")
    groups = [{"lr": 0.2, "momentum": 0.0}, {"momentum": 0.9}]
    inits = _inits(1)
    ours, opt, _ = _run_ours(optim.SGD, {"lr": 0.05}, inits, groups=groups)
    ref = _run_torch(torch, torch.optim.SGD, {"lr": 0.05}, inits, groups=groups)
    assert [g["lr"] for g in opt.param_groups] == [0.2, 0.05]
    for a, b in zip(ours[-1], ref[-1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name,kwargs", [("SGD", {"lr": 0.05, "momentum": 0.9}),
                                         ("Adam", {"lr": 0.05, "amsgrad": True}),
                                         ("RMSprop",
                                          {"lr": 0.01, "centered": True, "momentum": 0.5}),
                                         ("Adagrad", {"lr": 0.1}),
                                         ("QuickProp", {"lr": 0.05})])
def test_state_dict_resume_continues_the_same_trajectory(name, kwargs, tmp_path):
    cls = getattr(optim, name)
    inits = _inits(2)
    full, _, _ = _run_ours(cls, kwargs, inits, steps=12)
    _, opt, params = _run_ours(cls, kwargs, inits, steps=6)
    nn.save(opt.state_dict(), tmp_path / "opt.ckpt")
    # a fresh optimiser on fresh parameters holding the half-way values
    params2 = [nn.Parameter(dlk.tensor(p.detach().numpy().copy())) for p in params]
    opt2 = cls(params2, **kwargs)
    opt2.load_state_dict(nn.load(tmp_path / "opt.ckpt"))
    for s in range(6, 12):
        for k, p in enumerate(params2):
            p.grad = dlk.tensor(_grad_fn(s, p.detach().numpy().astype(np.float64), k)
                                .astype(np.float32))
        opt2.step()
    for a, b in zip(full[-1], params2):
        np.testing.assert_allclose(b.detach().numpy(), a, rtol=1e-6, atol=1e-6)


def test_zero_grad_sets_to_none_or_zero():
    p = nn.Parameter(dlk.ones(3))
    p.grad = dlk.ones(3)
    opt = optim.SGD([p], lr=0.1)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.numpy(), np.zeros(3, np.float32))
    opt.zero_grad()
    assert p.grad is None


def test_parameters_without_grad_are_skipped():
    a, b = nn.Parameter(dlk.ones(2)), nn.Parameter(dlk.ones(2))
    a.grad = dlk.ones(2)
    optim.SGD([a, b], lr=0.5).step()
    np.testing.assert_allclose(a.detach().numpy(), [0.5, 0.5])
    np.testing.assert_allclose(b.detach().numpy(), [1.0, 1.0])


def test_invalid_hyper_parameters_raise_value_error():
    p = [nn.Parameter(dlk.ones(2))]
    with pytest.raises(ValueError, match="learning rate"):
        optim.SGD(p, lr=-1.0)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam(p, betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="empty"):
        optim.Adam([])
    with pytest.raises(ValueError, match="more than one"):
        optim.SGD([{"params": p}, {"params": p}], lr=0.1)


def test_closure_is_called_and_its_loss_returned():
    p = nn.Parameter(dlk.tensor([2.0]))
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss.item()) == pytest.approx(4.0)
    np.testing.assert_allclose(p.detach().numpy(), [1.0])  # 2 − 0.25·4


# ---- the notes' rules --------------------------------------------------------------------------
def test_perceptron_rule_is_the_notes_update_beta_plus_half_e_x():
    x = np.array([[1.0, -2.0, 0.5]], np.float32)
    w0 = np.array([[0.3, 0.4, -0.1]], np.float32)
    b0 = np.array([0.05], np.float32)
    layer = nn.Linear(3, 1)
    layer.weight.data = dlk.tensor(w0.copy())
    layer.bias.data = dlk.tensor(b0.copy())
    y = dlk.tensor([[1.0]])           # true class +1; z = 0.3 − 0.8 − 0.05 + 0.05 < 0 → f = −1
    opt = optim.Perceptron(layer.parameters(), lr=0.5)
    loss = nn.PerceptronLoss()(layer(dlk.tensor(x)), y)
    loss.backward()
    opt.step()
    e = 1.0 - (-1.0)
    np.testing.assert_allclose(layer.weight.detach().numpy(), w0 + 0.5 * e * x, rtol=1e-6)
    np.testing.assert_allclose(layer.bias.detach().numpy(), b0 + 0.5 * e, rtol=1e-6)


def test_perceptron_loss_is_zero_with_zero_gradient_on_a_correct_example():
    layer = nn.Linear(2, 1)
    x = dlk.tensor([[0.5, -1.0]])
    z = float(layer(x).item())
    y = dlk.tensor([[1.0 if z >= 0 else -1.0]])
    loss = nn.PerceptronLoss()(layer(x), y)
    loss.backward()
    assert loss.item() == 0.0
    np.testing.assert_array_equal(layer.weight.grad.numpy(), np.zeros((1, 2), np.float32))


def test_perceptron_rule_separates_linearly_separable_data():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 2)).astype(np.float32)
    y = np.where(x @ np.array([1.5, -1.0]) + 0.3 >= 0, 1.0, -1.0).astype(np.float32)[:, None]
    layer = nn.Linear(2, 1)
    opt = optim.Perceptron(layer.parameters(), lr=0.5)
    crit = nn.PerceptronLoss()
    for _epoch in range(100):
        for i in range(len(x)):                    # online: one example at a time
            opt.zero_grad()
            crit(layer(dlk.tensor(x[i:i + 1])), dlk.tensor(y[i:i + 1])).backward()
            opt.step()
        with dlk.no_grad():
            pred = np.where(layer(dlk.tensor(x)).numpy() >= 0, 1.0, -1.0)
        if (pred == y).all():
            break
    np.testing.assert_array_equal(pred, y)


def test_quickprop_jumps_to_the_minimum_of_a_parabola_in_two_steps():
    # E = Σ a_i (θ_i − m_i)², independent per coordinate: the secant step is exact.
    a = np.array([0.5, 2.0, 1.0], np.float64)
    m = np.array([1.0, -0.5, 0.25], np.float64)
    p = nn.Parameter(dlk.tensor(np.zeros(3), dtype=dlk.float64))
    opt = optim.QuickProp([p], lr=0.1, mu=100.0)
    for _ in range(2):
        p.grad = dlk.tensor(2 * a * (p.detach().numpy() - m), dtype=dlk.float64)
        opt.step()
    np.testing.assert_allclose(p.detach().numpy(), m, rtol=1e-10, atol=1e-12)


def test_quickprop_growth_limit_bounds_each_step_by_mu_times_the_last():
    # A nearly flat slope: the parabola's minimum is far away; the step may grow by mu only.
    p = nn.Parameter(dlk.tensor([0.0], dtype=dlk.float64))
    opt = optim.QuickProp([p], lr=1.0, mu=1.75)
    steps, prev = [], 0.0
    for g in (1.0, 0.99, 0.98):
        p.grad = dlk.tensor([g], dtype=dlk.float64)
        opt.step()
        now = float(p.detach().numpy()[0])
        steps.append(now - prev)
        prev = now
    assert steps[0] == pytest.approx(-1.0)
    assert steps[1] == pytest.approx(-1.75)
    assert steps[2] == pytest.approx(-1.75**2)


def test_quickprop_reverses_part_way_when_the_gradient_changes_sign():
    p = nn.Parameter(dlk.tensor([0.0], dtype=dlk.float64))
    opt = optim.QuickProp([p], lr=1.0)
    p.grad = dlk.tensor([1.0], dtype=dlk.float64)
    opt.step()                                   # θ = −1
    p.grad = dlk.tensor([-3.0], dtype=dlk.float64)
    opt.step()                                   # factor −3/(1+3) = −0.75: Δ = +0.75
    np.testing.assert_allclose(p.detach().numpy(), [-0.25])


# ---- clipping ----------------------------------------------------------------------------------
def test_clip_grad_norm_returns_the_total_norm_and_scales_like_torch():
    torch = pytest.importorskip("torch")
    grads = [g * 3 for g in _inits(4)]
    ours = [nn.Parameter(dlk.zeros(*g.shape)) for g in grads]
    ref = [torch.nn.Parameter(torch.zeros(*g.shape)) for g in grads]
    for p, q, g in zip(ours, ref, grads):
        p.grad = dlk.tensor(g.copy())
        q.grad = torch.from_numpy(g.copy())
    total = optim.clip_grad_norm_(ours, max_norm=1.5)
    total_ref = torch.nn.utils.clip_grad_norm_(ref, max_norm=1.5)
    assert total == pytest.approx(float(total_ref), rel=1e-5)
    expected = np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in grads))
    assert total == pytest.approx(expected, rel=1e-5)
    for p, q in zip(ours, ref):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7)
    clipped = np.sqrt(sum((p.grad.numpy().astype(np.float64) ** 2).sum() for p in ours))
    assert clipped == pytest.approx(1.5, rel=1e-4)


def test_clip_grad_norm_leaves_small_gradients_unchanged_and_supports_inf_norm():
    p = nn.Parameter(dlk.zeros(3))
    p.grad = dlk.tensor([0.1, -0.2, 0.05])
    assert optim.clip_grad_norm_([p], 10.0) == pytest.approx(np.sqrt(0.0525), rel=1e-6)
    np.testing.assert_allclose(p.grad.numpy(), [0.1, -0.2, 0.05])
    assert optim.clip_grad_norm_([p], 0.1, norm_type=float("inf")) == pytest.approx(0.2)
    np.testing.assert_allclose(p.grad.numpy(), [0.05, -0.1, 0.025], rtol=1e-4)


def test_clip_grad_value_clamps_each_element():
    p = nn.Parameter(dlk.zeros(4))
    p.grad = dlk.tensor([-3.0, -0.5, 0.2, 7.0])
    optim.clip_grad_value_([p], 1.0)
    np.testing.assert_array_equal(p.grad.numpy(), np.array([-1.0, -0.5, 0.2, 1.0], np.float32))
