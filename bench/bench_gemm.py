"""CPU SGEMM: dl_kernels against numpy's matmul (OpenBLAS) and torch.matmul (MKL), same run.

Each thread count runs in its own process, because OpenBLAS and MKL fix their thread pools
from the environment at import. Inside it, every shape times ours, numpy and torch
round-robin (interleaved), 2 warm-ups then the median of --repeats. The fp32 ceiling is
measured in the same process by dl_kernels._C.fma_peak_gflops: 12 independent AVX-512 FMA
chains per thread on registers only (no memory traffic), the best 36 ms batch over 1 s.

Shapes are M x K x N: C[M, N] = A[M, K] @ B[K, N]. The training shapes are an MLP's
784-1024-10 layers at batch 128: forward 128x784x1024 and 128x1024x10, and the weight gradient
1024x128x784 (dW^T = dY^T X).

    python bench/bench_gemm.py [--repeats 11] [--write]
"""

from __future__ import annotations

import os
import sys

SQUARE = [256, 512, 1024, 2048]
TRAINING = [(128, 784, 1024), (128, 1024, 10), (1024, 128, 784)]


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import thread_sweep_main


def worker(threads: int, repeats: int) -> dict:
    import dl_kernels
    import numpy as np
    from dl_kernels import _C

    sys.path.insert(0, os.path.dirname(__file__))
    from benchlib import interleaved_medians

    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        torch = None
    dl_kernels.set_num_threads(threads)
    peak = _C.fma_peak_gflops(threads, 1.0)
    rng = np.random.default_rng(0)
    rows = []
    for M, K, N in [(n, n, n) for n in SQUARE] + TRAINING:
        a = rng.standard_normal((M, K)).astype(np.float32)
        b = rng.standard_normal((K, N)).astype(np.float32)
        c = np.empty((M, N), np.float32)
        fns = {"ours": lambda a=a, b=b, c=c: _C.gemm(a, b, c),
               "numpy": lambda a=a, b=b, c=c: np.matmul(a, b, out=c)}
        if torch is not None:
            ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
            fns["torch"] = lambda ta=ta, tb=tb, tc=tc: torch.matmul(ta, tb, out=tc)
        reps = repeats if M * N * K < 2**30 else max(repeats, 10)
        med = interleaved_medians(fns, repeats=reps)
        gf = {k: 2.0 * M * N * K / t / 1e9 for k, t in med.items()}
        rows.append({"shape": f"{M}x{K}x{N}", "gflops": gf})
    return {"threads": threads, "peak": peak, "rows": rows}


def ratio(r: dict, torch_gf: float | None) -> str:
    return f"{r['ours'] / torch_gf:.2f}×" if torch_gf else "n/a"


def table(results: list[dict]) -> str:
    by_t = {r["threads"]: r for r in results}
    has_torch = "torch" in results[0]["rows"][0]["gflops"]
    lines = [
        ("| case (M×K×N) | threads | ours GFLOP/s | numpy (OpenBLAS) | torch (MKL) | ours/numpy "
         "| ours/torch | % of FMA ceiling | 2-thread speed-up |"),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, row in enumerate(results[0]["rows"]):
        for t in sorted(by_t):
            r = by_t[t]["rows"][i]["gflops"]
            torch_gf = r.get("torch")
            speedup = ""
            if t == 2 and 1 in by_t:
                speedup = f"{r['ours'] / by_t[1]['rows'][i]['gflops']['ours']:.2f}×"
            lines.append(
                f"| {row['shape']} | {t} | {r['ours']:.1f} | {r['numpy']:.1f} | "
                f"{f'{torch_gf:.1f}' if has_torch else 'n/a'} | {r['ours'] / r['numpy']:.2f}× | "
                f"{ratio(r, torch_gf)} | "
                f"{100 * r['ours'] / by_t[t]['peak']:.0f} % | {speedup} |")
    peaks = ", ".join(f"{t} thread{'s' if t > 1 else ''}: {by_t[t]['peak']:.0f} GFLOP/s"
                      for t in sorted(by_t))
    return "\n".join(lines) + f"\n\nMeasured fp32 FMA-loop ceiling: {peaks}.\n"


def main() -> None:
    thread_sweep_main(__file__, __doc__, "gemm", "CPU GEMM (float32)", worker, table)


if __name__ == "__main__":
    main()
