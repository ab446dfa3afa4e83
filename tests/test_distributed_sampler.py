"""DistributedSampler and the sharded loaders: every rank a disjoint share of each global
batch, the ranks together exactly the one-process batches whatever their number, a new order
every epoch. Pure numpy: no MPI needed."""

from __future__ import annotations

import numpy as np
import pytest
from dl_kernels.data import DataLoader, SequenceLoader
from dl_kernels.distributed import DistributedSampler, shard_range


@pytest.mark.parametrize("n", [0, 1, 5, 7, 64])
@pytest.mark.parametrize("world", [1, 2, 3, 8])
def test_shard_range_tiles_contiguously_with_sizes_differing_by_at_most_one(n, world):
    pieces = [shard_range(n, r, world) for r in range(world)]
    assert pieces[0][0] == 0 and pieces[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:]))
    sizes = [hi - lo for lo, hi in pieces]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("world", [1, 2, 3, 5])
@pytest.mark.parametrize("n,batch", [(100, 10), (103, 7), (11, 5)])
def test_ranks_together_see_the_one_process_batches_in_order(world, n, batch):
    if batch < world:
        pytest.skip("batch smaller than the world is rejected (tested below)")
    one = DistributedSampler(n, batch, num_replicas=1, rank=0, seed=3)
    shards = [DistributedSampler(n, batch, num_replicas=world, rank=r, seed=3)
              for r in range(world)]
    for epoch in range(2):
        for s in [one, *shards]:
            s.set_epoch(epoch)
        per_rank = [list(s) for s in shards]
        for i, global_batch in enumerate(one):
            joined = np.concatenate([per_rank[r][i] for r in range(world)])
            np.testing.assert_array_equal(joined, global_batch)
            assert shards[0].global_size(i) == len(global_batch)
        everything = np.concatenate([b for p in per_rank for b in p])
        assert sorted(everything.tolist()) == list(range(n))  # disjoint and complete


def test_reshuffled_per_epoch_and_reproducible_from_seed_and_epoch():
    s = DistributedSampler(50, 10, num_replicas=2, rank=1, seed=7)
    first = np.concatenate(list(s))
    s.set_epoch(1)
    second = np.concatenate(list(s))
    assert not np.array_equal(first, second)
    again = DistributedSampler(50, 10, num_replicas=2, rank=1, seed=7)
    again.set_epoch(1)
    np.testing.assert_array_equal(np.concatenate(list(again)), second)
    ordered = DistributedSampler(10, 4, num_replicas=2, rank=0, shuffle=False)
    assert [b.tolist() for b in ordered] == [[0, 1], [4, 5], [8]]


def test_bad_arguments_name_the_values():
    with pytest.raises(ValueError, match="smaller than the 4 ranks"):
        DistributedSampler(100, 3, num_replicas=4, rank=0)
    with pytest.raises(ValueError, match=r"rank must be in \[0, 2\), got 2"):
        DistributedSampler(100, 8, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas must be >= 1"):
        DistributedSampler(100, 8, num_replicas=0, rank=0)


def test_data_loader_with_a_sampler_yields_the_rank_share_and_counts_epochs():
    x = np.arange(30, dtype=np.float32).reshape(15, 2)
    y = np.arange(15)

    def loader(rank, world):
        s = DistributedSampler(15, 6, num_replicas=world, rank=rank, seed=1)
        return DataLoader(x, y, sampler=s, seed=1)

    one, halves = loader(0, 1), [loader(r, 2) for r in range(2)]
    assert len(one) == len(halves[0]) == 3
    orders = []
    for epoch in range(2):  # the caller tells the samplers the epoch, as in PyTorch
        for dl in (one, *halves):
            dl.batch_sampler.set_epoch(epoch)
        full = list(one)
        orders.append(np.concatenate([yb for _, yb in full]))
        parts = [list(h) for h in halves]
        for i, (xb, yb) in enumerate(full):
            np.testing.assert_array_equal(np.concatenate([p[i][1] for p in parts]), yb)
            np.testing.assert_array_equal(np.concatenate([p[i][0] for p in parts]), xb)
    assert one.state_dict()["epoch"] == 2
    assert not np.array_equal(*orders)  # a fresh order each epoch
    with pytest.raises(ValueError, match="covers 15 samples but x has 14"):
        DataLoader(x[:14], y[:14], sampler=DistributedSampler(15, 6, num_replicas=1, rank=0))


@pytest.mark.parametrize("world", [1, 2, 3])
def test_sequence_loader_shards_rows_of_the_global_batch(world):
    ids = np.arange(1000) % 37
    full = SequenceLoader(ids, 6, 9, random_offset=True, seed=2, drop_last=True)
    parts = [SequenceLoader(ids, 6, 9, random_offset=True, seed=2, drop_last=True,
                            shard=(r, world)) for r in range(world)]
    for _ in range(2):
        whole = list(full)
        pieces = [list(p) for p in parts]
        assert all(len(p) == len(whole) for p in pieces)
        for i, (xb, yb) in enumerate(whole):
            np.testing.assert_array_equal(np.concatenate([p[i][0] for p in pieces]), xb)
            np.testing.assert_array_equal(np.concatenate([p[i][1] for p in pieces]), yb)
