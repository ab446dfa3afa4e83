"""Shape arithmetic shared by the tensor front and the ops: dims and broadcasting.

Pure Python on tuples of ints, so it serves every backend.
"""

from __future__ import annotations

from collections.abc import Sequence

from dl_kernels.errors import OpError


def wrap_dim(dim: int, ndim: int) -> int:
    """A possibly negative ``dim`` of a tensor with ``ndim`` dims as an index in [0, ndim);
    IndexError (as PyTorch's) when it is out of range. A 0-d tensor accepts dims -1 and 0."""
    n = ndim if ndim > 0 else 1
    d = int(dim)
    if not -n <= d < n:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})"
        )
    return d % n


def wrap_dims(dim: int | tuple | list, ndim: int) -> tuple[int, ...]:
    """``wrap_dim`` over a tuple of dims; a repeated dim raises (as PyTorch)."""
    dims = tuple(wrap_dim(d, ndim) for d in dim)
    if len(set(dims)) != len(dims):
        raise OpError(f"dim {tuple(dim)} appears multiple times in the list of dims")
    return dims


def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    """The shape numpy / PyTorch broadcasting gives ``shapes``; OpError when they clash."""
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for s in shapes:
        for i, n in enumerate(s, ndim - len(s)):
            if n != 1:
                if out[i] != 1 and out[i] != n:
                    raise OpError(f"shapes {[tuple(x) for x in shapes]} cannot be broadcast "
                                  "together")
                out[i] = n
    return tuple(out)
