"""The data layer as a PyTorch user expects it: Dataset / IterableDataset to subclass,
TensorDataset, Subset, random_split, samplers, collate_fn and worker processes."""

from __future__ import annotations

import os

import dl_kernels as dlk
import numpy as np
import pytest
from dl_kernels import nn
from dl_kernels.data import (
    BatchSampler,
    DataError,
    DataLoader,
    Dataset,
    IterableDataset,
    Sampler,
    Subset,
    TensorDataset,
    default_collate,
    get_worker_info,
    random_split,
)


class Blobs(Dataset):
    """Two Gaussian blobs, one sample per __getitem__ call, as a user would write it."""

    def __init__(self, n: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.y = rng.integers(0, 2, n)
        self.x = (rng.normal(size=(n, 2)) + 3.0 * self.y[:, None]).astype(np.float32)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.x[i], int(self.y[i])


class Stream(IterableDataset):
    """0..n-1, split between workers by get_worker_info as PyTorch's docs show."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        lo, step = (0, 1) if info is None else (info.id, info.num_workers)
        for i in range(lo, self.n, step):
            yield np.array([i], dtype=np.int64)


def test_a_dataset_subclass_trains_a_classifier_through_the_dataloader():
    dlk.manual_seed(0)
    ds = Blobs(200)
    loader = DataLoader(ds, batch_size=20, shuffle=True, seed=0)
    model = nn.Linear(2, 2)
    opt = dlk.optim.SGD(model.parameters(), lr=0.5)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(5):
        for xb, yb in loader:
            assert isinstance(xb, dlk.Tensor) and xb.shape == (20, 2) and yb.dtype == dlk.int64
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()
    with dlk.no_grad():
        pred = model(dlk.tensor(ds.x)).numpy().argmax(1)
    assert (pred == ds.y).mean() > 0.95


def test_a_map_style_dataset_stops_after_len_even_if_getitem_never_raises():
    class Endless(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.float32(i)

    batches = list(DataLoader(Endless(), batch_size=2, numpy=True))
    assert [b.tolist() for b in batches] == [[0, 1], [2, 3], [4]]


def test_a_list_of_samples_is_a_map_style_dataset():
    samples = [(np.full(2, i, np.float32), i) for i in range(5)]
    xb, yb = next(iter(DataLoader(samples, batch_size=5)))
    assert isinstance(xb, dlk.Tensor) and xb.shape == (5, 2) and yb.tolist() == [0, 1, 2, 3, 4]


def test_tensor_dataset_subset_and_random_split_partition_the_samples():
    ds = TensorDataset(np.arange(10), dlk.arange(10) * 2)
    x, y = ds[3]
    assert int(x) == 3 and int(y.item()) == 6
    parts = random_split(ds, [6, 3, 1], seed=0)
    assert [len(p) for p in parts] == [6, 3, 1]
    seen = sorted(int(p[i][0]) for p in parts for i in range(len(p)))
    assert seen == list(range(10))
    assert [p.indices for p in random_split(ds, [0.7, 0.3], seed=4)] == \
        [p.indices for p in random_split(ds, [0.7, 0.3], seed=4)]
    assert [int(v[0]) for v in Subset(ds, [9, 1])] == [9, 1]
    with pytest.raises(DataError, match="sum to the data set's 10 samples"):
        random_split(ds, [5, 4])
    with pytest.raises(DataError, match="same first dimension"):
        TensorDataset(np.zeros(3), np.zeros(4))


def test_batches_are_tensors_by_default_and_numpy_on_request_and_nested_structure_kept():
    class Dicts(Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return {"x": np.full(2, i, np.float32), "name": f"s{i}", "y": i}

    (b,) = list(DataLoader(Dicts(), batch_size=3))
    assert isinstance(b["x"], dlk.Tensor) and b["x"].shape == (3, 2)
    assert b["name"] == ["s0", "s1", "s2"] and b["y"].tolist() == [0, 1, 2]
    (b,) = list(DataLoader(Dicts(), batch_size=3, numpy=True))
    assert isinstance(b["x"], np.ndarray) and b["y"].dtype == np.int64


def test_collate_fn_output_is_returned_as_is_and_ragged_samples_need_one():
    class Ragged(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return np.ones(i + 1)

    with pytest.raises(DataError, match="different shapes"):
        list(DataLoader(Ragged(), batch_size=2))
    lengths = [[len(s) for s in b] for b in DataLoader(Ragged(), batch_size=2, collate_fn=list)]
    assert lengths == [[1, 2], [3, 4]]


def test_a_sampler_object_with_set_epoch_decides_the_order_and_drop_last_drops():
    class Reversed(Sampler):
        """A sampler whose order depends on the epoch (as a distributed sampler's does)."""

        def __init__(self, n):
            self.n, self.epoch = n, 0

        def set_epoch(self, epoch):
            self.epoch = epoch

        def __iter__(self):
            order = list(range(self.n))[::-1]
            return iter(order[self.epoch:] + order[:self.epoch])

        def __len__(self):
            return self.n

    sampler = Reversed(5)
    loader = DataLoader(TensorDataset(np.arange(5)), batch_size=2, sampler=sampler,
                        drop_last=True, numpy=True)
    assert len(loader) == 2
    assert [b[0].tolist() for b in loader] == [[4, 3], [2, 1]]
    sampler.set_epoch(1)
    assert [b[0].tolist() for b in loader] == [[3, 2], [1, 0]]
    with pytest.raises(DataError, match="mutually exclusive"):
        DataLoader(TensorDataset(np.arange(5)), sampler=sampler, shuffle=True)
    bs = BatchSampler(range(5), batch_size=3, drop_last=False)
    got = [b[0].tolist() for b in DataLoader(TensorDataset(np.arange(5)), batch_sampler=bs,
                                             numpy=True)]
    assert got == [[0, 1, 2], [3, 4]]


def test_a_sampler_that_deals_whole_batches_is_used_as_the_batch_sampler():
    class Shards:
        """Rank 1 of 2's half of each global batch of 4, as a distributed sampler deals."""

        batch_size = 4

        def __len__(self):
            return 3

        def __iter__(self):
            for lo in range(0, 10, 4):
                batch = np.arange(lo, min(lo + 4, 10))
                yield batch[len(batch) // 2:]

    x, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    loader = DataLoader(x, y, sampler=Shards())
    assert len(loader) == 3
    assert [yb.tolist() for _, yb in loader] == [[2, 3], [6, 7], [9]]


def test_iterable_dataset_batches_and_rejects_shuffle():
    assert [b.tolist() for b in DataLoader(Stream(5), batch_size=2, numpy=True)] == \
        [[[0], [1]], [[2], [3]], [[4]]]
    with pytest.raises(DataError, match="IterableDataset has no indices"):
        DataLoader(Stream(5), shuffle=True)


def _noise_and_seed(_):
    # Numbers drawn inside the worker from the globally seeded generators.
    info = get_worker_info()
    return np.array([info.id, info.seed, np.random.randint(1 << 30)], dtype=np.int64)


class _Seeds(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return _noise_and_seed(i)


@pytest.mark.skipif(os.name == "nt", reason="worker processes are tested with fork")
def test_workers_keep_the_order_and_are_seeded_per_worker_and_per_epoch():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    ds = TensorDataset(x, np.arange(20))
    one = [tuple(b) for b in DataLoader(ds, batch_size=3, shuffle=True, seed=7, numpy=True)]
    two = [tuple(b) for b in DataLoader(ds, batch_size=3, shuffle=True, seed=7, numpy=True,
                                        num_workers=2)]
    assert len(one) == len(two) == 7
    for (xa, ya), (xb, yb) in zip(one, two):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)

    loader = DataLoader(_Seeds(), batch_size=2, num_workers=2, seed=0, numpy=True)
    epoch1 = np.concatenate(list(loader))
    epoch2 = np.concatenate(list(loader))
    ids, seeds = epoch1[:, 0], epoch1[:, 1]
    assert ids.tolist() == [0, 0, 1, 1, 0, 0, 1, 1]  # batch b on worker b % 2
    assert seeds[2] == seeds[0] + 1                   # base_seed + worker_id
    assert len(set(epoch1[:, 2])) == 8                # workers draw different numbers
    assert epoch2[0, 1] != epoch1[0, 1]               # a fresh base seed every epoch
    again = np.concatenate(list(DataLoader(_Seeds(), batch_size=2, num_workers=2, seed=0,
                                           numpy=True)))
    np.testing.assert_array_equal(again, epoch1)      # reproducible from the seed


class _Broken(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        if i == 3:
            raise KeyError("sample 3 is missing")
        return np.float32(i)


class _Dies(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        os._exit(3)


@pytest.mark.skipif(os.name == "nt", reason="worker processes are tested with fork")
def test_worker_errors_and_deaths_raise_instead_of_hanging():
    with pytest.raises(DataError, match="sample 3 is missing"):
        list(DataLoader(_Broken(), batch_size=1, num_workers=2))
    with pytest.raises(DataError, match="exited unexpectedly with code 3"):
        list(DataLoader(_Dies(), batch_size=1, num_workers=1))


@pytest.mark.skipif(os.name == "nt", reason="worker processes are tested with fork")
def test_iterable_dataset_with_workers_splits_the_stream_round_robin():
    got = [b.ravel().tolist() for b in DataLoader(Stream(7), batch_size=2, num_workers=2,
                                                  numpy=True)]
    assert got == [[0, 2], [1, 3], [4, 6], [5]]


def test_default_collate_stacks_tensors_and_numbers():
    t = default_collate([dlk.ones(2), dlk.zeros(2)])
    assert isinstance(t, dlk.Tensor) and t.shape == (2, 2)
    assert default_collate([1.5, 2.5]).dtype == np.float64
