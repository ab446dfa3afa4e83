"""CPU kernel families against PyTorch CPU, measured back to back in the same run.

The cases live in modules beside this script, one per group of kernel families, each exposing
SECTION (its RESULTS.md section name), TITLE and CASES: objects with `name`, `unit`
("GFLOP/s" with `work` in flops, or "GB/s" with `work` in bytes) and `make()` returning
(ours, torch_or_None) callables. Modules found: see CASE_MODULES (missing ones are skipped).

Each thread count runs in its own processes (thread pools are fixed at import by some
libraries), and each library in processes of its own: --rounds rounds in ABBA order (ours,
torch, torch, ours, ...), every case timed with 2 warm-ups then the median of --repeats, and
the median over the rounds reported. In a shared process PyTorch's OpenMP team keeps spinning
after its call and takes a core from ours (RESULTS.md, tenth session); --together times both
round-robin in one process instead. Ceilings, measured in the first worker's process: the FMA
loop (dl_kernels._C.fma_peak_gflops) for GFLOP/s cases, the STREAM triad
(dl_kernels._C.triad_bandwidth_gbps; a numpy copy of 64 MiB where that is missing) for GB/s.

    python bench/bench_cpu_kernels.py [--repeats 11] [--threads 1 2] [--only conv] [--rounds 2]
                                      [--together] [--write]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CASE_MODULES = ["cases_conv_pool", "cases_xent_rnn"]


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import run_worker


def load_modules() -> list:
    sys.path.insert(0, HERE)
    mods = []
    for name in CASE_MODULES:
        try:
            mods.append(importlib.import_module(name))
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
    return mods


def copy_bandwidth(threads: int, seconds: float = 0.5) -> float:
    """GB/s of a numpy copy of 64 MiB (bytes read + written), split over `threads` threads."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    src = np.ones(16 << 20, np.float32)
    dst = np.empty_like(src)
    parts = np.array_split(np.arange(src.size), threads)
    bounds = [(int(p[0]), int(p[-1]) + 1) for p in parts]

    def one(b: tuple[int, int]) -> None:
        np.copyto(dst[b[0] : b[1]], src[b[0] : b[1]])

    best = 0.0
    with ThreadPoolExecutor(threads) as pool:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            start = time.perf_counter()
            list(pool.map(one, bounds))
            best = max(best, 2 * src.nbytes / (time.perf_counter() - start) / 1e9)
    return best


def worker(threads: int, repeats: int, only: str | None, library: str | None = None) -> dict:
    """Every case's median seconds per library ("ours", "torch"; ``library``: that one only)."""
    import dl_kernels
    from dl_kernels import _C

    sys.path.insert(0, HERE)
    from benchlib import interleaved_medians

    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass
    dl_kernels.set_num_threads(threads)
    triad = getattr(_C, "triad_bandwidth_gbps", None)
    bandwidth = triad(threads, 0.5) if triad else copy_bandwidth(threads)
    ceilings = {"GFLOP/s": _C.fma_peak_gflops(threads, 0.5), "GB/s": bandwidth}
    sections = []
    for mod in load_modules():
        rows = []
        for case in mod.CASES:
            if only and only not in case.name:
                continue
            ours, theirs = case.make()
            fns = {"ours": ours} if theirs is None else {"ours": ours, "torch": theirs}
            if library:
                fns = {k: f for k, f in fns.items() if k == library}
            med = interleaved_medians(fns, repeats=repeats) if fns else {}
            rows.append({"name": case.name, "unit": case.unit, "work": case.work, "s": med})
        if rows:
            sections.append({"section": mod.SECTION, "title": mod.TITLE, "rows": rows})
    return {"threads": threads, "ceilings": ceilings, "sections": sections}


def separate_rounds(threads: int, extra: list[str], rounds: int) -> dict:
    """One worker process per library and round, ABBA order; every case's seconds per library
    the median over its rounds (PyTorch's entry absent where torch is not installed)."""
    import statistics

    runs: dict[str, list[dict]] = {"ours": [], "torch": []}
    for r in range(rounds):
        for lib in ("ours", "torch") if r % 2 == 0 else ("torch", "ours"):
            runs[lib].append(run_worker(__file__, threads, [*extra, "--library", lib]))
    res = runs["ours"][0]
    for si, sec in enumerate(res["sections"]):
        for ri, row in enumerate(sec["rows"]):
            for lib, results in runs.items():
                vals = [x["sections"][si]["rows"][ri]["s"].get(lib) for x in results]
                if None not in vals:
                    row["s"][lib] = statistics.median(vals)
    return res


def tables(results: list[dict]) -> dict[str, tuple[str, str]]:
    """section -> (title, markdown table with every thread count's rows)."""
    out: dict[str, tuple[str, str]] = {}
    for sec_i, sec in enumerate(results[0]["sections"]):
        lines = [
            "| case | threads | ours (ms) | PyTorch (ms) | speed-up | ours | % of ceiling |",
            "|---|---|---|---|---|---|---|",
        ]
        for row_i, row in enumerate(sec["rows"]):
            for res in results:
                r = res["sections"][sec_i]["rows"][row_i]
                ours, torch_s = r["s"]["ours"], r["s"].get("torch")
                rate = r["work"] / ours / 1e9
                ceiling = res["ceilings"][r["unit"]]
                peer = f"{torch_s * 1e3:.2f}" if torch_s else "n/a"
                speedup = f"{torch_s / ours:.2f}×" if torch_s else "n/a"
                lines.append(
                    f"| {r['name']} | {res['threads']} | {ours * 1e3:.2f} | {peer} | {speedup} "
                    f"| {rate:.1f} {r['unit']} | {100 * rate / ceiling:.0f} % |"
                )
        ceil = "; ".join(
            f"{res['threads']} thread(s): FMA loop {res['ceilings']['GFLOP/s']:.0f} GFLOP/s, "
            f"memory {res['ceilings']['GB/s']:.1f} GB/s"
            for res in results
        )
        text = "\n".join(lines) + f"\n\nCeilings measured in the same run: {ceil}.\n"
        out[sec["section"]] = (sec["title"], text)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--only", help="run only the cases whose name contains this text")
    parser.add_argument("--rounds", type=int, default=2,
                        help="worker processes per library and thread count, ABBA order")
    parser.add_argument("--together", action="store_true",
                        help="time ours and PyTorch round-robin in one process")
    parser.add_argument("--write", action="store_true", help="write the tables into RESULTS.md")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--library", choices=("ours", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.repeats, args.only, args.library)))
        return
    extra = ["--repeats", str(args.repeats)] + (["--only", args.only] if args.only else [])
    if args.together:
        results = [run_worker(__file__, t, extra) for t in args.threads]
    else:
        results = [separate_rounds(t, extra, args.rounds) for t in args.threads]
    sys.path.insert(0, HERE)
    from benchlib import header, write_section

    command = ("python bench/bench_cpu_kernels.py" + (" --together" if args.together else "")
               + (" --write" if args.write else ""))
    for section, (title, text) in tables(results).items():
        lines = header(command)  # machine, commit and the load average now, as RESULTS.md shows
        print(f"## {title}\n\n{text}\n{lines}")
        if args.write:
            write_section(section, f"## {title}\n\n" + lines + "\n" + text)


if __name__ == "__main__":
    main()
