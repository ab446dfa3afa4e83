"""Learning-rate schedules: the notes' formulas and PyTorch's StepLR / ReduceLROnPlateau."""

from __future__ import annotations

import math

import dl_kernels as dlk
import numpy as np
import pytest
from dl_kernels import nn, optim


def _opt(lr=0.1, n_groups=1):
    params = [nn.Parameter(dlk.ones(2)) for _ in range(n_groups)]
    if n_groups == 1:
        return optim.SGD(params, lr=lr)
    return optim.SGD([{"params": [p], "lr": lr * (i + 1)} for i, p in enumerate(params)], lr=lr)


def test_exponential_decay_is_r0_beta_to_the_t_over_tau():
    opt = _opt(0.2)
    sched = optim.ExponentialDecay(opt, beta=0.5, tau=4)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(8):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    np.testing.assert_allclose(lrs, [0.2 * 0.5 ** (t / 4) for t in range(9)], rtol=1e-12)
    assert lrs[4] == pytest.approx(0.1)           # halves every tau steps
    assert opt.param_groups[0]["lr"] == lrs[-1]


def test_inverse_time_is_alpha0_over_i_plus_c():
    opt = _opt(1.0)
    sched = optim.InverseTime(opt, c=2.0)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(5):
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs, [1.0 / (i + 2.0) for i in range(6)])


def test_step_lr_matches_torch_with_two_groups():
    torch = pytest.importorskip("torch")
    opt = _opt(0.1, n_groups=2)
    sched = optim.StepLR(opt, step_size=3, gamma=0.5)
    tp = [torch.nn.Parameter(torch.ones(2)) for _ in range(2)]
    topt = torch.optim.SGD([{"params": [p], "lr": 0.1 * (i + 1)} for i, p in enumerate(tp)],
                           lr=0.1)
    tsched = torch.optim.lr_scheduler.StepLR(topt, step_size=3, gamma=0.5)
    for _ in range(10):
        opt.step()
        sched.step()
        topt.step()
        tsched.step()
        np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12)


def test_exponential_lr_matches_torch():
    torch = pytest.importorskip("torch")
    opt = _opt(0.1)
    sched = optim.ExponentialLR(opt, gamma=0.8)
    topt = torch.optim.SGD([torch.nn.Parameter(torch.ones(2))], lr=0.1)
    tsched = torch.optim.lr_scheduler.ExponentialLR(topt, gamma=0.8)
    for _ in range(6):
        opt.step()
        sched.step()
        topt.step()
        tsched.step()
        assert sched.get_last_lr()[0] == pytest.approx(tsched.get_last_lr()[0], rel=1e-12)


def test_bold_driver_grows_by_1_1_when_loss_falls_and_halves_when_it_rises():
    opt = _opt(0.1)
    bd = optim.BoldDriver(opt)
    expected = 0.1
    for prev, loss in zip([None, 5.0, 4.0, 4.5, 4.5, 3.0], [5.0, 4.0, 4.5, 4.5, 3.0, 3.1]):
        bd.step(loss)
        if prev is not None and loss < prev:
            expected *= 1.1
        elif prev is not None and loss > prev:
            expected *= 0.5
        assert opt.param_groups[0]["lr"] == pytest.approx(expected)
    assert bd.get_last_lr()[0] == pytest.approx(0.1 * 1.1 * 0.5 * 1.1 * 0.5)


def test_bold_driver_respects_its_bounds_and_rejects_bad_factors():
    opt = _opt(1.0)
    bd = optim.BoldDriver(opt, min_lr=0.4, max_lr=1.05)
    for loss in (3.0, 2.0, 1.0, 2.0, 3.0, 4.0):
        bd.step(loss)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.4)
    with pytest.raises(ValueError, match="increase"):
        optim.BoldDriver(opt, increase=0.9)


@pytest.mark.parametrize("kwargs", [{}, {"mode": "max", "factor": 0.5, "patience": 2},
                                    {"patience": 1, "threshold": 0.1, "threshold_mode": "abs",
                                         "cooldown": 2, "min_lr": 0.003}])
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    losses = np.concatenate([np.linspace(3, 1, 8), 1 + 0.05 * rng.standard_normal(40)])
    opt = _opt(0.1)
    sched = optim.ReduceLROnPlateau(opt, **kwargs)
    topt = torch.optim.SGD([torch.nn.Parameter(torch.ones(2))], lr=0.1)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    changed = False
    for loss in losses:
        sched.step(float(loss))
        tsched.step(float(loss))
        assert opt.param_groups[0]["lr"] == pytest.approx(topt.param_groups[0]["lr"], rel=1e-12)
        changed |= opt.param_groups[0]["lr"] != 0.1
    assert changed


def test_scheduler_state_dict_round_trips():
    opt = _opt(0.3)
    sched = optim.ExponentialDecay(opt, beta=0.9, tau=2.0)
    for _ in range(5):
        sched.step()
    state = sched.state_dict()
    opt2 = _opt(0.3)
    sched2 = optim.ExponentialDecay(opt2, beta=0.5, tau=1.0)
    sched2.load_state_dict(state)
    sched.step()
    sched2.step()
    assert sched2.get_last_lr() == sched.get_last_lr()
    assert sched2.get_last_lr()[0] == pytest.approx(0.3 * 0.9 ** 3)


def test_schedules_reject_invalid_arguments():
    opt = _opt()
    with pytest.raises(ValueError, match="beta"):
        optim.ExponentialDecay(opt, beta=1.5)
    with pytest.raises(ValueError, match="c > 0"):
        optim.InverseTime(opt, c=0)
    with pytest.raises(ValueError, match="step_size"):
        optim.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="Factor"):
        optim.ReduceLROnPlateau(opt, factor=1.0)
    assert math.isfinite(opt.param_groups[0]["lr"])
