"""Word-LSTM training speed: the importance-sampled softmax against the full softmax (ours), and
PyTorch's full-softmax step on the same model as the peer, timed round-robin in one process.

    python bench/bench_word_lm.py [--vocab 10000] [--embed 64] [--hidden 128] [--samples 256]

Prints words/s (tokens per second of forward + backward + Adam) per case, medians of repeats.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess

import dl_kernels as dlk
import numpy as np
from benchlib import interleaved_medians, optional_torch
from dl_kernels import optim
from dl_kernels.models.word_lm import UnigramSampler, WordLSTM


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vocab", type=int, default=10000)
    p.add_argument("--embed", type=int, default=64)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=35)
    p.add_argument("--samples", type=int, nargs="+", default=[256, 1024])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args()
    dlk.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    v, n, t = args.vocab, args.batch, args.seq_len
    counts = np.sort(rng.zipf(1.3, v))[::-1].astype(np.int64)  # Zipfian word counts
    x = rng.integers(0, v, (n, t))
    y = rng.integers(0, v, (n, t))
    dlk.manual_seed(0)
    model = WordLSTM(v, args.embed, args.hidden)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    sampler = UnigramSampler(counts)

    def ours(k: int):
        def step() -> None:
            loss, _ = model.loss(x, y, None, sampler if k else None, k, rng)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return step

    fns = {"ours, full softmax": ours(0)}
    fns.update({f"ours, sampled softmax K={k}": ours(k) for k in args.samples})
    torch = optional_torch()
    if torch is not None:
        torch.set_num_threads(args.threads)
        torch.manual_seed(0)
        emb = torch.nn.Embedding(v, args.embed)
        lstm = torch.nn.LSTM(args.embed, args.hidden, batch_first=True)
        dec = torch.nn.Linear(args.hidden, v)
        params = [*emb.parameters(), *lstm.parameters(), *dec.parameters()]
        topt = torch.optim.Adam(params, lr=1e-3)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y.reshape(-1))

        def peer() -> None:
            h, _ = lstm(emb(tx))
            loss = torch.nn.functional.cross_entropy(dec(h.reshape(-1, args.hidden)), ty)
            topt.zero_grad()
            loss.backward()
            topt.step()
        fns["torch, full softmax"] = peer
    med = interleaved_medians(fns, repeats=args.repeats, warmup=1)
    cpu = subprocess.run(["lscpu"], check=False, capture_output=True, text=True).stdout
    model_name = next((ln.split(":", 1)[1].strip() for ln in cpu.splitlines()
                       if ln.startswith("Model name")), platform.processor())
    print(f"{model_name}; load average {os.getloadavg()[0]:.1f}; threads {args.threads}; "
          f"V={v} E={args.embed} H={args.hidden} N={n} T={t}; median of {args.repeats}")
    full = med["ours, full softmax"]
    for name, s in med.items():
        print(f"| {name} | {n * t / s:,.0f} words/s | {full / s:.2f}x ours-full |")


if __name__ == "__main__":
    main()
