"""nn.functional: gradcheck of every op, forward and gradients equal to torch's on the same
inputs (the same code runs against both libraries), and the error messages."""

from __future__ import annotations

import dl_kernels as dk
import dl_kernels.nn.functional as F
import numpy as np
import pytest
from dl_kernels.autograd import gradcheck

rng = np.random.default_rng(5)


def leaf(*shape: int, positive: bool = False, scale: float = 1.0) -> dk.Tensor:
    a = np.asarray(rng.standard_normal(shape) * scale)
    if positive:
        a = np.abs(a) + 0.2
    return dk.tensor(a, requires_grad=True)


class Const:
    """An input passed to against_torch without requires_grad (class weights, targets)."""

    def __init__(self, a: np.ndarray) -> None:
        self.a = a


def against_torch(fn, *arrays, tol: float = 1e-9):
    """Run fn(lib, functional, *tensors) with dl_kernels and with torch on the same float64
    arrays (int arrays are passed without grad); compare the outputs and every gradient of
    sum(out * w) for a fixed random w."""
    torch = pytest.importorskip("torch")
    results = []
    for lib in (dk, torch):
        ts = [lib.tensor(a, requires_grad=a.dtype.kind == "f") if isinstance(a, np.ndarray)
              else lib.tensor(a.a) if isinstance(a, Const) else a for a in arrays]
        out = fn(lib, lib.nn.functional, *ts)
        outs = list(out) if isinstance(out, tuple) else [out]
        w_rng = np.random.default_rng(99)
        total = None
        for o in outs:
            w = lib.tensor(w_rng.standard_normal(tuple(o.shape)), dtype=o.dtype)
            term = (o * w).sum()
            total = term if total is None else total + term
        total.backward()
        values = [o.detach().numpy() for o in outs]
        grads = [t.grad.numpy() if getattr(t, "grad", None) is not None else None for t in ts
                 if hasattr(t, "requires_grad") and t.requires_grad]
        results.append((values, grads))
    (ours_v, ours_g), (ref_v, ref_g) = results
    for a, b in zip(ours_v, ref_v):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    assert len(ours_g) == len(ref_g)
    for i, (a, b) in enumerate(zip(ours_g, ref_g)):
        assert (a is None) == (b is None), f"gradient {i}"
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=f"gradient {i}")


def f64(*shape: int, scale: float = 1.0) -> np.ndarray:
    return rng.standard_normal(shape) * scale


# ---- activations ----------------------------------------------------------------------------
ACTIVATIONS = [
    ("relu", lambda x: F.relu(x)), ("leaky_relu", lambda x: F.leaky_relu(x, 0.2)),
    ("sigmoid", lambda x: F.sigmoid(x)), ("tanh", lambda x: F.tanh(x)),
    ("softplus", lambda x: F.softplus(x)), ("softplus_beta", lambda x: F.softplus(x, 2.0, 1.0)),
    ("softmax", lambda x: F.softmax(x, 1)), ("log_softmax", lambda x: F.log_softmax(x, -1)),
    ("log_softmax_dim0", lambda x: F.log_softmax(x, 0)),
    ("maxout", lambda x: F.maxout(x, 3, dim=1)), ("soft_maxout", lambda x: F.soft_maxout(x, 2)),
    ("p_norm", lambda x: F.p_norm(x, 3, p=2)), ("p_norm3", lambda x: F.p_norm(x, 2, p=3.0)),
    ("step", lambda x: F.step(x)),
]


@pytest.mark.parametrize("name,fn", ACTIVATIONS, ids=[n for n, _ in ACTIVATIONS])
def test_activations_pass_gradcheck(name, fn):
    assert gradcheck(fn, (leaf(5, 6),))


def test_step_is_one_for_non_negative_inputs_and_low_otherwise_with_zero_gradient():
    x = dk.tensor([-2.0, 0.0, 3.0], requires_grad=True)
    assert F.step(x).tolist() == [0.0, 1.0, 1.0]
    assert F.step(x, low=-1.0).tolist() == [-1.0, 1.0, 1.0]
    F.step(x).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]


def test_maxout_soft_maxout_and_p_norm_pool_groups_of_consecutive_units():
    a = f64(2, 6, 3)
    x = dk.tensor(a)
    g = a.reshape(2, 3, 2, 3)
    np.testing.assert_allclose(F.maxout(x, 2).numpy(), g.max(2))
    np.testing.assert_allclose(F.soft_maxout(x, 2).numpy(), np.log(np.exp(g).sum(2)))
    np.testing.assert_allclose(F.p_norm(x, 2, p=3).numpy(), (np.abs(g) ** 3).sum(2) ** (1 / 3))
    with pytest.raises(ValueError, match="not divisible"):
        F.maxout(x, 4)


def test_noisy_relu_adds_gaussian_noise_in_training_only():
    x = leaf(200, 50)
    dk.manual_seed(1)
    y = F.noisy_relu(x, sigma=0.5)
    dk.manual_seed(1)
    noise = dk.randn(200, 50, dtype=dk.float64) * 0.5
    expected = np.maximum(x.detach().numpy() + noise.numpy(), 0)
    np.testing.assert_allclose(y.detach().numpy(), expected)
    np.testing.assert_array_equal(F.noisy_relu(x, training=False).detach().numpy(),
                                  np.maximum(x.detach().numpy(), 0))

    def seeded(t):
        dk.manual_seed(2)
        return F.noisy_relu(t, 0.3)

    assert gradcheck(seeded, (leaf(4, 5),))


def test_activations_equal_torch():
    a = f64(4, 9)
    against_torch(lambda lib, F, x: F.relu(x) + F.leaky_relu(x, 0.3) + F.sigmoid(x)
                  + F.tanh(x) + F.softplus(x, beta=2.0, threshold=1.5), a)
    against_torch(lambda lib, F, x: (F.softmax(x, dim=0), F.log_softmax(x, dim=1)), a)
    against_torch(lambda lib, F, x: F.log_softmax(x.reshape(2, 3, 6), dim=1), a)


# ---- dropout --------------------------------------------------------------------------------
def test_dropout_is_inverted_zeroing_about_p_and_scaling_the_rest():
    x = dk.ones(200, 100, requires_grad=True)
    y = F.dropout(x, p=0.3)
    kept = y.detach().numpy() != 0
    assert abs(1 - kept.mean() - 0.3) < 0.02
    np.testing.assert_allclose(y.detach().numpy()[kept], 1 / 0.7, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), y.detach().numpy(), rtol=1e-6)
    assert F.dropout(x, 0.3, training=False) is x
    assert F.dropout(x, 1.0).detach().numpy().sum() == 0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        F.dropout(x, 1.5)


# ---- linear and embedding -------------------------------------------------------------------
@pytest.mark.parametrize("xshape", [(5, 7), (2, 3, 7), (7,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_passes_gradcheck_and_equals_torch(xshape, bias):
    x, w = leaf(*xshape), leaf(4, 7)
    b = leaf(4) if bias else None
    assert gradcheck(lambda x, w, *b: F.linear(x, w, *b), (x, w) + ((b,) if bias else ()))
    arrays = (f64(*xshape), f64(4, 7)) + ((f64(4),) if bias else ())
    against_torch(lambda lib, F, x, w, *b: F.linear(x, w, *b), *arrays)


def test_embedding_picks_rows_accumulates_repeats_and_skips_the_padding_row():
    w = leaf(6, 3)
    idx = dk.tensor([[1, 4, 1], [0, 5, 1]])
    assert gradcheck(lambda w: F.embedding(idx, w), (w,))
    against_torch(lambda lib, F, w, i: F.embedding(i, w, padding_idx=1),
                  f64(6, 3), np.array([[1, 4, 1], [0, 5, 2]]))
    with pytest.raises(IndexError, match=r"\[0, 6\)"):
        F.embedding(dk.tensor([6]), w)


# ---- losses ---------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("ignore", [False, True])
def test_cross_entropy_with_index_targets_equals_torch(reduction, smoothing, ignore):
    logits, t = f64(7, 5), rng.integers(0, 5, 7)
    if ignore:
        t[[1, 4]] = 2
    kw = {"reduction": reduction, "label_smoothing": smoothing}
    if ignore:
        kw["ignore_index"] = 2
    against_torch(lambda lib, F, x, t: F.cross_entropy(x, t, **kw), logits, t)
    x = leaf(7, 5)
    assert gradcheck(lambda x: F.cross_entropy(x, dk.tensor(t), **kw), (x,))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_with_weights_spatial_dims_and_probabilities_equals_torch(reduction,
                                                                                smoothing):
    w = np.abs(f64(4)) + 0.5
    t = rng.integers(0, 4, (3, 2, 5))
    t[0, 0, :2] = -100
    against_torch(lambda lib, F, x, t, w: F.cross_entropy(
        x, t, weight=w, reduction=reduction, label_smoothing=smoothing),
        f64(3, 4, 2, 5), t, Const(w))
    probs = np.exp(f64(6, 4))
    probs /= probs.sum(1, keepdims=True)
    against_torch(lambda lib, F, x, p: F.cross_entropy(x, p, reduction=reduction,
                                                       label_smoothing=smoothing),
                  f64(6, 4), probs)
    against_torch(lambda lib, F, x, t, w: F.cross_entropy(x, t, weight=w, reduction=reduction,
                                                          ignore_index=3),
                  f64(8, 4), rng.integers(0, 4, 8), Const(w))


def test_cross_entropy_on_the_fused_kernel_runs_in_float32_close_to_torch():
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((33, 101)).astype(np.float32)
    t = rng.integers(0, 101, 33)
    ours = dk.tensor(x, requires_grad=True)
    ref = torch.tensor(x, requires_grad=True)
    lo = F.cross_entropy(ours, dk.tensor(t), label_smoothing=0.1)
    lr = torch.nn.functional.cross_entropy(ref, torch.tensor(t), label_smoothing=0.1)
    lo.backward()
    lr.backward()
    assert lo.item() == pytest.approx(lr.item(), rel=1e-5)
    np.testing.assert_allclose(ours.grad.numpy(), ref.grad.numpy(), atol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_mse_and_binary_losses_equal_torch(reduction):
    r = reduction
    w = np.abs(f64(5)) + 0.5
    t = rng.integers(0, 5, 6)
    t[2] = -100
    against_torch(lambda lib, F, x, t, w: F.nll_loss(F.log_softmax(x, 1), t, weight=w,
                                                     reduction=r), f64(6, 5), t, Const(w))
    against_torch(lambda lib, F, a, b: F.mse_loss(a, b, reduction=r), f64(3, 4), f64(3, 4))
    p = 1 / (1 + np.exp(-f64(3, 4)))
    y = rng.random((3, 4))
    against_torch(lambda lib, F, p, y: F.binary_cross_entropy(p, y, reduction=r), p, y)
    against_torch(lambda lib, F, x, y, pw: F.binary_cross_entropy_with_logits(
        x, y, reduction=r, pos_weight=pw), f64(3, 4, scale=5), y, Const(np.abs(f64(4)) + 0.5))
    against_torch(lambda lib, F, x, y: F.binary_cross_entropy_with_logits(x, y, reduction=r),
                  f64(3, 4, scale=30), y)


@pytest.mark.parametrize("var_shape", [(4, 3), (4, 1), (4,)])
@pytest.mark.parametrize("full", [False, True])
def test_gaussian_nll_loss_equals_torch(var_shape, full):
    var = np.abs(f64(*var_shape)) + 0.1
    against_torch(lambda lib, F, x, y, v: F.gaussian_nll_loss(x, y, v, full=full),
                  f64(4, 3), f64(4, 3), var)


LOSSES = [
    ("nll", lambda x, y: F.nll_loss(x, dk.tensor([0, 2, 1]))),
    ("mse", lambda x, y: F.mse_loss(x, y)),
    ("bce", lambda x, y: F.binary_cross_entropy(x.sigmoid(), y.sigmoid())),
    ("bce_logits", lambda x, y: F.binary_cross_entropy_with_logits(x, y.sigmoid())),
    ("gaussian_nll", lambda x, y: F.gaussian_nll_loss(x, y, y.exp())),
    ("ce_probs", lambda x, y: F.cross_entropy(x, y.softmax(1), label_smoothing=0.1)),
]


@pytest.mark.parametrize("name,fn", LOSSES, ids=[n for n, _ in LOSSES])
def test_losses_pass_gradcheck(name, fn):
    assert gradcheck(fn, (leaf(3, 4), leaf(3, 4)))


def test_losses_refuse_mismatched_shapes_naming_both():
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(4, 3\)"):
        F.mse_loss(dk.zeros(3, 4), dk.zeros(4, 3))
    with pytest.raises(ValueError, match=r"\(5, 3\).*\(5,\).*\(4,\)"):
        F.cross_entropy(dk.zeros(5, 3), dk.zeros(4, dtype=dk.int64))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        F.nll_loss(dk.zeros(2, 3), dk.tensor([0, 3]))


# ---- shape, dtype and device errors ---------------------------------------------------------
def test_linear_refuses_mismatched_shapes_and_dtypes_naming_both():
    with pytest.raises(ValueError, match=r"\(2, 5\).*\(3, 4\)"):
        F.linear(dk.zeros(2, 5), dk.zeros(3, 4))
    with pytest.raises(TypeError, match="float32.*float64"):
        F.linear(dk.zeros(2, 4), dk.zeros(3, 4, dtype=dk.float64))
    with pytest.raises(ValueError, match=r"bias shape \(2,\).*\(3,\)"):
        F.linear(dk.zeros(2, 4), dk.zeros(3, 4), dk.zeros(2))


# ---- convolution and pooling ----------------------------------------------------------------
CONV = [
    {}, {"stride": 2}, {"padding": 1}, {"padding": (2, 0)}, {"padding": "same"},
    {"padding": "valid"}, {"dilation": 2, "padding": 2}, {"groups": 2},
    {"stride": (2, 1), "padding": "valid", "dilation": (1, 2), "groups": 2},
    {"padding": "same", "dilation": 2},
]


@pytest.mark.parametrize("opts", CONV, ids=[str(o) for o in CONV])
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_equals_torch_for_every_option(opts, bias):
    g = opts.get("groups", 1)
    arrays = (f64(2, 4, 7, 6), f64(6, 4 // g, 3, 3)) + ((f64(6),) if bias else ())
    against_torch(lambda lib, F, x, w, *b: F.conv2d(x, w, *b, **opts), *arrays)


def test_conv2d_1x1_even_kernel_same_and_unbatched_equal_torch():
    against_torch(lambda lib, F, x, w: F.conv2d(x, w), f64(3, 5, 4, 4), f64(2, 5, 1, 1))
    against_torch(lambda lib, F, x, w: F.conv2d(x, w, padding="same"), f64(1, 2, 5, 6),
                  f64(3, 2, 2, 4))
    against_torch(lambda lib, F, x, w, b: F.conv2d(x, w, b, padding=1), f64(2, 5, 5),
                  f64(3, 2, 3, 3), f64(3))


def test_conv2d_passes_gradcheck():
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, groups=2),
                     (leaf(2, 4, 5, 5), leaf(2, 2, 3, 3), leaf(2)))


def test_conv2d_refuses_channel_mismatch_naming_both():
    with pytest.raises(ValueError, match=r"3 channels.*\(4, 2, 3, 3\)"):
        F.conv2d(dk.zeros(1, 3, 5, 5), dk.zeros(4, 2, 3, 3))


POOL = [
    {"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": (3, 2), "stride": 1}, {"kernel_size": 2, "stride": (1, 2)},
]


@pytest.mark.parametrize("opts", POOL, ids=[str(o) for o in POOL])
def test_pools_equal_torch_including_overlapping_windows(opts):
    x = f64(2, 3, 7, 6)
    against_torch(lambda lib, F, x: F.max_pool2d(x, **opts), x)
    against_torch(lambda lib, F, x: F.avg_pool2d(x, **opts), x)
    against_torch(lambda lib, F, x: F.avg_pool2d(x, count_include_pad=False, **opts), x)


@pytest.mark.parametrize("opts", [{"kernel_size": 3, "stride": 2}, {"kernel_size": 2},
                                  {"kernel_size": 3, "stride": 2, "padding": 1},
                                  {"kernel_size": (2, 3), "stride": (2, 2)}])
def test_max_pool2d_ceil_mode_and_indices_equal_torch(opts):
    torch = pytest.importorskip("torch")
    x = f64(2, 3, 7, 8)
    against_torch(lambda lib, F, x: F.max_pool2d(x, ceil_mode=True, **opts), x)
    _, ours = F.max_pool2d(dk.tensor(x), ceil_mode=True, return_indices=True, **opts)
    _, ref = torch.nn.functional.max_pool2d(torch.tensor(x), ceil_mode=True,
                                            return_indices=True, **opts)
    np.testing.assert_array_equal(ours.numpy(), ref.numpy())


def test_pad_equals_torch():
    against_torch(lambda lib, F, x: F.pad(x, (1, 2, 0, 3), value=0.5), f64(2, 3, 4))
    assert gradcheck(lambda x: F.pad(x, (2, 1)), (leaf(3, 2),))


def test_pools_pass_gradcheck():
    assert gradcheck(lambda x: F.max_pool2d(x, 3, 2, 1), (leaf(2, 2, 6, 5),))
    assert gradcheck(lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
                     (leaf(2, 2, 6, 5),))


# ---- recurrent ------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["standard", "peephole", "coupled"])
def test_lstm_cell_and_sequence_pass_gradcheck_for_every_variant(variant):
    gates, (n, i, h, steps) = (3 if variant == "coupled" else 4), (2, 3, 4, 3)
    args = [leaf(steps, n, i), leaf(n, h), leaf(n, h), leaf(gates * h, i, scale=0.5),
            leaf(gates * h, h, scale=0.5), leaf(gates * h)]
    if variant == "peephole":
        args.append(leaf(3, h))

    def seq(x, h0, c0, wi, wh, b, p=None):
        y, (ht, ct) = F.lstm(x, (h0, c0), wi, wh, b, peephole=p, variant=variant)
        return y, ht, ct

    def rev(x, h0, c0, wi, wh, b, p=None):
        return F.lstm(x, (h0, c0), wi, wh, b, peephole=p, variant=variant, reverse=True)[0]

    def cell(x, h0, c0, wi, wh, b, p=None):
        return F.lstm_cell(x[0], (h0, c0), wi, wh, b, peephole=p, variant=variant)

    for fn in (seq, rev, cell):
        assert gradcheck(fn, tuple(args))


def test_lstm_equals_torch_nn_lstm_with_both_biases_and_batch_first():
    torch = pytest.importorskip("torch")
    steps, n, i, h = 5, 3, 4, 6
    x = rng.standard_normal((n, steps, i))
    ref = torch.nn.LSTM(i, h, batch_first=True).double()
    ws = [p.detach().numpy().copy() for p in ref.parameters()]  # w_ih, w_hh, b_ih, b_hh
    h0, c0 = f64(1, n, h), f64(1, n, h)
    xt = torch.tensor(x, requires_grad=True)
    yr, (hr, cr) = ref(xt, (torch.tensor(h0), torch.tensor(c0)))
    (yr.sum() + hr.sum() * 2 + cr.sum() * 3).backward()
    params = [dk.tensor(w, requires_grad=True) for w in ws]
    xo = dk.tensor(x, requires_grad=True)
    yo, (ho, co) = F.lstm(xo, (dk.tensor(h0[0]), dk.tensor(c0[0])), *params, batch_first=True)
    (yo.sum() + ho.sum() * 2 + co.sum() * 3).backward()
    np.testing.assert_allclose(yo.detach().numpy(), yr.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), atol=1e-10)
    for ours, theirs in zip(params, ref.parameters()):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), atol=1e-10)


@pytest.mark.parametrize("variant", ["notes", "reset_after"])
def test_gru_cell_and_sequence_pass_gradcheck_for_both_variants(variant):
    n, i, h, steps = 2, 3, 4, 3
    args = (leaf(steps, n, i), leaf(n, h), leaf(3 * h, i, scale=0.5), leaf(3 * h, h, scale=0.5),
            leaf(3 * h), leaf(3 * h))

    def seq(x, h0, wi, wh, bi, bh):
        return F.gru(x, h0, wi, wh, bi, bh, variant=variant)

    def rev(x, h0, wi, wh, bi, bh):
        return F.gru(x, h0, wi, wh, bi, bh, variant=variant, reverse=True)[0]

    def cell(x, h0, wi, wh, bi, bh):
        return F.gru_cell(x[1], h0, wi, wh, bi, bh, variant=variant)

    for fn in (seq, rev, cell):
        assert gradcheck(fn, args)
    if variant == "reset_after":  # the kernel's own layout: one b (3H,) and b_hn (H,)
        assert gradcheck(lambda x, h0, wi, wh, b, bhn: F.gru(x, h0, wi, wh, b, variant=variant,
                                                             b_hn=bhn)[0],
                         args[:5] + (leaf(h),))


def test_gru_notes_variant_follows_the_notes_update():
    x, h0 = f64(1, 2, 3), f64(2, 4)
    wi, wh, b = f64(12, 3), f64(12, 4), f64(12)
    sig = lambda z: 1 / (1 + np.exp(-z))
    a = x[0] @ wi.T + b
    r, z = sig(a[:, :4] + h0 @ wh[:4].T), sig(a[:, 4:8] + h0 @ wh[4:8].T)
    n = np.tanh(a[:, 8:] + (r * h0) @ wh[8:].T)
    y, h_t = F.gru(dk.tensor(x), dk.tensor(h0), dk.tensor(wi), dk.tensor(wh), dk.tensor(b))
    np.testing.assert_allclose(h_t.numpy(), (1 - z) * h0 + z * n, atol=1e-12)
    np.testing.assert_allclose(y[0].numpy(), h_t.numpy())


def test_gru_reset_after_equals_torch_nn_gru():
    torch = pytest.importorskip("torch")
    steps, n, i, h = 5, 3, 4, 6
    x = rng.standard_normal((steps, n, i))
    ref = torch.nn.GRU(i, h).double()
    ws = [p.detach().numpy().copy() for p in ref.parameters()]  # w_ih, w_hh, b_ih, b_hh
    h0 = f64(1, n, h)
    xt = torch.tensor(x, requires_grad=True)
    yr, hr = ref(xt, torch.tensor(h0))
    (yr.sum() + hr.sum() * 2).backward()
    params = [dk.tensor(w, requires_grad=True) for w in ws]
    xo = dk.tensor(x, requires_grad=True)
    yo, ho = F.gru(xo, dk.tensor(h0[0]), *params, variant="reset_after")
    (yo.sum() + ho.sum() * 2).backward()
    np.testing.assert_allclose(yo.detach().numpy(), yr.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), atol=1e-10)
    for ours, theirs in zip(params, ref.parameters()):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), atol=1e-10)


def test_rnn_functions_refuse_mismatched_weights_naming_both():
    with pytest.raises(ValueError, match=r"w_ih shape \(12, 5\).*\(2, 3, 4\)"):
        F.gru(dk.zeros(2, 3, 4), None, dk.zeros(12, 5), dk.zeros(12, 4))
    with pytest.raises(ValueError, match="peephole"):
        F.lstm(dk.zeros(2, 3, 4), None, dk.zeros(16, 4), dk.zeros(16, 4), variant="peephole")


def test_normalize_cosine_similarity_and_one_hot_equal_torch():
    against_torch(lambda lib, F, x: F.normalize(x, dim=1), f64(4, 5))
    against_torch(lambda lib, F, a, b: F.cosine_similarity(a, b, dim=1), f64(4, 5), f64(1, 5))
    t = np.array([[0, 3], [2, 1]])
    np.testing.assert_array_equal(F.one_hot(dk.tensor(t), 5).numpy(), np.eye(5, dtype=int)[t])
    assert F.one_hot(dk.tensor([1, 0])).shape == (2, 2)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        F.one_hot(dk.tensor([3]), 3)
