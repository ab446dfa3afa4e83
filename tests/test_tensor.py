"""Tensor: factories, dtypes, views, indexing, arithmetic, reductions, in-place ops, errors."""

from __future__ import annotations

import dl_kernels as dk
import numpy as np
import pytest

rng = np.random.default_rng(7)


def arr(*shape: int, dtype=np.float64) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


def close(t: dk.Tensor, ref: np.ndarray, tol: float = 1e-6) -> None:
    got = t.detach().numpy()
    assert got.shape == np.shape(ref)
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


# ---- factories and dtypes -------------------------------------------------------------------
def test_python_floats_default_to_float32_ints_to_int64_bools_to_bool():
    assert dk.tensor([1.5, 2.0]).dtype is dk.float32
    assert dk.tensor([[1, 2]]).dtype is dk.int64
    assert dk.tensor([True, False]).dtype is dk.bool
    assert dk.tensor(3.0).shape == ()
    assert dk.Tensor([1, 2]).dtype is dk.float32 and isinstance(dk.Tensor([1]), dk.Tensor)


def test_numpy_input_keeps_its_dtype_and_unsupported_dtypes_map_to_the_nearest():
    assert dk.tensor(np.zeros(3)).dtype is dk.float64
    assert dk.tensor(np.zeros(3, dtype=np.int32)).dtype is dk.int32  # as torch.tensor
    assert dk.tensor(np.zeros(3, dtype=np.uint16)).dtype is dk.int64
    assert dk.tensor(np.zeros(3, dtype=np.float16)).dtype is dk.float32
    assert dk.tensor([1, 2], dtype=dk.float64).dtype is dk.float64
    with pytest.raises(TypeError, match="unsupported dtype"):
        dk.zeros(2, dtype="complex64")


def test_factories_make_the_requested_shapes_and_values():
    assert dk.zeros(2, 3).shape == (2, 3) and dk.zeros((2, 3)).sum().item() == 0
    assert dk.ones(4, dtype=dk.float64).dtype is dk.float64
    assert dk.full((2, 2), 7).dtype is dk.int64
    assert dk.full((2, 2), 1.5).tolist() == [[1.5, 1.5], [1.5, 1.5]]
    assert dk.empty(3, 1).shape == (3, 1)
    assert dk.arange(5).tolist() == [0, 1, 2, 3, 4] and dk.arange(5).dtype is dk.int64
    assert dk.arange(0, 1, 0.25).dtype is dk.float32
    assert dk.randn(3, 5).shape == (3, 5) and dk.rand(7).max().item() < 1
    r = dk.randint(2, 5, (100,))
    assert r.dtype is dk.int64 and r.min().item() >= 2 and r.max().item() < 5
    x = dk.randn(2, 3, dtype=dk.float64)
    for like in (dk.zeros_like, dk.ones_like, dk.empty_like, dk.randn_like, dk.rand_like):
        y = like(x)
        assert y.shape == x.shape and y.dtype is dk.float64
    assert dk.full_like(x, 2.0).sum().item() == 12
    np.testing.assert_array_equal(dk.eye(3, 4).numpy(), np.eye(3, 4))


def test_manual_seed_makes_random_numbers_repeatable():
    dk.manual_seed(3)
    a = dk.randn(5).tolist()
    dk.manual_seed(3)
    assert dk.randn(5).tolist() == a


def test_from_numpy_shares_memory_and_numpy_item_tolist_read_back():
    a = np.arange(6.0).reshape(2, 3)
    t = dk.from_numpy(a)
    a[0, 0] = 42
    assert t[0, 0].item() == 42
    assert t.numpy() is a or np.shares_memory(t.numpy(), a)
    assert t.tolist() == a.tolist()
    with pytest.raises(TypeError, match="from_numpy"):
        dk.from_numpy(np.zeros(2, dtype=np.uint16))


def test_dlpack_round_trips_through_numpy_and_shares_memory():
    t = dk.arange(6, dtype=dk.float32).reshape(2, 3)
    a = np.from_dlpack(t)
    assert np.shares_memory(a, t.numpy())
    back = dk.from_dlpack(a)
    assert back.tolist() == t.tolist()


def test_dlpack_exchanges_with_torch():
    torch = pytest.importorskip("torch")
    tt = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    t = dk.from_dlpack(tt)
    assert t.shape == (3, 4) and t.dtype is dk.float32
    tt[0, 0] = -1
    assert t[0, 0].item() == -1
    back = torch.from_dlpack(dk.ones(2, 2, dtype=dk.float64))
    assert back.dtype == torch.float64 and back.sum().item() == 4


def test_to_changes_dtype_and_accepts_cpu_while_cuda_raises_clearly():
    x = dk.randn(3)
    assert x.to(dk.float64).dtype is dk.float64 and x.double().dtype is dk.float64
    assert x.to("cpu") is x and x.device == "cpu" and str(x.device) == "cpu"
    assert x.to(dk.zeros(1, dtype=dk.int64)).dtype is dk.int64
    with pytest.raises(RuntimeError, match="cuda"):
        x.to("cuda")
    with pytest.raises(RuntimeError, match="cuda"):
        dk.zeros(2, device="cuda")
    with pytest.raises(ValueError, match="unknown device"):
        dk.zeros(2, device="tpu")


# ---- views and shape ops --------------------------------------------------------------------
def test_reshape_view_and_transpose_are_views_of_the_same_storage():
    x = dk.zeros(2, 6)
    v = x.view(3, 4)
    t = x.T
    v[0, 0] = 5
    assert x[0, 0].item() == 5 and t[0, 0].item() == 5
    assert x.reshape(-1).shape == (12,)


def test_shape_ops_match_numpy():
    a = arr(2, 1, 3, 1)
    x = dk.tensor(a)
    close(x.squeeze(), a.squeeze())
    close(x.squeeze(1), a.squeeze(1))
    close(x.unsqueeze(0), a[None])
    close(x.unsqueeze(-1), a[..., None])
    close(x.flatten(), a.reshape(-1))
    close(x.flatten(1), a.reshape(2, -1))
    close(x.permute(3, 0, 2, 1), a.transpose(3, 0, 2, 1))
    close(x.transpose(0, 2), a.swapaxes(0, 2))
    close(x.expand(2, 5, 3, 4), np.broadcast_to(a, (2, 5, 3, 4)))
    close(x.expand(-1, 4, -1, 2), np.broadcast_to(a, (2, 4, 3, 2)))
    b = arr(3, 2)
    close(dk.tensor(b).repeat(2, 3), np.tile(b, (2, 3)))
    close(dk.tensor(b).mT, b.T)


def test_indexing_matches_numpy_for_basic_advanced_and_boolean_indices():
    a = arr(5, 4, 3)
    x = dk.tensor(a)
    idx = np.array([4, 0, 0, 2])
    mask = a[:, 0, 0] > 0
    cases = [
        (1, a[1]), ((slice(1, 4), 2), a[1:4, 2]), ((None, Ellipsis, 1), a[None, ..., 1]),
        ((slice(None, None, -1),), a[::-1]) if False else ((slice(None, None, 2),), a[::2]),
        (dk.tensor(idx), a[idx]), ((dk.tensor(idx), slice(None), 0), a[idx, :, 0]),
        (dk.tensor(mask), a[mask]), ([1, 3], a[[1, 3]]), ((-1, -2), a[-1, -2]),
        (x[:, 0, 0] > 0, a[a[:, 0, 0] > 0]),
    ]
    for index, ref in cases:
        close(x[index], ref)


def test_setitem_writes_scalars_tensors_and_broadcasts():
    a = arr(4, 3)
    x = dk.tensor(a)
    x[0] = 1.0
    a[0] = 1.0
    x[1:3, 1] = dk.tensor([5.0, 6.0], dtype=dk.float64)
    a[1:3, 1] = [5.0, 6.0]
    x[x > 2] = 0.0
    a[a > 2] = 0.0
    close(x, a)


def test_cat_stack_split_chunk_match_numpy():
    a, b = arr(2, 3), arr(4, 3)
    close(dk.cat([dk.tensor(a), dk.tensor(b)]), np.concatenate([a, b]))
    close(dk.stack([dk.tensor(a), dk.tensor(a)], 1), np.stack([a, a], 1))
    parts = dk.tensor(b).split(3)
    assert [p.shape for p in parts] == [(3, 3), (1, 3)]
    parts = dk.tensor(b).split([1, 3])
    close(parts[1], b[1:])
    assert [c.shape for c in dk.tensor(b).chunk(3, 1)] == [(4, 1)] * 3
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4\)"):
        dk.cat([dk.zeros(2, 3), dk.zeros(2, 4)])
    with pytest.raises(ValueError, match="do not add up"):
        dk.tensor(b).split([1, 1])


# ---- arithmetic -----------------------------------------------------------------------------
@pytest.mark.parametrize("sa,sb", [((3, 4), (3, 4)), ((5, 1, 3), (4, 1)), ((1,), (2, 7)),
                                   ((), (3,)), ((2, 3, 1), (1, 5))])
def test_broadcasting_arithmetic_matches_numpy(sa, sb):
    a, b = arr(*sa), np.abs(arr(*sb)) + 0.5
    x, y = dk.tensor(a), dk.tensor(b)
    close(x + y, a + b)
    close(x - y, a - b)
    close(x * y, a * b)
    close(x / y, a / b)
    close(y ** x, b ** a)
    close(-x, -a)
    close(x + 2, a + 2)
    close(2 - x, 2 - a)
    close(3 / y, 3 / b)
    close(2 ** x, 2 ** a)
    close(x ** 2, a ** 2)
    np.testing.assert_array_equal((x < y).numpy(), a < b)
    np.testing.assert_array_equal((x // y).numpy(), a // b)
    np.testing.assert_array_equal((x % 0.7).numpy(), a % 0.7)
    np.testing.assert_array_equal((x == y).numpy(), a == b)
    np.testing.assert_array_equal((x != y).numpy(), a != b)


def test_dtype_promotion_follows_torch():
    f32, f64, i64 = dk.ones(2), dk.ones(2, dtype=dk.float64), dk.ones(2, dtype=dk.int64)
    assert (f32 + f64).dtype is dk.float64
    assert (i64 + f32).dtype is dk.float32
    assert (i64 * 2.5).dtype is dk.float32
    assert (i64 + 1).dtype is dk.int64
    assert (i64 / 2).dtype is dk.float32
    assert (f32 * 2.0).dtype is dk.float32
    assert (f32 * dk.tensor(2.0, dtype=dk.float64)).dtype is dk.float32  # 0-d: same category
    assert (i64 * dk.tensor(2.5, dtype=dk.float64)).dtype is dk.float64
    assert (f32 * np.float64(2.0)).dtype is dk.float32


@pytest.mark.parametrize("sa,sb", [((7, 5), (5, 3)), ((1, 13), (13, 1)), ((4, 7, 5), (5, 6)),
                                   ((2, 1, 3, 4), (5, 4, 2)), ((5,), (5, 3)), ((3, 5), (5,)),
                                   ((6,), (6,)), ((3, 2, 9), (3, 9, 1))])
def test_matmul_matches_numpy_for_2d_batched_broadcast_and_vectors(sa, sb):
    a, b = arr(*sa), arr(*sb)
    close(dk.tensor(a) @ dk.tensor(b), a @ b, 1e-10)
    close(dk.tensor(a, dtype=dk.float32) @ dk.tensor(b, dtype=dk.float32), a @ b, 1e-4)


def test_matmul_of_transposed_views_runs_without_copy_errors():
    a, b = arr(6, 4), arr(6, 5)
    close(dk.tensor(a).T @ dk.tensor(b), a.T @ b, 1e-10)
    close(dk.tensor(b).T @ dk.tensor(a)[:, 1:3], b.T @ a[:, 1:3], 1e-10)


def test_mismatched_shapes_dtypes_and_inner_dims_raise_naming_both_sides():
    with pytest.raises(ValueError, match=r"\(2,3\).*\(4,\)|\(2, ?3\).*\(4,\)"):
        dk.zeros(2, 3) + dk.zeros(4)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        dk.zeros(2, 3) @ dk.zeros(4, 5)
    with pytest.raises(TypeError, match="float32.*float64"):
        dk.zeros(2, 3) @ dk.zeros(3, 2, dtype=dk.float64)


def test_mixing_devices_raises_naming_both():
    from dl_kernels.backend import CPUBackend

    class OtherDevice(CPUBackend):  # a second backend standing in for a GPU one
        device = "cuda"

    other = dk.Tensor._wrap(np.ones((2, 3), np.float32), OtherDevice())
    assert other.device == "cuda"
    here = dk.ones(2, 3)
    for op in (lambda: here + other, lambda: here @ other.T, lambda: dk.cat([here, other]),
               lambda: here < other):
        with pytest.raises(ValueError, match="cpu.*cuda"):
            op()
    import dl_kernels.nn.functional as F

    with pytest.raises(ValueError, match="cpu.*cuda"):
        F.linear(here, other)


# ---- elementwise functions and reductions ---------------------------------------------------
def test_elementwise_functions_match_numpy():
    a = arr(4, 5)
    x = dk.tensor(a)
    p = dk.tensor(np.abs(a) + 0.1)
    close(x.exp(), np.exp(a))
    close(p.log(), np.log(np.abs(a) + 0.1))
    close(p.sqrt(), np.sqrt(np.abs(a) + 0.1))
    close(x.abs(), np.abs(a))
    close(x.clamp(-0.5, 0.5), np.clip(a, -0.5, 0.5))
    close(x.clamp(min=0.1), np.maximum(a, 0.1))
    close(x.tanh(), np.tanh(a))
    close(x.sigmoid(), 1 / (1 + np.exp(-a)))
    close(dk.where(x > 0, x, 0.0), np.where(a > 0, a, 0))
    close(dk.maximum(x, -x), np.abs(a))
    close(dk.minimum(x, dk.zeros(5, dtype=dk.float64)), np.minimum(a, 0))


@pytest.mark.parametrize("dim", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_reductions_match_numpy_over_axes_with_keepdim(dim, keepdim):
    a = arr(3, 4, 5)
    x = dk.tensor(a)
    kw = {"dim": dim, "keepdim": keepdim} if dim is not None else {}
    ax = dim
    close(x.sum(**kw), np.sum(a, axis=ax, keepdims=keepdim and dim is not None))
    close(x.mean(**kw), np.mean(a, axis=ax, keepdims=keepdim and dim is not None))
    close(x.var(**kw), np.var(a, axis=ax, ddof=1, keepdims=keepdim and dim is not None))
    close(x.amax(**kw), np.max(a, axis=ax, keepdims=keepdim and dim is not None))
    if dim is not None:
        m = np.max(a, axis=ax, keepdims=True)
        lse = np.log(np.sum(np.exp(a - m), axis=ax, keepdims=True)) + m
        close(x.logsumexp(dim, keepdim), lse if keepdim else np.squeeze(lse, axis=ax))


def test_max_min_with_dim_return_values_and_indices():
    a = arr(4, 6)
    x = dk.tensor(a)
    v, i = x.max(1)
    close(v, a.max(1))
    assert i.tolist() == a.argmax(1).tolist()
    v, i = x.min(0, keepdim=True)
    close(v, a.min(0, keepdims=True))
    assert x.argmax().item() == a.argmax()
    assert x.max().item() == a.max()
    assert x.argmin(1).tolist() == a.argmin(1).tolist()


def test_gather_sort_topk_argsort_match_numpy():
    a = arr(4, 6)
    x = dk.tensor(a)
    idx = np.array([[0, 5, 5], [1, 1, 0], [2, 3, 4], [5, 0, 1]])
    close(x.gather(1, dk.tensor(idx)), np.take_along_axis(a, idx, 1))
    v, i = x.sort(1)
    close(v, np.sort(a, 1))
    assert i.tolist() == np.argsort(a, 1, kind="stable").tolist()
    v, i = x.topk(2, dim=0)
    close(v, -np.sort(-a, 0)[:2])
    assert x.argsort(0, descending=True).tolist() == np.argsort(-a, 0, kind="stable").tolist()
    close(x.index_select(1, dk.tensor([5, 0, 5])), a[:, [5, 0, 5]])
    assert x.gt(0).any(1).tolist() == (a > 0).any(1).tolist()
    assert x.gt(-9).all().item() and not x.gt(0).all().item()
    assert x.gt(0).all(0, keepdim=True).shape == (1, 6)
    with pytest.raises(ValueError, match="gather"):
        x.gather(1, dk.tensor([0, 1]))


# ---- in-place ops, .data, conversions -------------------------------------------------------
def test_in_place_updates_match_numpy():
    a, b, c = arr(3, 4), arr(3, 4), np.abs(arr(3, 4)) + 1
    x, y, z = dk.tensor(a), dk.tensor(b), dk.tensor(c)
    x.add_(y, alpha=0.5)
    a += 0.5 * b
    x.sub_(y)
    a -= b
    x.mul_(2.0).div_(z)
    a = a * 2 / c
    x.addcmul_(y, z, value=0.1)
    a += 0.1 * b * c
    x.addcdiv_(y, z, value=-2)
    a += -2 * b / c
    x.clamp_(-1, 1)
    a = np.clip(a, -1, 1)
    close(x, a)
    x.copy_(y)
    close(x, b)
    x.fill_(3.0)
    close(x, np.full((3, 4), 3.0))
    x.zero_()
    close(x, np.zeros((3, 4)))


def test_in_place_on_a_leaf_that_requires_grad_is_refused_unless_under_no_grad():
    w = dk.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        w.add_(1.0)
    with dk.no_grad():
        w.add_(1.0)
    w.data.mul_(2.0)
    assert w.tolist() == [4.0, 4.0, 4.0]
    assert not w.data.requires_grad


def test_item_tolist_numpy_and_python_conversions():
    x = dk.tensor([[2.5]])
    assert x.item() == 2.5 and float(x) == 2.5 and int(x) == 2 and bool(x)
    with pytest.raises(ValueError, match="one element"):
        dk.zeros(2).item()
    with pytest.raises(RuntimeError, match="detach"):
        dk.zeros(2, requires_grad=True).numpy()
    assert dk.zeros(2, requires_grad=True).detach().numpy().tolist() == [0.0, 0.0]
    assert "tensor(" in repr(dk.zeros(2))
    assert "requires_grad=True" in repr(dk.zeros(1).requires_grad_())


def test_pickle_and_deepcopy_keep_data_dtype_and_requires_grad_and_stay_usable():
    import copy
    import pickle

    w = dk.randn(3, 2, dtype=dk.float64, requires_grad=True)
    (w * w).sum().backward()
    for clone in (pickle.loads(pickle.dumps(w)), copy.deepcopy(w)):
        assert clone is not w and clone.requires_grad and clone.dtype is dk.float64
        np.testing.assert_array_equal(clone.detach().numpy(), w.detach().numpy())
        assert not np.shares_memory(clone.detach().numpy(), w.detach().numpy())
        (clone + w).sum()  # same backend object: mixing works
    assert copy.deepcopy(w).grad.tolist() == w.grad.tolist()
    with pytest.raises(RuntimeError, match="leaf"):
        copy.deepcopy(w * 2)
