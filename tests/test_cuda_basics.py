"""CUDA device basics: the module imports anywhere, device arrays, copies, fill/copy/transpose,
the caching allocator, and CUDA errors becoming RuntimeError."""

from __future__ import annotations

import dl_kernels
import numpy as np
import pytest
from _cuda_util import dev, mod, needs_gpu
from dl_kernels import cuda


def test_cuda_module_imports_and_reports_devices_without_crashing():
    if not cuda.is_built():
        pytest.skip("dl_kernels._cuda is not built in this install")
    from dl_kernels import _cuda

    count = _cuda.device_count()
    assert isinstance(count, int) and count >= 0
    info = _cuda.build_info()
    assert info["archs"] and info["compiler"]
    cfg = cuda.config()
    assert cfg["cuda_built"] and cfg["cuda_device_count"] == count
    if count == 0:
        # The reason is reported, and every device call refuses with it instead of crashing.
        assert _cuda.last_error_message()
        assert not cuda.is_available()
        with pytest.raises(RuntimeError, match="no CUDA device"):
            _cuda.from_numpy(np.zeros(3, np.float32))
        with pytest.raises(RuntimeError, match="no CUDA device"):
            _cuda.synchronize()
        with pytest.raises(RuntimeError, match="no CUDA device"):
            cuda.module()
        with pytest.raises(RuntimeError, match="no CUDA device"):
            cuda.memory_info()
    dl_kernels.show_config()


@needs_gpu
@pytest.mark.parametrize("shape", [(), (0,), (1,), (7,), (3, 5), (2, 3, 4), (1, 0, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_device_array_round_trips_host_data_exactly(shape, dtype, rng):
    a = np.asarray(rng.standard_normal(shape) * 1000).astype(dtype)
    d = mod().from_numpy(a)
    assert d.shape == shape and d.dtype == np.dtype(dtype).name and d.size == a.size
    back = d.numpy()
    assert back.dtype == dtype and back.shape == shape
    np.testing.assert_array_equal(back, a)


@needs_gpu
def test_copy_from_numpy_overwrites_in_place_and_checks_shape_and_dtype(rng):
    d = mod().zeros((4, 3))
    a = rng.standard_normal((4, 3)).astype(np.float32)
    d.copy_from_numpy(a)
    np.testing.assert_array_equal(d.numpy(), a)
    with pytest.raises(ValueError, match=r"expected shape \(4, 3\), got \(3, 4\)"):
        d.copy_from_numpy(a.T.copy())
    with pytest.raises(ValueError, match="expected dtype float32"):
        d.copy_from_numpy(a.astype(np.float64))
    with pytest.raises(ValueError, match="float32 or int64"):
        mod().from_numpy(a.astype(np.float64))
    with pytest.raises(ValueError, match="C-contiguous"):
        mod().from_numpy(np.asfortranarray(rng.standard_normal((3, 4)).astype(np.float32)))


@needs_gpu
def test_reshape_is_a_view_sharing_memory():
    d = mod().from_numpy(np.arange(12, dtype=np.float32))
    v = d.reshape((3, 4))
    mod().fill(v, 2.5)
    np.testing.assert_array_equal(d.numpy(), np.full(12, 2.5, np.float32))
    with pytest.raises(ValueError, match="cannot view"):
        d.reshape((5, 2))


@needs_gpu
@pytest.mark.parametrize("n", [0, 1, 1000, 100003])
def test_fill_sets_every_element(n):
    f = mod().empty((n,))
    mod().fill(f, -3.25)
    np.testing.assert_array_equal(f.numpy(), np.full(n, -3.25, np.float32))
    i = mod().empty((n,), "int64")
    mod().fill(i, 7)
    np.testing.assert_array_equal(i.numpy(), np.full(n, 7, np.int64))


@needs_gpu
def test_copy_is_device_to_device_and_checks_shapes(rng):
    a = rng.standard_normal((5, 7)).astype(np.float32)
    src, dst = mod().from_numpy(a), mod().zeros((5, 7))
    mod().copy(dst, src)
    np.testing.assert_array_equal(dst.numpy(), a)
    with pytest.raises(ValueError, match="shape"):
        mod().copy(mod().zeros((7, 5)), src)


@needs_gpu
@pytest.mark.parametrize("shape", [(1, 1), (1, 37), (37, 1), (31, 33), (64, 64), (129, 257)])
def test_transpose_matches_numpy(shape, rng):
    a = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(mod().transpose(dev(a)).numpy(), a.T)


@needs_gpu
@pytest.mark.parametrize("shape", [(1, 1), (1000, 3), (3, 1000), (257, 33)])
def test_sum_rows_matches_numpy(shape, rng):
    a = rng.standard_normal(shape)
    np.testing.assert_allclose(mod().sum_rows(dev(a)).numpy(), a.sum(0), rtol=1e-5, atol=1e-4)


@needs_gpu
def test_axpy_adds_scaled(rng):
    x, y = rng.standard_normal(1001), rng.standard_normal(1001)
    d = dev(y)
    mod().axpy(d, dev(x), 0.5)
    np.testing.assert_allclose(d.numpy(), y + 0.5 * x, rtol=1e-6, atol=1e-6)


@needs_gpu
def test_memory_info_reports_free_not_above_total():
    free, total = cuda.memory_info()
    assert 0 < free <= total
    assert mod().device_name(0)


@needs_gpu
def test_events_time_queued_work():
    start, end = mod().Event(), mod().Event()
    x = mod().empty((1 << 22,))
    start.record()
    for _ in range(10):
        mod().fill(x, 1.0)
    end.record()
    end.synchronize()
    assert start.elapsed_ms(end) > 0.0


@needs_gpu
def test_allocator_reuses_freed_blocks_without_cudamalloc():
    m = mod()
    a = m.empty((1 << 20,))
    del a
    before = m.allocator_stats()
    for _ in range(20):
        b = m.empty((1 << 20,))
        del b
    after = m.allocator_stats()
    assert after["malloc_calls"] == before["malloc_calls"]
    assert after["cache_hits"] >= before["cache_hits"] + 20
    m.empty_cache()
    assert m.allocator_stats()["cached_bytes"] == 0


@needs_gpu
def test_cuda_failure_raises_runtime_error_naming_the_call():
    with pytest.raises(RuntimeError, match="cudaGetDeviceProperties"):
        mod().device_name(10_000)
    mod().synchronize()  # the error did not poison the context
