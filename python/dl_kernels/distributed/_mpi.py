"""Collectives on our tensors over MPI (mpi4py), the way Horovod runs data parallelism on MPI.

``init()`` joins the job the MPI launcher (``mpirun -np N``) started; ``all_reduce``,
``broadcast`` and ``barrier`` then work in place on CPU tensors: a C-contiguous float or int
tensor's own numpy buffer is handed to MPI (no copy); anything else (a strided view, a CUDA
tensor: Debian's Open MPI is not CUDA-aware) is staged through a contiguous host copy and
written back.

Every collective is an MPI non-blocking one (``Iallreduce``, ``Ibcast``, ``Ibarrier``) waited
on by polling ``Test`` against a deadline, so a peer that died, raised or skipped the call
turns into a ``DistributedError`` naming the operation after ``timeout`` seconds instead of a
hang. ``init()`` also makes an uncaught exception on any rank call ``MPI_Abort``, which makes
``mpirun`` stop the other ranks (a rank that exits early or is killed stops the job the same
way: Open MPI tears it down).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import time
from typing import Any, Callable

import numpy as np

INSTALL_HINT = ("apt-get install openmpi-bin libopenmpi-dev && pip install mpi4py "
                "(or pip install 'dl_kernels[mpi]' once Open MPI is installed)")
DEFAULT_TIMEOUT = 300.0  # seconds a collective may wait for the slowest rank


class DistributedError(RuntimeError):
    """A collective failed or timed out, or the ranks disagree (model, configuration)."""


class MPIUnavailable(ImportError):
    """mpi4py or the MPI library is missing; the message says how to install them."""


_MPI: Any = None
_state: dict[str, Any] = {}


def _import_mpi() -> Any:
    global _MPI
    if _MPI is None:
        try:
            from mpi4py import MPI
        except ImportError as exc:  # no mpi4py, or mpi4py without libmpi.so
            raise MPIUnavailable(
                f"dl_kernels.distributed needs MPI and mpi4py ({exc}); install them with: "
                f"{INSTALL_HINT}") from exc
        except RuntimeError as exc:  # MPI_Init failed
            raise MPIUnavailable(f"MPI could not start ({exc}); install or repair Open MPI: "
                                 f"{INSTALL_HINT}") from exc
        _MPI = MPI
    return _MPI


def is_available() -> bool:
    """True when mpi4py and an MPI library import (does not start MPI if not yet started)."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def launched_by_mpirun() -> bool:
    """True in a process started by an MPI launcher (Open MPI, MPICH/Hydra, PMIx, Slurm)."""
    return any(k in os.environ for k in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"))


def _env_timeout() -> float:
    text = os.environ.get("DLK_DIST_TIMEOUT")
    if not text:
        return DEFAULT_TIMEOUT
    try:
        return float(text)
    except ValueError:
        raise DistributedError(f"DLK_DIST_TIMEOUT must be seconds, got {text!r}") from None


def init(timeout: float | None = None) -> tuple[int, int]:
    """Join the MPI job (idempotent); return ``(rank, world_size)``.

    ``timeout``: seconds any collective waits before raising ``DistributedError`` (default
    ``DLK_DIST_TIMEOUT`` or 300). Run as a single process (no launcher), the world has one rank.
    """
    MPI = _import_mpi()
    if timeout is not None:
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        _state["timeout"] = float(timeout)
    if "comm" in _state:
        return _state["rank"], _state["size"]
    # A private communicator: our collectives never match a user's on COMM_WORLD.
    comm = MPI.COMM_WORLD.Dup()
    comm.Set_errhandler(MPI.ERRORS_RETURN)  # MPI errors become Python exceptions
    _state.update(comm=comm, rank=comm.Get_rank(), size=comm.Get_size())
    _state.setdefault("timeout", _env_timeout())
    if comm.Get_size() > 1:
        _install_abort_hook()
    return _state["rank"], _state["size"]


def is_initialized() -> bool:
    return "comm" in _state


def _comm() -> Any:
    if "comm" not in _state:
        raise DistributedError("dl_kernels.distributed is not initialised: call "
                               "dl_kernels.distributed.init() first")
    return _state["comm"]


def get_rank() -> int:
    """This process's rank (0 when not initialised: a plain run is rank 0 of 1)."""
    return _state.get("rank", 0)


def get_world_size() -> int:
    """Number of ranks (1 when not initialised)."""
    return _state.get("size", 1)


def get_timeout() -> float:
    return _state.get("timeout", DEFAULT_TIMEOUT)


def local_world_size() -> int:
    """Ranks on this machine (they share its cores)."""
    MPI = _import_mpi()
    node = _comm().Split_type(MPI.COMM_TYPE_SHARED)
    try:
        return node.Get_size()
    finally:
        node.Free()


def abort(code: int = 1, message: str | None = None) -> None:
    """Print ``message`` (prefixed with the rank) and stop every rank of the job."""
    if message:
        print(f"[rank {get_rank()}] {message}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    if _MPI is not None and get_world_size() > 1:
        _MPI.COMM_WORLD.Abort(code)
    raise SystemExit(code)


def _install_abort_hook() -> None:
    """An uncaught exception on one rank would leave the others waiting in a collective and
    this one hanging in MPI_Finalize: print it, then MPI_Abort the whole job."""
    previous = sys.excepthook

    def hook(kind: Any, value: Any, tb: Any) -> None:
        previous(kind, value, tb)
        if not issubclass(kind, KeyboardInterrupt):
            abort(1, f"{kind.__name__}: {value}; aborting all ranks")

    sys.excepthook = hook


# ---- requests ------------------------------------------------------------------------------
class Work:
    """A collective in flight. ``wait()`` finishes it (and its write-back), raising
    ``DistributedError`` after the timeout; ``is_completed()`` polls without blocking."""

    def __init__(self, request: Any, what: str, finish: Callable[[], None] | None = None) -> None:
        self.request, self.what, self._finish = request, what, finish
        self._done = False

    def is_completed(self) -> bool:
        if not self._done and self.request.Test():
            self._complete()
        return self._done

    def _complete(self) -> None:
        self._done = True
        if self._finish is not None:
            self._finish()

    def wait(self, timeout: float | None = None) -> None:
        if self._done:
            return
        wait_all([self], timeout)


def wait_all(works: list[Work], timeout: float | None = None) -> None:
    """Wait for every request, polling (which also drives MPI's progress) with a short
    back-off; after ``timeout`` seconds raise ``DistributedError`` naming what is missing."""
    limit = get_timeout() if timeout is None else timeout
    pending = [w for w in works if not w._done]
    start = time.monotonic()
    nap = 0.0
    while pending:
        try:
            pending = [w for w in pending if not w.is_completed()]
        except Exception as exc:  # an MPI error (ERRORS_RETURN), e.g. a peer's link broke
            raise DistributedError(f"rank {get_rank()}: {pending[0].what} failed: {exc}") from exc
        if not pending:
            return
        waited = time.monotonic() - start
        if waited > limit:
            raise DistributedError(
                f"rank {get_rank()}: {pending[0].what} did not complete within {limit:g} s; "
                "another rank has probably died, raised, or skipped this collective "
                "(set DLK_DIST_TIMEOUT to wait longer)")
        # Spin for the first ~2 ms (a step's all-reduce is usually done by then), then yield.
        if waited > 2e-3:
            nap = min(1e-3, nap * 2 or 5e-5)
            time.sleep(nap)


# ---- buffers -------------------------------------------------------------------------------
def _host_buffer(t: Any) -> tuple[np.ndarray, bool]:
    """(numpy array MPI reads and writes, whether it must be copied back into ``t``)."""
    from dl_kernels.tensor import Tensor

    if isinstance(t, np.ndarray):
        if t.flags.c_contiguous and t.flags.writeable:
            return t, False
        raise DistributedError("collectives work in place: pass a C-contiguous, writeable "
                               f"numpy array (got strides {t.strides}, writeable "
                               f"{t.flags.writeable})")
    if not isinstance(t, Tensor):
        raise TypeError(f"expected a dl_kernels Tensor or numpy array, got {type(t).__name__}")
    a = t.detach().numpy()  # on CPU: the tensor's own array, no copy
    if t.device.type == "cpu" and a.flags.c_contiguous and a.flags.writeable:
        return a, False
    return np.ascontiguousarray(a).copy(), True


def _write_back(t: Any, a: np.ndarray) -> None:
    from dl_kernels.autograd.engine import no_grad
    from dl_kernels.tensor import tensor

    with no_grad():
        t.copy_(tensor(a, device=t.device))


_OPS = ("sum", "mean", "max", "min", "prod")


def _mpi_op(op: str) -> Any:
    MPI = _import_mpi()
    if op not in _OPS:
        raise ValueError(f"unknown reduction {op!r}: choose one of {', '.join(_OPS)}")
    return {"sum": MPI.SUM, "mean": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN,
            "prod": MPI.PROD}[op]


# ---- collectives ---------------------------------------------------------------------------
def all_reduce(tensor: Any, op: str = "sum", async_op: bool = False) -> Work | None:
    """Reduce ``tensor`` over all ranks, in place (``op``: sum, mean, max, min, prod).
    With ``async_op=True`` return a ``Work`` to ``wait()`` on (MPI_Iallreduce)."""
    MPI = _import_mpi()
    mop = _mpi_op(op)
    comm = _comm()
    buf, copied = _host_buffer(tensor)
    if op == "mean" and buf.dtype.kind != "f":
        raise TypeError(f"all_reduce mean needs a floating tensor, got {buf.dtype}")
    size = comm.Get_size()
    req = comm.Iallreduce(MPI.IN_PLACE, buf, op=mop)

    def finish() -> None:
        if op == "mean":
            np.multiply(buf, buf.dtype.type(1.0 / size), out=buf)
        if copied:
            _write_back(tensor, buf)

    work = Work(req, f"all_reduce({op}) of {buf.size} x {buf.dtype}", finish)
    if async_op:
        return work
    work.wait()
    return None


def broadcast(tensor: Any, src: int = 0, async_op: bool = False) -> Work | None:
    """Overwrite ``tensor`` on every rank with rank ``src``'s values, in place (MPI_Ibcast)."""
    comm = _comm()
    if not 0 <= src < comm.Get_size():
        raise ValueError(f"src must be a rank in [0, {comm.Get_size()}), got {src}")
    buf, copied = _host_buffer(tensor)
    req = comm.Ibcast(buf, root=src)
    work = Work(req, f"broadcast of {buf.size} x {buf.dtype} from rank {src}",
                (lambda: _write_back(tensor, buf)) if copied else None)
    if async_op:
        return work
    work.wait()
    return None


def barrier(timeout: float | None = None) -> None:
    """Wait until every rank has reached this call (MPI_Ibarrier)."""
    Work(_comm().Ibarrier(), "barrier").wait(timeout)


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order, on every rank."""
    MPI = _import_mpi()
    comm = _comm()
    data = np.frombuffer(pickle.dumps(obj), dtype=np.uint8)
    sizes = np.zeros(comm.Get_size(), dtype=np.int64)
    Work(comm.Iallgather(np.array([data.size], dtype=np.int64), sizes),
         "all_gather_object (sizes)").wait()
    out = np.empty(int(sizes.sum()), dtype=np.uint8)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    Work(comm.Iallgatherv(data, [out, sizes, offsets, MPI.BYTE]),
         "all_gather_object").wait()
    return [pickle.loads(out[o:o + s].tobytes()) for o, s in zip(offsets, sizes)]


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (other ranks pass anything, e.g. None)."""
    comm = _comm()
    data = np.frombuffer(pickle.dumps(obj), dtype=np.uint8) if comm.Get_rank() == src else None
    size = np.array([0 if data is None else data.size], dtype=np.int64)
    Work(comm.Ibcast(size, root=src), "broadcast_object (size)").wait()
    buf = data.copy() if data is not None else np.empty(int(size[0]), dtype=np.uint8)
    Work(comm.Ibcast(buf, root=src), "broadcast_object").wait()
    return obj if comm.Get_rank() == src else pickle.loads(buf.tobytes())


def check_same(what: str, value: Any) -> None:
    """Raise ``DistributedError`` on every rank unless all ranks passed an equal ``value``
    (compared by a SHA-256 of its pickle; the message names the first differing rank)."""
    digest = hashlib.sha256(pickle.dumps(value)).hexdigest()
    digests = all_gather_object(digest)
    if len(set(digests)) == 1:
        return
    values = all_gather_object(value)
    bad = next(r for r, d in enumerate(digests) if d != digests[0])
    raise DistributedError(f"{what} differs between ranks: rank {bad} has "
                           f"{_describe_difference(values[0], values[bad])}")


def _describe_difference(ref: Any, other: Any) -> str:
    if isinstance(ref, dict) and isinstance(other, dict):
        for k in list(ref) + [k for k in other if k not in ref]:
            if k not in ref:
                return f"{k!r} = {other[k]!r}, which rank 0 lacks"
            if k not in other:
                return f"no {k!r}; rank 0 has {k!r} = {ref[k]!r}"
            if ref[k] != other[k]:
                return f"{k!r} = {other[k]!r} where rank 0 has {ref[k]!r}"
    if isinstance(ref, list) and isinstance(other, list):
        for i, (a, b) in enumerate(zip(ref, other)):
            if a != b:
                return f"{b} (entry {i}) where rank 0 has {a}"
        return f"{len(other)} entries where rank 0 has {len(ref)}"
    return f"{other!r} where rank 0 has {ref!r}"
