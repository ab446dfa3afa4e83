"""Autograd: every differentiable Tensor op by gradcheck, the engine's rules, gradcheck itself,
and gradients equal to PyTorch's (broadcasting, indexing, a two-layer MLP)."""

from __future__ import annotations

import dl_kernels as dk
import numpy as np
import pytest
from dl_kernels.autograd import Function, GradcheckError, gradcheck

rng = np.random.default_rng(11)


def leaf(*shape: int, positive: bool = False) -> dk.Tensor:
    a = rng.standard_normal(shape)
    if positive:
        a = np.abs(a) + 0.5
    return dk.tensor(a, requires_grad=True)


# ---- gradcheck of every op ------------------------------------------------------------------
BINARY = [
    ("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b), ("pow", lambda a, b: a ** b),
    ("maximum", lambda a, b: dk.maximum(a, b)), ("minimum", lambda a, b: dk.minimum(a, b)),
    ("where", lambda a, b: dk.where(a > 1.0, a, b)),
]


@pytest.mark.parametrize("name,fn", BINARY, ids=[n for n, _ in BINARY])
@pytest.mark.parametrize("sa,sb", [((3, 4), (3, 4)), ((2, 1, 5), (3, 1)), ((), (4,)),
                                   ((7,), (1,))])
def test_binary_ops_pass_gradcheck_with_broadcasting(name, fn, sa, sb):
    a, b = leaf(*sa, positive=True), leaf(*sb, positive=True)
    assert gradcheck(fn, (a, b))


SCALAR = [
    ("radd", lambda a: 2.0 + a), ("rsub", lambda a: 2.0 - a), ("rmul", lambda a: 3.0 * a),
    ("rdiv", lambda a: 2.0 / a), ("rpow", lambda a: 2.0 ** a), ("pow2", lambda a: a ** 2),
    ("pow_frac", lambda a: a ** 1.5), ("div_s", lambda a: a / 4.0), ("sub_s", lambda a: a - 1),
    ("neg", lambda a: -a),
]


@pytest.mark.parametrize("name,fn", SCALAR, ids=[n for n, _ in SCALAR])
def test_ops_with_python_scalars_pass_gradcheck(name, fn):
    assert gradcheck(fn, (leaf(3, 5, positive=True),))


UNARY = [
    ("exp", lambda a: a.exp()), ("log", lambda a: a.log()), ("sqrt", lambda a: a.sqrt()),
    ("abs", lambda a: (a - 1.0).abs()), ("tanh", lambda a: a.tanh()),
    ("sigmoid", lambda a: a.sigmoid()), ("relu", lambda a: (a - 1.0).relu()),
    ("clamp", lambda a: a.clamp(0.8, 1.5)), ("clamp_min", lambda a: a.clamp(min=1.0)),
    ("softmax", lambda a: a.softmax(0)), ("log_softmax", lambda a: a.log_softmax(1)),
    ("log1p", lambda a: a.log1p()), ("square", lambda a: a.square()),
    ("masked_fill", lambda a: a.masked_fill(a > 1.0, 0.0)), ("clone", lambda a: a.clone()),
]


@pytest.mark.parametrize("name,fn", UNARY, ids=[n for n, _ in UNARY])
def test_unary_ops_pass_gradcheck(name, fn):
    assert gradcheck(fn, (leaf(4, 3, positive=True),))


REDUCTIONS = [
    ("sum", lambda a: a.sum()), ("sum_dim", lambda a: a.sum(1)),
    ("sum_keep", lambda a: a.sum((0, 2), keepdim=True)), ("mean", lambda a: a.mean(-1)),
    ("mean_all", lambda a: a.mean()), ("max_all", lambda a: a.max()),
    ("max_dim", lambda a: a.max(1).values), ("min_dim", lambda a: a.min(2, keepdim=True)[0]),
    ("amax", lambda a: a.amax((0, 1))), ("var", lambda a: a.var(1)),
    ("var_all", lambda a: a.var(unbiased=False)), ("std", lambda a: a.std(0, keepdim=True)),
    ("logsumexp", lambda a: a.logsumexp(2)), ("norm", lambda a: a.norm()),
    ("norm1_dim", lambda a: a.norm(1, dim=1)),
]


@pytest.mark.parametrize("name,fn", REDUCTIONS, ids=[n for n, _ in REDUCTIONS])
def test_reductions_pass_gradcheck(name, fn):
    assert gradcheck(fn, (leaf(3, 5, 2),))


MOVEMENT = [
    ("reshape", lambda a: a.reshape(5, 6)), ("view", lambda a: a.view(-1)),
    ("permute", lambda a: a.permute(2, 0, 1)), ("transpose", lambda a: a.transpose(0, 2)),
    ("T", lambda a: a[0].T), ("expand", lambda a: a[:, :1].expand(3, 4, 2)),
    ("squeeze", lambda a: a[:, :1].squeeze(1)), ("unsqueeze", lambda a: a.unsqueeze(1)),
    ("flatten", lambda a: a.flatten(1)), ("repeat", lambda a: a[0].repeat(2, 1)),
    ("slice", lambda a: a[1:, ::2, 1]), ("int_index", lambda a: a[-1]),
    ("none_ellipsis", lambda a: a[None, ..., 0]),
    ("advanced_repeated", lambda a: a[dk.tensor([0, 2, 0, 0])]),
    ("advanced_pair", lambda a: a[dk.tensor([0, 1, 1]), :, dk.tensor([1, 0, 1])]),
    ("bool_mask", lambda a: a[a > 0]), ("list_index", lambda a: a[:, [4, 0, 4]]),
    ("split", lambda a: a.split([1, 2], 0)), ("chunk", lambda a: a.chunk(2, 1)[1]),
    ("unbind", lambda a: a.unbind(2)[0]),
    ("cat", lambda a: dk.cat([a, a[:, :2] * 2], 1)), ("stack", lambda a: dk.stack([a, -a], 3)),
    ("gather", lambda a: a.gather(1, dk.tensor([[[0, 1], [4, 4], [2, 0]]] * 3))),
    ("sort", lambda a: a.sort(1, descending=True).values),
    ("index_select", lambda a: a.index_select(1, dk.tensor([4, 0, 4]))),
    ("topk", lambda a: a.topk(2, 1)[0]),
]


@pytest.mark.parametrize("name,fn", MOVEMENT, ids=[n for n, _ in MOVEMENT])
def test_views_indexing_and_joins_pass_gradcheck(name, fn):
    assert gradcheck(fn, (leaf(3, 5, 2),))


@pytest.mark.parametrize("sa,sb", [((4, 3), (3, 5)), ((1, 7), (7, 1)), ((2, 4, 3), (3, 5)),
                                   ((2, 1, 4, 3), (5, 3, 2)), ((3,), (3, 2)), ((4, 3), (3,)),
                                   ((3,), (3,)), ((5, 3), (2, 3, 4))])
def test_matmul_passes_gradcheck_for_2d_batched_broadcast_and_vectors(sa, sb):
    assert gradcheck(lambda a, b: a @ b, (leaf(*sa), leaf(*sb)))


def test_matmul_of_transposed_operands_passes_gradcheck():
    assert gradcheck(lambda a, b: a.T @ b.T, (leaf(4, 3), leaf(5, 4)))


def test_setitem_routes_gradients_to_the_written_value_and_the_rest():
    def fn(a, v):
        out = a * 1.0
        out[1:, 0] = v * 2
        out[0] = 0.0
        return out

    assert gradcheck(fn, (leaf(3, 4), leaf(2)))


def test_cast_between_float_dtypes_is_differentiable():
    a = leaf(3)
    y = a.to(dk.float32)
    assert y.requires_grad and y.dtype is dk.float32
    (y * y).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), 2 * a.detach().numpy(), rtol=1e-6)
    assert a.grad.dtype is dk.float64


# ---- engine rules ---------------------------------------------------------------------------
def test_gradients_sum_across_uses_and_across_backward_calls():
    x = dk.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x + x  # x used three times
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 5.0, 7.0]
    (x * 2).sum().backward()
    assert x.grad.tolist() == [5.0, 7.0, 9.0]
    x.grad.zero_()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]


def test_diamond_graph_visits_each_node_after_all_its_consumers():
    x = dk.tensor(2.0, requires_grad=True)
    a = x * 3
    b = a * a  # uses a twice
    c = a + b  # uses a again, after b
    c.backward()
    assert x.grad.item() == pytest.approx(3 + 2 * 6 * 3)


def test_second_backward_needs_retain_graph():
    x = dk.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.tolist() == [4.0, 8.0]
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_backward_of_a_non_scalar_needs_a_gradient_of_its_shape():
    x = leaf(2, 3)
    y = x * 2
    with pytest.raises(RuntimeError, match="scalar"):
        y.backward()
    with pytest.raises(ValueError, match=r"\(3,\).*\(2, 3\)"):
        y.backward(dk.ones(3, dtype=dk.float64))
    y.backward(dk.ones(2, 3, dtype=dk.float64))
    assert x.grad.tolist() == [[2.0] * 3] * 2


def test_no_grad_as_context_and_decorator_records_nothing():
    x = leaf(3)
    with dk.no_grad():
        y = x * 2
    assert not y.requires_grad and y.grad_fn is None

    @dk.no_grad()
    def f(t):
        return t.exp()

    assert not f(x).requires_grad
    assert not dk.no_grad(lambda t: t * 3)(x).requires_grad  # bare decorator form
    assert dk.is_grad_enabled()
    assert (x * 2).requires_grad


def test_detach_requires_grad_and_leaf_rules():
    x = leaf(3)
    d = x.detach()
    assert not d.requires_grad and d.is_leaf
    assert np.shares_memory(d.numpy(), x.detach().numpy())
    with pytest.raises(RuntimeError, match="floating point"):
        dk.zeros(2, dtype=dk.int64).requires_grad_()
    with pytest.raises(RuntimeError, match="does not require grad"):
        dk.zeros(2).sum().backward()
    z = dk.zeros(2).requires_grad_()
    assert z.requires_grad and z.is_leaf and not (z * 2).is_leaf


def test_retain_grad_keeps_a_non_leaf_gradient():
    x = leaf(3)
    h = x * 2
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.detach().numpy())


def test_gradients_only_flow_to_inputs_that_require_them():
    x, c = leaf(3), dk.tensor(rng.standard_normal(3))
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_allclose(x.grad.numpy(), c.numpy())


# ---- gradcheck itself -----------------------------------------------------------------------
class _WrongSquare(Function):
    """A custom op, written (as every Function) against its backend ``self.be``."""

    def forward(self, a):
        self.a = a
        return self.be.mul(a, a)

    def backward(self, g):
        return self.be.mul(self.be.mul(g, self.a), 2.1)


def test_gradcheck_names_the_input_and_element_that_fail():
    a, b = leaf(2, 3), leaf(3)
    with pytest.raises(GradcheckError, match=r"input 1 \(shape \(3,\)\), element \(0,\).*analytic"):
        gradcheck(lambda a, b: a * _WrongSquare.apply(b), (a, b))
    assert gradcheck(lambda b: _WrongSquare.apply(b), (b,), raise_exception=False) is False


def test_gradcheck_accepts_a_subgradient_at_a_kink_and_refuses_float32():
    x = dk.tensor([0.0, 1.0, -1.0, 0.0], requires_grad=True, dtype=dk.float64)
    assert gradcheck(lambda t: t.relu(), (x,))
    assert gradcheck(lambda t: t.abs(), (x,))
    assert gradcheck(lambda t: dk.stack([t, t * 0.0]).amax(0), (x,))
    assert gradcheck(lambda t: t.max(0), (leaf(4, 3),))  # (values, int indices): values checked
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda t: t * 2, (dk.zeros(2, requires_grad=True),))


# ---- against PyTorch ------------------------------------------------------------------------
def test_broadcasting_and_indexing_gradients_equal_torch():
    torch = pytest.importorskip("torch")
    a, b = rng.standard_normal((4, 1, 3)), rng.standard_normal((5, 3))
    idx = np.array([3, 0, 0, 2])

    def run(lib, ta, tb):
        y = (ta * tb + tb / (ta * ta + 1)).exp()
        z = y[lib.tensor(idx)][:, 1:, ::2].sum() + (ta[ta > 0] ** 2).sum()
        z.backward()
        return ta.grad, tb.grad

    ga, gb = run(dk, dk.tensor(a, requires_grad=True), dk.tensor(b, requires_grad=True))
    ta, tb = run(torch, torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True))
    np.testing.assert_allclose(ga.numpy(), ta.numpy(), rtol=1e-10)
    np.testing.assert_allclose(gb.numpy(), tb.numpy(), rtol=1e-10)


def _mlp_snippet(torch):
    """A user's PyTorch code, written against the `torch` name only."""
    F = torch.nn.functional
    x = torch.tensor(X)
    y = torch.tensor(Y)
    w1 = torch.tensor(W1, requires_grad=True)
    b1 = torch.zeros(32, requires_grad=True)
    w2 = torch.tensor(W2, requires_grad=True)
    b2 = torch.zeros(10, requires_grad=True)
    h = torch.relu(x @ w1.T + b1)
    logits = F.linear(h, w2, b2)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    return loss.item(), [p.grad.numpy() for p in (w1, b1, w2, b2)]


X = rng.standard_normal((16, 20)).astype(np.float32)
Y = rng.integers(0, 10, 16)
W1 = (rng.standard_normal((32, 20)) * 0.2).astype(np.float32)
W2 = (rng.standard_normal((10, 32)) * 0.2).astype(np.float32)


def test_a_pytorch_two_layer_mlp_runs_after_changing_only_the_import():
    torch = pytest.importorskip("torch")
    import dl_kernels as torch_replacement

    ours_loss, ours = _mlp_snippet(torch_replacement)
    ref_loss, ref = _mlp_snippet(torch)
    assert ours_loss == pytest.approx(ref_loss, rel=1e-5)
    for g, r in zip(ours, ref):
        np.testing.assert_allclose(g, r, atol=1e-5, rtol=1e-5)


def _tutorial_snippet(torch):
    """PyTorch's classic tensors-and-autograd example (two-layer net, manual SGD steps),
    written against the `torch` name only."""
    dtype, device = torch.float, torch.device("cpu")
    x = torch.tensor(X)
    y = torch.tensor(X[:, :10] * 0.5)
    w1 = torch.tensor(W1.T.copy(), device=device, dtype=dtype, requires_grad=True)
    w2 = torch.tensor(W2.T.copy(), device=device, dtype=dtype, requires_grad=True)
    learning_rate = 1e-3
    losses = []
    for _ in range(3):
        y_pred = x.mm(w1).clamp(min=0).mm(w2)
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            w1 -= learning_rate * w1.grad
            w2 -= learning_rate * w2.grad
            w1.grad.zero_()
            w2.grad.zero_()
    return losses, w1.detach().numpy().copy(), w2.detach().numpy().copy()


def test_pytorchs_tutorial_training_loop_runs_unchanged_and_matches():
    torch = pytest.importorskip("torch")
    import dl_kernels as torch_replacement

    ours = _tutorial_snippet(torch_replacement)
    ref = _tutorial_snippet(torch)
    np.testing.assert_allclose(ours[0], ref[0], rtol=1e-5)
    for a, b in zip(ours[1:], ref[1:]):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)


def test_augmented_assignment_is_in_place_without_a_graph_and_refused_on_leaves():
    w = dk.ones(2, requires_grad=True)
    alias = w
    with dk.no_grad():
        w -= 0.5
    assert alias is w and w.tolist() == [0.5, 0.5] and w.requires_grad
    with pytest.raises(RuntimeError, match="leaf"):
        w += 1.0
    h = w * 2
    h += w  # recorded out of place
    h.sum().backward()
    assert w.grad.tolist() == [3.0, 3.0]


def test_leaf_gradients_never_share_memory_with_each_other_or_the_graph():
    # Kernel-backed ops (Linear, Conv2d, Embedding, LSTM, GRU) hand their fresh gradient arrays
    # to leaves without a copy; everything else is copied. Either way no two leaves, and no leaf
    # and a later gradient, may end up on one buffer.
    from dl_kernels import nn

    lin = nn.Linear(3, 3)
    x = dk.randn(4, 3, requires_grad=True)
    y = lin(x)
    (y + y).sum().backward()
    grads = [x.grad, lin.weight.grad, lin.bias.grad]
    for i, a in enumerate(grads):
        for b in grads[i + 1:]:
            assert not np.shares_memory(a.numpy(), b.numpy())
    before = lin.weight.grad.numpy().copy()
    lin(x).sum().backward()  # accumulates: the kept array is added to, not aliased
    np.testing.assert_allclose(lin.weight.grad.numpy(), before + before / 2, rtol=1e-6)
    a = dk.ones(2, requires_grad=True)
    b = dk.ones(2, requires_grad=True)
    (a + b).sum().backward()  # Add returns one array for both: each leaf gets its own copy
    a.grad.numpy()[0] = 5.0
    assert b.grad.tolist() == [1.0, 1.0]
