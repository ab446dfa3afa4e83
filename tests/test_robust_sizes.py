"""Size-0 dimensions: every kernel returns the empty result (or, for a sum over nothing, zeros)
where PyTorch does, on every rung, instead of dividing by the empty size (an empty batch used
to kill the process with SIGFPE in conv2d's blocking code)."""

import dl_kernels as dk
import numpy as np
import pytest
from dl_kernels import _C

CONV_RUNGS = ["auto", "reference", "im2col", "im2col_per_image", "winograd", "implicit"]


@pytest.fixture(params=CONV_RUNGS)
def conv_rung(request):
    _C.set_conv2d_rung(request.param)
    yield request.param
    _C.set_conv2d_rung("auto")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("C,O,k", [(1, 2, 3), (16, 16, 3), (3, 4, 1)])
def test_conv2d_on_an_empty_batch_returns_empty_outputs_and_zero_weight_grad(conv_rung, dtype,
                                                                              C, O, k):
    x = np.zeros((0, C, 8, 8), dtype)
    w = np.ones((O, C, k, k), dtype)
    y = _C.conv2d_forward(x, w, np.ones(O, dtype), padding=[1, 1])
    OH = 8 + 2 - k + 1
    assert y.shape == (0, O, OH, OH) and y.dtype == dtype
    gy = np.zeros((0, O, OH, OH), dtype)
    assert _C.conv2d_backward_input(gy, w, [8, 8], padding=[1, 1]).shape == (0, C, 8, 8)
    gw = _C.conv2d_backward_weight(gy, x, [k, k], padding=[1, 1])
    assert gw.shape == (O, C, k, k) and not gw.any()
    gb = _C.conv2d_backward_bias(gy)
    assert gb.shape == (O,) and not gb.any()


def test_conv2d_on_zero_input_channels_gives_the_bias(conv_rung):
    y = _C.conv2d_forward(np.zeros((2, 0, 5, 5), np.float32), np.zeros((3, 0, 3, 3), np.float32),
                          np.array([1, 2, 3], np.float32))
    np.testing.assert_array_equal(y, np.broadcast_to(np.array([1, 2, 3], np.float32)[:, None, None],
                                                     (2, 3, 3, 3)))


def test_conv2d_module_on_an_empty_batch_matches_pytorch():
    """The issue's repro: nn.Conv2d(1, 2, 3)(randn(0, 1, 8, 8)) died with SIGFPE."""
    torch = pytest.importorskip("torch")
    x = dk.tensor(np.zeros((0, 1, 8, 8), np.float32), requires_grad=True)
    conv = dk.nn.Conv2d(1, 2, 3)
    y = conv(x)
    assert y.shape == tuple(torch.nn.Conv2d(1, 2, 3)(torch.zeros(0, 1, 8, 8)).shape)
    y.sum().backward()
    assert x.grad.shape == (0, 1, 8, 8)
    assert not conv.weight.grad.numpy().any() and not conv.bias.grad.numpy().any()


@pytest.mark.parametrize("rung", ["reference", "fast", "portable"])
def test_pooling_on_an_empty_batch_returns_empty(rung):
    _C.set_pool2d_rung(rung)
    try:
        x = np.zeros((0, 2, 8, 8), np.float32)
        y, am = _C.max_pool2d_forward(x, [2, 2], [2, 2])
        assert y.shape == am.shape == (0, 2, 4, 4)
        assert _C.max_pool2d_backward(y, am, [8, 8]).shape == x.shape
        assert _C.avg_pool2d_forward(x, [3, 3], [2, 2], [1, 1]).shape == (0, 2, 4, 4)
        assert _C.avg_pool2d_backward(np.zeros((0, 2, 4, 4), np.float32), [8, 8], [3, 3], [2, 2],
                                      [1, 1]).shape == x.shape
    finally:
        _C.set_pool2d_rung("auto")


def test_recurrent_and_softmax_kernels_on_empty_batches():
    z = lambda *s: np.zeros(s, np.float32)
    y, h, c, _ = _C.lstm_forward(z(4, 0, 3), z(0, 2), z(0, 2), z(8, 3), z(8, 2), z(8))
    assert y.shape == (4, 0, 2) and h.shape == c.shape == (0, 2)
    y, h, _ = _C.gru_forward(z(4, 0, 3), z(0, 2), z(6, 3), z(6, 2), z(6))
    assert y.shape == (4, 0, 2)
    loss, lse = _C.softmax_cross_entropy_forward(z(0, 3), np.zeros(0, np.int64), reduction="sum")
    assert loss == 0 and lse.shape == (0,)
    assert _C.log_softmax_forward(z(3, 0)).shape == (3, 0)
    assert _C.gemm(z(2, 0), z(0, 4)).shape == (2, 4) and not _C.gemm(z(2, 0), z(0, 4)).any()
