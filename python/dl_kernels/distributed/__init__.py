"""Data-parallel training across processes and machines on MPI (Open MPI + mpi4py).

``init()`` joins the job ``mpirun -np N`` started; ``all_reduce``, ``broadcast`` and
``barrier`` work in place on our tensors; ``DistributedSampler`` deals each rank its share of
every global batch; ``dl_kernels.nn.parallel.DistributedDataParallel`` averages gradients
during backward. Importing this package does not need MPI: the first call that does raises
``MPIUnavailable`` with the install command.
"""

from __future__ import annotations

from dl_kernels.distributed._mpi import (
    INSTALL_HINT,
    DistributedError,
    MPIUnavailable,
    Work,
    abort,
    all_gather_object,
    all_reduce,
    barrier,
    broadcast,
    broadcast_object,
    check_same,
    get_rank,
    get_timeout,
    get_world_size,
    init,
    is_available,
    is_initialized,
    launched_by_mpirun,
    local_world_size,
    wait_all,
)
from dl_kernels.distributed.sampler import DistributedSampler, shard_range

__all__ = [
    "INSTALL_HINT",
    "DistributedError",
    "DistributedSampler",
    "MPIUnavailable",
    "Work",
    "abort",
    "all_gather_object",
    "all_reduce",
    "barrier",
    "broadcast",
    "broadcast_object",
    "check_same",
    "get_rank",
    "get_timeout",
    "get_world_size",
    "init",
    "is_available",
    "is_initialized",
    "launched_by_mpirun",
    "local_world_size",
    "shard_range",
    "wait_all",
]
