"""Fused bias + activation: the GEMM epilogue (Linear + ReLU/tanh/sigmoid) and conv + bias + ReLU.

The fused kernels are pinned to the unfused path: the GEMM (or convolution) alone, then the bias
and the activation as separate numpy passes. ReLU and the bias add are the same float operations
in both, so those agree bitwise; tanh and sigmoid come from the kernels' vector math (a
polynomial exp) and agree to a few ulp (bound below). Gradients are pinned the same way and by
float64 finite differences.
"""

import dl_kernels as dlk
import numpy as np
import pytest
from dl_kernels import _C, nn
from dl_kernels.autograd import gradcheck
from dl_kernels.nn import functional as F

CPU = dlk.config()
GEMM_RUNGS = ["reference", "portable"] + (["avx2"] if CPU["cpu_avx2_fma"] else []) + (
    ["avx512"] if CPU["cpu_avx512"] else [])
ACTS = ["none", "relu", "tanh", "sigmoid"]
NUMPY_ACT = {
    "none": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
}
# (M, N, K): empty, 1, primes; full tiles and edge tiles of every micro-kernel (12x32, 6x16,
# 4x8); N below the tile width (the product is computed transposed); M <= 4 or K <= 4 (the
# unpacked skinny path); K past one K block (the epilogue must wait for the last one).
SHAPES = [(0, 5, 3), (5, 0, 3), (5, 7, 0), (1, 1, 1), (7, 13, 5), (31, 67, 129), (128, 10, 389),
          (97, 33, 401), (3, 300, 200), (200, 301, 3), (64, 64, 64), (37, 521, 17),
          # the last rows of M in a shorter tile: into C directly, and through the edge buffer
          (32, 48, 400), (33, 61, 400)]


@pytest.fixture(params=GEMM_RUNGS)
def gemm_rung(request):
    _C.set_gemm_rung(request.param)
    yield request.param
    _C.set_gemm_rung("auto")


def unfused_linear(x, w, b, act):
    y = _C.gemm(x, w, None, False, True)
    if b is not None:
        y = y + b
    return NUMPY_ACT[act](y)


def assert_close_to_unfused(fused, unfused, act):
    if act in ("none", "relu"):  # the same float operations: bitwise
        np.testing.assert_array_equal(fused, unfused)
    else:  # the vector tanh / sigmoid: a few ulp of the result, or of 1 near 0
        eps = np.finfo(fused.dtype).eps
        np.testing.assert_allclose(fused, unfused, rtol=8 * eps, atol=2 * eps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("M,N,K", SHAPES)
def test_linear_forward_equals_gemm_then_bias_then_activation(gemm_rung, rng, M, N, K,
                                                              act, with_bias, dtype):
    x = rng.standard_normal((M, K)).astype(dtype)
    w = rng.standard_normal((N, K)).astype(dtype)
    b = rng.standard_normal(N).astype(dtype) if with_bias else None
    y = _C.linear_forward(x, w, b, act)
    assert y.shape == (M, N) and y.dtype == dtype
    assert_close_to_unfused(y, unfused_linear(x, w, b, act), act)


@pytest.mark.parametrize("act", ACTS)
def test_linear_forward_matches_float64_reference(rng, act):
    x = rng.standard_normal((65, 300)).astype(np.float32)
    w = rng.standard_normal((129, 300)).astype(np.float32) / 17
    b = rng.standard_normal(129).astype(np.float32)
    ref = NUMPY_ACT[act](x.astype(np.float64) @ w.T.astype(np.float64) + b)
    # A 300-term float32 dot product: |error| <= ~K u sum|x w| (see test_gemm.py), ~1e-4 here.
    np.testing.assert_allclose(_C.linear_forward(x, w, b, act), ref, rtol=1e-5, atol=2e-5)


def test_linear_forward_propagates_nan_and_inf_through_every_activation(rng):
    x = rng.standard_normal((9, 40)).astype(np.float32)
    x[2, 5] = np.nan
    x[4, :] = np.inf
    w = np.abs(rng.standard_normal((70, 40))).astype(np.float32)
    for act in ACTS:
        y = _C.linear_forward(x, w, np.zeros(70, np.float32), act)
        assert np.isnan(y[2]).all(), act  # ReLU keeps NaN (as numpy.maximum), never zeroes it
        assert (y[4] == NUMPY_ACT[act](np.float32(np.inf))).all(), act


def test_linear_forward_reads_strided_rows_and_refuses_bad_arguments(rng):
    x = rng.standard_normal((20, 30)).astype(np.float32)
    w = rng.standard_normal((7, 30)).astype(np.float32)
    np.testing.assert_array_equal(_C.linear_forward(x[::2], w, None, "relu"),
                                  _C.linear_forward(np.ascontiguousarray(x[::2]), w, None, "relu"))
    with pytest.raises(ValueError, match=r"expected w of shape \(out_features, 30\)"):
        _C.linear_forward(x, w[:, :29], None, "none")
    with pytest.raises(ValueError, match="bias"):
        _C.linear_forward(x, w, np.zeros(8, np.float32), "none")
    with pytest.raises(ValueError, match="expected one of 'none', 'relu', 'tanh', 'sigmoid'"):
        _C.linear_forward(x, w, None, "gelu")
    with pytest.raises(ValueError, match="float64"):
        _C.linear_forward(x, w.astype(np.float64), None, "none")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("shape", [(0, 4), (3, 0), (1, 1), (7, 300), (129, 1031)])
def test_activation_backward_is_g_times_the_derivative_and_sums_the_bias(threads, rng, shape,
                                                                         act, dtype):
    g = rng.standard_normal(shape).astype(dtype)
    y = NUMPY_ACT[act](rng.standard_normal(shape)).astype(dtype)
    gz, gb = _C.activation_backward(g, y, act, True)
    deriv = {"none": lambda: np.ones_like(y), "relu": lambda: (y > 0).astype(dtype),
             "tanh": lambda: 1 - y * y, "sigmoid": lambda: y * (1 - y)}[act]()
    np.testing.assert_array_equal(gz, g * deriv)  # the unfused op's products, bitwise
    np.testing.assert_allclose(gb, gz.astype(np.float64).sum(0), rtol=1e-6, atol=1e-6)
    assert _C.activation_backward(g, y, act, False)[1] is None


def test_relu_backward_keeps_a_nan_gradient_where_the_output_is_zero():
    g = np.array([[np.nan, 1.0, 2.0]], np.float32)
    y = np.array([[0.0, 0.0, 3.0]], np.float32)
    gz, _ = _C.activation_backward(g, y, "relu", False)
    # as g * (y > 0): NaN * 0 is NaN (IEEE), 1 * 0 is 0
    np.testing.assert_array_equal(gz, [[np.nan, 0.0, 2.0]])


@pytest.mark.parametrize("rung", ["reference", "im2col", "winograd"])
@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_forward_with_activation_equals_conv_then_activation(threads, rng, rung, act,
                                                                    dtype):
    _C.set_conv2d_rung(rung)
    try:
        for n, c, o, hw, k, pad in [(2, 16, 17, 9, 3, 1), (3, 1, 5, 11, 5, 2), (0, 3, 4, 6, 3, 0),
                                    (5, 3, 8, 13, 3, 0)]:
            x = rng.standard_normal((n, c, hw, hw)).astype(dtype)
            w = rng.standard_normal((o, c, k, k)).astype(dtype)
            b = rng.standard_normal(o).astype(dtype)
            fused = _C.conv2d_forward(x, w, b, padding=[pad, pad], activation=act)
            plain = _C.conv2d_forward(x, w, b, padding=[pad, pad])
            assert_close_to_unfused(fused, NUMPY_ACT[act](plain), act)
    finally:
        _C.set_conv2d_rung("auto")


# ---- autograd and nn ----------------------------------------------------------------------------
@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid"])
def test_linear_with_activation_passes_gradcheck(rng, act):
    x = dlk.tensor(rng.standard_normal((5, 7)), requires_grad=True)
    w = dlk.tensor(rng.standard_normal((4, 7)), requires_grad=True)
    b = dlk.tensor(rng.standard_normal(4), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.linear(x, w, b, activation=act), (x, w, b))


def test_conv2d_with_relu_passes_gradcheck(rng):
    x = dlk.tensor(rng.standard_normal((2, 3, 6, 6)), requires_grad=True)
    w = dlk.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    b = dlk.tensor(rng.standard_normal(4), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1, activation="relu"), (x, w, b))


def run_unfused(seq, x):
    """The modules of a Sequential one by one: what its forward did before fusion."""
    for m in seq:
        x = m(x)
    return x


def values_and_grads(seq, x, run):
    for p in seq.parameters():
        p.grad = None
    xt = dlk.tensor(x, requires_grad=True)
    out = run(seq, xt)
    (out * dlk.tensor(np.linspace(-1, 1, out.numel()).reshape(out.shape).astype(x.dtype))).sum() \
        .backward()
    return [out.detach().numpy().copy(), xt.grad.numpy().copy()] + [p.grad.numpy().copy()
                                                           for p in seq.parameters()]


@pytest.mark.parametrize("act_module", [nn.ReLU, nn.Tanh, nn.Sigmoid])
def test_sequential_fuses_linear_and_activation_with_the_unfused_values_and_gradients(
        rng, act_module):
    dlk.manual_seed(0)
    seq = nn.Sequential(nn.Linear(30, 50), act_module(), nn.Linear(50, 20), act_module(),
                        nn.Linear(20, 3))
    x = rng.standard_normal((17, 30)).astype(np.float32)
    fused = values_and_grads(seq, x, lambda s, t: s(t))
    unfused = values_and_grads(seq, x, run_unfused)
    for a, b in zip(fused, unfused):
        if act_module is nn.ReLU:
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)  # bias sums: double vs float
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_sequential_fuses_conv_and_relu_with_the_unfused_values_and_gradients(rng):
    dlk.manual_seed(0)
    seq = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3),
                        nn.ReLU(), nn.MaxPool2d(2))
    x = rng.standard_normal((4, 3, 10, 10)).astype(np.float32)
    fused = values_and_grads(seq, x, lambda s, t: s(t))
    unfused = values_and_grads(seq, x, run_unfused)
    for a, b in zip(fused, unfused):
        np.testing.assert_array_equal(a, b)


def test_sequential_does_not_fuse_past_a_hook_or_a_subclass(rng):
    seq = nn.Sequential(nn.Linear(4, 5), nn.ReLU())
    seen = []
    seq[1].register_forward_hook(lambda m, args, out: seen.append(args[0].detach().numpy().copy()))
    x = dlk.tensor(rng.standard_normal((3, 4)).astype(np.float32))
    out = seq(x)
    assert len(seen) == 1 and (seen[0] < 0).any()  # the hook saw the pre-activation values
    np.testing.assert_array_equal(out.detach().numpy(), np.maximum(seen[0], 0))

    class Doubled(nn.Linear):
        def forward(self, x):
            return super().forward(x) * 2

    seq2 = nn.Sequential(Doubled(4, 5), nn.ReLU())
    np.testing.assert_array_equal(seq2(x).detach().numpy(), run_unfused(seq2, x).detach().numpy())


def test_linear_activation_argument_is_checked():
    x, w = dlk.ones(2, 3), dlk.ones(4, 3)
    with pytest.raises(ValueError, match="activation must be None, 'relu', 'tanh' or 'sigmoid'"):
        F.linear(x, w, activation="gelu")
    with pytest.raises(ValueError, match="activation must be None"):
        F.conv2d(dlk.ones(1, 1, 3, 3), dlk.ones(1, 1, 2, 2), activation="elu")


def test_fused_linear_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((33, 70)).astype(np.float32)
    w = rng.standard_normal((45, 70)).astype(np.float32) / 8
    b = rng.standard_normal(45).astype(np.float32)
    g = rng.standard_normal((33, 45)).astype(np.float32)
    for act, tact in [("relu", torch.relu), ("tanh", torch.tanh), ("sigmoid", torch.sigmoid)]:
        ours = [dlk.tensor(a, requires_grad=True) for a in (x, w, b)]
        y = F.linear(*ours, activation=act)
        (y * dlk.tensor(g)).sum().backward()
        theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
        ty = tact(torch.nn.functional.linear(*theirs))
        (ty * torch.tensor(g)).sum().backward()
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-5)
        for o, t in zip(ours, theirs):
            np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-4)
