"""Silent wrong answers and needless exceptions, each pinned where PyTorch's answer is known:
out-of-range dims raise IndexError, broadcasting before norms, x ** 0's gradient, PyTorch's
axis order for advanced indexing, embedding index checks, RNNOutput's layout, and the cases
where PyTorch returns numbers (nan gradients, empty results) rather than raising."""

from __future__ import annotations

import math

import dl_kernels as dk
import dl_kernels.nn.functional as F
import numpy as np
import pytest
from dl_kernels import nn
from dl_kernels.errors import OpError


def t(a, grad=False):
    return dk.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


# ---- item 3: silent wrong answers -------------------------------------------------------------
OUT_OF_RANGE = [
    ("sum", lambda x: x.sum(dim=2)), ("sum_neg", lambda x: x.sum(dim=-3)),
    ("sum_tuple", lambda x: x.sum(dim=(0, 2))), ("mean", lambda x: x.mean(dim=2)),
    ("var", lambda x: x.var(dim=2)), ("amax", lambda x: x.amax(dim=2)),
    ("max", lambda x: x.max(dim=2)), ("argmax", lambda x: x.argmax(dim=2)),
    ("logsumexp", lambda x: x.logsumexp(dim=2)), ("softmax", lambda x: x.softmax(2)),
    ("log_softmax", lambda x: x.log_softmax(-3)), ("squeeze", lambda x: x.squeeze(2)),
    ("unsqueeze", lambda x: x.unsqueeze(3)), ("unsqueeze_neg", lambda x: x.unsqueeze(-4)),
    ("cat", lambda x: dk.cat([x, x], dim=2)), ("stack", lambda x: dk.stack([x, x], dim=3)),
    ("transpose", lambda x: x.transpose(0, 2)), ("flatten", lambda x: x.flatten(0, 2)),
    ("split", lambda x: x.split(1, dim=2)), ("gather", lambda x: x.gather(2, x.long())),
    ("sort", lambda x: x.sort(dim=2)), ("index_select", lambda x: x.index_select(2, dk.tensor([0]))),
    ("all", lambda x: x.all(dim=2)), ("any", lambda x: x.any(dim=-3)),
]


@pytest.mark.parametrize("name,fn", OUT_OF_RANGE, ids=[n for n, _ in OUT_OF_RANGE])
def test_out_of_range_dim_raises_index_error(name, fn):
    with pytest.raises(IndexError, match="Dimension out of range"):
        fn(t(np.ones((2, 3))))


def test_in_range_dims_of_a_0d_tensor_are_minus_one_and_zero():
    x = t(3.0)
    assert x.sum(0).item() == 3.0 and x.sum(-1).item() == 3.0 and x.logsumexp(0).item() == 3.0
    with pytest.raises(IndexError):
        x.sum(1)


def test_cosine_similarity_broadcasts_before_taking_norms():
    x1 = t(np.arange(1.0, 7.0).reshape(2, 3))
    x2 = t([[1.0], [2.0]])  # broadcast along dim 1, the dim the norm is taken over
    got = F.cosine_similarity(x1, x2, dim=1).numpy()
    a, b = np.broadcast_arrays(x1.numpy(), x2.numpy())
    want = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    np.testing.assert_allclose(got, want)
    assert np.all(got <= 1.0 + 1e-12)


@pytest.mark.parametrize("exponent", ["scalar", "tensor"])
def test_gradient_of_x_to_the_zero_at_zero_is_zero(exponent):
    x = t([0.0, 2.0], grad=True)
    y = x ** 0 if exponent == "scalar" else x ** t([0.0, 0.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])


def test_gradient_of_the_exponent_at_a_zero_base_is_zero():
    b = t([0.0, 2.0], grad=True)
    (t([0.0, 0.0]) ** b).sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), [0.0, 0.0])


def test_advanced_indexing_follows_pytorchs_axis_order():
    x = dk.zeros(2, 5, 6)
    assert x[1, :, [0, 1]].shape == (5, 2)
    assert x[1, :, dk.tensor([0, 1])].shape == (5, 2)
    assert x[:, 1, [0, 1, 2]].shape == (2, 3)
    assert x[[0, 1], :, [0, 1]].shape == (2, 5)  # separated advanced indices: numpy's rule too
    v = dk.tensor(np.arange(10.0).reshape(5, 2))
    x[1, :, [0, 1]] = v
    np.testing.assert_array_equal(x[1, :, :2].numpy(), v.numpy())


def test_advanced_indexing_gradient_lands_where_the_values_came_from():
    a = np.arange(60.0).reshape(2, 5, 6)
    x = t(a, grad=True)
    y = x[1, :, [0, 3]]
    np.testing.assert_array_equal(y.detach().numpy(), a[1][:, [0, 3]])
    w = np.arange(10.0).reshape(5, 2)
    (y * t(w)).sum().backward()
    want = np.zeros_like(a)
    want[1][:, [0, 3]] = w
    np.testing.assert_array_equal(x.grad.numpy(), want)


@pytest.mark.parametrize("index", [-1, 10])
def test_embedding_rejects_out_of_range_and_negative_indices(index):
    emb = nn.Embedding(10, 4)
    with pytest.raises(IndexError, match=r"\[0, 10\)"):
        emb(dk.tensor([index]))


def test_rnn_output_takes_the_last_step_of_a_batch_first_layer():
    dk.manual_seed(0)
    lstm = nn.LSTM(3, 4, batch_first=True)
    model = nn.Sequential(lstm, nn.RNNOutput(return_sequences=False))
    x = dk.randn(2, 5, 3)  # N=2, T=5
    out = model(x)
    assert out.shape == (2, 4)
    np.testing.assert_array_equal(out.detach().numpy(), lstm(x)[0][:, -1].detach().numpy())
    with pytest.raises(ValueError, match="batch_first"):
        nn.RNNOutput(return_sequences=False, batch_first=False)(lstm(x))


def test_rnn_output_of_an_unbatched_batch_first_layer_is_its_last_step():
    lstm = nn.LSTM(3, 4, batch_first=True)
    x = dk.randn(5, 3)  # unbatched: (T, I) whatever batch_first says
    out = nn.RNNOutput(return_sequences=False)(lstm(x))
    np.testing.assert_array_equal(out.detach().numpy(), lstm(x)[0][-1].detach().numpy())


def test_rnn_result_unpacks_like_pytorchs_tuple():
    out, (h, c) = nn.LSTM(3, 4)(dk.randn(5, 2, 3))
    assert out.shape == (5, 2, 4) and h.shape == c.shape == (1, 2, 4)


# ---- item 4: numbers where PyTorch gives numbers ---------------------------------------------
def test_op_error_is_both_value_error_and_runtime_error():
    assert issubclass(OpError, ValueError) and issubclass(OpError, RuntimeError)
    with pytest.raises(RuntimeError):
        dk.ones(2, 3) + dk.ones(4, 5)  # numpy's broadcast error, re-raised as OpError
    with pytest.raises(RuntimeError, match="zero-dimensional"):
        dk.cat([dk.tensor(1.0), dk.tensor(2.0)])
    with pytest.raises(RuntimeError):
        dk.ones(2, 3) @ dk.ones(4, 5)


def test_gradient_of_a_negative_base_to_the_x_is_nan():
    x = t([1.0, 2.0], grad=True)
    ((-5.5) ** x).sum().backward()
    assert np.isnan(x.grad.numpy()).all()


@pytest.mark.parametrize("correction,n", [(1, 1), (2, 1), (0, 0)])
def test_var_and_std_with_too_few_samples_give_nan_or_inf(correction, n):
    x = t(np.ones(n), grad=True)
    v = x.var(correction=correction)
    assert not np.isfinite(v.item())
    v.backward()
    assert x.grad.shape == (n,)
    torch = pytest.importorskip("torch")
    tx = torch.ones(n, dtype=torch.float64, requires_grad=True)
    tv = tx.var(correction=correction)
    tv.backward()
    np.testing.assert_array_equal(v.item(), tv.item())
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


@pytest.mark.parametrize("sa,sb", [((3, 0), (0, 4)), ((0, 3), (3, 4)), ((2, 0, 3), (3, 5)), ((0,), (0,)),
                                   ((2, 3, 0), (2, 0, 4)), ((2, 2, 0), (0,))])
def test_empty_matmul_has_a_forward_and_a_backward(sa, sb):
    a, b = t(np.ones(sa), grad=True), t(np.ones(sb), grad=True)
    y = a @ b
    assert y.shape == np.ones(sa) .__matmul__(np.ones(sb)).shape
    y.sum().backward()
    assert a.grad.shape == sa and b.grad.shape == sb
    assert not a.grad.numpy().any() and not b.grad.numpy().any()


def test_sign_is_differentiable_with_zero_gradient():
    x = t([-2.0, 0.0, 3.0], grad=True)
    x.sign().sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])


def test_all_and_any_over_an_empty_axis():
    x = dk.ones(3, 0)
    np.testing.assert_array_equal(x.all(dim=1).numpy(), [True] * 3)
    np.testing.assert_array_equal(x.any(dim=1).numpy(), [False] * 3)
    assert x.all().item() is True and x.any().item() is False


def test_softmax_and_log_softmax_of_empty_tensors():
    x = t(np.ones((3, 0)), grad=True)
    assert x.softmax(1).shape == (3, 0) and F.softmax(x, 1).shape == (3, 0)
    assert F.log_softmax(x, 1).shape == (3, 0)
    x.softmax(1).sum().backward()
    assert x.grad.shape == (3, 0)


def test_logsumexp_of_a_0d_tensor_and_of_an_empty_axis():
    assert t(2.0).logsumexp(0).item() == 2.0
    assert t(np.ones((2, 0))).logsumexp(1).numpy().tolist() == [-math.inf, -math.inf]


def test_normalize_with_p_zero_divides_by_the_count_of_nonzeros():
    x = t([[1.0, 0.0, 3.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(F.normalize(x, p=0, dim=1).numpy(),
                               [[0.5, 0.0, 1.5], [0.0, 0.0, 0.0]])
