"""dl_kernels.use_deterministic_algorithms(True): results bitwise equal across thread counts.
Without it conv2d's grad-weight on the im2col rung sums one partial per thread, so 1 and 2
threads differ in the last bits; with it the partials are grouped independently of the thread
count. (The implicit-GEMM rung sums every weight's products in one fixed order anyway.)"""

import dl_kernels as dlk
import numpy as np
import pytest
from dl_kernels import _C


@pytest.fixture
def deterministic():
    threads = dlk.get_num_threads()
    dlk.use_deterministic_algorithms(True)
    yield
    dlk.use_deterministic_algorithms(False)
    dlk.set_num_threads(threads)


def _at_threads(n, f):
    dlk.set_num_threads(n)
    return f()


# (N, C, H, W, O, k, stride, groups): LeNet-like blocks of images, a chunked large image,
# a pointwise convolution, grouped, and an odd batch.
SHAPES = [(64, 16, 14, 14, 32, 5, 1, 1), (6, 3, 96, 96, 8, 3, 1, 1), (9, 8, 10, 10, 16, 1, 1, 1),
          (8, 8, 9, 9, 8, 3, 2, 4), (13, 4, 12, 12, 6, 3, 1, 1)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_grad_weight_is_bitwise_equal_for_1_2_3_and_4_threads(deterministic, shape, dtype):
    N, C, H, W, O, k, s, g = shape
    r = np.random.default_rng(1)
    x = r.standard_normal((N, C, H, W)).astype(dtype)
    OH = (H - k) // s + 1
    gy = r.standard_normal((N, O, OH, (W - k) // s + 1)).astype(dtype)
    runs = [_at_threads(n, lambda: _C.conv2d_backward_weight(gy, x, [k, k], stride=[s, s],
                                                               groups=g)) for n in (1, 2, 3, 4)]
    for other in runs[1:]:
        np.testing.assert_array_equal(runs[0], other)


def test_without_the_mode_grad_weight_depends_on_the_thread_count():
    """What the mode is for: im2col's default splits the sum by thread (1e-8-ish differences)."""
    dlk.use_deterministic_algorithms(False)
    _C.set_conv2d_rung("im2col")
    before = dlk.get_num_threads()
    r = np.random.default_rng(2)
    x = r.standard_normal((64, 16, 14, 14)).astype(np.float32)
    gy = r.standard_normal((64, 32, 10, 10)).astype(np.float32)
    dlk.set_follow_free_cores(False)  # exactly 2 threads even on a busy machine
    try:
        one = _at_threads(1, lambda: _C.conv2d_backward_weight(gy, x, [5, 5]))
        two = _at_threads(2, lambda: _C.conv2d_backward_weight(gy, x, [5, 5]))
    finally:
        dlk.set_num_threads(before)
        dlk.set_follow_free_cores(True)
        _C.set_conv2d_rung("auto")
    np.testing.assert_allclose(one, two, rtol=1e-4, atol=1e-4)
    assert not np.array_equal(one, two)


def test_a_training_step_is_bitwise_equal_across_thread_counts(deterministic):
    from dl_kernels.models import classifiers  # noqa: F401 (registers the models)
    from dl_kernels.nn import functional as F

    def step():
        dlk.manual_seed(0)
        model = dlk.nn.Sequential(dlk.nn.Conv2d(1, 8, 3), dlk.nn.ReLU(), dlk.nn.MaxPool2d(2),
                                  dlk.nn.Flatten(), dlk.nn.Linear(8 * 7 * 7, 10))
        x = dlk.tensor(np.random.default_rng(3).standard_normal((32, 1, 16, 16)).astype(np.float32))
        y = dlk.tensor(np.arange(32) % 10)
        F.cross_entropy(model(x), y).backward()
        return [p.grad.numpy().copy() for p in model.parameters()]

    a, b = _at_threads(1, step), _at_threads(2, step)
    for ga, gb in zip(a, b):
        np.testing.assert_array_equal(ga, gb)


def test_the_switch_is_a_bool():
    with pytest.raises(TypeError):
        dlk.use_deterministic_algorithms("yes")
    assert dlk.are_deterministic_algorithms_enabled() is False
