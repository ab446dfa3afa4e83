"""Tensor.register_post_accumulate_grad_hook: the gradient-ready signal data parallelism
launches its all-reduces from. It fires once per backward, after the leaf's last
contribution, with the complete gradient in ``.grad``."""

from __future__ import annotations

import dl_kernels as dlk
import numpy as np
import pytest


def test_hook_sees_the_full_gradient_of_a_leaf_used_several_times():
    w = dlk.tensor([1.0, 2.0, 3.0], requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.numpy().copy()))
    x = dlk.tensor([1.0, 1.0, 1.0])
    loss = (w * x).sum() + (w * w).sum() + (w * 3.0).sum()
    loss.backward()
    assert len(seen) == 1  # once, after all three contributions
    np.testing.assert_allclose(seen[0], 1 + 2 * w.detach().numpy() + 3)


def test_hooks_fire_in_the_order_backward_finishes_the_leaves():
    a = dlk.tensor([1.0], requires_grad=True)
    b = dlk.tensor([2.0], requires_grad=True)
    order = []
    a.register_post_accumulate_grad_hook(lambda t: order.append("a"))
    b.register_post_accumulate_grad_hook(lambda t: order.append("b"))
    h = (a * 2.0).tanh()  # a is used first in forward ...
    (h * b).sum().backward()  # ... so its gradient is ready last
    assert order == ["b", "a"]


def test_no_call_for_a_leaf_that_gets_no_gradient_and_once_per_backward():
    a = dlk.tensor([1.0], requires_grad=True)
    unused = dlk.tensor([1.0], requires_grad=True)
    calls = {"a": 0, "unused": 0}
    a.register_post_accumulate_grad_hook(lambda t: calls.__setitem__("a", calls["a"] + 1))
    unused.register_post_accumulate_grad_hook(
        lambda t: calls.__setitem__("unused", calls["unused"] + 1))
    for _ in range(3):
        (a * 2.0).sum().backward()
    assert calls == {"a": 3, "unused": 0}
    np.testing.assert_allclose(a.grad.numpy(), [6.0])  # accumulated across backwards


def test_remove_unregisters_and_leaf_root_fires():
    a = dlk.tensor([1.0, 2.0], requires_grad=True)
    calls = []
    handle = a.register_post_accumulate_grad_hook(lambda t: calls.append(1))
    a.backward(dlk.tensor([1.0, 1.0]))  # the root is the leaf itself
    assert calls == [1]
    handle.remove()
    (a * 1.0).sum().backward()
    assert calls == [1]


def test_parameters_of_a_module_and_non_leaves():
    lin = dlk.nn.Linear(3, 2)
    ready = []
    for name, p in lin.named_parameters():
        p.register_post_accumulate_grad_hook(lambda t, n=name: ready.append(n))
    lin(dlk.randn(4, 3)).sum().backward()
    assert sorted(ready) == ["bias", "weight"]
    y = lin.weight * 2.0
    with pytest.raises(RuntimeError, match="leaf"):
        y.register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(RuntimeError, match="leaf"):
        dlk.tensor([1.0]).register_post_accumulate_grad_hook(lambda t: None)
