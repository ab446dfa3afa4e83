"""The kernels' thread pool: work split into chunks that threads claim (common/parallel.h).

Which thread runs a chunk is decided at run time, so the specification is that results never
depend on it: a product is bitwise the same at any thread count, and concurrent callers and
forked children get correct results.
"""

from __future__ import annotations

import os
import threading

import dl_kernels as dlk
import numpy as np
import pytest
from dl_kernels import _C


@pytest.fixture
def restore_threads():
    before = dlk.get_num_threads()
    yield
    dlk.set_num_threads(before)


def _gemm_at(threads: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    dlk.set_num_threads(threads)
    return _C.gemm(a, b)


# Column splits (wide N, op(A) packed once and shared), row splits (narrow N), the narrow
# transposed path (N < the tile width) and primes that leave edge tiles everywhere.
SHAPES = [(257, 131, 1031), (1031, 67, 37), (997, 129, 10), (128, 1024, 10), (64, 300, 64),
          (6, 1, 4096)]


@pytest.mark.parametrize("m,k,n", SHAPES)
def test_gemm_is_bitwise_equal_at_1_2_3_and_5_threads(restore_threads, m, k, n):
    rng = np.random.default_rng(m * n + k)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    runs = [_gemm_at(t, a, b) for t in (1, 2, 3, 5)]
    np.testing.assert_allclose(runs[0], ref, rtol=1e-4, atol=1e-4 * np.sqrt(k))
    for r in runs[1:]:
        np.testing.assert_array_equal(r, runs[0])


def test_callers_on_several_python_threads_get_their_own_results(restore_threads):
    # The GEMM binding releases the GIL: while one caller holds the pool the others run their
    # chunks themselves; none may see another's operands.
    dlk.set_num_threads(2)
    rng = np.random.default_rng(0)
    pairs = [(rng.standard_normal((200, 150)).astype(np.float32),
              rng.standard_normal((150, 300)).astype(np.float32)) for _ in range(4)]
    expected = [_C.gemm(a, b) for a, b in pairs]
    errors: list[str] = []

    def worker(i: int) -> None:
        for _ in range(20):
            got = _C.gemm(*pairs[i])
            if not np.array_equal(got, expected[i]):
                errors.append(f"caller {i}: wrong product")
                return

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a caller hung"
    assert errors == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_computes_without_the_parents_workers(restore_threads):
    # The child has none of the parent's worker threads; it must neither hang nor err.
    dlk.set_num_threads(2)
    rng = np.random.default_rng(1)
    a = rng.standard_normal((300, 200)).astype(np.float32)
    b = rng.standard_normal((200, 400)).astype(np.float32)
    expected = _C.gemm(a, b)  # the pool has started in the parent
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        ok = np.array_equal(_C.gemm(a, b), expected)
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0



def test_following_free_cores_is_a_switch_that_defaults_on():
    assert dlk.get_follow_free_cores() is True
    dlk.set_follow_free_cores(False)
    try:
        assert dlk.get_follow_free_cores() is False
    finally:
        dlk.set_follow_free_cores(True)
    with pytest.raises(TypeError, match="True or False"):
        dlk.set_follow_free_cores(1)
