"""Data-parallel training on MPI: samples/s for 1 and 2 ranks x 1 thread, scaling efficiency,
communication time per step, and a ring all-reduce model of the step time at 8, 64, 512 ranks.

Cases (the models of bench_train.py): MLP 784-1024-10, batch 128 per rank, SGD + momentum;
char-LSTM E64 H256, T 64, batch 32 rows per rank, Adam + clipping at 5. Each configuration is
an ``mpirun -np W`` job of this script in worker mode, every rank at 1 kernel thread:

- 1 rank: the plain model, no DistributedDataParallel (the baseline has no overhead);
- 2 ranks, weak scaling: the same batch per rank (the global batch doubles; how Horovod and
  PyTorch report scaling) through DistributedDataParallel (1 MiB buckets);
- 2 ranks, strong scaling: the 1-rank batch split in two.

Samples/s = global batch / the slowest rank's median step time (steps timed in groups between
barriers, median of --repeats groups). Configurations run round-robin for --rounds rounds and
the median round is kept, so machine-load drift hits all alike. Communication per step: the
time DDP blocks waiting for its all-reduces after backward (what overlap did not hide), and
for reference a blocking all-reduce of the whole gradient alone.

    flock /work/.bench.lock nice -n 10 python bench/bench_distributed.py [--write]
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

BUCKET_MB = 1.0
LINKS = {  # name: (latency per message s, bandwidth bytes/s), typical published figures
    "10 GbE (TCP)": (25e-6, 1.1e9),
    "100 Gb/s InfiniBand EDR": (2e-6, 11e9),
}
RANKS = (2, 8, 64, 512)
CASES = {"mlp": "MLP 784-1024-10, 128/rank, SGD+momentum",
         "char-lstm": "char-LSTM E64 H256 T64, 32 rows/rank, Adam+clip"}


# ---- worker: one rank of an mpirun job ---------------------------------------------------
def _build(case: str, batch: int):
    import dl_kernels as dlk
    from bench_train import _images, _text
    from dl_kernels import nn, optim
    from dl_kernels.models import MLP, CharRNN

    dlk.manual_seed(0)
    if case == "char-lstm":
        xs, ys, vocab, data = _text(batch, 64)
        model = CharRNN(vocab, embed=64, hidden=256, cell="lstm")
        opt = optim.Adam(model.parameters(), lr=1e-3)
    else:
        xs, ys, data = _images(batch)
        model = MLP((1, 28, 28), 10, hidden=(1024,), dropout=0.0)
        opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return model, opt, dlk.tensor(xs), dlk.tensor(ys), nn.CrossEntropyLoss(), data


def worker(case: str, batch: int, repeats: int, steps: int, ddp_on: bool) -> dict | None:
    import dl_kernels as dlk
    import numpy as np
    from dl_kernels import distributed as dist
    from dl_kernels import nn, optim

    rank, world = dist.init()
    dlk.set_num_threads(1)
    model, opt, x, y, loss_fn, data = _build(case, batch)
    net = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=BUCKET_MB) if ddp_on \
        else model
    lstm = case == "char-lstm"
    split = {"fwd": 0.0, "bwd": 0.0, "opt": 0.0}

    def step() -> None:
        t0 = time.perf_counter()
        opt.zero_grad()
        out = net(x)[0] if lstm else net(x)
        loss = loss_fn(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        t1 = time.perf_counter()
        loss.backward()
        if ddp_on:
            net.synchronize()
        t2 = time.perf_counter()
        if lstm:
            optim.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        t3 = time.perf_counter()
        split["fwd"] += t1 - t0
        split["bwd"] += t2 - t1
        split["opt"] += t3 - t2

    for _ in range(3):
        step()
    if ddp_on:
        net.comm_stats(reset=True)
    for k in split:
        split[k] = 0.0
    times, cpu = [], []
    for _ in range(repeats):
        dist.barrier()
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            step()
        times.append((time.perf_counter() - t0) / steps)
        cpu.append((time.process_time() - c0) / steps)
    med = np.array([sorted(times)[len(times) // 2], sorted(cpu)[len(cpu) // 2]])
    dist.all_reduce(med, "max")  # the slowest rank sets the pace
    n_steps = repeats * steps
    grad_bytes = sum(p.numel() * 4 for p in model.parameters())
    out = {"case": case, "data": data, "world": world, "batch_per_rank": batch,
           "step_s": float(med[0]), "cpu_s": float(med[1]), "split": {k: v / n_steps for k, v in split.items()},
           "grad_bytes": grad_bytes, "ddp": ddp_on}
    if ddp_on:
        stats = net.comm_stats()
        out["wait_s"] = stats["wait_s"] / max(stats["steps"], 1)
        out["hook_s"] = stats["hook_s"] / max(stats["steps"], 1)
        out["buckets"] = stats["buckets"]
        flat = np.zeros(grad_bytes // 4, dtype=np.float32)
        ar = []
        for _ in range(max(5, repeats)):
            dist.barrier()
            t0 = time.perf_counter()
            dist.all_reduce(flat)
            ar.append(time.perf_counter() - t0)
        out["allreduce_s"] = sorted(ar)[len(ar) // 2]
    return out if rank == 0 else None


# ---- orchestration ------------------------------------------------------------------------
def _mpirun(world: int, args: list[str]) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    cmd = ["mpirun", "-np", str(world), "--bind-to", "none", sys.executable,
           os.path.abspath(__file__), "--worker", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"worker failed: {' '.join(cmd)}\n{proc.stdout[-2000:]}"
                         f"{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def measure(repeats: int, steps: int, rounds: int) -> dict:
    configs = []
    for case, batch in (("mlp", 128), ("char-lstm", 32)):
        configs += [(case, "1 rank", 1, batch, False),
                    (case, "2 ranks, weak", 2, batch, True),
                    (case, "2 ranks, strong", 2, batch // 2, True)]
    runs: dict[tuple, list[dict]] = {c: [] for c in configs}
    loads = [_load()]
    for _ in range(rounds):
        for c in configs:
            case, _, world, batch, ddp_on = c
            runs[c].append(_mpirun(world, [case, str(batch), str(repeats), str(steps),
                                           "1" if ddp_on else "0"]))
        loads.append(_load())
    best = {}
    for c, rs in runs.items():
        rs = sorted(rs, key=lambda r: r["step_s"])
        best[c] = rs[len(rs) // 2]
    return {"configs": configs, "results": best, "loads": loads,
            "all_steps": {" / ".join(map(str, c[:2])): [r["step_s"] for r in rs]
                          for c, rs in runs.items()}}


def ring_allreduce_s(n_bytes: float, p: int, alpha: float, bw: float, buckets: int) -> float:
    """Ring all-reduce (reduce-scatter then all-gather; Patarasuk & Yuan 2009): 2(p-1) steps
    per bucket, each paying the latency, and 2(p-1)/p of the bytes through each link."""
    if p == 1:
        return 0.0
    return buckets * 2 * (p - 1) * alpha + 2 * (p - 1) / p * n_bytes / bw


def report(m: dict) -> str:
    res = m["results"]
    head = ("| case | configuration | global batch | ms/step | samples/s | vs 1 rank "
            "| efficiency | CPU ms/step per rank | CPU-time efficiency "
            "| DDP blocked waiting ms/step | DDP pack + start ms/step | all-reduce alone ms |")
    lines = [head, "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    base, base_cpu = {}, {}
    for c in m["configs"]:
        case, label, world, batch, ddp_on = c
        r = res[c]
        sps = world * batch / r["step_s"]
        cpu_sps = batch / r["cpu_s"]  # per rank, were it alone on its core
        if world == 1:
            base[case], base_cpu[case] = sps, cpu_sps
        ratio = sps / base[case]
        eff = ratio / world
        cpu_eff = cpu_sps / base_cpu[case]
        comm = (f"{1e3 * r['wait_s']:.2f} | {1e3 * (r['hook_s'] - r['wait_s']):.2f} | "
                f"{1e3 * r['allreduce_s']:.2f}") if ddp_on else "– | – | –"
        lines.append(f"| {CASES[case].split(',')[0]} | {label} | {world * batch} | "
                     f"{1e3 * r['step_s']:.1f} | {sps:.0f} | {ratio:.2f}× | {100 * eff:.0f} % | "
                     f"{1e3 * r['cpu_s']:.1f} | {100 * cpu_eff:.0f} % | {comm} |")
    text = "\n".join(lines) + "\n"
    text += ("\nCPU-time efficiency = samples per CPU-second of one rank / of the 1-rank run "
             "(the slowest rank's process time, which counts our polling but not time spent "
             "descheduled): what the wall-clock efficiency would be with a core per rank. "
             "Strong scaling halves the batch per rank, so its CPU-time efficiency also "
             "measures the smaller GEMMs.\n")
    text += ("\nLoad average (1, 5, 15 min) before and after each round: "
             + "; ".join(m["loads"]) + ". Step times of every round (s): "
             + "; ".join(f"{k}: {', '.join(f'{v:.4f}' for v in vs)}"
                         for k, vs in m["all_steps"].items()) + ".\n")
    # the model
    text += ("\n### Step time at scale: a ring all-reduce model\n\n"
             "Weak scaling from the measured 1-rank step (forward f, backward b, optimizer o, "
             "their wall times scaled by the run's CPU/wall ratio, i.e. as on a core of its "
             "own) and the gradient size n in buckets of "
             f"{BUCKET_MB:g} MiB: T_ar(p) = B·2(p−1)·α + 2(p−1)/p·n/β. Without overlap the "
             "step is f+b+o+T_ar; with DDP's overlap the all-reduce hides behind backward, "
             "so the step is at best f + max(b, T_ar) + o. Efficiency = 1-rank step / "
             "p-rank step.\n\n"
             "| case | link (α, β) | n | p | T_ar ms | step ms (no overlap / overlap) "
             "| efficiency (no overlap / overlap) |\n|---|---|---|---|---|---|---|\n")
    for case in CASES:
        r = res[(case, "1 rank", 1, 128 if case == "mlp" else 32, False)]
        own_core = min(1.0, r.get("cpu_s", r["step_s"]) / r["step_s"])
        f, b, o = (r["split"][k] * own_core for k in ("fwd", "bwd", "opt"))
        text += model_rows(case, f, b, o, r["grad_bytes"])
    return text


def model_rows(case: str, f: float, b: float, o: float, n: int) -> str:
    """The model's table rows for one case: 1-rank forward, backward, optimizer seconds and
    the gradient bytes n."""
    text = ""
    t1 = f + b + o
    buckets = math.ceil(n / (BUCKET_MB * 2**20))
    for link, (alpha, bw) in LINKS.items():
        for p in RANKS:
            t_ar = ring_allreduce_s(n, p, alpha, bw, buckets)
            plain, hidden = t1 + t_ar, f + max(b, t_ar) + o
            text += (f"| {case} | {link} ({alpha * 1e6:g} µs, {bw / 1e9:g} GB/s) | "
                     f"{n / 2**20:.2f} MiB, {buckets} buckets | {p} | {1e3 * t_ar:.2f} | "
                     f"{1e3 * plain:.1f} / {1e3 * hidden:.1f} | "
                     f"{100 * t1 / plain:.0f} % / {100 * t1 / hidden:.0f} % |\n")
    return text + (f"| {case} | 1-rank split used | | 1 | | f {1e3 * f:.1f}, b {1e3 * b:.1f}, "
                   f"o {1e3 * o:.1f} | |\n")


def main() -> None:
    import argparse

    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        case, batch, repeats, steps, ddp_on = sys.argv[2:7]
        out = worker(case, int(batch), int(repeats), int(steps), ddp_on == "1")
        if out is not None:
            print(json.dumps(out), flush=True)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed groups per run")
    parser.add_argument("--steps", type=int, default=4, help="steps per timed group")
    parser.add_argument("--rounds", type=int, default=3, help="round-robin rounds")
    parser.add_argument("--write", action="store_true", help="write the table into RESULTS.md")
    args = parser.parse_args()
    if shutil.which("mpirun") is None:
        raise SystemExit("needs Open MPI: apt-get install openmpi-bin libopenmpi-dev && "
                         "pip install mpi4py")
    m = measure(args.repeats, args.steps, args.rounds)
    text = report(m)
    print(text)
    if args.write:
        from benchlib import header, write_section

        command = "flock /work/.bench.lock nice -n 10 python bench/bench_distributed.py --write"
        write_section("distributed", "## Data parallel on MPI (1 thread per rank)\n\n"
                      + header(command) + "\n" + text)


if __name__ == "__main__":
    main()
