"""Collectives and DistributedDataParallel, run on every rank of a two-process MPI job:

    mpirun -np 2 --oversubscribe python -m pytest -q -p no:cacheprovider tests/mpi

(.ci/run does this; as root add --allow-run-as-root). Under plain pytest they skip, saying so.
Every rank runs the same tests in the same order, so their collectives match up."""

from __future__ import annotations

import os

import dl_kernels as dlk
import numpy as np
import pytest
from dl_kernels import distributed as dist
from dl_kernels import nn

pytestmark = pytest.mark.skipif(
    not dist.launched_by_mpirun() or not dist.is_available()
    or os.environ.get("OMPI_COMM_WORLD_SIZE", os.environ.get("PMI_SIZE")) != "2",
    reason="runs on the ranks of `mpirun -np 2 python -m pytest tests/mpi` (needs Open MPI "
           "and mpi4py: " + dist.INSTALL_HINT + ")")


@pytest.fixture(scope="module")
def rank() -> int:
    r, w = dist.init()
    assert w == 2
    return r


def test_all_reduce_sums_in_place_without_copying_the_buffer(rank):
    t = dlk.tensor(np.arange(6, dtype=np.float32).reshape(2, 3) * (rank + 1))
    buf = t.numpy()
    dist.all_reduce(t)
    assert t.numpy() is buf or np.shares_memory(t.numpy(), buf)  # reduced in place
    np.testing.assert_array_equal(buf, np.arange(6).reshape(2, 3) * 3)
    m = dlk.tensor([1.0 + rank, 10.0 * rank], dtype=dlk.float64)
    dist.all_reduce(m, "mean")
    np.testing.assert_array_equal(m.numpy(), [1.5, 5.0])
    mx = dlk.tensor([rank, -rank], dtype=dlk.int64)
    dist.all_reduce(mx, "max")
    np.testing.assert_array_equal(mx.numpy(), [1, 0])


def test_strided_views_are_staged_and_written_back(rank):
    base = dlk.tensor(np.ones((3, 4), dtype=np.float32) * (rank + 1))
    view = base.transpose(0, 1)  # not C-contiguous
    dist.all_reduce(view)
    np.testing.assert_array_equal(view.numpy(), np.full((4, 3), 3.0))


def test_async_all_reduce_and_broadcast_from_rank_1(rank):
    t = dlk.tensor([float(rank)] * 4)
    work = dist.all_reduce(t, async_op=True)
    work.wait()
    assert work.is_completed()
    np.testing.assert_array_equal(t.numpy(), [1.0] * 4)
    b = dlk.tensor([rank * 7.0, rank * 8.0])
    dist.broadcast(b, src=1)
    np.testing.assert_array_equal(b.numpy(), [7.0, 8.0])
    dist.barrier()
    assert dist.all_gather_object({"rank": rank}) == [{"rank": 0}, {"rank": 1}]
    assert dist.broadcast_object("from zero" if rank == 0 else None) == "from zero"
    with pytest.raises(ValueError, match="unknown reduction"):
        dist.all_reduce(t, "median")


def _mlp(seed: int, hidden: int = 7) -> nn.Module:
    dlk.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, hidden), nn.Tanh(), nn.Linear(hidden, 6), nn.Tanh(),
                         nn.Linear(6, 3))


def _batch(n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    g = np.random.default_rng(42)
    return g.standard_normal((n, 5)).astype(np.float32), g.integers(0, 3, n)


def _full_batch_grads(model: nn.Module, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    ref = _mlp(0)
    ref.load_state_dict(model.state_dict())
    nn.CrossEntropyLoss()(ref(dlk.tensor(x)), dlk.tensor(y)).backward()
    return [p.grad.numpy().copy() for p in ref.parameters()]


def test_ddp_averages_gradients_to_the_full_batch_gradient_during_backward(rank):
    model = _mlp(seed=rank)  # different initial weights: rank 0's are broadcast
    ddp = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=60 / 2**20)  # 15 floats
    assert len(ddp._buckets) >= 4
    x, y = _batch()
    expected = _full_batch_grads(model, x, y)
    part = slice(0, 5) if rank == 0 else slice(5, 10)
    nn.CrossEntropyLoss()(ddp(dlk.tensor(x[part])), dlk.tensor(y[part])).backward()
    for p, g in zip(model.parameters(), expected):
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-5, atol=1e-7)
    stats = ddp.comm_stats()
    assert stats["steps"] == 1 and stats["bytes"] == sum(stats["bucket_bytes"])
    ddp.remove_hooks()


def test_buckets_are_filled_in_reverse_parameter_order_and_started_early(rank):
    model = _mlp(seed=0)
    ddp = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=60 / 2**20)
    params = list(model.parameters())
    flat = [p for b in ddp._buckets for p in b.params]
    assert [id(p) for p in flat] == [id(p) for p in reversed(params)]
    started = []
    params[0].register_post_accumulate_grad_hook(lambda p: started.append(ddp._next))
    x, y = _batch()
    nn.CrossEntropyLoss()(ddp(dlk.tensor(x)), dlk.tensor(y)).backward()
    # When the first layer's weight gradient is ready, only its own layer's buckets can be
    # missing: every later layer's all-reduce is on the wire while backward goes on.
    assert started and len(ddp._buckets) - 2 <= started[0] < len(ddp._buckets)
    ddp.remove_hooks()


def test_no_sync_accumulates_locally_then_averages_the_sum(rank):
    model = _mlp(seed=0)
    ddp = nn.parallel.DistributedDataParallel(model)
    x, y = _batch(20)
    ref = _mlp(0)
    ref.load_state_dict(model.state_dict())
    loss = nn.CrossEntropyLoss()
    for lo in (0, 10):  # the reference: both micro-batches of both ranks, summed, / 2 ranks
        loss(ref(dlk.tensor(x[lo:lo + 10])), dlk.tensor(y[lo:lo + 10])).backward()
    mine = (slice(0, 5), slice(10, 15)) if rank == 0 else (slice(5, 10), slice(15, 20))
    with ddp.no_sync():
        loss(ddp(dlk.tensor(x[mine[0]])), dlk.tensor(y[mine[0]])).backward()
    local = [p.grad.numpy().copy() for p in model.parameters()]
    loss(ddp(dlk.tensor(x[mine[1]])), dlk.tensor(y[mine[1]])).backward()
    for p, r, before in zip(model.parameters(), ref.parameters(), local):
        np.testing.assert_allclose(p.grad.numpy(), r.grad.numpy(), rtol=1e-5, atol=1e-7)
        assert not np.allclose(before, p.grad.numpy())  # no exchange inside no_sync
    ddp.remove_hooks()


def test_a_parameter_unused_on_one_rank_does_not_hang(rank):
    model = _mlp(seed=0)
    ddp = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=60 / 2**20)
    x, y = _batch()
    if rank == 0:
        nn.CrossEntropyLoss()(ddp(dlk.tensor(x)), dlk.tensor(y)).backward()
    else:  # rank 1 uses only the first layer: the rest of its buckets are zeros
        model[0](dlk.tensor(x)).sum().backward()
    ddp.synchronize()
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    dist.all_reduce(dlk.tensor(np.zeros(1)))  # still in step
    both = dist.all_gather_object(grads)
    for a, b in zip(*both):
        np.testing.assert_array_equal(a, b)
    ddp.remove_hooks()


def test_mismatched_models_are_reported_on_every_rank(rank):
    model = _mlp(seed=0, hidden=7 + rank)
    expected = r"rank 1 has parameter '0.weight' of shape \(8, 5\).* rank 0 has .*\(7, 5\)"
    with pytest.raises(dist.DistributedError, match=expected):
        nn.parallel.DistributedDataParallel(model)


def test_a_rank_without_a_batch_contributes_zeros(rank):
    model = _mlp(seed=0)
    ddp = nn.parallel.DistributedDataParallel(model)
    x, y = _batch(1)  # a final global batch of one sample: rank 1's share is empty
    expected = _full_batch_grads(model, x, y)
    if rank == 0:  # weighted by its share (1 of 1 samples) times the 2 ranks
        (nn.CrossEntropyLoss()(ddp(dlk.tensor(x)), dlk.tensor(y)) * 2.0).backward()
        ddp.synchronize()
    else:
        ddp.zero_contribution()
    for p, g in zip(model.parameters(), expected):
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-5, atol=1e-7)
    ddp.remove_hooks()
