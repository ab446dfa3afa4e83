"""The fused single-query attention kernel (``dot_attention``, LuongAttention's path): values
and gradients against a float64 numpy reference and the composed ops, awkward sizes, NaN and
inf as the composed form gives them, clear errors, and PyTorch where installed."""

import dl_kernels as dlk
import numpy as np
import pytest
from dl_kernels.autograd import gradcheck
from dl_kernels.nn.attention import dot_attention, masked_attention


def _reference(q, k, v, mask, g_ctx, g_w):
    """float64 numpy: the forward and the gradients of sum(ctx * g_ctx) + sum(w * g_w)."""
    e = np.where(mask, np.einsum("nd,nsd->ns", q, k), -np.inf)
    with np.errstate(invalid="ignore"):
        w = np.exp(e - e.max(axis=1, keepdims=True))
        w = w / w.sum(axis=1, keepdims=True)
    ctx = np.einsum("ns,nsv->nv", w, v)
    dw = np.einsum("nv,nsv->ns", g_ctx, v) + g_w
    de = np.where(mask, w * (dw - (w * dw).sum(axis=1, keepdims=True)), 0.0)
    return ctx, w, np.einsum("ns,nsd->nd", de, k), de[:, :, None] * q[:, None, :], \
        w[:, :, None] * g_ctx[:, None, :]


def _case(n, s, d, dv, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal(shape).astype(dtype)
               for shape in ((n, d), (n, s, d), (n, s, dv)))
    lengths = rng.integers(1, s + 1, n) if s else np.zeros(n, dtype=np.int64)
    mask = np.arange(s)[None, :] < lengths[:, None]
    return q, k, v, mask, rng.standard_normal((n, dv)), rng.standard_normal((n, s))


def _run(q, k, v, mask, g_ctx, g_w, masked=True):
    tq, tk, tv = (dlk.tensor(a, requires_grad=True) for a in (q, k, v))
    ctx, w = dot_attention(tq, tk, tv, dlk.tensor(mask) if masked else None)
    ((ctx * dlk.tensor(g_ctx.astype(q.dtype))).sum() +
     (w * dlk.tensor(g_w.astype(q.dtype))).sum()).backward()
    return ctx.detach().numpy(), w.detach().numpy(), tq.grad.numpy(), tk.grad.numpy(), \
        tv.grad.numpy()


@pytest.mark.parametrize("n,s,d,dv", [(1, 1, 1, 1), (3, 5, 8, 8), (7, 13, 17, 5),
                                      (2, 3, 33, 9), (64, 11, 256, 256)])
def test_matches_the_float64_reference_values_and_gradients(n, s, d, dv, threads):
    case = _case(n, s, d, dv, seed=n + s)
    for got, want in zip(_run(*case), _reference(*case)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n,s,d,dv", [(4, 7, 16, 16), (5, 2, 9, 3), (128, 10, 256, 256)])
def test_float32_agrees_with_the_reference_as_float32_arithmetic_can(n, s, d, dv):
    # Each output is a sum of up to max(D, S) float32 products: relative error ~ sqrt(D) eps32
    # on well-conditioned entries; 2e-5 absolute on unit-scale data holds with a margin (the
    # composed float32 ops, and PyTorch's bmm, are no closer).
    q, k, v, mask, g_ctx, g_w = case = _case(n, s, d, dv, seed=3)
    f32 = (q.astype(np.float32), k.astype(np.float32), v.astype(np.float32), mask, g_ctx, g_w)
    for got, want in zip(_run(*f32), _reference(*case)):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-5)


def test_equals_the_composed_ops_without_a_mask_and_under_gradcheck():
    q, k, v, _, g_ctx, g_w = _case(3, 4, 5, 2, seed=7)
    full = np.ones((3, 4), dtype=bool)
    for got, want in zip(_run(q, k, v, full, g_ctx, g_w, masked=False),
                         _reference(q, k, v, full, g_ctx, g_w)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    m = dlk.tensor(np.array([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]], dtype=np.int64))

    def f(q, k, v):
        ctx, w = dot_attention(q, k, v, m)  # an integer mask: nonzero may attend
        return (ctx * ctx).sum() + (w * w * w).sum()

    assert gradcheck(f, [dlk.tensor(a, requires_grad=True) for a in (q, k, v)])


def test_empty_batches_and_sources():
    for n, s in [(0, 4), (3, 0), (0, 0)]:
        q, k, v, mask, g_ctx, g_w = _case(n, s, 6, 4)
        ctx, w, gq, gk, gv = _run(q, k, v, mask, g_ctx, g_w)
        assert ctx.shape == (n, 4) and w.shape == (n, s)
        assert gq.shape == (n, 6) and gk.shape == (n, s, 6) and gv.shape == (n, s, 4)
        assert not ctx.any() and not gq.any()  # a sum over no keys is 0, as the composed form


def _composed(q, k, v, mask, g_ctx):
    tq, tk, tv = (dlk.tensor(a, requires_grad=True) for a in (q, k, v))
    with np.errstate(invalid="ignore"):  # numpy's own 0 * inf in the composed backward
        scores = (tk * tq.unsqueeze(1)).sum(dim=-1)
        ctx, w = masked_attention(scores, tv, dlk.tensor(mask))
        (ctx * dlk.tensor(g_ctx)).sum().backward()
    return ctx.detach().numpy(), w.detach().numpy(), tq.grad.numpy(), tk.grad.numpy(), \
        tv.grad.numpy()


@pytest.mark.parametrize("where", ["nan query", "inf key", "nan padded value", "all masked",
                                   "inf padded key"])
def test_nan_and_inf_land_where_the_composed_ops_put_them(where):
    q, k, v, _, g_ctx, _ = _case(3, 4, 5, 2, seed=11)
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]], dtype=bool)
    if where == "nan query":
        q[0, 2] = np.nan
    elif where == "inf key":
        k[1, 0, 3] = np.inf
    elif where == "nan padded value":
        v[0, 3, 1] = np.nan
    elif where == "all masked":
        mask[1] = False
    else:
        k[1, 3, 0] = np.inf
    got = _run(q, k, v, mask, g_ctx, np.zeros((3, 4)))
    want = _composed(q, k, v, mask, g_ctx)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_allclose(np.nan_to_num(a), np.nan_to_num(b), rtol=1e-12, atol=1e-12)
    assert np.isfinite(got[0][2]).all()  # the untouched row stays clean


def test_bad_inputs_raise_clear_errors():
    from dl_kernels import _C

    q, k, v = np.zeros((2, 4), np.float32), np.zeros((2, 3, 4), np.float32), \
        np.zeros((2, 3, 5), np.float32)
    with pytest.raises(ValueError, match=r"keys \(N, S, D\) for query \(N, D\): expected shape"):
        _C.attention_forward(q, np.zeros((2, 3, 6), np.float32), v)
    with pytest.raises(ValueError, match=r"values \(N, S, Dv\).*got \(2, 2, 5\)"):
        _C.attention_forward(q, k, np.zeros((2, 2, 5), np.float32))
    with pytest.raises(ValueError, match="keys: expected dtype float32, got float64"):
        _C.attention_forward(q, k.astype(np.float64), v)
    with pytest.raises(ValueError, match=r"mask \(N, S\): expected shape \(2, 3\)"):
        _C.attention_forward(q, k, v, np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="mask: expected a bool or integer array"):
        _C.attention_forward(q, k, v, np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"grad_context \(N, Dv\)"):
        _C.attention_backward(np.zeros((2, 4), np.float32), None, q, k, v, None,
                              np.zeros((2, 3), np.float32))


def test_matches_pytorch():
    torch = pytest.importorskip("torch")
    q, k, v, mask, g_ctx, g_w = _case(6, 7, 12, 5, seed=5)
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    e = torch.einsum("nd,nsd->ns", tq, tk).masked_fill(~torch.tensor(mask), float("-inf"))
    w = torch.softmax(e, dim=1)
    ctx = torch.einsum("ns,nsv->nv", w, tv)
    ((ctx * torch.tensor(g_ctx)).sum() + (w * torch.tensor(g_w)).sum()).backward()
    for got, want in zip(_run(q, k, v, mask, g_ctx, g_w),
                         (ctx.detach(), w.detach(), tq.grad, tk.grad, tv.grad)):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-12, atol=1e-12)
