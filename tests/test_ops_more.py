"""The ops of issue 10 item 5, each by float64 gradcheck and, where PyTorch is installed, by
value and gradient against it. One table: each case is written once against the shared API
(``L`` is dl_kernels or torch, ``F`` the matching functional module)."""

from __future__ import annotations

import dl_kernels as dk
import dl_kernels.nn.functional as dF
import numpy as np
import pytest
from dl_kernels.autograd import gradcheck

DOMAINS = {
    "any": lambda r, s: r.standard_normal(s),
    "pos": lambda r, s: r.uniform(0.5, 2.0, s),
    "unit": lambda r, s: r.uniform(-0.9, 0.9, s),
    "gt1": lambda r, s: r.uniform(1.1, 3.0, s),
    "nz": lambda r, s: np.sign(r.standard_normal(s)) * r.uniform(0.5, 2.0, s),
}


def _mask(shape, seed=3):
    m = np.random.default_rng(seed).random(shape) > 0.4
    m.flat[0] = True
    return m


def _torch_fn(name):
    return lambda L, F, x: getattr(L, name)(x)


def _functional(name):
    return lambda L, F, x: getattr(F, name)(x)


def _scatter_reduce(reduce, include_self):
    return lambda L, F, a, s: L.scatter_reduce(a, 1, L.tensor([[0, 0, 2], [1, 1, 1]]), s,
                                               reduce, include_self=include_self)


def _interpolate(mode, align_corners):
    return lambda L, F, x: F.interpolate(x, size=(5, 3), mode=mode, align_corners=align_corners)


def _pad(mode):
    return lambda L, F, x: F.pad(x, (2, 1, 1, 2), mode=mode)


# (id, fn(L, F, *xs), input shapes, domain)
CASES = [
    # elementwise math
    *[(n, _torch_fn(n), [(3, 4)], d) for n, d in [
        ("sin", "any"), ("cos", "any"), ("tan", "unit"), ("asin", "unit"), ("acos", "unit"),
        ("atan", "any"), ("sinh", "any"), ("cosh", "any"), ("asinh", "any"), ("acosh", "gt1"),
        ("atanh", "unit"), ("erf", "any"), ("erfc", "any"), ("erfinv", "unit"),
        ("exp2", "any"), ("log2", "pos"), ("log10", "pos"), ("expm1", "any"),
        ("log1p", "pos"), ("floor", "any"), ("ceil", "any"), ("round", "any"),
        ("trunc", "any"), ("frac", "any"), ("reciprocal", "nz"), ("square", "any")]],
    ("fmod", lambda L, F, a, b: L.fmod(a, b), [(3, 4), (4,)], "nz"),
    ("remainder", lambda L, F, a, b: L.remainder(a, b), [(3, 4), (3, 4)], "nz"),
    ("copysign", lambda L, F, a, b: L.copysign(a, b), [(3, 4), (3, 1)], "nz"),
    ("atan2", lambda L, F, a, b: L.atan2(a, b), [(3, 4), (3, 4)], "nz"),
    ("lerp", lambda L, F, a, b, w: L.lerp(a, b, w), [(3, 4), (3, 4), (4,)], "any"),
    ("div_trunc", lambda L, F, a, b: L.div(a, b, rounding_mode="trunc"), [(3, 4), (4,)], "nz"),
    ("div_floor", lambda L, F, a, b: L.div(a, b, rounding_mode="floor"), [(3, 4), (4,)], "nz"),
    # scans and reductions
    ("cumsum", lambda L, F, x: L.cumsum(x, 1), [(3, 5)], "any"),
    ("cumprod", lambda L, F, x: L.cumprod(x, -1), [(3, 5)], "any"),
    ("cumprod_zero", lambda L, F, x: L.cumprod(x * (x.abs() > 0.3), 0), [(6, 2)], "any"),
    ("cummax", lambda L, F, x: L.cummax(x, 1)[0], [(3, 5)], "any"),
    ("cummin", lambda L, F, x: L.cummin(x, 0)[0], [(4, 3)], "any"),
    ("logcumsumexp", lambda L, F, x: L.logcumsumexp(x, 1), [(3, 5)], "any"),
    ("prod", lambda L, F, x: L.prod(x), [(2, 3)], "nz"),
    ("prod_dim", lambda L, F, x: L.prod(x, 1, keepdim=True), [(3, 4)], "any"),
    ("std_mean", lambda L, F, x: L.std_mean(x, 1)[0] + L.std_mean(x, 1)[1], [(3, 4)], "any"),
    ("softmax_dtype", lambda L, F, x: L.softmax(x, 1, dtype=L.float64), [(3, 4)], "any"),
    ("softmin", lambda L, F, x: F.softmin(x, dim=0), [(3, 4)], "any"),
    # movement and selection
    ("flip", lambda L, F, x: L.flip(x, (0, 2)), [(2, 3, 4)], "any"),
    ("roll", lambda L, F, x: L.roll(x, (1, -2), (0, 1)), [(3, 4)], "any"),
    ("roll_flat", lambda L, F, x: L.roll(x, 5), [(3, 4)], "any"),
    ("tril", lambda L, F, x: L.tril(x, -1), [(2, 4, 3)], "any"),
    ("triu", lambda L, F, x: L.triu(x, 1), [(4, 5)], "any"),
    ("diag_1d", lambda L, F, x: L.diag(x, 1), [(3,)], "any"),
    ("diag_2d", lambda L, F, x: L.diag(x, -1), [(4, 3)], "any"),
    ("diagonal", lambda L, F, x: L.diagonal(x, 1, 0, 2), [(3, 2, 4)], "any"),
    ("diag_embed", lambda L, F, x: L.diag_embed(x, -1), [(2, 3)], "any"),
    ("meshgrid", lambda L, F, a, b: L.meshgrid(a, b, indexing="xy")[0] * 2
     + L.meshgrid(a, b, indexing="xy")[1], [(3,), (4,)], "any"),
    ("unflatten", lambda L, F, x: x.unflatten(1, (2, -1)), [(3, 6)], "any"),
    ("unfold", lambda L, F, x: x.unfold(1, 3, 2), [(2, 7, 2)], "any"),
    ("repeat_interleave", lambda L, F, x: L.repeat_interleave(x, 2, dim=1), [(2, 3)], "any"),
    ("repeat_interleave_t", lambda L, F, x: L.repeat_interleave(x, L.tensor([1, 0, 3]), 0),
     [(3, 2)], "any"),
    ("masked_select", lambda L, F, x: L.masked_select(x, L.tensor(_mask((1, 4)))), [(3, 4)],
     "any"),
    ("scatter", lambda L, F, a, s: L.scatter(a, 1, L.tensor([[0, 2], [1, 0]]), s), [(2, 3), (2, 2)],
     "any"),
    ("scatter_add", lambda L, F, a, s: L.scatter_add(a, 0, L.tensor([[0, 1, 0]]), s),
     [(2, 3), (1, 3)], "any"),
    *[(f"scatter_reduce_{r}_{inc}", _scatter_reduce(r, inc), [(2, 3), (2, 3)], "nz")
      for r in ("sum", "mean", "amax", "amin", "prod") for inc in (True, False)],
    ("einsum_mm", lambda L, F, a, b: L.einsum("ij,jk->ik", a, b), [(2, 3), (3, 4)], "any"),
    ("einsum_batch", lambda L, F, a, b: L.einsum("b...i,bij->b...j", a, b),
     [(2, 5, 3), (2, 3, 4)], "any"),
    ("einsum_trace", lambda L, F, a: L.einsum("ii", a), [(3, 3)], "any"),
    ("einsum_diag", lambda L, F, a: L.einsum("ii->i", a), [(3, 3)], "any"),
    ("einsum_outer_sum", lambda L, F, a, b: L.einsum("i,j", a, b), [(3,), (2,)], "any"),
    ("einsum_three", lambda L, F, a, b, c: L.einsum("ij,jk,kl->il", a, b, c),
     [(2, 3), (3, 2), (2, 4)], "any"),
    # nn.functional: activations
    *[(n, _functional(n), [(3, 5)], "any") for n in (
        "gelu", "silu", "elu", "selu", "celu", "relu6", "hardtanh", "hardswish", "hardsigmoid",
        "mish", "softsign", "logsigmoid", "tanhshrink")],
    ("gelu_tanh", lambda L, F, x: F.gelu(x, approximate="tanh"), [(3, 5)], "any"),
    ("elu_alpha", lambda L, F, x: F.elu(x, alpha=0.5), [(3, 5)], "any"),
    ("celu_alpha", lambda L, F, x: F.celu(x, alpha=2.0), [(3, 5)], "any"),
    ("glu", lambda L, F, x: F.glu(x, 1), [(3, 4)], "any"),
    # convolutions, resampling, padding, pooling
    ("conv1d", lambda L, F, x, w, b: F.conv1d(x, w, b, stride=2, padding=1, groups=2),
     [(2, 4, 7), (6, 2, 3), (6,)], "any"),
    ("conv3d", lambda L, F, x, w, b: F.conv3d(x, w, b, stride=(2, 1, 1), padding=1,
                                             dilation=(1, 2, 1), groups=2),
     [(1, 2, 4, 4, 3), (4, 1, 2, 2, 2), (4,)], "any"),
    ("conv_transpose1d", lambda L, F, x, w: F.conv_transpose1d(x, w, stride=2, padding=1,
                                                              output_padding=1),
     [(2, 3, 5), (3, 2, 3)], "any"),
    ("conv_transpose2d", lambda L, F, x, w, b: F.conv_transpose2d(
        x, w, b, stride=2, padding=1, output_padding=1, groups=2),
     [(2, 4, 3, 4), (4, 3, 3, 2), (6,)], "any"),
    ("conv_transpose2d_dil", lambda L, F, x, w: F.conv_transpose2d(x, w, stride=(1, 2),
                                                                  dilation=2),
     [(1, 2, 3, 3), (2, 3, 2, 2)], "any"),
    *[(f"interpolate_{m}_{ac}", _interpolate(m, ac), [(1, 2, 3, 4)], "any") for m, ac in (("nearest", None), ("nearest-exact", None), ("bilinear", False),
                    ("bilinear", True), ("bicubic", False), ("bicubic", True))],
    ("interpolate_linear_sf", lambda L, F, x: F.interpolate(x, scale_factor=2.5, mode="linear"),
     [(2, 3, 4)], "any"),
    ("interpolate_trilinear", lambda L, F, x: F.interpolate(x, size=(3, 2, 4), mode="trilinear"),
     [(1, 1, 2, 3, 2)], "any"),
    *[(f"pad_{m}", _pad(m), [(1, 2, 3, 4)], "any") for m in ("reflect", "replicate", "circular")],
    ("max_pool2d_dilation", lambda L, F, x: F.max_pool2d(x, 2, 1, 1, dilation=2), [(1, 2, 5, 6)],
     "any"),
    ("max_pool2d_dil_ceil", lambda L, F, x: F.max_pool2d(x, 3, 2, 1, dilation=2, ceil_mode=True),
     [(1, 2, 6, 7)], "any"),
    ("avg_pool2d_ceil", lambda L, F, x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True), [(1, 2, 6, 7)],
     "any"),
    ("avg_pool2d_ceil_nopad", lambda L, F, x: F.avg_pool2d(
        x, 2, 2, 1, ceil_mode=True, count_include_pad=False), [(1, 1, 5, 4)], "any"),
    ("max_unpool2d", lambda L, F, x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2),
     [(1, 2, 4, 6)], "any"),
    # normalisation, attention, losses
    ("batch_norm", lambda L, F, x, w, b: F.batch_norm(x, None, None, w, b, training=True),
     [(4, 3, 2, 2), (3,), (3,)], "any"),
    ("layer_norm", lambda L, F, x, w, b: F.layer_norm(x, (4,), w, b), [(2, 3, 4), (4,), (4,)],
     "any"),
    ("group_norm", lambda L, F, x: F.group_norm(x, 2), [(2, 4, 3)], "any"),
    ("sdpa", lambda L, F, q, k, v: F.scaled_dot_product_attention(q, k, v),
     [(2, 3, 4), (2, 5, 4), (2, 5, 3)], "any"),
    ("sdpa_causal_scale", lambda L, F, q, k, v: F.scaled_dot_product_attention(
        q, k, v, is_causal=True, scale=0.7), [(1, 2, 4, 3), (1, 2, 4, 3), (1, 2, 4, 2)], "any"),
    ("sdpa_mask", lambda L, F, q, k, v: F.scaled_dot_product_attention(
        q, k, v, attn_mask=L.tensor(_mask((3, 5)))), [(2, 3, 4), (2, 5, 4), (2, 5, 3)], "any"),
    ("gaussian_nll_broadcast", lambda L, F, x, t, v: F.gaussian_nll_loss(x, t, v),
     [(3, 4), (1, 4), (3, 1)], "pos"),
]
IDS = [c[0] for c in CASES]


def _arrays(shapes, domain, seed):
    rng = np.random.default_rng(seed)
    return [DOMAINS[domain](rng, s) for s in shapes]


@pytest.mark.parametrize("name,fn,shapes,domain", CASES, ids=IDS)
def test_op_passes_gradcheck_in_float64(name, fn, shapes, domain):
    xs = [dk.tensor(a, requires_grad=True) for a in _arrays(shapes, domain, 0)]
    assert gradcheck(lambda *ts: fn(dk, dF, *ts), xs)


@pytest.mark.parametrize("name,fn,shapes,domain", CASES, ids=IDS)
def test_op_matches_pytorch_in_value_and_gradient(name, fn, shapes, domain):
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    arrays = _arrays(shapes, domain, 1)
    ours = [dk.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, ty = fn(dk, dF, *ours), fn(torch, tF, *theirs)
    assert tuple(y.shape) == tuple(ty.shape)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-7, atol=1e-7)
    g = np.random.default_rng(2).standard_normal(tuple(ty.shape))
    y.backward(dk.tensor(g))
    ty.backward(torch.tensor(g))
    for a, b in zip(ours, theirs):
        want = np.zeros(a.shape) if b.grad is None else b.grad.numpy()
        got = np.zeros(a.shape) if a.grad is None else a.grad.numpy()
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-7)


# ---- ops without a gradient ------------------------------------------------------------------
def test_classification_ops_match_pytorch():
    torch = pytest.importorskip("torch")
    a = np.array([[0.0, -1.5, np.nan], [np.inf, -np.inf, 2.0]])
    for name in ("isnan", "isinf", "isfinite", "isposinf", "isneginf", "signbit"):
        np.testing.assert_array_equal(getattr(dk, name)(dk.tensor(a)).numpy(),
                                      getattr(torch, name)(torch.tensor(a)).numpy(), err_msg=name)
    b = a + 1e-6
    np.testing.assert_array_equal(dk.isclose(dk.tensor(a), dk.tensor(b), equal_nan=True).numpy(),
                                  torch.isclose(torch.tensor(a), torch.tensor(b),
                                                equal_nan=True).numpy())
    np.testing.assert_array_equal(dk.nan_to_num(dk.tensor(a)).numpy(),
                                  torch.nan_to_num(torch.tensor(a)).numpy())


def test_nonzero_argwhere_and_integer_division_match_pytorch():
    torch = pytest.importorskip("torch")
    a = np.array([[0, 3, 0], [-7, 0, 5]])
    np.testing.assert_array_equal(dk.nonzero(dk.tensor(a)).numpy(),
                                  torch.nonzero(torch.tensor(a)).numpy())
    for ours, theirs in zip(dk.nonzero(dk.tensor(a), as_tuple=True),
                            torch.nonzero(torch.tensor(a), as_tuple=True)):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    b = np.array([[2, -2, 3], [2, 4, -3]])
    for mode in ("trunc", "floor"):
        got = dk.div(dk.tensor(a), dk.tensor(b), rounding_mode=mode)
        want = torch.div(torch.tensor(a), torch.tensor(b), rounding_mode=mode)
        assert got.dtype is dk.int64
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    _, idx = dk.cummax(dk.tensor([1.0, 3.0, 3.0, 2.0, 5.0]), 0)
    np.testing.assert_array_equal(idx.numpy(), torch.cummax(
        torch.tensor([1.0, 3.0, 3.0, 2.0, 5.0]), 0)[1].numpy())


def test_multinomial_draws_from_the_given_weights():
    dk.manual_seed(0)
    w = dk.tensor([[0.0, 1.0, 3.0], [5.0, 0.0, 0.0]])
    draws = dk.multinomial(w, 2000, replacement=True)
    assert draws.shape == (2, 2000) and draws.dtype is dk.int64
    counts = np.bincount(draws[0].numpy(), minlength=3)
    assert counts[0] == 0 and abs(counts[2] / 2000 - 0.75) < 0.05
    assert (draws[1].numpy() == 0).all()
    no_repeat = dk.multinomial(dk.ones(5), 5)
    assert sorted(no_repeat.tolist()) == [0, 1, 2, 3, 4]
    with pytest.raises(RuntimeError):
        dk.multinomial(w, 3)  # the second row has one nonzero weight


def test_int_dtypes_and_int_method():
    x = dk.tensor([1, 2, 3]).int()
    assert x.dtype is dk.int32 and dk.int is dk.int32
    assert (x + dk.tensor([1], dtype=dk.uint8)).dtype is dk.int32
    assert (dk.tensor([1], dtype=dk.uint8) + dk.tensor([1], dtype=dk.int8)).dtype is dk.int16
    assert (x * 2.5).dtype is dk.float32 and (x * 2).dtype is dk.int32
    assert dk.tensor(np.arange(3, dtype=np.int16)).dtype is dk.int16
    assert x.to(dk.uint8).numpy().dtype == np.uint8


# ---- modules against PyTorch's, with PyTorch's weights ------------------------------------------
def _copy_params(ours, theirs):
    sd = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    for name, p in ours.named_parameters():
        p.data = dk.tensor(sd[name])


@pytest.mark.parametrize("kwargs", [{}, {"batch_first": True},
                                    {"add_bias_kv": True, "add_zero_attn": True},
                                    {"kdim": 3, "vdim": 5}], ids=["plain", "batch_first",
                                                                   "bias_kv", "kdim_vdim"])
def test_multihead_attention_matches_pytorch(kwargs):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch.nn.MultiheadAttention(8, 2, dtype=torch.float64, **kwargs)
    ours = dk.nn.MultiheadAttention(8, 2, dtype=dk.float64, **kwargs)
    _copy_params(ours, theirs)
    rng = np.random.default_rng(0)
    q = rng.standard_normal((5, 2, 8))
    k = rng.standard_normal((6, 2, kwargs.get("kdim", 8)))
    v = rng.standard_normal((6, 2, kwargs.get("vdim", 8)))
    if kwargs.get("batch_first"):
        q, k, v = (a.transpose(1, 0, 2).copy() for a in (q, k, v))
    kpm = np.zeros((2, 6), dtype=bool)
    kpm[1, 4:] = True
    am = rng.standard_normal((5, 6))
    for kpm_arg, am_arg in ((kpm, None), (np.where(kpm, -np.inf, 0.0), am)):
        o, w = ours(*[dk.tensor(a) for a in (q, k, v)], key_padding_mask=dk.tensor(kpm_arg),
                    attn_mask=None if am_arg is None else dk.tensor(am_arg))
        to, tw = theirs(*[torch.tensor(a) for a in (q, k, v)],
                        key_padding_mask=torch.tensor(kpm_arg),
                        attn_mask=None if am_arg is None else torch.tensor(am_arg))
        np.testing.assert_allclose(o.detach().numpy(), to.detach().numpy(), rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(w.detach().numpy(), tw.detach().numpy(), rtol=1e-7, atol=1e-9)
    (o * o).sum().backward()
    assert all(p.grad is not None for p in ours.parameters())


def test_multihead_attention_gradients_match_pytorch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    theirs = torch.nn.MultiheadAttention(6, 3, dtype=torch.float64)
    ours = dk.nn.MultiheadAttention(6, 3, dtype=dk.float64)
    _copy_params(ours, theirs)
    x = np.random.default_rng(3).standard_normal((4, 2, 6))
    o, _ = ours(*(dk.tensor(x),) * 3, is_causal=True)
    to, _ = theirs(*(torch.tensor(x),) * 3, attn_mask=torch.ones(4, 4, dtype=torch.bool).triu(1))
    np.testing.assert_allclose(o.detach().numpy(), to.detach().numpy(), rtol=1e-7, atol=1e-9)
    (o * o).sum().backward()
    (to * to).sum().backward()
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), dict(theirs.named_parameters())[name].grad
                                   .numpy(), rtol=1e-6, atol=1e-9, err_msg=name)


def test_batchnorm_running_statistics_and_eval_match_pytorch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((4, 3, 5, 6)).astype(np.float32)
    for momentum in (0.1, None):
        ours, theirs = dk.nn.BatchNorm2d(3, momentum=momentum), torch.nn.BatchNorm2d(
            3, momentum=momentum)
        for scale in (1.0, 2.0):
            ours(dk.tensor(x * scale))
            theirs(torch.tensor(x * scale))
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            np.testing.assert_allclose(getattr(ours, name).numpy(),
                                       getattr(theirs, name).numpy(), rtol=1e-5, atol=1e-6)
        ours.eval()
        theirs.eval()
        np.testing.assert_allclose(ours(dk.tensor(x)).detach().numpy(),
                                   theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5)
    assert set(ours.state_dict()) == set(theirs.state_dict())


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_with_proj_size_matches_pytorch(bidirectional):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch.nn.LSTM(3, 5, num_layers=2, proj_size=2, bidirectional=bidirectional,
                           batch_first=True, dtype=torch.float64)
    ours = dk.nn.LSTM(3, 5, num_layers=2, proj_size=2, bidirectional=bidirectional,
                      batch_first=True, dtype=dk.float64)
    ours.from_torch_state_dict(theirs.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 4, 3))
    y, (h, c) = ours(dk.tensor(x))
    ty, (th, tc) = theirs(torch.tensor(x))
    for a, b in ((y, ty), (h, th), (c, tc)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("cell", ["LSTMCell", "GRUCell", "RNNCell"])
def test_cells_take_unbatched_input(cell):
    m = getattr(dk.nn, cell)(3, 4)
    out = m(dk.randn(3))
    h = out[0] if isinstance(out, tuple) else out
    assert h.shape == (4,)
    batched = m(dk.randn(1, 3))
    assert (batched[0] if isinstance(batched, tuple) else batched).shape == (1, 4)


def test_module_forward_and_backward_hooks_match_pytorch():
    torch = pytest.importorskip("torch")
    logs = {}
    for lib in (dk, torch):
        m = lib.nn.Linear(3, 2)
        with lib.no_grad():
            m.weight.copy_(lib.tensor(np.arange(6.0).reshape(2, 3), dtype=lib.float32))
            m.bias.zero_()
        log = logs[lib.__name__] = []
        m.register_forward_pre_hook(lambda mod, a, log=log: log.append(("pre", tuple(a[0].shape))))
        m.register_forward_hook(lambda mod, a, o, log=log: o * 2)
        handle = m.register_full_backward_hook(
            lambda mod, gi, go, log=log: log.append(
                ("bwd", [None if g is None else g.detach().numpy().tolist() for g in gi],
                 [g.detach().numpy().tolist() for g in go])))
        x = lib.ones(1, 3, requires_grad=True)
        out = m(x)
        log.append(("out", out.detach().numpy().tolist()))
        out.sum().backward()
        m(lib.ones(1, 3)).sum().backward()
        handle.remove()
        m(x).sum().backward()
        log.append(("grad", x.grad.numpy().tolist()))
    assert logs["dl_kernels"] == logs["torch"]


def test_tensor_hooks_see_and_replace_gradients():
    x = dk.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    seen = []
    y.register_hook(lambda g: g * 2)
    handle = x.register_hook(lambda g: seen.append(g.numpy().copy()))
    (y * y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [36.0, 72.0])  # torch gives the same
    np.testing.assert_array_equal(seen[0], [36.0, 72.0])
    handle.remove()
    x.grad = None
    (x * 1.0).sum().backward()
    assert len(seen) == 1
    with pytest.raises(RuntimeError):
        dk.ones(2).register_hook(lambda g: g)
