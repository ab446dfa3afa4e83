"""Shared by the benchmark scripts: interleaved timing, machine facts, RESULTS.md sections."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

Fn = Callable[[], object]


@dataclass
class Case:
    """One benchmark case of bench_cpu_kernels.py: ours and the peer, built lazily."""

    name: str
    unit: str  # "GFLOP/s" (work in flops) or "GB/s" (work in bytes)
    work: float
    make: Callable[[], tuple[Fn, Fn | None]]  # -> (ours, torch or None)


def optional_torch():
    """The torch module where the optional peer is installed, else None."""
    try:
        import torch

        return torch
    except ImportError:
        return None

RESULTS = Path(__file__).with_name("RESULTS.md")


def interleaved_medians(fns: dict[str, Callable[[], object]], repeats: int = 11,
                        warmup: int = 2) -> dict[str, float]:
    """Median seconds of each callable, timed round-robin so that drifts in machine load hit
    every contender alike (these machines vary by 20-30 % run to run)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: sorted(ts)[len(ts) // 2] for name, ts in times.items()}


def run_worker(script: str, threads: int, args: list[str]) -> dict:
    """Run `script --worker THREADS ARGS...` in a fresh process whose thread pools (ours,
    OpenBLAS, MKL) are all set to `threads` (they are fixed at import), and return the JSON
    object it prints last."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, script, "--worker", str(threads), *args], env=env,
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{os.path.basename(script)} worker ({threads} threads) failed:\n"
                         f"{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def thread_sweep_main(script: str, doc: str, section: str, title: str,
                      worker: Callable[..., dict], table: Callable[[list[dict]], str],
                      separate: tuple[str, ...] = ()) -> None:
    """The command line shared by benchmarks that sweep thread counts: `--worker N` runs
    worker(N, repeats) and prints its JSON; otherwise one worker process per --threads value,
    the table printed, and with --write put into RESULTS.md under `section`.

    `separate` names the contenders (e.g. "ours", "torch") that each get worker processes of
    their own (worker(N, repeats, only=name)), --rounds rounds in ABBA order (ours, torch,
    torch, ours, ...), each row's value under a name the median of its rounds' medians: one
    library's idle threads spinning in a shared process (PyTorch's OpenMP team after its step)
    take the other's core. On these 2-vCPU machines that made our 2-thread MLP step 10.3 ms
    timed beside PyTorch and 6.2 ms alone. The rounds are there because a shared machine's
    speed drifts by 20-30 % over minutes: the ABBA order cancels a steady drift and the median
    drops a round that a neighbour's burst slowed."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--contend", action="store_true",
                        help="also run every thread count beside one competing CPU-bound process "
                             "(started and stopped here), as on a shared machine")
    parser.add_argument("--rounds", type=int, default=4,
                        help="worker processes per contender and thread count (separate mode)")
    parser.add_argument("--write", action="store_true", help="write the table into RESULTS.md")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kwargs = {"only": args.only} if args.only else {}
        print(json.dumps(worker(args.worker, args.repeats, **kwargs)))
        return
    results = []
    for contended in (False, True) if args.contend else (False,):
        for t in args.threads:
            with busy_process(contended):
                if separate:
                    res = _separate_workers(script, t, args.repeats, separate, args.rounds)
                else:
                    res = run_worker(script, t, ["--repeats", str(args.repeats)])
            res["contended"] = contended
            results.append(res)
    text = table(results)
    print(text)
    if args.write:
        command = (f"python bench/{os.path.basename(script)} "
                   f"{'--contend ' if args.contend else ''}--write")
        write_section(f"{section} on {cpu_key()}",
                      f"## {title}: {cpu_name()}\n\n" + header(command) + "\n" + text)


def _separate_workers(script: str, threads: int, repeats: int, names: tuple[str, ...],
                      rounds: int = 4) -> dict:
    """Workers of one contender each, `rounds` rounds in ABBA order; the first worker's result
    with every row's value under each name the median over that name's runs."""
    runs: dict[str, list[dict]] = {n: [] for n in names}
    for r in range(rounds):
        for n in names if r % 2 == 0 else names[::-1]:
            runs[n].append(run_worker(script, threads, ["--repeats", str(repeats), "--only", n]))
    res = runs[names[0]][0]
    for n in names:
        for i, row in enumerate(res["rows"]):
            vals = [r["rows"][i][n] for r in runs[n]]
            row[n] = None if None in vals else statistics.median(vals)  # None: library absent
    res["separate"] = True
    return res


@contextlib.contextmanager
def busy_process(on: bool = True):
    """A competing CPU-bound process (a Python busy loop) for the duration of the block."""
    if not on:
        yield None
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # let the scheduler see it running
        yield proc
    finally:
        proc.kill()
        proc.wait()


def threads_label(res: dict) -> str:
    """'2' for an idle machine, '2 + busy' beside one competing process (--contend)."""
    return f"{res['threads']}{' + busy' if res.get('contended') else ''}"


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty where there is none)."""
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if not line.strip():
                break
            key, _, value = line.partition(":")
            info[key.strip()] = value.strip()
    except OSError:
        pass
    return info


# (vendor, family, first model, last model) -> micro-architecture; the CPUs these benchmarks ran on
_UARCH = [("AuthenticAMD", 25, 0x00, 0x0F, "Zen 3"), ("AuthenticAMD", 25, 0x20, 0x5F, "Zen 3"),
          ("AuthenticAMD", 25, 0x10, 0x1F, "Zen 4"), ("AuthenticAMD", 25, 0x60, 0xAF, "Zen 4"),
          ("AuthenticAMD", 26, 0x00, 0xFF, "Zen 5"), ("GenuineIntel", 6, 0x8F, 0x8F, "Sapphire Rapids"),
          ("GenuineIntel", 6, 0xCF, 0xCF, "Emerald Rapids"), ("GenuineIntel", 6, 0x6A, 0x6C, "Ice Lake")]


def cpu_name() -> str:
    """Model name, micro-architecture and widest vector ISA: the CPUs differ between sessions
    while the model name alone ("AMD EPYC") does not tell them apart."""
    info = _cpuinfo()
    name = info.get("model name") or platform.processor() or platform.machine()
    try:
        fam, model = int(info.get("cpu family", "-1")), int(info.get("model", "-1"))
    except ValueError:
        fam = model = -1
    uarch = next((u for v, f, lo, hi, u in _UARCH
                  if v == info.get("vendor_id") and f == fam and lo <= model <= hi), None)
    flags = set(info.get("flags", "").split())
    isa = "AVX-512" if "avx512f" in flags else "AVX2, no AVX-512" if "avx2" in flags else "no AVX2"
    if "amx_tile" in flags:
        isa += ", AMX"
    arch = f"{uarch}, " if uarch else f"family {fam} model {model}, " if fam >= 0 else ""
    return f"{name} ({arch}{isa})"


def cpu_key() -> str:
    """A short name for this CPU, for one RESULTS.md section per CPU seen."""
    return re.sub(r"[^a-z0-9]+", "-", cpu_name().lower()).strip("-")


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=Path(__file__).parent, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def header(command: str) -> str:
    """The lines above a results table: machine, date, commit, command, and the load average
    now (the end of the run: other processes change 2-thread numbers most)."""
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"Machine: {cpu_name()}, {os.cpu_count()} vCPUs, {platform.system()} "
            f"{platform.release()}; date {datetime.date.today()}; commit {git_commit()}.\n"
            f"Command: `{command}`\n"
            f"Load average (1/5/15 min) when the run ended: {load}.\n")


def write_section(name: str, markdown: str) -> None:
    """Replace (or append) the section of RESULTS.md between this name's markers."""
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    block = f"{begin}\n{markdown.rstrip()}\n{end}"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.DOTALL)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)
