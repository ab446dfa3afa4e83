"""Module: registration, traversal, modes, state_dict, atomic save/load, repr and counts."""

from __future__ import annotations

import os

import dl_kernels as dlk
import numpy as np
import pytest
from dl_kernels import nn


class MLP(nn.Module):
    def __init__(self, sizes=(5, 7, 3)):
        super().__init__()
        self.hidden = nn.Linear(sizes[0], sizes[1])
        self.act = nn.Tanh()
        self.out = nn.Linear(sizes[1], sizes[2])
        self.register_buffer("scale", dlk.tensor([2.0]))

    def forward(self, x):
        return self.out(self.act(self.hidden(x))) * self.scale


def _x(n=4, d=5, seed=0):
    return dlk.tensor(np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32))


def test_parameters_are_registered_in_order_with_dotted_names():
    m = MLP()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["hidden.weight", "hidden.bias", "out.weight", "out.bias"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in m.parameters())
    assert [n for n, _ in m.named_children()] == ["hidden", "act", "out"]
    assert len(list(m.modules())) == 4
    assert list(m.state_dict()) == ["scale"] + names  # own tensors first, as torch orders them


def test_shared_parameters_are_listed_and_counted_once():
    lin = nn.Linear(3, 3)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert seq.num_parameters() == 12


def test_reassigning_an_attribute_replaces_the_registration():
    m = MLP()
    m.out = nn.Linear(7, 2)
    assert m.num_parameters() == 5 * 7 + 7 + 7 * 2 + 2
    m.out = None
    assert [n for n, _ in m.named_parameters()] == ["hidden.weight", "hidden.bias"]


def test_assigning_a_plain_tensor_to_a_parameter_raises():
    lin = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="as parameter 'weight'"):
        lin.weight = dlk.zeros(2, 2)
    lin.weight = nn.Parameter(dlk.zeros(2, 2))
    assert lin.num_parameters() == 6


def test_train_and_eval_set_the_flag_on_every_submodule():
    m = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.Sequential(nn.Dropout(0.1)))
    assert all(s.training for s in m.modules())
    assert m.eval() is m
    assert not any(s.training for s in m.modules())
    m.train()
    assert all(s.training for s in m.modules())


def test_dropout_in_eval_mode_is_the_identity():
    x = _x()
    d = nn.Dropout(0.7).eval()
    np.testing.assert_array_equal(d(x).numpy(), x.numpy())


def test_zero_grad_clears_every_parameter_gradient():
    m = MLP()
    m(_x()).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(not p.grad.numpy().any() for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_load_state_dict_copies_values_and_checks_keys_and_shapes():
    a, b = MLP(), MLP()
    x = _x()
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())
    # values are copied, not aliased
    with dlk.no_grad():
        a.hidden.weight.mul_(2.0)
    assert not np.array_equal(a.hidden.weight.detach().numpy(), b.hidden.weight.detach().numpy())
    sd = dict(a.state_dict())
    del sd["out.bias"]
    sd["extra"] = np.zeros(2)
    with pytest.raises(ValueError,
                       match=r"missing keys \['out.bias'\].*unexpected keys \['extra'\]"):
        b.load_state_dict(sd)
    result = b.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["out.bias"] and result.unexpected_keys == ["extra"]
    bad = dict(a.state_dict())
    bad["hidden.weight"] = np.zeros((7, 4), np.float32)
    with pytest.raises(ValueError, match=r"hidden.weight.*\(7, 4\).*\(7, 5\)"):
        b.load_state_dict(bad)


def test_load_state_dict_accepts_numpy_arrays():
    m = MLP()
    sd = {k: v.numpy() * 0 + 1 for k, v in m.state_dict().items()}
    m.load_state_dict(sd)
    assert (m.hidden.weight.detach().numpy() == 1).all()
    assert m.hidden.weight.dtype == dlk.float32


def test_save_then_load_gives_identical_outputs(tmp_path):
    a, b = MLP(), MLP()
    path = tmp_path / "mlp.ckpt"
    a.save(path)
    assert b.load(path) is b
    x = _x()
    np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())
    assert os.listdir(tmp_path) == ["mlp.ckpt"]  # no temporary file left behind


def test_save_replaces_an_existing_checkpoint_atomically(tmp_path, monkeypatch):
    a = MLP()
    path = tmp_path / "m.ckpt"
    a.save(path)
    before = path.read_bytes()
    import numpy

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(numpy, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        MLP().save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.ckpt"]


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_a_corrupted_checkpoint_raises_a_clear_error(tmp_path, damage):
    m = MLP()
    path = tmp_path / "m.ckpt"
    m.save(path)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        member = data.index(b"a0.npy")                  # the first weight array's member
        i = data.index(b"\x93NUMPY", member) + 128 + 5  # past its .npy header: a data byte
        data[i] ^= 0xFF
    elif damage == "garbage":
        data = bytearray(b"not a checkpoint at all" * 10)
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    with pytest.raises(nn.CheckpointError, match="truncated or corrupted|not a dl_kernels"):
        MLP().load(path)
    assert issubclass(nn.CheckpointError, ValueError)


def test_loading_a_checkpoint_of_another_model_raises(tmp_path):
    path = tmp_path / "m.ckpt"
    MLP().save(path)
    with pytest.raises(nn.CheckpointError, match="does not fit"):
        MLP((5, 8, 3)).load(path)
    with pytest.raises(nn.CheckpointError, match="does not exist"):
        MLP().load(tmp_path / "missing.ckpt")


def test_nn_save_round_trips_nested_state(tmp_path):
    state = {"epoch": 3, "best": float("inf"), "name": "x", "none": None,
             "lrs": [0.1, 0.01], "pair": (1, 2), "by_index": {0: np.arange(3.0)},
             "tensor": dlk.tensor([1.5, 2.5])}
    nn.save(state, tmp_path / "s.ckpt")
    back = nn.load(tmp_path / "s.ckpt")
    assert back["epoch"] == 3 and back["best"] == float("inf") and back["name"] == "x"
    assert back["none"] is None and back["lrs"] == [0.1, 0.01] and back["pair"] == (1, 2)
    np.testing.assert_array_equal(back["by_index"][0], np.arange(3.0))
    np.testing.assert_array_equal(back["tensor"], np.array([1.5, 2.5], np.float32))


def test_repr_shows_the_tree_with_parameter_counts():
    m = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Sequential(nn.Linear(3, 2)))
    text = repr(m)
    assert text.splitlines()[0] == "Sequential(  # 23 parameters"
    assert "(0): Linear(in_features=4, out_features=3, bias=True)  # 15 parameters" in text
    assert "(1): ReLU()" in text
    assert "    (0): Linear(in_features=3, out_features=2, bias=True)  # 8 parameters" in text
    assert m.num_parameters() == 23


def test_num_parameters_trainable_only():
    m = MLP()
    m.hidden.requires_grad_(False)
    assert m.num_parameters() == 5 * 7 + 7 + 7 * 3 + 3
    assert m.num_parameters(trainable_only=True) == 7 * 3 + 3


def test_to_dtype_converts_parameters_in_place_keeping_identity():
    m = MLP()
    w = m.hidden.weight
    m.double()
    assert m.hidden.weight is w and w.dtype == dlk.float64
    assert m(_x().double()).dtype == dlk.float64
    m.to("cpu")
    assert m.hidden.weight.device == dlk.tensor([1.0]).device


def test_sequential_indexing_len_and_append():
    s = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    assert len(s) == 2 and isinstance(s[0], nn.Linear) and isinstance(s[-1], nn.ReLU)
    s.append(nn.Linear(3, 1))
    assert len(s) == 3 and s(dlk.ones(4, 2)).shape == (4, 1)
    assert isinstance(s[1:], nn.Sequential) and len(s[1:]) == 2
    with pytest.raises(IndexError):
        s[3]


def test_module_list_and_dict_register_their_members():
    ml = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 1)])
    md = nn.ModuleDict({"a": nn.Linear(1, 1)})
    holder = nn.Module()
    holder.layers, holder.heads = ml, md
    assert [n for n, _ in holder.named_parameters()] == [
        "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
        "heads.a.weight", "heads.a.bias"]


def test_linear_module_torch_state_dict_round_trip():
    torch = pytest.importorskip("torch")
    ref = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    ours = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 2))
    ours.from_torch_state_dict(ref.state_dict())
    x = np.random.default_rng(1).standard_normal((3, 5)).astype(np.float32)
    np.testing.assert_allclose(ours(dlk.tensor(x)).detach().numpy(),
                               ref(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    ref2 = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    ref2.load_state_dict(ours.to_torch_state_dict(convert=torch.from_numpy))
    for a, b in zip(ref.parameters(), ref2.parameters()):
        assert torch.equal(a, b)
