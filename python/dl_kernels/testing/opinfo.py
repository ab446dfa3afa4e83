"""Agreement with PyTorch over its own OpInfo sample inputs.

PyTorch's test suite describes every op with an ``OpInfo`` (in
``torch.testing._internal.common_methods_invocations.op_db``) whose ``sample_inputs`` cover
the shapes, arguments and corner cases its own tests use. For every OpInfo whose name we have
(``torch.<name>`` as ``dl_kernels.<name>`` or a Tensor method, ``torch.nn.functional.<name>``
as ``dl_kernels.nn.functional.<name>``) this runs each float64 sample through both libraries
and counts the samples where value (shape, dtype, values at ``torch.testing.assert_close``'s
default tolerances, nan where nan) and gradient (for a random cotangent, as
``torch.autograd.grad``) agree. An exception on our side counts as a disagreement; a sample
PyTorch itself rejects is skipped.

Needs torch and expecttest (``pip install expecttest``: op_db imports it).
Run: ``python -m dl_kernels.testing.opinfo [--ops a,b] [--max-samples N] [--verbose]``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import dl_kernels as dk
import dl_kernels.nn.functional as dF
from dl_kernels.tensor import Tensor

_FUNCTIONAL = "nn.functional."

# Ops whose outputs are random or uninitialised memory: no value to agree on (PyTorch's own
# consistency tests skip them too).
NONDETERMINISTIC = {
    "bernoulli", "cauchy", "empty", "empty_like", "empty_permuted", "empty_strided",
    "exponential", "geometric", "log_normal", "multinomial", "new_empty", "new_empty_strided",
    "nn.functional.alpha_dropout", "nn.functional.dropout", "nn.functional.dropout2d",
    "nn.functional.dropout3d", "nn.functional.feature_alpha_dropout", "nn.functional.rrelu",
    "normal", "rand_like", "randint", "randint_like", "randn", "randn_like", "uniform",
}

# OpInfos whose ``op`` takes its arguments in another order than torch.<name> (OpInfo wraps
# them in a lambda): called here the same way.
_ADAPTERS: dict[str, Callable[[Callable], Callable]] = {
    "where": lambda f: lambda self, cond, other: f(cond, self, other),
    "einsum": lambda f: lambda tensors, equation: f(equation, tensors),
    "nn.functional.embedding": lambda f: lambda weight, idx, **kw: f(idx, weight, **kw),
}


def resolve(name: str) -> Callable | None:
    """Our callable for an OpInfo name, called as OpInfo calls its op (``fn(input, *args,
    **kwargs)``); None when we do not have the op."""
    fn = _resolve(name)
    if fn is not None and name in _ADAPTERS:
        return _ADAPTERS[name](fn)
    return fn


def _resolve(name: str) -> Callable | None:
    if name.startswith(_FUNCTIONAL):
        fn = getattr(dF, name[len(_FUNCTIONAL):], None)
        return fn if callable(fn) else None
    if "." in name:
        return None
    fn = getattr(dk, name, None)
    if callable(fn) and not isinstance(fn, type):
        return fn
    if callable(getattr(Tensor, name, None)):
        def method(input: Any, *args: Any, **kwargs: Any) -> Any:
            return getattr(input, name)(*args, **kwargs)

        return method
    return None


class Unsupported(Exception):
    """A sample uses something with no counterpart here (a dtype, a layout)."""


def _dtype(torch: Any, d: Any) -> Any:
    name = str(d).replace("torch.", "")
    try:
        return getattr(dk, name) if name != "bool" else dk.bool
    except AttributeError:
        raise Unsupported(f"dtype {d}") from None


def to_ours(torch: Any, v: Any) -> Any:
    """A torch sample argument as ours: tensors (keeping dtype and requires_grad), dtypes,
    sizes, nested lists / tuples / dicts."""
    if isinstance(v, torch.Tensor):
        if v.is_complex() or v.layout != torch.strided or v.dtype in (torch.float16,
                                                                      torch.bfloat16):
            raise Unsupported(f"tensor of {v.dtype} / {v.layout}")
        t = dk.tensor(v.detach().cpu().resolve_neg().numpy())
        if v.requires_grad:
            t.requires_grad_(True)
        return t
    if isinstance(v, torch.dtype):
        return _dtype(torch, v)
    if isinstance(v, torch.Size):
        return tuple(v)
    if isinstance(v, torch.device):
        return str(v)
    if isinstance(v, (torch.memory_format, torch.layout, torch.Generator)):
        raise Unsupported(f"argument {v!r}")
    if isinstance(v, tuple) and hasattr(v, "_fields"):
        return type(v)(*[to_ours(torch, x) for x in v])
    if isinstance(v, (list, tuple)):
        return type(v)(to_ours(torch, x) for x in v)
    if isinstance(v, dict):
        return {k: to_ours(torch, x) for k, x in v.items()}
    return v


def _leaves(v: Any) -> list:
    if isinstance(v, (list, tuple)):
        out = []
        for x in v:
            out += _leaves(x)
        return out
    if isinstance(v, dict):
        return _leaves(list(v.values()))
    return [v]


def _grad_inputs(torch: Any, sample: Any) -> list:
    vals = _leaves([sample.input, list(sample.args), dict(sample.kwargs)])
    return [v for v in vals if isinstance(v, torch.Tensor) and v.requires_grad]


def _our_grad_inputs(ours: Any) -> list:
    return [v for v in _leaves(ours) if isinstance(v, Tensor) and v.requires_grad]


def _compare(torch: Any, got: Any, want: Any, what: str) -> None:
    """AssertionError unless got (ours) equals want (torch's) in shape, dtype and value."""
    if isinstance(want, torch.Tensor):
        if not isinstance(got, Tensor):
            raise AssertionError(  # noqa: TRY004 - a failed comparison, as assert_close's
                f"{what}: expected a tensor, got {type(got).__name__}")
        theirs = str(want.dtype).replace("torch.", "")
        if got.dtype.name != theirs:
            raise AssertionError(f"{what}: dtype {got.dtype.name}, PyTorch {theirs}")
        torch.testing.assert_close(torch.from_numpy(np.array(got.detach().numpy())),
                                   want.detach(), equal_nan=True, msg=lambda m: f"{what}: {m}")
    elif isinstance(want, (int, float, bool)) and not isinstance(got, Tensor):
        if not (got == want or (np.isnan(got) and np.isnan(want))):
            raise AssertionError(f"{what}: {got!r} != {want!r}")
    elif isinstance(want, (int, float, bool)):
        _compare(torch, got, torch.tensor(want), what)


@dataclass
class OpResult:
    name: str
    agree: int = 0
    total: int = 0
    failures: list[str] = field(default_factory=list)


def check_sample(torch: Any, opinfo: Any, ours: Callable, sample: Any, seed: int) -> str | None:
    """None when we agree with PyTorch on this sample, else why not. Raises Unsupported /
    SkipSample when the sample cannot be compared."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = opinfo(sample.input, *sample.args, **sample.kwargs)
            want = sample.output_process_fn_grad(want)
    except Exception as e:  # PyTorch rejects it: not a comparison
        raise Unsupported(f"torch raised {type(e).__name__}") from e
    if float(sample.kwargs.get("dropout_p", 0.0) or 0.0) > 0.0:
        raise Unsupported("random dropout")
    inp = to_ours(torch, sample.input)
    args = to_ours(torch, list(sample.args))
    kwargs = to_ours(torch, dict(sample.kwargs))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = ours(inp, *args, **kwargs)
            with contextlib.suppress(Exception):  # it may only work on torch's types
                got = sample.output_process_fn_grad(got)
    except Exception as e:  # noqa: BLE001 - any exception of ours is a disagreement
        return f"raised {type(e).__name__}: {str(e)[:120]}"
    want_l, got_l = _leaves(want), _leaves(got)
    if len(want_l) != len(got_l):
        return f"{len(got_l)} outputs, PyTorch {len(want_l)}"
    try:
        for i, (g, w) in enumerate(zip(got_l, want_l)):
            _compare(torch, g, w, f"output {i}")
    except AssertionError as e:
        return "value: " + str(e).splitlines()[0][:160]
    # gradients, for a random cotangent on every differentiable output
    t_in = _grad_inputs(torch, sample)
    outs = [(g, w) for g, w in zip(got_l, want_l)
            if isinstance(w, torch.Tensor) and w.requires_grad and w.is_floating_point()]
    if not (opinfo.supports_autograd and t_in and outs):
        return None
    rng = np.random.default_rng(seed)
    cots = [rng.standard_normal(tuple(w.shape)) for _, w in outs]
    t_grads = torch.autograd.grad([w for _, w in outs], t_in,
                                  [torch.tensor(c, dtype=w.dtype) for c, (_, w) in
                                   zip(cots, outs)], allow_unused=True)
    o_in = _our_grad_inputs([inp, args, kwargs])
    if len(o_in) != len(t_in):
        return f"{len(o_in)} differentiable inputs, PyTorch {len(t_in)}"
    try:
        total = None
        for (g, _), c in zip(outs, cots):
            if not g.requires_grad:
                continue
            term = (g * dk.tensor(c, dtype=g.dtype)).sum()
            total = term if total is None else total + term
        if total is not None:
            total.backward()
    except Exception as e:  # noqa: BLE001 - any exception of ours is a disagreement
        return f"backward raised {type(e).__name__}: {str(e)[:120]}"
    try:
        for i, (o, tg) in enumerate(zip(o_in, t_grads)):
            og = np.zeros(o.shape) if o.grad is None else o.grad.numpy()
            tgv = torch.zeros(o.shape, dtype=torch.float64) if tg is None else tg.detach()
            torch.testing.assert_close(torch.from_numpy(np.array(og, dtype=np.float64)),
                                       tgv.to(torch.float64), equal_nan=True,
                                       msg=lambda m, i=i: f"grad of input {i}: {m}")
    except AssertionError as e:
        return "gradient: " + str(e).splitlines()[0][:160]
    return None


def op_db() -> list:
    from torch.testing._internal.common_methods_invocations import op_db as db

    return db


def run(names: Iterable[str] | None = None, max_samples: int | None = None,
        verbose: bool = False, out: Any = sys.stdout) -> dict[str, OpResult]:
    """Agreement per OpInfo (name + variant) over the ops we have."""
    import torch

    wanted = set(names) if names is not None else None
    results: dict[str, OpResult] = {}
    for opinfo in op_db():
        if wanted is not None and opinfo.name not in wanted:
            continue
        ours = resolve(opinfo.name)
        if ours is None or torch.float64 not in opinfo.supported_dtypes("cpu"):
            continue
        if opinfo.name in NONDETERMINISTIC:
            continue
        key = opinfo.name + (f".{opinfo.variant_test_name}" if opinfo.variant_test_name else "")
        res = results[key] = OpResult(key)
        torch.manual_seed(0)
        try:
            samples = list(opinfo.sample_inputs("cpu", torch.float64,
                                                requires_grad=opinfo.supports_autograd))
        except Exception as e:  # noqa: BLE001 - PyTorch's own sample generator failed
            print(f"{key}: no samples ({type(e).__name__})", file=out)
            continue
        for i, sample in enumerate(samples[:max_samples]):
            try:
                why = check_sample(torch, opinfo, ours, sample, i)
            except Unsupported:
                continue
            res.total += 1
            if why is None:
                res.agree += 1
            else:
                res.failures.append(why)
        if verbose and res.total:
            print(f"{key:45s} {res.agree:4d}/{res.total:<4d}"
                  + (f"  {res.failures[0]}" if res.failures else ""), file=out)
    return results


def summary(results: dict[str, OpResult]) -> tuple[int, int, int, int]:
    """(agreeing samples, samples, ops agreeing on every sample, ops with samples)."""
    counted = [r for r in results.values() if r.total]
    return (sum(r.agree for r in counted), sum(r.total for r in counted),
            sum(r.agree == r.total for r in counted), len(counted))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", help="comma-separated OpInfo names (default: every op we have)")
    ap.add_argument("--max-samples", type=int, default=None)
    ap.add_argument("--verbose", action="store_true", help="one line per op")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    results = run(args.ops.split(",") if args.ops else None, args.max_samples, args.verbose)
    agree, total, ops_ok, ops = summary(results)
    pct = 100.0 * agree / max(total, 1)
    print(f"OpInfo agreement: {agree}/{total} samples = {pct:.1f} % over {ops} ops "
          f"({ops_ok} agree on every sample), {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
