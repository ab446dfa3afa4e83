"""Weight averaging (optim.swa_utils): the averaged model holds the mean (SWA) or the moving
average (EMA) of the weights it was given, as torch.optim.swa_utils computes them, and
update_bn recomputes batch-norm statistics for the averaged weights."""

from __future__ import annotations

import dl_kernels as dlk
import numpy as np
import pytest
from dl_kernels import nn, optim
from dl_kernels.optim.swa_utils import AveragedModel, get_ema_avg_fn, update_bn


def _net(seed: int = 0) -> nn.Module:
    dlk.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))


def _train_and_snapshot(net: nn.Module, avg: AveragedModel, steps: int) -> list[list[np.ndarray]]:
    """A few SGD steps on random data, folding each step's weights into ``avg``; returns the
    weights after every step."""
    rng = np.random.default_rng(1)
    opt = optim.SGD(net.parameters(), lr=0.1)
    seen = []
    for _ in range(steps):
        x = dlk.tensor(rng.standard_normal((4, 5)).astype(np.float32))
        loss = (net(x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        avg.update_parameters(net)
        seen.append([p.detach().numpy().astype(np.float64) for p in net.parameters()])
    return seen


def test_swa_holds_the_mean_of_the_weights_it_was_given():
    net = _net()
    avg = AveragedModel(net)
    seen = _train_and_snapshot(net, avg, steps=6)
    assert int(avg.n_averaged) == 6
    for k, p in enumerate(avg.module.parameters()):
        want = np.mean([s[k] for s in seen], axis=0)
        np.testing.assert_allclose(p.detach().numpy(), want, rtol=1e-5, atol=1e-6)


def test_ema_follows_its_recurrence_from_the_first_copy():
    net = _net()
    avg = AveragedModel(net, avg_fn=get_ema_avg_fn(0.75))
    seen = _train_and_snapshot(net, avg, steps=5)
    for k, p in enumerate(avg.module.parameters()):
        want = seen[0][k]
        for s in seen[1:]:
            want = 0.75 * want + 0.25 * s[k]
        np.testing.assert_allclose(p.detach().numpy(), want, rtol=1e-5, atol=1e-6)


def test_the_averaged_copy_is_independent_and_callable_like_the_model():
    net = _net()
    avg = AveragedModel(net)
    avg.update_parameters(net)
    before = [p.detach().numpy().copy() for p in avg.module.parameters()]
    for p in net.parameters():  # training the model later leaves the average untouched
        p.data.fill_(0.5)
    for b, p in zip(before, avg.module.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), b)
    x = dlk.tensor(np.ones((2, 5), np.float32))
    np.testing.assert_array_equal(avg(x).detach().numpy(), avg.module(x).detach().numpy())
    assert "n_averaged" in avg.state_dict()


def test_a_model_of_another_shape_is_refused_with_the_shapes():
    avg = AveragedModel(_net())
    other = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    with pytest.raises(ValueError, match=r"shape \(7, 5\), got \(8, 5\)"):
        avg.update_parameters(other)
    with pytest.raises(ValueError, match="expected a model with 4 tensors"):
        avg.update_parameters(nn.Linear(5, 7))
    with pytest.raises(ValueError, match=r"decay must be in \[0, 1\]"):
        get_ema_avg_fn(1.5)


def _bn_net() -> nn.Module:
    dlk.manual_seed(3)
    return nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2))


def _batches() -> list[np.ndarray]:
    rng = np.random.default_rng(2)
    return [(rng.standard_normal((n, 4)) * 3 + 1).astype(np.float32) for n in (8, 5, 11)]


def test_update_bn_gives_the_cumulative_mean_of_the_batch_statistics():
    net = _bn_net()
    net.eval()
    data = _batches()
    update_bn([(dlk.tensor(x), 0) for x in data], net)
    assert not net.training
    lin, bn = net[0], net[1]
    w = lin.weight.detach().numpy().astype(np.float64)
    b = lin.bias.detach().numpy().astype(np.float64)
    hs = [x.astype(np.float64) @ w.T + b for x in data]
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([h.mean(0) for h in hs], 0),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(),
                               np.mean([h.var(0, ddof=1) for h in hs], 0), rtol=1e-5)
    assert bn.momentum == 0.1


def test_swa_and_update_bn_agree_with_pytorch():
    torch = pytest.importorskip("torch")
    from torch.optim import swa_utils as tswa

    ours = _bn_net()
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6),
                                 torch.nn.ReLU(), torch.nn.Linear(6, 2))
    for p, q in zip(ours.parameters(), theirs.parameters()):
        q.data = torch.from_numpy(p.detach().numpy().copy())
    avg, tavg = AveragedModel(ours), tswa.AveragedModel(theirs)
    for step in range(4):
        for p, q in zip(ours.parameters(), theirs.parameters()):
            delta = np.full(tuple(p.shape), 0.1 * (step + 1), np.float32)
            p.data.add_(dlk.tensor(delta))
            q.data += torch.from_numpy(delta)
        avg.update_parameters(ours)
        tavg.update_parameters(theirs)
    data = _batches()
    update_bn([(dlk.tensor(x), 0) for x in data], avg)
    tswa.update_bn([(torch.from_numpy(x), 0) for x in data], tavg)
    for p, q in zip(avg.module.parameters(), tavg.module.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-6, atol=1e-7)
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(avg.module[1], name).numpy(),
                                   getattr(tavg.module[1], name).numpy(), rtol=1e-5, atol=1e-6)
