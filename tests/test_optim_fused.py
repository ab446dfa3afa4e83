"""The fused optimiser updates (``backend.sgd_update`` / ``adam_update``, csrc/cpu/optim_update):
bit for bit the per-parameter path, equal to a float64 reference of torch.optim's rules and to
torch.optim itself, for every option, on awkward sizes, with NaN/Inf propagating; the ``fused``
and ``foreach`` flags; clear errors on bad input."""

from __future__ import annotations

import itertools

import dl_kernels as dlk
import numpy as np
import pytest
from dl_kernels import backend, nn, optim

# 0-d, empty, one element, primes, more than one 16384-element chunk, and (with the 65537) more
# than the 65536 elements it takes to split a step over two threads
SHAPES = [(), (0,), (1,), (7,), (13, 17), (2, 3, 5), (40009,), (65537,)]
STEPS = 5

SGD_CASES = [
    {"lr": 0.05, "momentum": mom, "dampening": damp, "weight_decay": wd, "nesterov": nest,
     "maximize": mx}
    for mom, damp, wd, nest, mx in itertools.product((0.0, 0.9), (0.0, 0.3), (0.0, 0.05),
                                                     (False, True), (False, True))
    if not (nest and (mom == 0 or damp != 0)) and not (mom == 0 and damp != 0)
]
ADAM_CASES = [
    (cls, {"lr": 0.05, "betas": (0.8, 0.95), "eps": eps, "weight_decay": wd, "amsgrad": ams,
           "maximize": mx})
    for cls, eps, wd, ams, mx in itertools.product(("Adam", "AdamW"), (1e-8, 1e-3), (0.0, 0.1),
                                                   (False, True), (False, True))
]
CASES = [("SGD", kw) for kw in SGD_CASES] + ADAM_CASES
IDS = [f"{name}-" + "-".join(f"{k}={v}" for k, v in kw.items() if k != "lr")
       for name, kw in CASES]


def _inits(dtype, seed=0, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _grads(dtype, steps=STEPS, seed=1, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(steps)]


def _run(name, kwargs, inits, grads, **flags):
    """Our optimiser over the given gradients; the parameters after every step, and the
    optimiser (for its state)."""
    params = [nn.Parameter(dlk.tensor(a.copy())) for a in inits]
    opt = getattr(optim, name)(params, **kwargs, **flags)
    traj = []
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else dlk.tensor(g.copy())
        opt.step()
        traj.append([p.detach().numpy().copy() for p in params])
    return traj, opt, params


def _state_arrays(opt, params):
    return [{k: (v.numpy().copy() if hasattr(v, "numpy") else v)
             for k, v in opt.state.get(id(p), {}).items()} for p in params]


def _assert_same_state(a, b):
    assert [sorted(s) for s in a] == [sorted(s) for s in b]
    for sa, sb in zip(a, b):
        for k in sa:
            np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)


# ---- a float64 reference of torch.optim's rules (its documented algorithms), written afresh ----
def _reference(name, kw, inits, grads):
    """float64 trajectories of torch.optim's single-tensor SGD / Adam / AdamW."""
    ps = [a.astype(np.float64) for a in inits]
    st = [{} for _ in ps]
    lr, wd = kw["lr"], kw["weight_decay"]
    traj = []
    for step_grads in grads:
        for i, g in enumerate(step_grads):
            if g is None:
                continue
            g = -g.astype(np.float64) if kw["maximize"] else g.astype(np.float64)
            s = st[i]
            if name == "SGD":
                if wd:
                    g = g + wd * ps[i]
                if kw["momentum"]:
                    if "b" not in s:
                        s["b"] = g.copy()
                    else:
                        s["b"] = kw["momentum"] * s["b"] + (1 - kw["dampening"]) * g
                    g = g + kw["momentum"] * s["b"] if kw["nesterov"] else s["b"]
                ps[i] = ps[i] - lr * g
                continue
            b1, b2 = kw["betas"]
            if not s:
                s.update(t=0, m=np.zeros_like(g), v=np.zeros_like(g), vmax=np.zeros_like(g))
            s["t"] += 1
            if wd and name == "AdamW":
                ps[i] = ps[i] * (1 - lr * wd)
            elif wd:
                g = g + wd * ps[i]
            s["m"] = b1 * s["m"] + (1 - b1) * g
            s["v"] = b2 * s["v"] + (1 - b2) * g * g
            v = s["v"]
            if kw["amsgrad"]:
                s["vmax"] = np.maximum(s["vmax"], v)
                v = s["vmax"]
            denom = np.sqrt(v) / np.sqrt(1 - b2 ** s["t"]) + kw["eps"]
            ps[i] = ps[i] - lr / (1 - b1 ** s["t"]) * s["m"] / denom
        traj.append([p.copy() for p in ps])
    return traj


# ---- the fused update is the per-parameter path, bit for bit ----------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_fused_step_is_the_per_parameter_step_bit_for_bit(name, kwargs, dtype, threads):
    inits, grads = _inits(dtype), _grads(dtype)
    fused, opt_f, params_f = _run(name, kwargs, inits, grads, fused=True)
    loop, opt_l, params_l = _run(name, kwargs, inits, grads, fused=False)
    for step, (a, b) in enumerate(zip(fused, loop)):
        for x, y in zip(a, b):
            assert x.dtype == dtype
            np.testing.assert_array_equal(x, y, err_msg=f"step {step}")
    _assert_same_state(_state_arrays(opt_f, params_f), _state_arrays(opt_l, params_l))


@pytest.fixture(params=["portable", "avx2"])
def rung(request):
    """Each build of the update loops in turn (avx2 where the CPU has it), then 'auto' again."""
    from dl_kernels import _C

    try:
        _C.set_optim_update_rung(request.param)
    except ValueError:
        pytest.skip(f"this CPU cannot run the {request.param} build")
    assert _C.get_optim_update_rung() == request.param
    yield request.param
    _C.set_optim_update_rung("auto")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kwargs", [CASES[i] for i in (3, 11, 15, 16, 23, 39)],
                         ids=[IDS[i] for i in (3, 11, 15, 16, 23, 39)])
def test_every_build_of_the_loops_is_the_per_parameter_step_bit_for_bit(name, kwargs, dtype,
                                                                        rung):
    shapes = [(1,), (13, 17), (40009,)]
    inits, grads = _inits(dtype, shapes=shapes), _grads(dtype, shapes=shapes)
    fused, _, _ = _run(name, kwargs, inits, grads, fused=True)
    loop, _, _ = _run(name, kwargs, inits, grads, fused=False)
    for a, b in zip(fused, loop):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_an_unknown_rung_is_refused_naming_the_choices():
    from dl_kernels import _C

    with pytest.raises(ValueError, match="expected 'auto', 'portable' or 'avx2', got 'sse'"):
        _C.set_optim_update_rung("sse")


@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_fused_float64_step_equals_the_float64_reference_of_torch_rules(name, kwargs):
    inits, grads = _inits(np.float64, 2), _grads(np.float64, seed=3)
    ours, _, _ = _run(name, kwargs, inits, grads, fused=True)
    ref = _reference(name, kwargs, inits, grads)
    for step, (a, b) in enumerate(zip(ours, ref)):
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14, err_msg=f"step {step}")


@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_fused_float32_step_stays_within_float32_rounding_of_the_reference(name, kwargs):
    shapes = [(1,), (7,), (13, 17)]
    inits, grads = _inits(np.float32, 4, shapes), _grads(np.float32, seed=5, shapes=shapes)
    ours, _, _ = _run(name, kwargs, inits, grads, fused=True)
    ref = _reference(name, kwargs, inits, grads)
    for step, (a, b) in enumerate(zip(ours, ref)):
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=2e-5, atol=2e-5, err_msg=f"step {step}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_fused_step_equals_torch_optim(name, kwargs, dtype):
    torch = pytest.importorskip("torch")
    shapes = [(), (1,), (7,), (13, 17), (2, 3, 5)]
    inits, grads = _inits(dtype, 6, shapes), _grads(dtype, seed=7, shapes=shapes)
    ours, _, _ = _run(name, kwargs, inits, grads, fused=True)
    params = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in inits]
    opt = getattr(torch.optim, name)(params, **kwargs)  # torch's single-tensor path on the CPU
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for step, step_grads in enumerate(grads):
        for p, g in zip(params, step_grads):
            p.grad = torch.from_numpy(g.copy())
        opt.step()
        for x, p in zip(ours[step], params):
            np.testing.assert_allclose(x, p.detach().numpy(), rtol=tol, atol=tol,
                                       err_msg=f"step {step}")


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01, "nesterov": True}),
    ("Adam", {"lr": 0.05, "weight_decay": 0.01, "amsgrad": True}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.1}),
])
def test_fused_step_equals_torch_fused_step(name, kwargs):
    torch = pytest.importorskip("torch")
    shapes = [(1,), (13, 17), (40009,)]
    inits, grads = _inits(np.float32, 8, shapes), _grads(np.float32, seed=9, shapes=shapes)
    ours, _, _ = _run(name, kwargs, inits, grads, fused=True)
    params = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in inits]
    opt = getattr(torch.optim, name)(params, **kwargs, fused=True)
    for step, step_grads in enumerate(grads):
        for p, g in zip(params, step_grads):
            p.grad = torch.from_numpy(g.copy())
        opt.step()
        for x, p in zip(ours[step], params):
            np.testing.assert_allclose(x, p.detach().numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name,kwargs", [("SGD", SGD_CASES[-1]), ADAM_CASES[-1]],
                         ids=["SGD", "AdamW-amsgrad"])
def test_parameters_without_a_gradient_keep_their_own_step_count(name, kwargs):
    """A parameter with no gradient on some steps is skipped and its Adam step count lags,
    as in torch: the fused step takes each parameter's own t."""
    inits, grads = _inits(np.float64), _grads(np.float64, steps=6)
    for s, step_grads in enumerate(grads):
        if s % 2:
            step_grads[3] = None
        if s < 2:
            step_grads[4] = None
    fused, opt, params = _run(name, kwargs, inits, grads, fused=True)
    loop, _, _ = _run(name, kwargs, inits, grads, fused=False)
    for a, b in zip(fused, loop):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    ref = _reference(name, kwargs, inits, grads)
    for x, y in zip(fused[-1], ref[-1]):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14)
    if name != "SGD":
        assert [opt.state[id(p)]["step"] for p in params[2:5]] == [6, 3, 4]


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # inf / inf in the loop path
@pytest.mark.parametrize("name,kwargs", [("SGD", {"lr": 0.1, "momentum": 0.9}),
                                         ("Adam", {"lr": 0.1, "amsgrad": True}),
                                         ("AdamW", {"lr": 0.1})])
def test_nan_and_inf_in_a_gradient_propagate_like_the_per_parameter_path(name, kwargs):
    inits = _inits(np.float32, shapes=[(11,), (5,)])
    grads = _grads(np.float32, steps=3, shapes=[(11,), (5,)])
    grads[1][0][[2, 7]] = [np.nan, np.inf]
    fused, opt, params = _run(name, kwargs, inits, grads, fused=True)
    loop, opt_l, params_l = _run(name, kwargs, inits, grads, fused=False)
    for a, b in zip(fused, loop):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)  # NaN where NaN, equal elsewhere
    _assert_same_state(_state_arrays(opt, params), _state_arrays(opt_l, params_l))
    last = fused[-1][0]
    assert np.isnan(last[2]) and not np.isfinite(last[7])
    assert np.isfinite(np.delete(last, [2, 7])).all() and np.isfinite(fused[-1][1]).all()


# ---- the flags ------------------------------------------------------------------------------
@pytest.fixture
def calls(monkeypatch):
    """Counts the backend's fused-update calls (the strict backend delegates to the CPU one)."""
    counts = {"sgd_update": 0, "adam_update": 0}
    for op in counts:
        inner = getattr(backend.cpu, op)

        def counted(*args, _inner=inner, _op=op, **kwargs):
            counts[_op] += 1
            return _inner(*args, **kwargs)

        monkeypatch.setattr(backend.cpu, op, counted)
    return counts


@pytest.mark.parametrize("flags,expected", [({}, 1), ({"foreach": True}, 1),
                                            ({"fused": True}, 1), ({"fused": False}, 0),
                                            ({"foreach": False}, 0),
                                            ({"fused": False, "foreach": True}, 1)])
@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_the_flags_choose_one_fused_call_per_group_or_the_per_parameter_path(
        name, flags, expected, calls):
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    opt = getattr(optim, name)(model.parameters(), lr=0.1, **flags)
    model(dlk.randn(5, 4)).sum().backward()
    opt.step()
    op = "sgd_update" if name == "SGD" else "adam_update"
    assert calls[op] == expected


def test_fused_and_foreach_together_are_refused_as_in_torch():
    with pytest.raises(ValueError, match="cannot be `True` together"):
        optim.Adam([nn.Parameter(dlk.ones(2))], fused=True, foreach=True)


def test_fused_true_refuses_a_parameter_that_cannot_take_it_naming_it():
    p = dlk.tensor([1, 2, 3])  # int64
    with pytest.raises(ValueError, match="parameter 0 of the group has dtype int64"):
        optim.SGD([p], lr=0.1, fused=True)


def test_fused_true_refuses_a_gradient_of_another_dtype_at_the_step(calls):
    p = nn.Parameter(dlk.ones(3))
    opt = optim.SGD([p], lr=0.1, fused=True)
    p.grad = dlk.ones(3, dtype=dlk.float64)
    with pytest.raises(ValueError, match="gradient of dtype float64 and shape"):
        opt.step()
    np.testing.assert_array_equal(p.detach().numpy(), np.ones(3))  # nothing changed


def test_by_default_a_group_that_cannot_take_the_fused_update_takes_the_per_parameter_one(calls):
    p = nn.Parameter(dlk.ones(3))
    opt = optim.SGD([p], lr=0.5)
    p.grad = dlk.ones(3, dtype=dlk.float64)  # set by hand: the per-parameter path casts
    opt.step()
    assert calls["sgd_update"] == 0
    np.testing.assert_array_equal(p.detach().numpy(), np.full(3, 0.5, np.float32))


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_parameters_sharing_memory_fall_back_by_default_and_are_refused_with_fused(name):
    def make(**flags):
        a = nn.Parameter(dlk.tensor(np.arange(4.0, dtype=np.float32)))
        b = nn.Parameter(dlk.zeros(4))
        b.data = a.data  # two parameters over one array: updated twice, one after the other
        return [a, b], getattr(optim, name)([a, b], lr=0.1, **flags)

    params, opt = make()
    ref_params, ref_opt = make(fused=False)
    for ps, o in ((params, opt), (ref_params, ref_opt)):
        for p in ps:
            p.grad = dlk.ones(4)
        o.step()
    np.testing.assert_array_equal(params[0].detach().numpy(), ref_params[0].detach().numpy())
    params, opt = make(fused=True)
    for p in params:
        p.grad = dlk.ones(4)
    with pytest.raises(ValueError, match=r"params\[1\] shares memory with params\[0\]"):
        opt.step()
    np.testing.assert_array_equal(params[0].detach().numpy(), np.arange(4.0))


@pytest.mark.parametrize("name,kwargs", [("SGD", {"lr": 0.05, "momentum": 0.9}),
                                         ("Adam", {"lr": 0.05, "amsgrad": True})])
def test_state_dicts_move_between_the_fused_and_per_parameter_paths(name, kwargs, tmp_path):
    inits, grads = _inits(np.float32, shapes=[(3, 5), (7,)]), _grads(np.float32, 8,
                                                                      shapes=[(3, 5), (7,)])
    full, _, _ = _run(name, kwargs, inits, grads, fused=True)
    _, opt, params = _run(name, kwargs, inits, grads[:4], fused=True)
    nn.save(opt.state_dict(), tmp_path / "opt.ckpt")
    params2 = [nn.Parameter(dlk.tensor(p.detach().numpy().copy())) for p in params]
    opt2 = getattr(optim, name)(params2, **kwargs, fused=False)
    opt2.load_state_dict(nn.load(tmp_path / "opt.ckpt"))
    opt2.param_groups[0]["fused"] = False  # the saved group said None (fused where it can)
    for step_grads in grads[4:]:
        for p, g in zip(params2, step_grads):
            p.grad = dlk.tensor(g.copy())
        opt2.step()
    for a, p in zip(full[-1], params2):
        np.testing.assert_array_equal(p.detach().numpy(), a)


# ---- the backend op's own checks ---------------------------------------------------------------
def _adam_args(n=3, dtype=np.float32):
    rng = np.random.default_rng(0)
    mk = lambda: [rng.standard_normal(k + 2).astype(dtype) for k in range(n)]
    return [mk(), mk(), mk(), mk(), mk(), [1] * n]


def test_a_gradient_of_any_strides_gives_the_contiguous_gradients_result():
    a, b = _adam_args(), _adam_args()
    strided = [np.repeat(g, 2)[::2] for g in b[1]]
    assert not strided[0].flags.c_contiguous
    b[1] = strided
    backend.cpu.adam_update(*a, lr=0.1, amsgrad=True)
    backend.cpu.adam_update(*b, lr=0.1, amsgrad=True)
    for x, y in zip(a[0], b[0]):
        np.testing.assert_array_equal(x, y)


def test_an_empty_parameter_list_is_a_no_op():
    backend.cpu.adam_update([], [], [], [], None, [], lr=0.1)
    assert backend.cpu.sgd_update([], [], None, lr=0.1) is None


def _bad(args, i, value):
    """``args`` with argument ``i`` replaced by ``value``."""
    return [value if k == i else a for k, a in enumerate(args)]


@pytest.mark.parametrize("mutate,kwargs,message", [
    (lambda a: _bad(a, 1, a[1][:2]), {}, r"grads: expected 3 arrays \(one per parameter\), got 2"),
    (lambda a: _bad(a, 5, [1, 1]), {}, "steps: expected 3 step numbers"),
    (lambda a: _bad(a, 5, [1, 0, 1]), {}, r"steps\[1\]: expected a step number >= 1, got 0"),
    (lambda a: _bad(a, 1, [g.astype(np.float64) for g in a[1]]), {},
     r"grads\[0\]: expected dtype float32, got float64"),
    (lambda a: _bad(a, 0, [p.astype(np.int32) for p in a[0]]), {},
     r"params\[0\]: expected dtype float32 or float64, got int32"),
    (lambda a: _bad(a, 2, [m[:-1] for m in a[2]]), {},
     r"exp_avgs\[0\]: expected shape \(2,\) \(that of params\[0\]\), got \(1,\)"),
    (lambda a: _bad(a, 1, [a[1][0], a[1][1][:-1], a[1][2]]), {},
     r"grads\[1\]: expected shape \(3,\) \(that of params\[1\]\), got \(2,\)"),
    (lambda a: _bad(a, 0, [np.repeat(p, 2)[::2] for p in a[0]]), {},
     r"params\[0\]: expected a C-contiguous array"),
    (lambda a: _bad(a, 3, [a[0][0]] + a[3][1:]), {},
     r"exp_avg_sqs\[0\] shares memory with params\[0\]"),
    (lambda a: _bad(a, 4, None), {"amsgrad": True},
     "max_exp_avg_sqs: expected a list of arrays with amsgrad=True, got None"),
    (lambda a: _bad(a, 1, "grads"), {}, "grads: expected a list of arrays, got str"),
    (lambda a: _bad(a, 2, [None] * 3), {}, r"exp_avgs\[0\]: expected a numpy array, got NoneType"),
    (lambda a: a, {"beta1": 1.0}, r"beta1: expected a value in \[0, 1\), got 1"),
    (lambda a: a, {"beta2": -0.1}, r"beta2: expected a value in \[0, 1\)"),
    (lambda a: a, {"eps": -1.0}, "eps: expected a value >= 0"),
    (lambda a: a, {"lr": float("nan")}, "lr: expected a value >= 0, got nan"),
])
def test_adam_update_refuses_bad_input_naming_expected_and_actual(mutate, kwargs, message):
    args = mutate(_adam_args())
    before = [p.copy() for p in _adam_args()[0]]
    kw = {"lr": 0.1, **kwargs}
    with pytest.raises(ValueError, match=message):
        backend.cpu.adam_update(*args, **kw)
    if isinstance(args[0], list) and all(isinstance(p, np.ndarray) for p in args[0]):
        for p, b in zip(args[0], before):  # checked before anything was written
            if p.dtype == b.dtype and p.shape == b.shape:
                np.testing.assert_array_equal(p, b)


def test_sgd_update_refuses_bad_input_naming_expected_and_actual():
    p = [np.ones(3, np.float32), np.ones(4, np.float32)]
    g = [np.ones(3, np.float32), np.ones(4, np.float32)]
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum > 0 and zero "
                                         "dampening"):
        backend.cpu.sgd_update(p, g, None, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError, match="momentum_buffers: expected 2 arrays"):
        backend.cpu.sgd_update(p, g, [None], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"momentum_buffers\[1\]: expected shape \(4,\)"):
        backend.cpu.sgd_update(p, g, [None, np.ones(3, np.float32)], lr=0.1, momentum=0.9)
    ro = np.ones(3, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"params\[0\]: expected a writeable array"):
        backend.cpu.sgd_update([ro, p[1]], g, None, lr=0.1)
    with pytest.raises(ValueError, match="weight_decay: expected a value >= 0, got -1"):
        backend.cpu.sgd_update(p, g, None, lr=0.1, weight_decay=-1.0)
    with pytest.raises(ValueError, match=r"grads\[1\] shares memory with params\[1\]"):
        backend.cpu.sgd_update(p, [g[0], p[1]], None, lr=0.1)
    np.testing.assert_array_equal(p[0], np.ones(3))


def test_gradients_may_share_memory_with_each_other_as_they_are_only_read():
    p = [np.zeros(3, np.float32), np.zeros(3, np.float32)]
    g = np.ones(3, np.float32)
    backend.cpu.sgd_update(p, [g, g], None, lr=0.5)
    np.testing.assert_array_equal(p[0], np.full(3, -0.5))
    np.testing.assert_array_equal(p[1], np.full(3, -0.5))


def test_sgd_update_returns_the_momentum_buffers_it_made():
    p, g = [np.zeros(3, np.float32), np.zeros(2, np.float32)], [np.ones(3, np.float32),
                                                                np.full(2, 2.0, np.float32)]
    old = np.full(2, 10.0, np.float32)
    out = backend.cpu.sgd_update(p, g, [None, old], lr=1.0, momentum=0.5)
    np.testing.assert_array_equal(out[0], np.ones(3))  # new: the gradient itself
    assert out[1] is old
    np.testing.assert_array_equal(old, np.full(2, 7.0))  # 0.5 * 10 + 2
    np.testing.assert_array_equal(p[0], -np.ones(3))
    np.testing.assert_array_equal(p[1], np.full(2, -7.0))
