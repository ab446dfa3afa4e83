"""Feed-forward layers: outputs and gradients equal torch.nn's after weight conversion;
the notes' blocks (maxout, residual, highway, inception, additive attention) against numpy."""

from __future__ import annotations

import dl_kernels as dlk
import numpy as np
import pytest
from dl_kernels import nn, optim

F64 = dlk.float64


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _check_against_torch(torch, ours, ref, x, rtol=1e-9, atol=1e-10, index_input=False):
    """Same state, same input: same output, same input gradient, same parameter gradients."""
    ours.from_torch_state_dict(ref.state_dict())
    if index_input:
        xo, xt = dlk.tensor(x), torch.tensor(x)
    else:
        xo, xt = dlk.tensor(x).requires_grad_(), torch.tensor(x, requires_grad=True)
    out, exp = ours(xo), ref(xt)
    np.testing.assert_allclose(out.detach().numpy(), exp.detach().numpy(), rtol=rtol, atol=atol)
    g = _rand(*exp.shape, seed=99)
    out.backward(dlk.tensor(g))
    exp.backward(torch.tensor(g))
    if not index_input:
        np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=rtol, atol=atol)
    theirs = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs[name].grad.numpy(), rtol=rtol,
                                   atol=atol, err_msg=name)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_equals_torch(bias):
    torch = pytest.importorskip("torch")
    _check_against_torch(torch, nn.Linear(7, 3, bias=bias, dtype=F64),
                         torch.nn.Linear(7, 3, bias=bias).double(), _rand(5, 7))
    _check_against_torch(torch, nn.Linear(4, 2, bias=bias, dtype=F64),
                         torch.nn.Linear(4, 2, bias=bias).double(), _rand(2, 3, 4))


CONV_CASES = [
    {"in_channels": 3, "out_channels": 4, "kernel_size": 3},
    {"in_channels": 2, "out_channels": 5, "kernel_size": (3, 2), "stride": 2, "padding": 1},
    {"in_channels": 4, "out_channels": 4, "kernel_size": 3, "padding": "same", "dilation": 2,
     "groups": 2},
    {"in_channels": 3, "out_channels": 6, "kernel_size": 1, "bias": False},
    {"in_channels": 3, "out_channels": 3, "kernel_size": 5, "padding": (2, 1), "groups": 3},
]


@pytest.mark.parametrize("cfg", CONV_CASES)
def test_conv2d_equals_torch(cfg):
    torch = pytest.importorskip("torch")
    ours = nn.Conv2d(**cfg, dtype=F64)
    ref = torch.nn.Conv2d(**cfg).double()
    assert tuple(ours.weight.shape) == tuple(ref.weight.shape)
    _check_against_torch(torch, ours, ref, _rand(2, cfg["in_channels"], 9, 7))


@pytest.mark.parametrize("kind,cfg", [
    ("Max", {"kernel_size": 2}), ("Max", {"kernel_size": 3, "stride": 2, "padding": 1}),
    ("Max", {"kernel_size": (2, 3), "stride": 1}),
    ("Avg", {"kernel_size": 2}), ("Avg", {"kernel_size": 3, "stride": 2, "padding": 1}),
    ("Avg", {"kernel_size": 3, "stride": 1, "padding": 1, "count_include_pad": False}),
])
def test_pools_equal_torch(kind, cfg):
    torch = pytest.importorskip("torch")
    ours = getattr(nn, f"{kind}Pool2d")(**cfg)
    ref = getattr(torch.nn, f"{kind}Pool2d")(**cfg)
    _check_against_torch(torch, ours, ref, _rand(2, 3, 9, 8))


@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_equals_torch(padding_idx):
    torch = pytest.importorskip("torch")
    ours = nn.Embedding(11, 4, padding_idx=padding_idx, dtype=F64)
    ref = torch.nn.Embedding(11, 4, padding_idx=padding_idx).double()
    idx = np.array([[1, 2, 3, 2], [10, 0, 2, 1]], dtype=np.int64)
    _check_against_torch(torch, ours, ref, idx, index_input=True)


def test_embedding_default_init_is_standard_normal_with_a_zero_padding_row():
    e = nn.Embedding(4000, 8, padding_idx=0)
    w = e.weight.detach().numpy()
    assert (w[0] == 0).all()
    assert abs(w[1:].std() - 1.0) < 0.02


def test_dropout_eval_equals_torch_and_train_is_inverted_dropout():
    torch = pytest.importorskip("torch")
    x = _rand(200, 50)
    d, ref = nn.Dropout(0.3).eval(), torch.nn.Dropout(0.3).eval()
    np.testing.assert_array_equal(d(dlk.tensor(x)).numpy(), ref(torch.tensor(x)).numpy())
    d.train()
    y = d(dlk.tensor(x)).numpy()
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(y[kept], x[kept] / 0.7)
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_flatten_keeps_the_batch_dimension():
    x = dlk.tensor(_rand(2, 3, 4, 5))
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)


@pytest.mark.parametrize("name,args,tname", [
    ("ReLU", (), "ReLU"), ("LeakyReLU", (0.2,), "LeakyReLU"), ("Sigmoid", (), "Sigmoid"),
    ("Tanh", (), "Tanh"), ("Softplus", (2.0, 5.0), "Softplus"), ("Softmax", (1,), "Softmax"),
    ("LogSoftmax", (1,), "LogSoftmax")])
def test_activation_modules_equal_torch(name, args, tname):
    torch = pytest.importorskip("torch")
    _check_against_torch(torch, getattr(nn, name)(*args), getattr(torch.nn, tname)(*args),
                         _rand(4, 6) * 3)


def test_notes_activation_modules():
    x = _rand(3, 6)
    t = dlk.tensor(x)
    np.testing.assert_array_equal(nn.Step()(t).numpy(), (x >= 0).astype(float))
    np.testing.assert_allclose(nn.MaxoutPool(3)(t).numpy(), x.reshape(3, 2, 3).max(-1))
    np.testing.assert_allclose(nn.SoftMaxout(2)(t).numpy(),
                               np.log(np.exp(x.reshape(3, 3, 2)).sum(-1)))
    np.testing.assert_allclose(nn.PNorm(3, p=2.0)(t).numpy(),
                               np.sqrt((x.reshape(3, 2, 3) ** 2).sum(-1)))
    noisy = nn.NoisyReLU(0.5)
    assert (noisy(t).numpy() >= 0).all()
    np.testing.assert_array_equal(noisy.eval()(t).numpy(), np.maximum(x, 0))


def test_maxout_layer_takes_the_max_of_its_pieces():
    m = nn.Maxout(5, 3, pieces=4, dtype=F64)
    x = _rand(6, 5)
    w, b = m.linear.weight.detach().numpy(), m.linear.bias.detach().numpy()
    expected = (x @ w.T + b).reshape(6, 3, 4).max(-1)
    np.testing.assert_allclose(m(dlk.tensor(x)).detach().numpy(), expected, rtol=1e-12)
    assert m.num_parameters() == 5 * 12 + 12


def test_residual_adds_the_input_or_its_projection():
    fn = nn.Linear(4, 4, dtype=F64)
    x = _rand(3, 4)
    r = nn.Residual(fn)
    np.testing.assert_allclose(r(dlk.tensor(x)).detach().numpy(),
                               fn(dlk.tensor(x)).detach().numpy() + x)
    proj = nn.Linear(4, 2, dtype=F64)
    r2 = nn.Residual(nn.Linear(4, 2, dtype=F64), shortcut=proj)
    assert r2.num_parameters() == 2 * (4 * 2 + 2)
    np.testing.assert_allclose(r2(dlk.tensor(x)).detach().numpy(),
                               r2.fn(dlk.tensor(x)).detach().numpy()
                               + proj(dlk.tensor(x)).detach().numpy())


def test_highway_is_gated_mix_of_transform_and_carry():
    h = nn.Highway(5, activation=nn.Tanh(), dtype=F64)
    np.testing.assert_array_equal(h.gate.bias.detach().numpy(), -np.ones(5))
    x = _rand(4, 5)
    wt, bt = h.gate.weight.detach().numpy(), h.gate.bias.detach().numpy()
    wh, bh = h.transform.weight.detach().numpy(), h.transform.bias.detach().numpy()
    t = 1 / (1 + np.exp(-(x @ wt.T + bt)))
    expected = t * np.tanh(x @ wh.T + bh) + (1 - t) * x
    np.testing.assert_allclose(h(dlk.tensor(x)).detach().numpy(), expected, rtol=1e-12)


def test_inception_concatenates_its_four_branches_along_channels():
    blk = nn.Inception(3, 4, 2, 5, 2, 3, 2, dtype=F64)
    assert blk.out_channels == 14
    x = dlk.tensor(_rand(2, 3, 7, 6))
    y = blk(x).detach().numpy()
    assert y.shape == (2, 14, 7, 6)
    parts = [b(x).detach().numpy() for b in (blk.branch1, blk.branch2, blk.branch3, blk.branch4)]
    np.testing.assert_array_equal(y, np.concatenate(parts, axis=1))
    assert (y >= 0).all()  # every branch ends in ReLU
    x.requires_grad_()
    blk(x).sum().backward()
    assert all(p.grad is not None for p in blk.parameters())


def test_additive_attention_against_numpy():
    att = nn.AdditiveAttention(4, 3, 5, dtype=F64)
    q, k, v = _rand(2, 4, seed=1), _rand(2, 6, 3, seed=2), _rand(2, 6, 7, seed=3)
    mask = np.ones((2, 6), dtype=bool)
    mask[1, 4:] = False
    ctx, alpha = att(dlk.tensor(q), dlk.tensor(k), dlk.tensor(v), mask=dlk.tensor(mask))
    wq = att.query_proj.weight.detach().numpy()
    wk, bk = att.key_proj.weight.detach().numpy(), att.key_proj.bias.detach().numpy()
    vv = att.v.weight.detach().numpy()[0]
    e = np.tanh((q @ wq.T)[:, None, :] + k @ wk.T + bk) @ vv
    e = np.where(mask, e, -np.inf)
    a = np.exp(e - e.max(1, keepdims=True))
    a /= a.sum(1, keepdims=True)
    np.testing.assert_allclose(alpha.detach().numpy(), a, rtol=1e-10)
    np.testing.assert_allclose(ctx.detach().numpy(), (a[:, :, None] * v).sum(1), rtol=1e-10)
    assert alpha.detach().numpy()[1, 4:].max() == 0
    ctx.sum().backward()
    assert all(p.grad is not None for p in att.parameters())


def test_conv2d_and_linear_reject_bad_configurations():
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding"):
        nn.Conv2d(3, 4, 3, padding="full")


def test_torch_state_dict_round_trip_for_conv_and_embedding():
    torch = pytest.importorskip("torch")
    for ours, ref in [(nn.Conv2d(2, 3, 3), torch.nn.Conv2d(2, 3, 3)),
                      (nn.Embedding(6, 2), torch.nn.Embedding(6, 2))]:
        ours.from_torch_state_dict(ref.state_dict())
        back = ours.to_torch_state_dict(convert=torch.from_numpy)
        for k, v in ref.state_dict().items():
            assert torch.equal(back[k], v)


class LeNet(nn.Module):
    """A LeNet-style CNN in a dozen lines."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten())
        self.classifier = nn.Sequential(nn.Linear(16 * 5 * 5, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def test_lenet_trains_saves_and_loads_with_identical_outputs(tmp_path):
    dlk.manual_seed(0)
    model = LeNet()
    assert model.num_parameters() == (6 * 25 + 6) + (16 * 6 * 25 + 16) + (400 * 32 + 32) + (
        32 * 10 + 10)
    x = dlk.randn(8, 1, 28, 28)
    y = dlk.tensor(np.arange(8) % 10)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    crit = nn.CrossEntropyLoss()
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = crit(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    model.eval()
    model.save(tmp_path / "lenet.ckpt")
    clone = LeNet().load(tmp_path / "lenet.ckpt").eval()
    np.testing.assert_array_equal(clone(x).detach().numpy(), model(x).detach().numpy())
