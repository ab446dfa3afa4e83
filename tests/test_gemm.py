"""CPU GEMM: c = alpha * op(a) @ op(b) + beta * c, checked against float64 numpy.

Accuracy bound: each entry of a float32 product is a K-term dot product, whose rounding error
is at most gamma_K * (|op(a)| @ |op(b)|) with gamma_K ~ K * u (Higham, Accuracy and Stability
of Numerical Algorithms, 3.1); u = 2**-24 for float32, 2**-53 for float64. We test each entry
against that bound (with the alpha/beta terms added), which never fails for a correct kernel
yet catches a single wrong or missing term (of order |a_ik * b_kj|, far above K * u * sum).
"""

import dl_kernels
import numpy as np
import pytest
from dl_kernels import _C

CPU = dl_kernels.config()
RUNGS = ["reference", "portable"]
if CPU["cpu_avx2_fma"]:
    RUNGS.append("avx2")
if CPU["cpu_avx512"]:
    RUNGS.append("avx512")

# (M, N, K): empty, 1, primes, and sizes that cross every block edge of every micro-kernel
# (tiles 12x32 / 6x16 / 4x8, kc 256-384, nc 256-512, mc 1536).
SHAPES = [
    (0, 5, 3), (5, 0, 3), (5, 7, 0), (1, 1, 1), (1, 37, 1), (13, 1, 7), (7, 13, 5),
    (31, 67, 129), (97, 33, 401), (37, 521, 17), (1543, 5, 3), (64, 64, 64), (128, 10, 389),
    # skinny: M <= 4 or K <= 4 take the unpacked streaming path
    (3, 300, 200), (4, 1031, 97), (2, 5, 2000), (200, 301, 3), (5, 77, 4),
]


@pytest.fixture(params=RUNGS)
def rung(request):
    _C.set_gemm_rung(request.param)
    yield request.param
    _C.set_gemm_rung("auto")


def operand(rng, rows, cols, transposed, dtype):
    shape = (cols, rows) if transposed else (rows, cols)
    return rng.standard_normal(shape).astype(dtype)


def check(out, a, b, c0, ta, tb, alpha, beta, dtype):
    opa = (a.T if ta else a).astype(np.float64)
    opb = (b.T if tb else b).astype(np.float64)
    ref = alpha * (opa @ opb) + (beta * c0.astype(np.float64) if beta else 0.0)
    K = opa.shape[1]
    u = np.finfo(dtype).eps / 2
    # (K + 2) u for ours and as much again for the float64 reference, which also rounds.
    bound = 2 * (K + 2) * u * (abs(alpha) * (np.abs(opa) @ np.abs(opb)) + abs(beta) * np.abs(c0))
    bound += 4 * np.finfo(dtype).tiny
    err = np.abs(out.astype(np.float64) - ref)
    assert out.dtype == dtype and out.shape == ref.shape
    assert np.all(err <= bound), f"max error {err.max():.3g}, bound there {bound.flat[err.argmax()]:.3g}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)])
@pytest.mark.parametrize("M,N,K", SHAPES)
def test_every_rung_matches_float64_reference(rung, threads, rng, M, N, K, ta, tb, dtype):
    if rung == "reference" and M * N * K > 3_000_000:
        pytest.skip("the reference rung is the slow one")
    a = operand(rng, M, K, ta, dtype)
    b = operand(rng, K, N, tb, dtype)
    c0 = rng.standard_normal((M, N)).astype(dtype)
    out = _C.gemm(a, b, c0.copy(), trans_a=ta, trans_b=tb, alpha=1.5, beta=-0.75)
    check(out, a, b, c0, ta, tb, 1.5, -0.75, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_new_output_when_c_is_not_given(rng, dtype):
    a, b = rng.standard_normal((19, 23)).astype(dtype), rng.standard_normal((23, 29)).astype(dtype)
    out = _C.gemm(a, b, alpha=2.0)
    check(out, a, b, np.zeros((19, 29), dtype), False, False, 2.0, 0.0, dtype)


@pytest.mark.parametrize("ta,tb", [(False, True), (True, False)])
def test_flags_by_position_mean_what_they_mean_by_keyword(rng, ta, tb):
    # c, trans_a, trans_b, alpha, beta by position: the backend's call, without keyword matching
    a, b = operand(rng, 7, 11, ta, np.float32), operand(rng, 11, 5, tb, np.float32)
    c0 = rng.standard_normal((7, 5)).astype(np.float32)
    by_position = _C.gemm(a, b, c0.copy(), ta, tb, 1.5, -0.75)
    check(by_position, a, b, c0, ta, tb, 1.5, -0.75, np.float32)
    np.testing.assert_array_equal(by_position, _C.gemm(a, b, c0.copy(), trans_a=ta, trans_b=tb,
                                                       alpha=1.5, beta=-0.75))


def test_beta_zero_ignores_nan_in_c(rung, rng):
    a, b = rng.standard_normal((17, 9)).astype(np.float32), rng.standard_normal((9, 41)).astype(np.float32)
    c = np.full((17, 41), np.nan, np.float32)
    out = _C.gemm(a, b, c, beta=0.0)
    assert out is c
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("K", [0, 1])
def test_k_zero_scales_c_by_beta_and_k_one_is_an_outer_product(rng, K):
    a, b = rng.standard_normal((5, K)), rng.standard_normal((K, 7))
    c0 = rng.standard_normal((5, 7))
    out = _C.gemm(a, b, c0.copy(), alpha=3.0, beta=0.5)
    np.testing.assert_allclose(out, 3.0 * a @ b + 0.5 * c0, rtol=1e-14, atol=1e-14)


def test_alpha_zero_leaves_beta_c(rng):
    a, b, c0 = rng.standard_normal((4, 6)), rng.standard_normal((6, 3)), rng.standard_normal((4, 3))
    np.testing.assert_allclose(_C.gemm(a, b, c0.copy(), alpha=0.0, beta=2.0), 2.0 * c0)


def test_leading_dimensions_of_row_slices_are_honoured(rung, rng):
    big_a = rng.standard_normal((40, 50)).astype(np.float32)
    big_b = rng.standard_normal((60, 70)).astype(np.float32)
    big_c = rng.standard_normal((45, 80)).astype(np.float32)
    a, b, c = big_a[3:20, 5:36], big_b[:31, 2:45], big_c[1:18, 7:50]
    c0, before = c.copy(), big_c.copy()
    _C.gemm(a, b, c, alpha=1.0, beta=1.0)
    check(c, a, b, c0, False, False, 1.0, 1.0, np.float32)
    outside = np.ones(big_c.shape, bool)
    outside[1:18, 7:50] = False
    assert np.array_equal(big_c[outside], before[outside]), "wrote outside the view of c"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M", range(24, 37))
@pytest.mark.parametrize("N", [48, 61])
def test_every_count_of_leftover_rows(rung, rng, M, N, dtype):
    # M from 24 to 36 leaves 0 to 11 rows after the last whole tile of 6 or 12 rows: the driver
    # gives them a shorter tile (2, 4 or 8 rows) where the kernel has one, writing C directly
    # when the rows match exactly and the columns are whole (N = 48), through the edge buffer
    # otherwise (N = 61). K = 400 spans two K blocks, so the short tiles also accumulate.
    a = rng.standard_normal((M, 400)).astype(dtype)
    b = rng.standard_normal((400, N)).astype(dtype)
    c0 = rng.standard_normal((M, N)).astype(dtype)
    out = _C.gemm(a, b, c0.copy(), alpha=-0.5, beta=1.5)
    check(out, a, b, c0, False, False, -0.5, 1.5, dtype)


@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)])
def test_operands_a_page_wide_are_packed_whole_rows_at_a_time(rung, threads, rng, ta, tb):
    # Leading dimension 1024 floats (4 KiB), the case the packer walks row by row across many
    # slivers; 1021 columns leave a partial last sliver of every tile width.
    wide = rng.standard_normal((1100, 1024)).astype(np.float32)
    a = wide[:300, :70] if ta else wide[:70, :300]  # op(a) is 70 x 300
    b = wide[:1021, :300] if tb else wide[:300, :1021]  # op(b) is 300 x 1021
    c0 = rng.standard_normal((70, 1021)).astype(np.float32)
    out = _C.gemm(a, b, c0.copy(), trans_a=ta, trans_b=tb, alpha=1.0, beta=0.5)
    check(out, a, b, c0, ta, tb, 1.0, 0.5, np.float32)


def test_large_product_is_accurate_and_threads_agree(rng):
    a = rng.standard_normal((300, 700)).astype(np.float32)
    b = rng.standard_normal((700, 500)).astype(np.float32)
    before = dl_kernels.get_num_threads()
    try:
        dl_kernels.set_num_threads(1)
        one = _C.gemm(a, b)
        dl_kernels.set_num_threads(2)
        two = _C.gemm(a, b)
    finally:
        dl_kernels.set_num_threads(before)
    check(one, a, b, np.zeros((300, 500), np.float32), False, False, 1.0, 0.0, np.float32)
    np.testing.assert_array_equal(one, two)  # same blocking, so the same sums in the same order


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (1, 257, 129), (7, 33, 401), (61, 97, 800)])
def test_packed_b_gives_the_same_product_for_every_left_hand_side(rung, rng, M, N, K, ta, tb,
                                                                  dtype):
    b = operand(rng, K, N, tb, dtype)
    packed = _C.pack_b(b, trans_b=tb)
    assert packed.shape == (K, N)
    for _ in range(3):  # one packing, many products
        a = operand(rng, M, K, ta, dtype)
        c0 = rng.standard_normal((M, N)).astype(dtype)
        out = _C.gemm_packed(a, packed, c0.copy(), trans_a=ta, alpha=0.5, beta=2.0)
        check(out, a, b, c0, ta, tb, 0.5, 2.0, dtype)


def test_packed_b_checks_the_inner_dimension():
    packed = _C.pack_b(np.zeros((5, 3), np.float32))
    with pytest.raises(ValueError, match=r"op\(a\) is \(2, 4\) and the packed b is \(5, 3\)"):
        _C.gemm_packed(np.zeros((2, 4), np.float32), packed)


# ---- bad input -------------------------------------------------------------------------------

def test_inner_dimension_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"op\(a\) is \(3, 4\) and op\(b\) is \(5, 6\)"):
        _C.gemm(np.zeros((3, 4), np.float32), np.zeros((5, 6), np.float32))


def test_mixed_dtypes_are_refused():
    with pytest.raises(ValueError, match="b: expected dtype float32, got float64"):
        _C.gemm(np.zeros((3, 4), np.float32), np.zeros((4, 2), np.float64))


def test_integer_arrays_are_refused():
    with pytest.raises(ValueError, match="expected dtype float32 or float64, got int64"):
        _C.gemm(np.zeros((3, 4), np.int64), np.zeros((4, 2), np.int64))


def test_non_unit_stride_rows_are_refused():
    a = np.zeros((3, 8), np.float32)[:, ::2]
    with pytest.raises(ValueError, match="a: expected rows of unit stride"):
        _C.gemm(a, np.zeros((4, 2), np.float32))


def test_wrong_rank_is_refused():
    with pytest.raises(ValueError, match=r"a: expected a 2-D array, got shape \(3,\)"):
        _C.gemm(np.zeros(3, np.float32), np.zeros((3, 2), np.float32))


def test_wrong_output_shape_is_refused():
    with pytest.raises(ValueError, match=r"c: expected shape \(3, 2\), got \(2, 3\)"):
        _C.gemm(np.zeros((3, 4)), np.zeros((4, 2)), np.zeros((2, 3)))


def test_output_aliasing_an_input_is_refused():
    a = np.zeros((4, 4), np.float32)
    with pytest.raises(ValueError, match="c must not share memory with a"):
        _C.gemm(a, np.zeros((4, 4), np.float32), a, beta=1.0)
    with pytest.raises(ValueError, match="c must not share memory with b"):
        big = np.zeros((8, 4), np.float32)
        _C.gemm(np.ones((4, 4), np.float32), big[:4], big[2:6])


def test_read_only_output_is_refused():
    c = np.zeros((2, 2))
    c.setflags(write=False)
    with pytest.raises(ValueError, match="c: expected a writeable array"):
        _C.gemm(np.zeros((2, 3)), np.zeros((3, 2)), c)


def test_unknown_rung_is_refused():
    with pytest.raises(ValueError, match="unknown gemm rung"):
        _C.set_gemm_rung("avx9000")


def test_thread_count_must_be_positive():
    with pytest.raises(ValueError, match="expected a thread count >= 1, got 0"):
        dl_kernels.set_num_threads(0)
