"""Property-based fuzzing of every dl_kernels._C binding and the public functional API.

hypothesis draws cases (fuzz_targets.py: valid templates, then wrong ranks, shapes, dtypes,
strides, zero sizes, NaN/Inf, bad scalars, aliased outputs) from a fixed seed; batches of them
run in subprocesses (fuzz_worker.py) so that a crash or a hang is a failure, not the end of
the test run. When a batch dies, the case it was running is re-run alone, and if that does
not reproduce it the batch is bisected. Properties: no crash, no hang, only clear Python
exceptions, no NaN turned into a number, no invalid call silently accepted.

Budget: DLK_FUZZ_CASES (default 1500, about a minute on 2 cores), DLK_FUZZ_SEED (default 0),
DLK_FUZZ_JOBS (parallel workers, default 2), DLK_FUZZ_TIMEOUT (seconds a batch may take before
it counts as hung, default 120). `DLK_FUZZ_CASES=10000 pytest tests/test_fuzz.py` is the
long run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import fuzz_targets as ft
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings

HERE = Path(__file__).resolve().parent
WORKER = HERE / "fuzz_worker.py"
BATCH = 150


def _env() -> dict[str, str]:
    import dl_kernels

    env = dict(os.environ)
    pkg = str(Path(dl_kernels.__file__).resolve().parents[1])
    env["PYTHONPATH"] = pkg + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "2")
    return env


def _draw(n: int, fuzz_seed: int, name: str) -> list[dict]:
    out: list[dict] = []

    @seed(fuzz_seed)
    @settings(max_examples=n, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(ft.cases([name]))
    def draw(case):
        out.append(json.loads(json.dumps(case)))

    draw()
    return out


def generate(n: int, fuzz_seed: int) -> list[dict]:
    """n cases drawn by hypothesis from a fixed seed (the same list on every run), the same
    number for every target, interleaved so that each batch mixes them."""
    names = sorted(ft.TARGETS)
    per = -(-n // len(names))
    drawn = [_draw(per, fuzz_seed, name) for name in names]
    mixed = [case for k in range(per) for cases in drawn if k < len(cases) for case in [cases[k]]]
    # A target with few distinct cases (set_num_threads) runs out early: top up the total from
    # further seeds, so that n cases are n cases.
    extra_seed = fuzz_seed
    while len(mixed) < n:
        extra_seed += 1_000_003
        more = [_draw(-(-(n - len(mixed)) // len(names)) + 1, extra_seed, name) for name in names]
        mixed += [c for k in range(max(map(len, more))) for cs in more if k < len(cs)
                  for c in [cs[k]]]
    return mixed[:n]


def run_batch(items: list[tuple[int, dict]], timeout: float) -> tuple[list, int | None, str]:
    """Run cases in one worker: (failures, index of the case running when it died or None,
    how it died)."""
    with tempfile.TemporaryDirectory() as d:
        cases, results, progress = (os.path.join(d, n) for n in ("c.json", "r.json", "p"))
        with open(cases, "w") as f:
            json.dump(items, f)
        try:
            p = subprocess.run([sys.executable, str(WORKER), cases, results, progress],
                               env=_env(), capture_output=True, text=True, timeout=timeout,
                               check=False)
            died = None if p.returncode == 0 else \
                f"exit code {p.returncode}: {(p.stderr or '').strip()[-400:]}"
        except subprocess.TimeoutExpired:
            died = f"hung (no result in {timeout:.0f} s)"
        if died is None:
            with open(results) as f:
                return [(int(i), str(why)) for i, why in json.load(f)], None, ""
        try:
            at = int(Path(progress).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            at = None
        return [], at, died


def run_cases(items: list[tuple[int, dict]], timeout: float) -> list[tuple[int, str]]:
    """Failures of these cases, a crash or hang pinned on the case that causes it."""
    failures, at, died = run_batch(items, timeout)
    if not died:
        return failures
    if len(items) == 1:
        return [(items[0][0], died)]
    if at is not None:  # most often the running case is the culprit: confirm it alone
        alone = [it for it in items if it[0] == at]
        _f_alone, _, died_alone = run_batch(alone, timeout)
        if died_alone:
            rest = [it for it in items if it[0] != at]
            return [(at, died_alone)] + run_cases(rest, timeout)
    half = len(items) // 2  # not reproducible alone: bisect (a state left by earlier cases)
    return run_cases(items[:half], timeout) + run_cases(items[half:], timeout)


def fuzz(cases: list[dict], jobs: int, timeout: float) -> list[tuple[int, str]]:
    items = list(enumerate(cases))
    batches = [items[i:i + BATCH] for i in range(0, len(items), BATCH)]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = pool.map(lambda b: run_cases(b, timeout), batches)
    return sorted(f for r in results for f in r)


def _report(cases: list[dict], failures: list[tuple[int, str]]) -> str:
    lines = [f"{len(failures)} of {len(cases)} fuzz cases broke a property:"]
    for i, why in failures[:25]:
        c = cases[i]
        lines.append(f"  case {i} [{c['t']}, mutation {c.get('mutation')}]: {why}\n"
                     f"    {json.dumps({k: c[k] for k in ('args', 'kwargs')})[:400]}")
    return "\n".join(lines)


def test_fuzz_every_binding_and_the_functional_api():
    n = int(os.environ.get("DLK_FUZZ_CASES", "1500"))
    cases = generate(n, int(os.environ.get("DLK_FUZZ_SEED", "0")))
    assert len(cases) == n
    failures = fuzz(cases, int(os.environ.get("DLK_FUZZ_JOBS", "2")),
                    float(os.environ.get("DLK_FUZZ_TIMEOUT", "120")))
    assert not failures, _report(cases, failures)


# ---- the harness itself: a crash, a hang and a wrong answer are each found and pinned -------
@pytest.fixture
def probe_targets(monkeypatch):
    """Targets that crash, hang, lose a NaN or raise an unclear error on purpose (the worker
    registers them when DLK_FUZZ_SELFTEST is set; see fuzz_targets.py)."""
    monkeypatch.setenv("DLK_FUZZ_SELFTEST", "1")


def _probe(kind: str) -> dict:
    return {"t": f"__probe_{kind}", "args": [], "kwargs": {}, "expect": "any",
            "mutation": "none"}


def test_the_harness_pins_a_crash_and_a_hang_on_their_cases(probe_targets):
    ok = {"t": "__probe_ok", "args": [], "kwargs": {}, "expect": "valid", "mutation": "none"}
    items = [(0, ok), (1, ok), (2, _probe("abort")), (3, ok), (4, _probe("hang")), (5, ok),
             (6, dict(_probe("nan"), nan=0, expect="valid")), (7, _probe("unclear"))]
    failures = dict(run_cases(items, timeout=10))
    assert sorted(failures) == [2, 4, 6, 7], failures
    assert "exit code" in failures[2] and "hung" in failures[4]
    assert "NaN lost" in failures[6] and "unclear message" in failures[7]


def test_generation_is_reproducible_and_covers_every_target():
    a, b = generate(200, 0), generate(200, 0)
    assert a == b
    assert {c["t"] for c in generate(len(ft.TARGETS), 1)} == set(ft.TARGETS)
