"""Cost of dl_kernels.use_deterministic_algorithms(True) on conv2d grad-weight, the one kernel
it changes (fixed groups of partial sums, blocks sized as for one thread), per thread count.

Each case times the grad-weight with the mode off and on, interleaved (median of --repeats);
the ratio on/off is the cost. Run: python bench/bench_deterministic.py [--write]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import benchlib

# (name, N, C, H, W, O, k, pad): LeNet's two convolutions at batch 64, a VGG-like layer.
CASES = [("LeNet conv1 1->16 28x28 k5", 64, 1, 28, 28, 16, 5, 2),
         ("LeNet conv2 16->32 14x14 k5", 64, 16, 14, 14, 32, 5, 0),
         ("VGG-like 64->64 56x56 k3", 8, 64, 56, 56, 64, 3, 1)]


def worker(threads: int, repeats: int) -> dict:
    import dl_kernels as dlk
    from dl_kernels import _C

    dlk.set_num_threads(threads)
    rows = []
    for name, N, C, H, W, O, k, p in CASES:
        r = np.random.default_rng(0)
        x = r.standard_normal((N, C, H, W)).astype(np.float32)
        OH, OW = H + 2 * p - k + 1, W + 2 * p - k + 1
        gy = r.standard_normal((N, O, OH, OW)).astype(np.float32)

        def run(mode: bool, gy=gy, x=x, k=k, p=p):
            def f():
                dlk.use_deterministic_algorithms(mode)
                _C.conv2d_backward_weight(gy, x, [k, k], padding=[p, p])
            return f

        t = benchlib.interleaved_medians({"off": run(False), "on": run(True)}, repeats=repeats)
        dlk.use_deterministic_algorithms(False)
        rows.append({"case": name, "threads": threads, "off_ms": 1e3 * t["off"],
                     "on_ms": 1e3 * t["on"]})
    return {"rows": rows}


def table(results: list[dict]) -> str:
    lines = ["| conv2d grad-weight (float32) | threads | default ms | deterministic ms | cost |",
             "|---|---:|---:|---:|---:|"]
    for res in results:
        for r in res["rows"]:
            lines.append(f"| {r['case']} | {r['threads']} | {r['off_ms']:.2f} | {r['on_ms']:.2f} | "
                         f"{r['on_ms'] / r['off_ms']:.2f}x |")
    return "\n".join(lines)


if __name__ == "__main__":
    benchlib.thread_sweep_main(__file__, __doc__, "Deterministic mode",
                               "Deterministic mode: cost on conv2d grad-weight", worker, table)
