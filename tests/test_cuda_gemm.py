"""CUDA SGEMM: every rung of the ladder against float64 numpy, all transpose pairs, awkward
shapes (1, primes, non-multiples of the 32/128 tiles, odd leading dimensions that disable the
float4 path), alpha/beta, and beta = 0 ignoring NaN in C."""

from __future__ import annotations

import numpy as np
import pytest
from _cuda_util import dev, f32, mod, needs_gpu

pytestmark = needs_gpu

RUNGS = ["naive", "smem", "regtile", "vec", "warptile", "auto"]
SHAPES = [(1, 1, 1), (1, 7, 3), (7, 1, 5), (13, 17, 19), (64, 64, 64), (128, 10, 784),
          (129, 131, 67), (257, 128, 33), (200, 260, 4)]


@pytest.fixture(params=RUNGS)
def rung(request):
    mod().set_gemm_rung(request.param)
    yield request.param
    mod().set_gemm_rung("auto")


def operands(rng, m, n, k, ta, tb):
    a = rng.standard_normal((k, m) if ta else (m, k))
    b = rng.standard_normal((n, k) if tb else (k, n))
    return f32(a), f32(b)


def tolerance(k: int) -> float:
    return 1e-5 * (8 + 4 * np.sqrt(k))


@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)])
def test_gemm_matches_float64_numpy_for_every_rung(rung, m, n, k, ta, tb, rng):
    a, b = operands(rng, m, n, k, ta, tb)
    ref = (a.T if ta else a) @ (b.T if tb else b)
    c = mod().gemm(dev(a), dev(b), trans_a=ta, trans_b=tb).numpy()
    assert c.shape == (m, n)
    np.testing.assert_allclose(c, ref, rtol=1e-4, atol=tolerance(k))


@pytest.mark.parametrize("m,n,k", [(5, 3, 2), (129, 67, 131)])
def test_gemm_applies_alpha_and_beta_in_place(rung, m, n, k, rng):
    a, b = operands(rng, m, n, k, False, True)
    c0 = f32(rng.standard_normal((m, n)))
    c = dev(c0)
    out = mod().gemm(dev(a), dev(b), c, trans_b=True, alpha=-0.5, beta=1.5)
    ref = -0.5 * a @ b.T + 1.5 * c0
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-4, atol=tolerance(k))
    np.testing.assert_allclose(c.numpy(), ref, rtol=1e-4, atol=tolerance(k))


def test_gemm_beta_zero_ignores_nan_in_c(rung, rng):
    a, b = operands(rng, 33, 35, 9, False, False)
    c = dev(np.full((33, 35), np.nan))
    mod().gemm(dev(a), dev(b), c, beta=0.0)
    np.testing.assert_allclose(c.numpy(), a @ b, rtol=1e-4, atol=tolerance(9))


def test_gemm_with_k_zero_scales_c(rung, rng):
    c0 = f32(rng.standard_normal((6, 4)))
    c = dev(c0)
    mod().gemm(mod().zeros((6, 0)), mod().zeros((0, 4)), c, beta=2.0)
    np.testing.assert_allclose(c.numpy(), 2 * c0, rtol=1e-6)
    assert mod().gemm(mod().zeros((6, 0)), mod().zeros((0, 4))).numpy().tolist() == [[0.0] * 4] * 6


def test_gemm_of_empty_output_returns_empty():
    assert mod().gemm(mod().zeros((0, 5)), mod().zeros((5, 3))).shape == (0, 3)


def test_gemm_rejects_mismatched_shapes_and_dtypes():
    with pytest.raises(ValueError, match=r"inner dimensions differ: op\(a\) is \(2, 3\)"):
        mod().gemm(mod().zeros((2, 3)), mod().zeros((4, 5)))
    with pytest.raises(ValueError, match=r"c: expected shape \(2, 5\), got \(5, 2\)"):
        mod().gemm(mod().zeros((2, 3)), mod().zeros((3, 5)), mod().zeros((5, 2)))
    with pytest.raises(ValueError, match="a: expected a float32 DeviceArray, got int64"):
        mod().gemm(mod().zeros((2, 3), "int64"), mod().zeros((3, 5)))
    with pytest.raises(ValueError, match="share memory"):
        a = mod().zeros((3, 3))
        mod().gemm(a, mod().zeros((3, 3)), a)
    with pytest.raises(ValueError, match="rung"):
        mod().set_gemm_rung("fastest")


def test_gemm_agrees_with_the_cpu_kernel(rng):
    from dl_kernels import _C

    a = rng.standard_normal((131, 77)).astype(np.float32)
    b = rng.standard_normal((97, 77)).astype(np.float32)
    cpu = _C.gemm(a, b, trans_b=True)
    gpu = mod().gemm(dev(a), dev(b), trans_b=True).numpy()
    np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=tolerance(77))
