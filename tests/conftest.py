import dl_kernels
import numpy as np
import pytest


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
