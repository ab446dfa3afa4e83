"""Per-op Python overhead on small tensors: dl_kernels against PyTorch CPU, same run.

What a user pays per call when the arithmetic is negligible: an elementwise add of 16x16,
a 64x64 matmul, a Linear(64, 64) forward + backward on a batch of 32 (grads reset each time),
and the same add while recording a graph. The "bare" column times the array work under ours
without the Tensor layer (numpy's add, our GEMM binding), so the Python layer's own cost shows.
Each sample runs the op in a loop of --inner calls;
ours and torch are timed round-robin (interleaved), 2 warm-ups then the median of --repeats.
Each thread count runs in its own process (torch fixes its pool at import).

    python bench/bench_overhead.py [--repeats 15] [--inner 300] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Callable

CASES = ["add 16x16", "add 16x16 (recording grad)", "matmul 64x64", "Linear 32x64->64 fwd+bwd"]


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import run_worker


def make_cases(lib, F) -> dict[str, Callable[[], object]]:
    lib.manual_seed(0)
    a, b = lib.randn(16, 16), lib.randn(16, 16)
    ag = lib.randn(16, 16, requires_grad=True)
    m1, m2 = lib.randn(64, 64), lib.randn(64, 64)
    x = lib.randn(32, 64)
    w = lib.randn(64, 64, requires_grad=True)
    bias = lib.randn(64, requires_grad=True)

    def linear_step():
        w.grad = None
        bias.grad = None
        F.linear(x, w, bias).sum().backward()

    return {
        CASES[0]: lambda: a + b,
        CASES[1]: lambda: ag + b,
        CASES[2]: lambda: m1 @ m2,
        CASES[3]: linear_step,
    }


def make_bare_cases() -> dict[str, Callable[[], object]]:
    """The array work under ours without the Tensor layer: numpy's add, our GEMM binding."""
    import numpy as np
    from dl_kernels import _C

    rng = np.random.default_rng(0)
    a, b, m1, m2 = (rng.standard_normal(s).astype(np.float32)
                    for s in ((16, 16), (16, 16), (64, 64), (64, 64)))
    return {CASES[0]: lambda: np.add(a, b), CASES[2]: lambda: _C.gemm(m1, m2)}


def worker(threads: int, repeats: int, inner: int) -> dict:
    sys.path.insert(0, os.path.dirname(__file__))
    import dl_kernels
    import dl_kernels.nn.functional as dF
    from benchlib import interleaved_medians

    dl_kernels.set_num_threads(threads)
    libs = {"ours": make_cases(dl_kernels, dF), "bare": make_bare_cases()}
    try:
        import torch

        torch.set_num_threads(threads)
        libs["torch"] = make_cases(torch, torch.nn.functional)
    except ImportError:
        pass
    rows = []
    for case in CASES:
        def loop(fn: Callable[[], object]) -> Callable[[], None]:
            def run() -> None:
                for _ in range(inner):
                    fn()
            return run

        fns = {k: loop(v[case]) for k, v in libs.items() if case in v}
        med = interleaved_medians(fns, repeats=repeats)
        rows.append({"case": case, "us": {k: 1e6 * t / inner for k, t in med.items()}})
    return {"threads": threads, "rows": rows}


def table(results: list[dict]) -> str:
    lines = [("| case | threads | ours µs/call | torch µs/call | ours / torch | bare array work "
             "under ours µs | ours − bare (Python layer) µs |"),
             "|---|---|---|---|---|---|---|"]
    for i, case in enumerate(CASES):
        for r in results:
            us = r["rows"][i]["us"]
            t = us.get("torch")
            ratio = f"{us['ours'] / t:.2f}×" if t else "n/a"
            bare = us.get("bare")
            diff = us["ours"] - bare if bare else 0.0
            lines.append(f"| {case} | {r['threads']} | {us['ours']:.1f} | "
                         f"{f'{t:.1f}' if t else 'n/a'} | {ratio} | "
                         f"{f'{bare:.1f}' if bare else ''} | "
                         f"{f'{diff:.1f}' if bare else ''} |")
    return "\n".join(lines) + "\n\nTarget: ours / torch <= 1× (add, matmul 64x64, Linear).\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--inner", type=int, default=300)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--write", action="store_true", help="write the table into RESULTS.md")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.repeats, args.inner)))
        return
    start = time.perf_counter()
    results = [run_worker(__file__, t, ["--repeats", str(args.repeats), "--inner",
                                          str(args.inner)]) for t in args.threads]
    text = table(results)
    print(text)
    print(f"({time.perf_counter() - start:.0f} s)")
    if args.write:
        sys.path.insert(0, os.path.dirname(__file__))
        from benchlib import header, write_section

        write_section("overhead", "## Python per-op overhead (small tensors)\n\n" + header(
            "python bench/bench_overhead.py --write") + "\n" + text)


if __name__ == "__main__":
    main()
