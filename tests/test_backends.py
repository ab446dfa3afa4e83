"""The backend contract: every backend offers it, the strict one offers only it and refuses
numpy habits, and tensors behave the same on every available backend (CPU, strict, CUDA where
built)."""

from __future__ import annotations

import copy
import pickle

import dl_kernels as dk
import numpy as np
import pytest
from dl_kernels import backend
from dl_kernels import nn as dnn
from dl_kernels.autograd import gradcheck
from strict_backend import OpaqueArrayError, StrictArray, StrictBackend


# ---- the contract itself ----------------------------------------------------------------------
def test_every_available_backend_implements_the_whole_contract():
    for be in backend.available_backends() + [backend.cpu, StrictBackend()]:
        assert backend.missing_from_contract(be) == [], be


def test_the_strict_backend_offers_nothing_beyond_the_contract():
    public = {n for n in dir(StrictBackend) if not n.startswith("_")}
    assert public == set(backend.contract_names())


def test_the_cpu_backend_offers_nothing_the_contract_does_not_name():
    """A new backend method goes into backend.CONTRACT (and its docstring) with the code, so
    every backend (and the strict one) has it."""
    public = {n for n in dir(backend.CPUBackend) if not n.startswith("_")}
    assert public - set(backend.contract_names()) == set()


def test_register_backend_refuses_an_incomplete_backend_naming_what_it_lacks():
    class Partial:
        device = "cpu"
        Array = object

    with pytest.raises(ValueError, match="lacks contract names: asarray"):
        backend.register_backend("cpu", Partial())


def test_strict_arrays_refuse_numpy_habits_loudly():
    be = StrictBackend()
    a = be.ones((2, 3), np.float32)
    assert isinstance(a, StrictArray)
    assert (a.shape, a.ndim, a.size, a.dtype) == ((2, 3), 2, 6, np.dtype(np.float32))
    for misuse in (lambda: a + a, lambda: a * 2, lambda: a[0], lambda: bool(a), lambda: len(a),
                   lambda: np.asarray(a), lambda: np.exp(a), lambda: np.sum(a), lambda: a == 1,
                   lambda: float(a), lambda: list(a)):
        with pytest.raises(TypeError):
            misuse()
    with pytest.raises(AttributeError):
        a.astype(np.float64)
    with pytest.raises(OpaqueArrayError, match="host numpy array"):
        be.add(a, np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(be.to_numpy(be.add(a, 1.0)), np.full((2, 3), 2.0))


# ---- tensors on every backend -------------------------------------------------------------------
def test_tensor_data_lives_in_the_backends_array_type(any_backend):
    device, be = any_backend
    x = dk.tensor([[1.0, 2.0], [3.0, 4.0]], device=device)
    assert type(x._data) is be.Array
    assert x.device == device and x.dtype is dk.float32 and x.shape == (2, 2)
    np.testing.assert_array_equal(x.numpy(), [[1, 2], [3, 4]])
    assert x.tolist() == [[1.0, 2.0], [3.0, 4.0]] and x[1, 0].item() == 3.0


def test_arithmetic_broadcasting_and_backward_agree_with_numpy(any_backend):
    device, _ = any_backend
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    ta = dk.tensor(a, device=device, requires_grad=True)
    tb = dk.tensor(b, device=device, requires_grad=True)
    out = ((ta * tb + 1.0).tanh() / (tb.abs() + 1.0)).sum()
    out.backward()
    ref = (np.tanh(a * b + 1.0) / (np.abs(b) + 1.0)).sum()
    np.testing.assert_allclose(out.item(), ref, rtol=1e-12)
    assert gradcheck(lambda a, b: (a * b + 1.0).tanh() / (b.abs() + 1.0),
                     (dk.tensor(a, device=device, requires_grad=True),
                      dk.tensor(b, device=device, requires_grad=True)))
    assert ta.grad.shape == (3, 4) and tb.grad.shape == (4,)


def test_factories_random_numbers_and_seeding_are_per_backend_and_reproducible(any_backend):
    device, _ = any_backend
    dk.manual_seed(7)
    first = dk.randn(3, 2, device=device).numpy().copy()
    state = dk.get_rng_state()
    after = dk.rand(4, device=device).numpy().copy()
    dk.set_rng_state(state)
    np.testing.assert_array_equal(dk.rand(4, device=device).numpy(), after)
    dk.manual_seed(7)
    np.testing.assert_array_equal(dk.randn(3, 2, device=device).numpy(), first)
    assert dk.zeros(2, device=device).device == device
    np.testing.assert_array_equal(dk.arange(5, device=device).numpy(), np.arange(5))
    np.testing.assert_array_equal(dk.eye(3, device=device).numpy(), np.eye(3))
    ints = dk.randint(0, 3, (50,), device=device).numpy()
    assert ints.min() >= 0 and ints.max() < 3


def test_indexing_setitem_and_in_place_updates(any_backend):
    device, _ = any_backend
    x = dk.arange(12, dtype=dk.float32, device=device).reshape(3, 4)
    np.testing.assert_array_equal(x[[0, 2], 1].numpy(), [1.0, 9.0])
    np.testing.assert_array_equal(x[dk.tensor([True, False, True], device=device)].numpy(),
                                  np.arange(12.0).reshape(3, 4)[[0, 2]])
    x[1] = 0.0
    x[:, 0] = dk.tensor([5.0, 6.0, 7.0], device=device)
    x.add_(1.0).mul_(2.0)
    ref = np.arange(12.0).reshape(3, 4)
    ref[1] = 0.0
    ref[:, 0] = [5.0, 6.0, 7.0]
    np.testing.assert_array_equal(x.numpy(), (ref + 1.0) * 2.0)


def test_conversions_pickling_and_dlpack_round_trip(any_backend):
    device, _ = any_backend
    a = np.arange(6.0).reshape(2, 3)
    t = dk.from_numpy(a)
    a[0, 0] = 42.0  # from_numpy shares memory
    assert t[0, 0].item() == 42.0
    back = pickle.loads(pickle.dumps(dk.tensor(a, device=device, requires_grad=True)))
    assert back.requires_grad and back.device == device
    np.testing.assert_array_equal(back.detach().numpy(), a)
    np.testing.assert_array_equal(copy.deepcopy(back).detach().numpy(), a)
    np.testing.assert_array_equal(np.from_dlpack(dk.tensor(a, device=device)), a)
    np.testing.assert_array_equal(dk.from_dlpack(a).numpy(), a)
    np.testing.assert_array_equal(np.asarray(dk.tensor(a, device=device)), a)


def test_kernel_families_give_the_same_answers_on_every_backend(any_backend):
    device, _ = any_backend
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 9, 9)).astype(np.float32)
    seq = rng.standard_normal((5, 2, 4)).astype(np.float32)
    labels = np.array([1, 0])

    def run() -> list[np.ndarray]:
        dk.manual_seed(0)
        conv, lstm, gru = dnn.Conv2d(3, 4, 3, padding=1), dnn.LSTM(4, 6), dnn.GRU(4, 5)
        head = dnn.Linear(4 * 4 * 4, 2)
        tx = dk.tensor(x, device=device, requires_grad=True)
        pooled = dnn.functional.max_pool2d(conv(tx).relu(), 2)
        loss = dnn.functional.cross_entropy(head(pooled.flatten(1)),
                                            dk.tensor(labels, device=device))
        y, _ = lstm(dk.tensor(seq, device=device))
        z, _ = gru(dk.tensor(seq, device=device))
        (loss + y.sum() + z.sum()).backward()
        return [loss.item(), y.detach().numpy(), z.detach().numpy(), tx.grad.numpy(),
                conv.weight.grad.numpy(), lstm.weight_hh_l0.grad.numpy()]

    got = run()
    prev = backend.register_backend("cpu", backend.cpu)
    try:
        want = run()
    finally:
        backend.register_backend("cpu", prev)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)
