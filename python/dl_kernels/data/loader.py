"""DataLoader: mini-batches from a data set, as PyTorch's, plus seeded shuffles.

SGD needs its samples "really random": each epoch draws a fresh permutation from the loader's
own numpy Generator, and the ``transform`` hook (augmentation, noise) draws from the same
Generator, so an epoch is reproducible from the seed, and the loader's state can be saved in
a checkpoint and restored (``state_dict`` / ``load_state_dict``).

Two ways in:

- PyTorch's: ``DataLoader(dataset, batch_size=..., shuffle=..., sampler=..., collate_fn=...,
  num_workers=...)`` with a map-style :class:`~dl_kernels.data.Dataset` (``__getitem__`` and
  ``__len__``) or an :class:`~dl_kernels.data.IterableDataset`. Batches are our Tensors
  (``numpy=True``: numpy arrays).
- Arrays: ``DataLoader(x, y, ...)`` or ``DataLoader(split, ...)`` slices whole batches out of
  the arrays (fast: no per-sample Python call). Arrays in, arrays out: batches are numpy unless
  ``numpy=False``.
"""

from __future__ import annotations

import multiprocessing as mp
import numbers
import queue
import random
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from dl_kernels.data._errors import DataError
from dl_kernels.data.dataset import IterableDataset, TensorDataset
from dl_kernels.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler
from dl_kernels.data.splits import SeedLike, Split, as_generator

Transform = Callable[[Any, np.random.Generator], Any]


# ---- collation --------------------------------------------------------------------------------
def default_collate(batch: Sequence[Any]) -> Any:
    """Stack a list of samples into one batch, keeping the samples' structure.

    numpy arrays and numbers are stacked into a numpy array (a new leading batch axis),
    Tensors into a Tensor; tuples, lists and dicts are collated field by field; strings stay
    a list. :class:`DataLoader` then turns numpy leaves into Tensors unless ``numpy=True``.

    Example:
        >>> import numpy as np
        >>> xb, yb = default_collate([(np.zeros(2), 0), (np.ones(2), 1)])
        >>> xb.shape, yb.tolist()
        ((2, 2), [0, 1])
    """
    from dl_kernels.ops.core import stack
    from dl_kernels.tensor import Tensor

    if len(batch) == 0:
        raise DataError("cannot collate an empty batch")
    first = batch[0]
    if isinstance(first, Tensor):
        return stack(list(batch))
    if isinstance(first, (np.ndarray, np.generic, int, float, bool)) and not isinstance(first, str):
        try:
            return np.stack([np.asarray(b) for b in batch])
        except ValueError as exc:
            shapes = sorted({np.shape(b) for b in batch})
            raise DataError(f"cannot stack samples of different shapes {shapes}: pass a "
                            "collate_fn that pads or keeps them as a list") from exc
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, Mapping):
        return {k: default_collate([b[k] for b in batch]) for k in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):  # namedtuple
        return type(first)(*(default_collate(list(f)) for f in zip(*batch)))
    if isinstance(first, (tuple, list)):
        sizes = {len(b) for b in batch}
        if len(sizes) != 1:
            raise DataError(f"samples have different numbers of fields: {sorted(sizes)}")
        fields = [default_collate(list(f)) for f in zip(*batch)]
        return tuple(fields) if isinstance(first, tuple) else fields
    raise DataError(f"default_collate cannot batch samples of type {type(first).__name__}: "
                    "pass a collate_fn")


def _convert(obj: Any, to_numpy: bool) -> Any:
    """numpy leaves to Tensors (or Tensors to numpy), through tuples, lists and dicts."""
    from dl_kernels.tensor import Tensor, tensor

    if to_numpy and isinstance(obj, Tensor):
        return obj.detach().numpy()
    if not to_numpy and isinstance(obj, np.ndarray) and obj.dtype.kind in "biuf":
        return tensor(obj)
    if isinstance(obj, Mapping):
        return {k: _convert(v, to_numpy) for k, v in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(_convert(v, to_numpy) for v in obj))
    if isinstance(obj, (tuple, list)):
        out = [_convert(v, to_numpy) for v in obj]
        return tuple(out) if isinstance(obj, tuple) else out
    return obj


# ---- worker processes -------------------------------------------------------------------------
@dataclass(frozen=True)
class WorkerInfo:
    """What :func:`get_worker_info` returns inside a worker process."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """Inside a DataLoader worker: its id, the number of workers, its seed and its copy of
    the data set (use them to split an IterableDataset's stream). None in the main process.

    Example:
        >>> get_worker_info() is None
        True
    """
    return _worker_info


def _seed_worker(seed: int) -> None:
    from dl_kernels.factories import manual_seed

    random.seed(seed)
    np.random.seed(seed % 2**32)
    manual_seed(seed % 2**63)


def _worker_loop(loader: DataLoader, worker_id: int, seed: int, tasks: Any, results: Any) -> None:
    """Fetch and collate the batches asked for on ``tasks`` (map-style) or stream this
    worker's share (iterable-style), putting ("ok", batch) or ("error", text) on ``results``."""
    global _worker_info
    try:
        _seed_worker(seed)
        _worker_info = WorkerInfo(worker_id, loader.num_workers, seed, loader.dataset)
        loader.rng = np.random.default_rng(seed)  # the transform's draws, per worker
        if loader.worker_init_fn is not None:
            loader.worker_init_fn(worker_id)
        if loader._iterable:
            for batch in loader._iterable_batches():
                results.put(("ok", batch))
            results.put(("end", None))
            return
        while True:
            indices = tasks.get()
            if indices is None:
                return
            results.put(("ok", loader._fetch(indices)))
    except KeyboardInterrupt:
        pass
    except BaseException:  # noqa: BLE001 (sent to the main process, which raises it)
        results.put(("error", f"in DataLoader worker {worker_id}:\n{traceback.format_exc()}"))


# ---- the loader -------------------------------------------------------------------------------
class DataLoader:
    """Mini-batches over a data set, PyTorch's ``DataLoader`` with seeded shuffles.

    Args:
        dataset: a map-style data set (``__getitem__`` + ``__len__``, e.g. a
            :class:`~dl_kernels.data.Dataset` subclass or :class:`TensorDataset`), an
            :class:`~dl_kernels.data.IterableDataset`, a numpy array of inputs (N, ...), or a
            :class:`~dl_kernels.data.Split` (then ``y`` comes from it).
        y: labels (N, ...) when ``dataset`` is an array of inputs; batches are then
            ``(x_batch, y_batch)``.
        batch_size: samples per batch (default 1, as PyTorch); None yields single samples.
        shuffle: a fresh random order every epoch (map-style data only).
        sampler: an iterable of indices with ``__len__`` (PyTorch's Sampler protocol);
            excludes ``shuffle``. One that deals whole batches of indices and says so with a
            ``batch_size`` attribute (:class:`BatchSampler`, a distributed sampler over a
            global batch) is used as ``batch_sampler``. A sampler with ``set_epoch`` is told
            the epoch by the caller, as in PyTorch.
        batch_sampler: an iterable of index lists; excludes batch_size, shuffle, sampler and
            drop_last.
        num_workers: 0 loads in this process; k > 0 starts k worker processes, each seeded
            with ``base_seed + worker_id`` (numpy, ``random`` and ``dl_kernels.manual_seed``),
            where ``base_seed`` is drawn from the loader's Generator every epoch.
        collate_fn: ``f(list_of_samples) -> batch`` (default :func:`default_collate`). Its
            output is returned as is.
        drop_last: drop the final incomplete batch.
        seed: int, numpy Generator or None; drives the shuffles, the workers' seeds and the
            transform (PyTorch's ``generator``).
        transform: ``f(x_batch, rng) -> x_batch`` applied to each batch's inputs (its first
            field) after collation, e.g. ``Compose([RandomShift(2), standardizer])``.
        numpy: True yields numpy arrays, False our Tensors. Default: numpy when ``dataset``
            is an array or Split (arrays in, arrays out), Tensors otherwise.
        worker_init_fn: called as ``f(worker_id)`` in each worker after seeding.
        timeout: seconds to wait for a worker's batch before raising (0 = wait for ever,
            while checking every second that the workers are alive).
        prefetch_factor: batches each worker has in flight.

    Every sample appears exactly once per epoch (except the dropped remainder).

    Example:
        >>> import numpy as np
        >>> from dl_kernels.data import TensorDataset
        >>> ds = TensorDataset(np.arange(12, dtype=np.float32).reshape(6, 2), np.arange(6))
        >>> for xb, yb in DataLoader(ds, batch_size=4, shuffle=True, seed=0):
        ...     print(type(xb).__name__, tuple(xb.shape), yb.dtype)
        Tensor (4, 2) dl_kernels.int64
        Tensor (2, 2) dl_kernels.int64
        >>> [b.tolist() for b in DataLoader(np.arange(5), batch_size=2)]  # arrays in, arrays out
        [[0, 1], [2, 3], [4]]
    """

    def __init__(
        self,
        dataset: Any,
        y: Any = None,
        *,
        batch_size: int | None = 1,
        shuffle: bool = False,
        sampler: Any = None,
        batch_sampler: Any = None,
        num_workers: int = 0,
        collate_fn: Callable[[list], Any] | None = None,
        drop_last: bool = False,
        seed: SeedLike = None,
        transform: Transform | None = None,
        numpy: bool | None = None,
        worker_init_fn: Callable[[int], None] | None = None,
        timeout: float = 0,
        prefetch_factor: int = 2,
        generator: SeedLike = None,
    ) -> None:
        from dl_kernels.tensor import Tensor

        self._arrays: tuple[Any, Any] | None = None
        if isinstance(dataset, Split):
            if y is not None:
                raise DataError("pass either a Split or arrays x, y, not both")
            dataset, y = dataset.x, dataset.y
        # A list is a map-style data set of samples, as in PyTorch; arrays are sliced.
        if isinstance(dataset, (np.ndarray, Tensor)) or y is not None:
            x = dataset if isinstance(dataset, Tensor) else np.asarray(dataset)
            if x.ndim == 0:
                raise DataError("x must have a samples axis, got a scalar")
            if y is not None:
                y = y if isinstance(y, Tensor) else np.asarray(y)
                if len(y) != len(x):
                    raise DataError(f"x has {len(x)} samples but y has {len(y)}")
            self._arrays = (x, y)
            self.x, self.y = x, y
            default_numpy = True
        else:
            default_numpy = False
        self.dataset = dataset
        self._iterable = isinstance(dataset, IterableDataset) or (
            self._arrays is None and not hasattr(dataset, "__getitem__") and
            hasattr(dataset, "__iter__"))  # fmt: skip
        if self._arrays is None and not self._iterable and not hasattr(dataset, "__len__"):
            raise DataError(f"a map-style data set needs __getitem__ and __len__; "
                            f"{type(dataset).__name__} has no __len__")
        if batch_size is not None and (isinstance(batch_size, bool)
                                       or not isinstance(batch_size, numbers.Integral)
                                       or batch_size < 1):
            raise DataError(f"batch_size must be >= 1 and an integer, or None; got {batch_size!r}")
        if int(num_workers) < 0:
            raise DataError(f"num_workers must be >= 0, got {num_workers}")
        if int(prefetch_factor) < 1:
            raise DataError(f"prefetch_factor must be >= 1, got {prefetch_factor}")
        if seed is not None and generator is not None:
            raise DataError("pass seed or generator, not both")
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.transform = transform
        self.collate_fn = collate_fn
        self.num_workers = int(num_workers)
        self.worker_init_fn = worker_init_fn
        self.timeout = float(timeout)
        self.prefetch_factor = int(prefetch_factor)
        self.numpy = default_numpy if numpy is None else bool(numpy)
        self.rng = as_generator(seed if generator is None else generator)
        self.epoch = 0

        if self._iterable:
            if shuffle or sampler is not None or batch_sampler is not None:
                raise DataError("an IterableDataset has no indices: shuffle, sampler and "
                                "batch_sampler do not apply (shuffle inside its __iter__)")
            self.sampler = None
            self.batch_sampler = None
            return
        if sampler is not None and batch_sampler is None and hasattr(sampler, "batch_size") \
                and batch_size == 1 and not drop_last:
            # A sampler that deals whole batches (BatchSampler, a distributed sampler over a
            # global batch) decides the batches itself.
            sampler, batch_sampler = None, sampler
        if sampler is not None and shuffle:
            raise DataError("sampler and shuffle are mutually exclusive (the sampler decides "
                            "the order)")
        if batch_sampler is not None:
            if sampler is not None or shuffle or drop_last or batch_size not in (1, None):
                raise DataError("batch_sampler is mutually exclusive with batch_size, shuffle, "
                                "sampler and drop_last")
            self.batch_size = None
        if sampler is None:
            source = self._arrays[0] if self._arrays is not None else dataset
            sampler = RandomSampler(source, seed=self.rng) if shuffle else SequentialSampler(source)
        elif not hasattr(sampler, "__iter__"):
            raise DataError(f"sampler must be an iterable of indices, got {type(sampler).__name__}")
        self.sampler: Sampler | None = sampler
        if batch_sampler is None and self.batch_size is not None:
            batch_sampler = BatchSampler(sampler, self.batch_size, self.drop_last)
        self.batch_sampler = batch_sampler
        # A sampler that shards a data set of a stated size (DistributedSampler) must be
        # built for this one: indices past the end would fail mid-epoch, missing ones
        # would silently never be seen.
        sharding = batch_sampler if hasattr(batch_sampler, "num_replicas") else sampler
        covers = getattr(sharding, "num_samples", None) if hasattr(sharding, "num_replicas") \
            else None
        if covers is not None and not self._iterable and covers != self.num_samples:
            raise DataError(f"the sampler covers {covers} samples but x has {self.num_samples}")

    # ---- sizes
    @property
    def num_samples(self) -> int:
        """Samples in the data set (map-style or arrays)."""
        if self._arrays is not None:
            return len(self._arrays[0])
        if self._iterable:
            raise TypeError("an IterableDataset has no known number of samples")
        return len(self.dataset)

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)  # TypeError when the stream has no length, as in PyTorch
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return len(self.sampler)  # type: ignore[arg-type]

    # ---- fetching one batch (here or in a worker)
    def _fetch(self, indices: Any) -> Any:
        if isinstance(indices, (np.ndarray, tuple, range)) and np.ndim(indices) == 1:
            indices = np.asarray(indices, dtype=np.int64).tolist()  # a batch of indices
        if self._arrays is not None and self.collate_fn is None:
            x, y = self._arrays
            if isinstance(indices, list):
                idx = np.asarray(indices, dtype=np.int64)
                lo = int(idx[0]) if len(idx) else 0
                if len(idx) and np.array_equal(idx, np.arange(lo, lo + len(idx))):
                    idx = slice(lo, lo + len(idx))  # in order: a view, no copy
                xb = x[idx]
                yb = None if y is None else y[idx]
            else:
                xb, yb = x[int(indices)], None if y is None else y[int(indices)]
            batch = xb if yb is None else (xb, yb)
        elif isinstance(indices, list) and self.collate_fn is None and \
                type(self.dataset) is TensorDataset and \
                all(isinstance(t, np.ndarray) for t in self.dataset.tensors):
            # What default_collate would build, one fancy index per array instead of a
            # Python call per sample.
            idx = np.asarray(indices, dtype=np.int64)
            batch = tuple(t[idx] for t in self.dataset.tensors)
        elif isinstance(indices, list):
            samples = [self._sample(i) for i in indices]
            batch = (self.collate_fn or default_collate)(samples)
        else:
            batch = self._sample(indices)
        return self._finish(batch)

    def _sample(self, i: int) -> Any:
        if self._arrays is not None:
            x, y = self._arrays
            return x[i] if y is None else (x[i], y[i])
        return self.dataset[i]

    def _finish(self, batch: Any) -> Any:
        if self.transform is not None:
            if isinstance(batch, tuple) and batch:
                batch = (self.transform(batch[0], self.rng),) + batch[1:]
            else:
                batch = self.transform(batch, self.rng)
        return batch

    def _iterable_batches(self) -> Iterator[Any]:
        it = iter(self.dataset)
        if self.batch_size is None:
            for sample in it:
                yield self._finish(sample)
            return
        samples: list[Any] = []
        for sample in it:
            samples.append(sample)
            if len(samples) == self.batch_size:
                yield self._finish((self.collate_fn or default_collate)(samples))
                samples = []
        if samples and not self.drop_last:
            yield self._finish((self.collate_fn or default_collate)(samples))

    def _out(self, batch: Any) -> Any:
        return batch if self.collate_fn is not None else _convert(batch, self.numpy)

    def _index_stream(self) -> Iterator[Any]:
        return iter(self.batch_sampler if self.batch_sampler is not None else self.sampler)

    # ---- iteration
    def __iter__(self) -> Iterator[Any]:
        self.epoch += 1
        # Drawn whether or not there are workers (as PyTorch), so the shuffle order does not
        # depend on num_workers.
        base_seed = int(self.rng.integers(0, 2**62))
        if self.num_workers == 0:
            if self._iterable:
                for batch in self._iterable_batches():
                    yield self._out(batch)
                return
            for indices in self._index_stream():
                yield self._out(self._fetch(indices))
            return
        yield from self._multiprocess_iter(base_seed)

    def _multiprocess_iter(self, base_seed: int) -> Iterator[Any]:
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        ctx = mp.get_context(method)
        k = self.num_workers
        tasks = [ctx.Queue() for _ in range(k)]
        results = [ctx.Queue(maxsize=self.prefetch_factor if self._iterable else 0)
                   for _ in range(k)]
        workers = []
        try:
            for w in range(k):
                p = ctx.Process(target=_worker_loop, daemon=True,
                                args=(self, w, base_seed + w, tasks[w], results[w]))
                p.start()
                workers.append(p)
            if self._iterable:
                yield from self._drain_iterable(workers, results)
            else:
                yield from self._drain_map(workers, tasks, results)
        finally:
            for q in tasks:
                try:
                    q.put(None)
                except (OSError, ValueError):
                    pass
            for p in workers:
                p.join(timeout=5)
                if p.is_alive():
                    p.terminate()
                    p.join(timeout=5)
            for q in tasks + results:
                q.close()
                q.cancel_join_thread()

    def _get(self, workers: list[Any], results: list[Any], w: int) -> tuple[str, Any]:
        """The next message of worker ``w``; never waits on a dead worker."""
        waited = 0.0
        while True:
            try:
                kind, payload = results[w].get(timeout=1.0)
            except queue.Empty:
                waited += 1.0
                if not workers[w].is_alive():
                    raise DataError(f"DataLoader worker {w} (pid {workers[w].pid}) exited "
                                    f"unexpectedly with code {workers[w].exitcode}") from None
                if self.timeout and waited >= self.timeout:
                    raise DataError(f"DataLoader timed out after {self.timeout:g} s waiting "
                                    f"for worker {w}") from None
                continue
            if kind == "error":
                raise DataError(payload)
            return kind, payload

    def _drain_map(self, workers: list[Any], tasks: list[Any], results: list[Any]) -> Iterator:
        k = len(workers)
        stream = self._index_stream()
        sent = 0
        done = False

        def send() -> None:
            nonlocal sent, done
            if done:
                return
            try:
                indices = next(stream)
            except StopIteration:
                done = True
                return
            tasks[sent % k].put(indices)
            sent += 1

        for _ in range(self.prefetch_factor * k):
            send()
        received = 0
        while received < sent:
            _, batch = self._get(workers, results, received % k)  # batch b is on worker b % k
            received += 1
            send()
            yield self._out(batch)

    def _drain_iterable(self, workers: list[Any], results: list[Any]) -> Iterator:
        active = list(range(len(workers)))
        i = 0
        while active:  # round robin over the workers still streaming, as PyTorch
            w = active[i % len(active)]
            kind, batch = self._get(workers, results, w)
            if kind == "end":
                active.remove(w)
                continue
            i += 1
            yield self._out(batch)

    # ---- checkpoints
    def state_dict(self) -> dict:
        """The Generator state and epoch count, for exact resumption from a checkpoint."""
        return {"rng": self.rng.bit_generator.state, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (the next epoch repeats exactly)."""
        self.rng.bit_generator.state = state["rng"]
        self.epoch = int(state["epoch"])
