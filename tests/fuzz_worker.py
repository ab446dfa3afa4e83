"""Runs a batch of fuzz cases (see fuzz_targets.py) in this process and writes the failures.

    python tests/fuzz_worker.py CASES.json RESULTS.json [PROGRESS]

CASES.json holds [[index, case], ...]. Before each case the index goes to PROGRESS (flushed),
so when the process dies the harness knows which case was running. RESULTS.json gets
[[index, reason], ...] for every case that broke a property; a crash writes nothing.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fuzz_targets as ft

ALLOWED = (ValueError, TypeError, IndexError, NotImplementedError, MemoryError, OverflowError,
           RuntimeError)
# pybind11's own words when an argument reached C++ unchecked: not a message a user can act on.
UNCLEAR = ("Unable to cast", "C++ type", "incompatible function arguments; internal")


def _tensorize(x, grad: bool):
    import dl_kernels as dlk

    if isinstance(x, np.ndarray):
        t = dlk.tensor(x)
        if grad and x.dtype.kind == "f" and x.dtype.itemsize >= 4:
            t.requires_grad_(True)
        return t
    return x


def _floats(obj, out: list) -> list:
    """Every float array in a result (tensors, tuples, lists)."""
    import dl_kernels as dlk

    if isinstance(obj, dlk.Tensor):
        obj = obj.detach().numpy()
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "fc":
            out.append(obj)
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            _floats(o, out)
    elif isinstance(obj, (float, np.floating)):
        out.append(np.asarray(obj))
    return out


def _materialize(case: dict, seed: int):
    rng = np.random.default_rng(seed)
    conv = (lambda s: ft.make_array(s, rng) if ft.is_arr(s) else s)
    args = [conv(a) for a in case["args"]]
    kwargs = {k: conv(v) for k, v in case["kwargs"].items()}
    return args, kwargs


def _call(case: dict, args: list, kwargs: dict):
    t = ft.TARGETS[case["t"]]
    if t.kind == "F":
        grad = bool(case.get("grad"))
        args = [_tensorize(a, grad) for a in args]
        kwargs = {k: _tensorize(v, grad) for k, v in kwargs.items()}
        out = t.call(*args, **kwargs)
        import dl_kernels as dlk

        if isinstance(out, dlk.Tensor) and out.requires_grad and out.dtype.is_floating_point:
            out.sum().backward()
        return out
    return t.call(*args, **kwargs)


def _alias(case: dict, args: list, kwargs: dict) -> bool:
    """Make kwargs[out] a view of args[src]'s memory (shifted by `shift` elements)."""
    out_name, src, shift = case["alias"]
    base, out = args[src], kwargs[out_name]
    if not isinstance(base, np.ndarray) or not isinstance(out, np.ndarray) or \
            base.dtype != out.dtype or not base.flags.c_contiguous:
        return False
    flat = base.reshape(-1)
    if shift + out.size > flat.size:
        return False
    kwargs[out_name] = flat[shift:shift + out.size].reshape(out.shape)
    return True


def run_case(case: dict, seed: int) -> str | None:
    """None when every property holds, else why not."""
    args, kwargs = _materialize(case, seed)
    expected = None
    if case.get("alias"):
        copies_a = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        copies_k = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
        try:
            expected = _floats(_call(case, copies_a, copies_k), [])
        except ALLOWED:
            return None  # invalid anyway; the plain case covers its error
        if not _alias(case, args, kwargs):
            return None
    try:
        result = _call(case, args, kwargs)
    except ALLOWED as exc:
        msg = str(exc)
        if not msg.strip():
            return f"{type(exc).__name__} without a message"
        if any(u in msg for u in UNCLEAR):
            return f"unclear message: {type(exc).__name__}: {msg[:200]}"
        if case["expect"] == "valid":
            return f"a valid call raised {type(exc).__name__}: {msg[:200]}"
        return None
    except Exception as exc:  # noqa: BLE001 (the property: nothing else ever escapes)
        return f"unexpected {type(exc).__name__}: {str(exc)[:200]}"
    if case["expect"] == "invalid":
        return "silently accepted an invalid call"
    outs = _floats(result, [])
    if case.get("nan") is not None:
        total = sum(o.size for o in outs)
        if total and not any(np.isnan(o).any() for o in outs):
            return "NaN lost: every input element was NaN, no output element is"
    if expected is not None:
        got = outs
        if len(got) != len(expected) or any(
                g.shape != e.shape or not np.allclose(g, e, rtol=1e-5, atol=1e-6, equal_nan=True)
                for g, e in zip(got, expected)):
            return "an aliased output gave a different answer from separate arrays"
    return None


def main(argv: list[str]) -> int:
    cases_path, results_path = argv[0], argv[1]
    progress = open(argv[2], "w") if len(argv) > 2 else None  # noqa: SIM115
    with open(cases_path) as f:
        batch = json.load(f)
    warnings.simplefilter("ignore")
    failures = []
    for index, case in batch:
        if progress:
            progress.seek(0)
            progress.write(f"{index}\n")
            progress.flush()
        why = run_case(case, index)
        if why:
            failures.append([index, why])
    with open(results_path, "w") as f:
        json.dump(failures, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
