"""Arguments the kernels cannot honour raise ValueError naming what was expected, instead of
wrapping around in int64, hanging, or writing through an alias the kernel is still reading."""

import math

import numpy as np
import pytest
from dl_kernels import _C

BIG = 2**63 - 1


def _x(*shape):
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("kw", [
    {"dilation": [2**62, 1]},              # dh * (KH - 1) wrapped to a bogus 8 x 8 output
    {"dilation": [1, 2**61 + 1]},
    {"padding": [2**62, 0]},               # padded size past 2^62
    {"padding": [BIG, BIG, 0, 0]},
])
def test_conv2d_rejects_geometry_that_overflows_int64(kw):
    with pytest.raises(ValueError, match="conv2d"):
        _C.conv2d_forward(_x(1, 1, 8, 8), _x(2, 1, 3, 3), **kw)


@pytest.mark.parametrize("rung", ["reference", "im2col", "im2col_per_image"])
def test_conv2d_with_a_huge_stride_gives_the_single_window_on_every_rung(rung):
    x, w = _x(2, 3, 8, 9), _x(4, 3, 3, 3)
    _C.set_conv2d_rung(rung)
    try:
        y = _C.conv2d_forward(x, w, stride=[BIG, 2**62], padding=[1, 1])
        gx = _C.conv2d_backward_input(np.ones_like(y), w, [8, 9], stride=[BIG, 2**62], padding=[1, 1])
        gw = _C.conv2d_backward_weight(np.ones_like(y), x, [3, 3], stride=[BIG, BIG], padding=[1, 1])
    finally:
        _C.set_conv2d_rung("auto")
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))[:, :, :3, :3]
    assert y.shape == (2, 4, 1, 1)
    np.testing.assert_allclose(y[:, :, 0, 0], np.einsum("nchw,ochw->no", xp, w), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gw, np.broadcast_to(xp.sum(0), gw.shape), rtol=1e-5, atol=1e-5)
    assert gx.shape == x.shape and not gx[:, :, 2:, :].any()


def test_conv2d_backward_input_rejects_groups_that_overflow():
    with pytest.raises(ValueError, match="groups"):
        _C.conv2d_backward_input(_x(0, 2, 6, 6), _x(2, 4, 3, 3), [8, 8], groups=2**62)


@pytest.mark.parametrize("op", ["max", "avg"])
@pytest.mark.parametrize("kw", [{"stride": [BIG, 1]}, {"stride": [2**62, 2**62]},
                                {"kernel": [2**62, 2], "padding": [0, 0]},
                                {"kernel": [2**40, 2**40], "padding": [2**39, 0]}])
@pytest.mark.parametrize("rung", ["reference", "fast"])
def test_pool2d_rejects_window_arguments_beyond_int32_as_pytorch(op, kw, rung):
    args = {"kernel": [2, 2], "stride": [2, 2], "padding": [0, 0]} | kw
    _C.set_pool2d_rung(rung)
    try:
        with pytest.raises(ValueError, match="2\\^31 - 1"):
            f = _C.max_pool2d_forward if op == "max" else _C.avg_pool2d_forward
            f(_x(1, 1, 8, 8), args["kernel"], args["stride"], args["padding"])
    finally:
        _C.set_pool2d_rung("auto")


def test_pool2d_with_the_largest_stride_is_one_window():
    x = _x(1, 2, 8, 8)
    y, _am = _C.max_pool2d_forward(x, [3, 3], [2**31 - 1, 2**31 - 1])
    np.testing.assert_array_equal(y[:, :, 0, 0], x[:, :, :3, :3].max(axis=(2, 3)))
    a = _C.avg_pool2d_forward(x, [3, 3], [2**31 - 1, 2**31 - 1])
    np.testing.assert_allclose(a[:, :, 0, 0], x[:, :, :3, :3].mean(axis=(2, 3)), rtol=1e-6)


def _xent_inputs(N=4, C=5):
    x = _x(N, C)
    t = np.arange(N, dtype=np.int64) % C
    _, lse = _C.softmax_cross_entropy_forward(x, t, reduction="none")
    return x, t, lse


def test_cross_entropy_backward_refuses_out_overlapping_lse():
    # lse is float64 (a float32 one is widened into a copy, which cannot alias out).
    x, t, lse = _xent_inputs()
    buf = np.zeros(32 + 4 * 5 * 4, np.uint8)
    lse_view = buf[:32].view(np.float64)
    lse_view[:] = lse
    with pytest.raises(ValueError, match="out must not share memory with lse"):
        _C.softmax_cross_entropy_backward(x, t, lse_view,
                                          out=buf[16:96].view(np.float32).reshape(4, 5))


def test_cross_entropy_backward_refuses_out_overlapping_grad_loss():
    x, t, lse = _xent_inputs()
    buf = np.ones(24, np.float32)
    with pytest.raises(ValueError, match="out must not share memory with grad_loss"):
        _C.softmax_cross_entropy_backward(x, t, lse, buf[20:24], reduction="none",
                                          out=buf[4:24].reshape(4, 5))


def test_log_softmax_backward_refuses_a_shifted_alias_of_gy_but_accepts_gy_itself():
    y = _C.log_softmax_forward(_x(3, 4))
    buf = _x(16)
    gy = buf[:12].reshape(3, 4)
    with pytest.raises(ValueError, match="out must be gy itself"):
        _C.log_softmax_backward(gy, y, out=buf[4:16].reshape(3, 4))
    expected = _C.log_softmax_backward(gy.copy(), y)
    np.testing.assert_array_equal(_C.log_softmax_backward(gy, y, out=gy), expected)


@pytest.mark.parametrize("f", ["fma_peak_gflops", "triad_bandwidth_gbps"])
@pytest.mark.parametrize("seconds", [math.inf, math.nan, -1.0])
def test_machine_peaks_refuse_a_time_that_never_ends(f, seconds):
    with pytest.raises(ValueError, match="seconds"):
        getattr(_C, f)(1, seconds)


def test_gemm_packed_with_a_wrong_b_names_what_it_expected():
    with pytest.raises(TypeError, match="expected what pack_b returns"):
        _C.gemm_packed(_x(2, 3), _x(3, 4))
