"""Shared by the CUDA tests: the skip marker with its reason, and host/device helpers."""

from __future__ import annotations

import numpy as np
import pytest
from dl_kernels import cuda


def skip_reason() -> str:
    if not cuda.is_built():
        return f"dl_kernels._cuda is not built ({cuda.config().get('cuda_import_error')})"
    return f"no CUDA device ({cuda.config().get('cuda_error')})"


needs_gpu = pytest.mark.skipif(not cuda.is_available(), reason=skip_reason())


def mod():
    return cuda.module()


def dev(a: np.ndarray):
    """float arrays go up as float32, integer arrays as int64."""
    a = np.asarray(a)
    a = a.astype(np.int64 if a.dtype.kind in "iu" else np.float32)
    return mod().from_numpy(np.ascontiguousarray(a))


def host(d) -> np.ndarray:
    return d.numpy()


def f32(a: np.ndarray) -> np.ndarray:
    """The float32-rounded values, as float64, so references start from what the GPU saw."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)
