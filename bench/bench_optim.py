"""One optimiser step (float32): our fused update against our per-parameter path and PyTorch's
for-loop, foreach and fused implementations, on two parameter sets.

- MLP 784-1024-10 (dl_kernels.models.MLP: 814,090 parameters in 4 tensors);
- char-LSTM (dl_kernels.models.CharRNN: Embedding 84x64 -> LSTM 256 -> Linear 256x84, the
  bench_train.py model with its random-character vocabulary: 355,668 parameters in 6 tensors).

Each is stepped with SGD (momentum 0.9) and with Adam (lr 1e-3). A step is ``opt.step()`` only:
the gradients are fixed random arrays set once, the state is warm (after the warm-up steps).
Every contender owns its copy of the parameters and starts from the same values; the five are
timed round-robin (benchlib.interleaved_medians), median of --repeats. After timing, our fused
and per-parameter copies must be bitwise equal (they took the same steps) and within float32
rounding of PyTorch's for-loop copy: the "same" column. The load average (1 min) is read
before and after each thread count's run.

The fused update (csrc/cpu/optim_update.cpp) reads and writes each element once; the
per-parameter path runs 4 (SGD) to 12 (Adam) whole-array numpy passes per parameter.

    python bench/bench_optim.py [--repeats 11] [--threads 1 2] [--write]
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import interleaved_medians, thread_sweep_main

OPTIMISERS = {"SGD": {"lr": 0.01, "momentum": 0.9}, "Adam": {"lr": 1e-3}}
OURS = {"ours fused": {"fused": True}, "ours per-param": {"fused": False}}
THEIRS = {"torch for-loop": {"foreach": False}, "torch foreach": {"foreach": True},
          "torch fused": {"fused": True}}


def _parameter_sets() -> dict[str, list]:
    from dl_kernels.models import MLP, CharRNN

    mlp = MLP((1, 28, 28), 10, hidden=(1024,), dropout=0.0)
    lstm = CharRNN(84, embed=64, hidden=256, cell="lstm")
    return {name: [p.detach().numpy().copy() for p in m.parameters()]
            for name, m in (("MLP 784-1024-10", mlp), ("char-LSTM E64 H256", lstm))}


def worker(threads: int, repeats: int) -> dict:
    import dl_kernels as dlk
    import numpy as np
    import torch
    from dl_kernels import nn, optim

    dlk.set_num_threads(threads)
    torch.set_num_threads(threads)
    dlk.manual_seed(0)
    load = [os.getloadavg()[0]]
    rows = []
    for pname, arrays in _parameter_sets().items():
        rng = np.random.default_rng(0)
        grads = [(1e-2 * rng.standard_normal(a.shape)).astype(np.float32) for a in arrays]
        for oname, kw in OPTIMISERS.items():
            fns, params = {}, {}
            for label, flags in OURS.items():
                ps = [nn.Parameter(dlk.tensor(a.copy())) for a in arrays]
                for p, g in zip(ps, grads):
                    p.grad = dlk.tensor(g.copy())
                fns[label] = getattr(optim, oname)(ps, **kw, **flags).step
                params[label] = ps
            for label, flags in THEIRS.items():
                tps = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in arrays]
                for p, g in zip(tps, grads):
                    p.grad = torch.from_numpy(g.copy())
                fns[label] = getattr(torch.optim, oname)(tps, **kw, **flags).step
                params[label] = tps
            med = interleaved_medians(fns, repeats=repeats)
            fused = [p.detach().numpy() for p in params["ours fused"]]
            loop = [p.detach().numpy() for p in params["ours per-param"]]
            ref = [p.detach().numpy() for p in params["torch for-loop"]]
            same = all(np.array_equal(a, b) for a, b in zip(fused, loop)) and all(
                np.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(fused, ref))
            rows.append({"params": pname, "numel": int(sum(a.size for a in arrays)),
                         "tensors": len(arrays), "optimiser": oname, "times": med,
                         "same": bool(same)})
    load.append(os.getloadavg()[0])
    return {"threads": threads, "rows": rows, "load": load}


def table(results: list[dict]) -> str:
    names = list(OURS) + list(THEIRS)
    lines = ["| threads | parameters | optimiser | " + " | ".join(f"{n} (ms)" for n in names)
             + " | fused vs per-param | fused vs best torch | same | load |",
             "|---|---|---|" + "---|" * len(names) + "---|---|---|---|"]
    for res in results:
        lo, hi = res["load"]
        for r in res["rows"]:
            t = r["times"]
            best_torch = min(t[n] for n in THEIRS)
            lines.append(
                f"| {res['threads']} | {r['params']} ({r['numel']:,} in {r['tensors']}) | "
                f"{r['optimiser']} | " + " | ".join(f"{1e3 * t[n]:.3f}" for n in names)
                + f" | {t['ours per-param'] / t['ours fused']:.1f}x"
                + f" | {best_torch / t['ours fused']:.2f}x | {'yes' if r['same'] else 'NO'}"
                + f" | {lo:.1f}-{hi:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    thread_sweep_main(__file__, __doc__, "optim", "Optimiser step: fused vs per-parameter vs "
                      "PyTorch (float32)", worker, table)


if __name__ == "__main__":
    main()
