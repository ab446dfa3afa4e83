"""Attentional encoder-decoder (the g2p model): one training step and beam decoding, ours
against the same model in PyTorch with the same weights, back to back, 1 and 2 threads.

The model is `train g2p`'s default: Embedding(30, 64) -> bidirectional 2-layer LSTM (128 per
direction) over the packed source -> LSTMCell(64 + 256, 256) with input feeding, Luong
"general" attention, tanh(W_c [c; s]) -> Linear(256, 42). Batch 64 of padded words, lengths
drawn from CMUdict's distribution (source 2-14 characters, target 2-12 phonemes).

  train step  forward + backward + gradient clipping + Adam on both sides (torch: packed
              nn.LSTM + nn.LSTMCell + the same attention written in torch ops); both run
              each decoder step on the rows whose target is still going (rows sorted by
              target length), as Seq2Seq.loss does
  beam        beam search (width 5, n-best 1) of 64 words; the search itself is
              dl_kernels.decoding on both sides, only the model's step differs

    python bench/bench_seq2seq.py [--threads 1 2] [--repeats 7] [--rounds 4] [--write]

Each library runs in worker processes of its own, --rounds of each in ABBA order, the median
over them (benchlib's `separate`): PyTorch's OpenMP team spins after its calls and would take a core from
ours in a shared process. Each library keeps its default wait policy.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import interleaved_medians, optional_torch, thread_sweep_main

BATCH, BEAM, V_SRC, V_TGT = 64, 5, 30, 42
CFG = {"src_vocab": V_SRC, "tgt_vocab": V_TGT, "embed": 64, "hidden": 256, "enc_layers": 2,
       "dec_layers": 1, "cell": "lstm", "attention": "general", "dropout": 0.0}


def make_batch(seed: int = 0):
    rng = np.random.default_rng(seed)
    ls = rng.integers(2, 15, BATCH)
    lt = np.clip(ls + rng.integers(-2, 2, BATCH), 2, 12)
    src = np.zeros((BATCH, ls.max()), dtype=np.int64)
    tin = np.zeros((BATCH, lt.max() + 1), dtype=np.int64)
    tout = np.zeros_like(tin)
    for i in range(BATCH):
        src[i, :ls[i]] = rng.integers(1, V_SRC, ls[i])
        y = rng.integers(3, V_TGT, lt[i])
        tin[i, :lt[i] + 1] = [1, *y]
        tout[i, :lt[i] + 1] = [*y, 2]
    return src, ls, tin, tout


def torch_twin(model, torch):
    """The same network in torch, weights copied from ours (our merged LSTM bias goes to
    bias_ih, bias_hh is zero)."""
    tnn = torch.nn

    class Twin(tnn.Module):
        def __init__(self):
            super().__init__()
            self.src_embed = tnn.Embedding(V_SRC, 64, padding_idx=0)
            self.tgt_embed = tnn.Embedding(V_TGT, 64, padding_idx=0)
            self.encoder = tnn.LSTM(64, 128, num_layers=2, bidirectional=True, batch_first=True)
            self.bridge = tnn.Linear(256, 512)
            self.cell = tnn.LSTMCell(64 + 256, 256)
            self.key_proj = tnn.Linear(256, 256, bias=False)
            self.combine = tnn.Linear(512, 256, bias=False)
            self.out = tnn.Linear(256, V_TGT)

        def encode(self, src, lengths):
            from torch.nn.utils import rnn

            emb = self.src_embed(src)
            packed = rnn.pack_padded_sequence(emb, lengths, batch_first=True,
                                              enforce_sorted=False)
            out, (h, _) = self.encoder(packed)
            memory, _ = rnn.pad_packed_sequence(out, batch_first=True,
                                                total_length=src.shape[1])
            init = torch.tanh(self.bridge(torch.cat([h[-2], h[-1]], 1))).chunk(2, 1)
            mask = torch.arange(src.shape[1])[None, :] < lengths[:, None]
            return memory, self.key_proj(memory), mask, init

        def step(self, emb, memory, keys, mask, state, feed):
            h, c = self.cell(torch.cat([emb, feed], 1), state)
            e = (keys * h.unsqueeze(1)).sum(-1).masked_fill(~mask, float("-inf"))
            alpha = torch.softmax(e, -1)
            ctx = (alpha.unsqueeze(-1) * memory).sum(1)
            return torch.tanh(self.combine(torch.cat([ctx, h], 1))), (h, c)

        def loss(self, src, lengths, tin, tout):
            """As ours: rows sorted by target length, decoder step t on the rows whose
            target is still going, the loss over the packed logits."""
            tl = (tout != 0).sum(1)
            order = torch.argsort(tl, descending=True, stable=True)
            src, lengths, tin, tout, tl = (a[order] for a in (src, lengths, tin, tout, tl))
            memory, keys, mask, state = self.encode(src, lengths)
            emb = self.tgt_embed(tin)
            feed = torch.zeros(src.shape[0], 256)
            outs, targets = [], []
            for t in range(tin.shape[1]):
                n = int((tl > t).sum())
                if n == 0:
                    break
                state, feed = (state[0][:n], state[1][:n]), feed[:n]
                feed, state = self.step(emb[:n, t], memory[:n], keys[:n], mask[:n], state, feed)
                outs.append(feed)
                targets.append(tout[:n, t])
            return tnn.functional.cross_entropy(self.out(torch.cat(outs)), torch.cat(targets),
                                                ignore_index=0)

    twin = Twin()
    ours = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    sd = twin.state_dict()
    put = {"src_embed.weight": "src_embed.weight", "tgt_embed.weight": "tgt_embed.weight",
           "bridge.weight": "bridge.weight", "bridge.bias": "bridge.bias",
           "cell.weight_ih": "cells.0.weight_ih", "cell.weight_hh": "cells.0.weight_hh",
           "cell.bias_ih": "cells.0.bias", "key_proj.weight": "attention.key_proj.weight",
           "combine.weight": "combine.weight", "out.weight": "out.weight",
           "out.bias": "out.bias"}
    for layer in range(2):
        for sfx in ("", "_reverse"):
            s = f"_l{layer}{sfx}"
            put[f"encoder.weight_ih{s}"] = f"encoder.weight_ih{s}"
            put[f"encoder.weight_hh{s}"] = f"encoder.weight_hh{s}"
            put[f"encoder.bias_ih{s}"] = f"encoder.bias{s}"
    for tk, ok in put.items():
        sd[tk] = torch.tensor(ours[ok])
    for k in sd:
        if k not in put:
            sd[k] = torch.zeros_like(sd[k])  # the hh biases (ours are merged into ih)
    twin.load_state_dict(sd)
    return twin


class TorchDecoder:
    def __init__(self, twin, torch, src, lengths):
        self.t, self.torch = twin, torch
        self.memory, self.keys, self.mask, state = twin.encode(src, lengths)
        self.rows = None
        self.src = (self.memory, self.keys, self.mask)
        self.init = {"rows": np.arange(src.shape[0]), "state": state,
                     "feed": torch.zeros(src.shape[0], 256)}

    def step(self, tokens, state):
        torch = self.torch
        rows = state["rows"]
        if self.rows is None or not np.array_equal(rows, self.rows):
            idx = torch.from_numpy(rows)
            self.src = (self.memory[idx], self.keys[idx], self.mask[idx])
            self.rows = rows.copy()
        emb = self.t.tgt_embed(torch.from_numpy(np.asarray(tokens, dtype=np.int64)))
        feed, cells = self.t.step(emb, *self.src, state["state"], state["feed"])
        logp = torch.log_softmax(self.t.out(feed), -1).numpy()
        return logp, {"rows": rows, "state": cells, "feed": feed}

    def reorder(self, state, index):
        idx = self.torch.from_numpy(np.asarray(index, dtype=np.int64))
        return {"rows": state["rows"][index], "state": tuple(s[idx] for s in state["state"]),
                "feed": state["feed"][idx]}


def worker(threads: int, repeats: int, only: str | None = None) -> dict:
    import dl_kernels as dlk
    from dl_kernels import nn, optim
    from dl_kernels.decoding import beam_search
    from dl_kernels.models.seq2seq import Seq2Seq

    dlk.set_num_threads(threads)
    torch = optional_torch()
    dlk.manual_seed(0)
    model = Seq2Seq(**CFG)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    src, ls, tin, tout = make_batch()
    ntok = int((tout != 0).sum())

    def ours_step():
        loss = model.loss(src, ls, tin, tout)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()

    def ours_beam():
        model.translate(src, ls, beam=BEAM, max_len=int(ls.max()) + 10)

    fns = {"ours_step": ours_step, "ours_beam": ours_beam}
    if torch is not None:
        torch.set_num_threads(threads)
        twin = torch_twin(model, torch)
        with torch.no_grad():
            tl = float(twin.loss(*(torch.from_numpy(a) for a in (src, ls, tin, tout))))
        with dlk.no_grad():
            ol = float(model.loss(src, ls, tin, tout).item())
        assert abs(tl - ol) < 1e-4 * max(1.0, abs(ol)), (tl, ol)  # the same model
        topt = torch.optim.Adam(twin.parameters(), lr=1e-3)
        targs = [torch.from_numpy(a) for a in (src, ls, tin, tout)]

        def torch_step():
            loss = twin.loss(*targs)
            topt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(twin.parameters(), 5.0)
            topt.step()

        def torch_beam():
            with torch.no_grad():
                dec = TorchDecoder(twin, torch, targs[0], targs[1])
                beam_search(dec, dec.init, 1, 2, int(ls.max()) + 10, beam=BEAM, batch=BATCH)

        fns.update(torch_step=torch_step, torch_beam=torch_beam)
    if only:  # one library per process (benchlib.thread_sweep_main's `separate`)
        fns = {k: f for k, f in fns.items() if k.startswith(only + "_")}
    t0 = time.perf_counter()
    med = interleaved_medians(fns, repeats=repeats, warmup=1)
    rows = [{"case": case, "ours": med.get(f"ours_{case}"), "torch": med.get(f"torch_{case}")}
            for case in ("step", "beam")]
    return {"threads": threads, "ntok": ntok, "rows": rows, "load": os.getloadavg()[0],
            "wall": time.perf_counter() - t0}


def table(results: list[dict]) -> str:
    lines = ["| threads | case | ours (ms) | PyTorch (ms) | speed-up | ours tokens/s | load |",
             "|---|---|---|---|---|---|---|"]
    labels = {"step": f"train step, batch {BATCH}", "beam": f"beam {BEAM}, {BATCH} words"}
    for r in results:
        for row in r["rows"]:
            case, label = row["case"], labels[row["case"]]
            ours, peer = row["ours"], row["torch"]
            tok = f"{r['ntok'] / ours:,.0f}" if case == "step" else "-"
            lines.append(f"| {r['threads']} | {label} | {ours * 1e3:.1f} | "
                         f"{'-' if peer is None else f'{peer * 1e3:.1f}'} | "
                         f"{'-' if peer is None else f'{peer / ours:.2f}x'} | {tok} | "
                         f"{r['load']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    thread_sweep_main(__file__, __doc__, "seq2seq",
                      "Attentional encoder-decoder (g2p model): training step and beam search",
                      worker, table, separate=("ours", "torch"))


if __name__ == "__main__":
    main()
