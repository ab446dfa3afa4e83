"""DistributedDataParallel: gradient averaging over MPI that overlaps backward.

The scheme of PyTorch's DDP (Li et al., "PyTorch Distributed", VLDB 2020) and Horovod's tensor
fusion (Sergeev & Del Balso 2018):

- at construction every rank checks that it holds the same model (names, shapes, dtypes,
  compared by SHA-256), rank 0's parameters and buffers are broadcast, and a checksum of the
  values confirms every rank now starts from the same weights;
- parameters are packed, in *reverse* registration order (roughly the order backward produces
  their gradients), into buckets of at most ``bucket_cap_mb``; each bucket is one flat buffer,
  so a step is a few large all-reduces instead of one per tensor;
- a gradient-ready hook per parameter (``Tensor.register_post_accumulate_grad_hook``) copies
  the gradient into its bucket; when a bucket is full its ``MPI_Iallreduce`` is started at
  once, while backward computes the earlier layers' gradients. Buckets are started strictly in
  order, so every rank issues the same collectives in the same sequence;
- when the last bucket starts, the step waits for all of them and writes the averaged
  gradients back into ``p.grad``. ``synchronize()`` does the same for whatever is left (a
  parameter without a gradient on this rank contributes zeros), so unused parameters or a
  rank with an empty batch cannot deadlock the others.

``no_sync()`` skips the exchange (gradients accumulate locally); the first backward after it
averages the accumulated sums.
"""

from __future__ import annotations

import contextlib
import time
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from dl_kernels.nn.module import Module
from dl_kernels.tensor import tensor


class _Bucket:
    def __init__(self, params: list[Any], dtype: np.dtype) -> None:
        self.params = params
        self.offsets: list[int] = []
        n = 0
        for p in params:
            self.offsets.append(n)
            n += p.numel()
        self.flat = np.zeros(n, dtype=dtype)
        self.ready: set[int] = set()
        self.work: Any = None

    @property
    def nbytes(self) -> int:
        return self.flat.nbytes


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training; call it like the module.

    Args:
        module: the model (the same on every rank).
        bucket_cap_mb: most megabytes of gradients per all-reduce.
        broadcast_buffers: also copy rank 0's buffers (e.g. running statistics) at the start.
        check_models: verify the model structure and the broadcast weights across ranks.

    ``ddp.module`` is the wrapped model: save and load *its* state_dict (it does not depend on
    the number of ranks). ``comm_stats()`` reports the communication of the steps so far.
    """

    def __init__(self, module: Module, *, bucket_cap_mb: float = 1.0,
                 broadcast_buffers: bool = True, check_models: bool = True) -> None:
        super().__init__()
        from dl_kernels import distributed as dist

        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps a Module, got {type(module).__name__}")
        if not bucket_cap_mb > 0:
            raise ValueError(f"bucket_cap_mb must be > 0, got {bucket_cap_mb}")
        dist.init()
        self.module = module
        object.__setattr__(self, "_dist", dist)
        object.__setattr__(self, "world_size", dist.get_world_size())
        object.__setattr__(self, "rank", dist.get_rank())
        named = []
        seen: set[int] = set()
        for name, p in module.named_parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                named.append((name, p))
        if check_models:
            dist.check_same("the model (parameter and buffer names, shapes, dtypes)",
                            _structure(module))
        for p in module.parameters():
            dist.broadcast(p, 0)
        if broadcast_buffers:
            for b in module.buffers():
                if b is not None and b.numel():
                    dist.broadcast(b, 0)
        if check_models:
            dist.check_same("the parameter checksum after broadcasting rank 0's weights",
                            _checksum(module))
        buckets = _make_buckets([p for _, p in named], bucket_cap_mb * 2**20)
        index = {id(p): (b, i) for b in buckets for i, p in enumerate(b.params)}
        object.__setattr__(self, "_buckets", buckets)
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_next", 0)  # the next bucket to start
        object.__setattr__(self, "_sync", True)
        object.__setattr__(self, "_finished", True)  # this step's exchange is done
        object.__setattr__(self, "_stats", {"steps": 0, "wait_s": 0.0, "hook_s": 0.0,
                                            "bytes": 0})
        handles = [p.register_post_accumulate_grad_hook(self._grad_ready) for _, p in named]
        object.__setattr__(self, "_handles", handles)

    # ---- the model ------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self._sync:
            self.synchronize()  # the previous step's exchange must finish before a new one
            object.__setattr__(self, "_finished", False)
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward inside accumulates gradients locally, without communication (gradient
        accumulation over several micro-batches: only the last backward, outside, averages)."""
        prev = self._sync
        object.__setattr__(self, "_sync", False)
        try:
            yield
        finally:
            object.__setattr__(self, "_sync", prev)

    # ---- the exchange ---------------------------------------------------------------------
    def _grad_ready(self, p: Any) -> None:
        if not self._sync:
            return
        t0 = time.perf_counter()
        bucket, i = self._index[id(p)]
        if i in bucket.ready:
            raise RuntimeError(
                "DistributedDataParallel: a parameter's gradient became ready twice in one "
                "step (two backward passes without an optimizer step?); accumulate inside "
                "ddp.no_sync() and let only the last backward synchronise")
        if bucket.work is not None:
            raise RuntimeError("DistributedDataParallel: a gradient arrived after its bucket "
                               "was already sent (call synchronize() before a new backward)")
        object.__setattr__(self, "_finished", False)
        self._pack(bucket, i, p)
        self._start_ready()
        if self._next == len(self._buckets):
            self._finish()
        else:
            self._poke()
        self._stats["hook_s"] += time.perf_counter() - t0

    def _pack(self, bucket: _Bucket, i: int, p: Any) -> None:
        off, n = bucket.offsets[i], p.numel()
        view = bucket.flat[off:off + n]
        if p.grad is None:
            view[:] = 0
        else:
            view[:] = np.asarray(p.grad.detach().numpy()).reshape(-1)
        bucket.ready.add(i)

    def _start_ready(self) -> None:
        """Start, in bucket order, every bucket whose gradients are all packed."""
        buckets = self._buckets
        while self._next < len(buckets) and \
                len(buckets[self._next].ready) == len(buckets[self._next].params):
            b = buckets[self._next]
            b.work = self._dist.all_reduce(b.flat, "sum", async_op=True)
            self._stats["bytes"] += b.nbytes
            object.__setattr__(self, "_next", self._next + 1)

    def _poke(self) -> None:
        """Let MPI progress the collectives in flight (Open MPI advances non-blocking
        collectives only inside MPI calls)."""
        for b in self._buckets[:self._next]:
            if b.work is not None and not b.work._done:
                b.work.is_completed()

    def synchronize(self) -> None:
        """Finish this step's exchange: start any bucket not yet started (parameters without a
        gradient on this rank count as zeros), wait, and write the averages into ``p.grad``.
        Needed only when some parameter got no gradient; a no-op once the step's exchange is
        done (the next forward starts a new step)."""
        if not self._sync or self._finished:
            return
        t0 = time.perf_counter()
        for b in self._buckets[self._next:]:
            for i, p in enumerate(b.params):
                if i not in b.ready:
                    self._pack(b, i, p)
        self._start_ready()
        self._finish()
        self._stats["hook_s"] += time.perf_counter() - t0

    def zero_contribution(self) -> None:
        """Take part in this step's exchange without a batch (a rank whose share of a final
        global batch is empty): its gradients count as zeros in the average."""
        for p in self.module.parameters():
            p.grad = None
        object.__setattr__(self, "_finished", False)
        self.synchronize()

    def _finish(self) -> None:
        t0 = time.perf_counter()
        self._dist.wait_all([b.work for b in self._buckets if b.work is not None])
        self._stats["wait_s"] += time.perf_counter() - t0
        scale = 1.0 / self.world_size
        for b in self._buckets:
            if b.work is None:
                continue
            for p, off in zip(b.params, b.offsets):
                n = p.numel()
                avg = b.flat[off:off + n].reshape(p.shape)
                g = None if p.grad is None else p.grad.detach().numpy()
                if g is not None and p.device.type == "cpu" and g.flags.writeable and \
                        g.flags.c_contiguous and g.dtype == avg.dtype:
                    np.multiply(avg, avg.dtype.type(scale), out=g)
                else:
                    p.grad = tensor(avg * avg.dtype.type(scale), device=p.device)
            b.work = None
            b.ready.clear()
        object.__setattr__(self, "_next", 0)
        object.__setattr__(self, "_finished", True)
        self._stats["steps"] += 1

    def comm_stats(self, reset: bool = False) -> dict[str, float]:
        """Steps synchronised, seconds blocked waiting for all-reduces (communication not
        hidden behind backward), seconds in the hooks (packing, starting, waiting), bytes
        all-reduced per rank, the bucket count and sizes."""
        out = dict(self._stats)
        out["buckets"] = len(self._buckets)
        out["bucket_bytes"] = [b.nbytes for b in self._buckets]
        if reset:
            self._stats.update(steps=0, wait_s=0.0, hook_s=0.0, bytes=0)
        return out

    def remove_hooks(self) -> None:
        for h in self._handles:
            h.remove()


def _make_buckets(params: list[Any], cap_bytes: float) -> list[_Bucket]:
    """Reverse registration order, one dtype per bucket, a new bucket once ``cap_bytes`` is
    reached (a single larger parameter gets a bucket of its own)."""
    buckets: list[_Bucket] = []
    current: list[Any] = []
    size = 0
    dtype = None
    for p in reversed(params):
        pd = np.dtype(p.dtype.np)
        nbytes = p.numel() * pd.itemsize
        if current and (pd != dtype or size + nbytes > cap_bytes):
            buckets.append(_Bucket(current, dtype))
            current, size = [], 0
        current.append(p)
        size += nbytes
        dtype = pd
    if current:
        buckets.append(_Bucket(current, dtype))
    return buckets


def _structure(module: Module) -> list[str]:
    out = [f"parameter {n!r} of shape {tuple(p.shape)}, {p.dtype}"
           for n, p in module.named_parameters()]
    out += [f"buffer {n!r} of shape {tuple(b.shape)}, {b.dtype}"
            for n, b in module.named_buffers() if b is not None]
    return out


def _checksum(module: Module) -> int:
    crc = 0
    for _, p in module.named_parameters():
        crc = zlib.crc32(np.ascontiguousarray(p.detach().numpy()).tobytes(), crc)
    return crc
