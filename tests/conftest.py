import os

import dl_kernels
import numpy as np
import pytest
import strict_backend
from dl_kernels import backend as _backend

# DLK_TEST_BACKEND=strict runs the whole suite with the strict backend (tests/strict_backend.py)
# standing in for the CPU one: arrays are opaque there, so any code above dl_kernels.backend
# that treats a backend array as numpy fails loudly.
_TEST_BACKEND = os.environ.get("DLK_TEST_BACKEND", "cpu")
if _TEST_BACKEND == "strict":
    strict_backend.install()
elif _TEST_BACKEND != "cpu":
    raise pytest.UsageError(f"DLK_TEST_BACKEND={_TEST_BACKEND!r}: expected 'cpu' or 'strict'")


def pytest_report_header(config):
    return f"dl_kernels test backend: {_TEST_BACKEND} ({_backend.get_backend('cpu')!r})"


def _backend_params():
    """Every backend a device-concerned test should run on: the CPU one, the strict one, and
    CUDA's where it exists."""
    params = [pytest.param(("cpu", _backend.cpu), id="cpu"),
              pytest.param(("cpu", strict_backend.StrictBackend(_backend.cpu)), id="strict")]
    try:
        params.append(pytest.param(("cuda", _backend.get_backend("cuda")), id="cuda"))
    except RuntimeError:
        pass
    return params


@pytest.fixture(params=_backend_params())
def any_backend(request):
    """(device name, backend), installed as that device's backend for the test's duration."""
    device, be = request.param
    prev = _backend.register_backend(device, be)
    yield device, be
    _backend.register_backend(device, prev)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    """Run the test at 1 and at 2 kernel threads, then restore the previous count."""
    before = dl_kernels.get_num_threads()
    dl_kernels.set_num_threads(request.param)
    yield request.param
    dl_kernels.set_num_threads(before)
