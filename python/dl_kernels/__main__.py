"""Command line: `python -m dl_kernels [selfcheck]`.

selfcheck (the default) prints the build configuration and checks the CPU GEMM against numpy,
printing the measured GFLOP/s of both.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import dl_kernels
from dl_kernels import _C


def best_seconds(fn, repeats: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def selfcheck(n: int) -> int:
    dl_kernels.show_config()
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    ours = _C.gemm(a, b)
    ref = a.astype(np.float64) @ b
    rel = float(np.abs(ours - ref).max() / np.abs(ref).max())
    flops = 2.0 * n**3
    t_ours = best_seconds(lambda: _C.gemm(a, b))
    t_numpy = best_seconds(lambda: a @ b)
    print(f"\nGEMM self-check, float32, n = {n}, {dl_kernels.get_num_threads()} threads")
    print(f"  max relative error vs float64 numpy: {rel:.2e}")
    print(f"  dl_kernels: {flops / t_ours / 1e9:7.1f} GFLOP/s")
    print(f"  numpy:      {flops / t_numpy / 1e9:7.1f} GFLOP/s")
    ok = rel < 1e-5
    print("  result:", "OK" if ok else "WRONG")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dl_kernels", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    check = sub.add_parser("selfcheck", help="print the build and check the GEMM against numpy")
    check.add_argument("--n", type=int, default=1024, help="matrix size (default 1024)")
    args = parser.parse_args(argv)
    if args.command in (None, "selfcheck"):
        return selfcheck(getattr(args, "n", 1024))
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
