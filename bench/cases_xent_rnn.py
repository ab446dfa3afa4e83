"""Benchmark cases for softmax cross-entropy, LSTM and GRU: ours (dl_kernels._C) vs PyTorch CPU.

Consumed by bench/bench_cpu_kernels.py (same interface as cases_conv_pool.py: SECTION, TITLE,
CASES of `Case(name, unit, work, make)`, make() -> (ours, torch or None)). Every case is a full
forward + backward step; PyTorch's grads are reset to None each time so nothing accumulates,
and ours reuses its output buffer where the API allows (`out=`), as a training loop would.

- softmax-CE fwd+bwd (mean reduction): work = bytes that must move at least once: the logits
  read by the forward and by the backward, dlogits written (3 * N * C * 4). `auto` runs the
  widest vector rung the CPU has (avx512 or avx2); one row forces the scalar reference rung.
- LSTM / GRU layer fwd+bwd, T=50, N=64, I=128, H=256 (GRU: reset_after, the form torch.nn.GRU
  computes): work = 3 x the forward GEMM flops 2*T*N*G*H*(I+H) (forward, data gradients,
  weight gradients). PyTorch: nn.LSTM (oneDNN) / nn.GRU, input grad included.
- LSTM / GRU cell step fwd+bwd at N=1 (nn.LSTMCell / nn.GRUCell), same work formula with T=1.
- Ablation: the LSTM layer with W_hh repacked by the GEMM at every step instead of once per call
  (set_rnn_gemm_path("library")), to show what packing it once buys.

Run alone for a quick look (no RESULTS.md): python bench/cases_xent_rnn.py [--threads 1 2]
"""

from __future__ import annotations

import numpy as np
from benchlib import Case, Fn, optional_torch

SECTION = "xent_rnn"
TITLE = "Softmax cross-entropy, LSTM and GRU (float32, forward + backward)"



def xent_case(n: int, c: int, rung: str = "auto") -> Case:
    def make() -> tuple[Fn, Fn | None]:
        from dl_kernels import _C

        rng = np.random.default_rng(0)
        x = (rng.standard_normal((n, c)) * 3).astype(np.float32)
        t = rng.integers(0, c, n).astype(np.int64)
        dx = np.empty_like(x)

        def ours() -> None:
            _C.set_softmax_xent_rung(rung)
            _, lse = _C.softmax_cross_entropy_forward(x, t)
            _C.softmax_cross_entropy_backward(x, t, lse, 1.0, out=dx)
            _C.set_softmax_xent_rung("auto")

        torch = optional_torch()
        if torch is None:
            return ours, None
        xt, tt = torch.tensor(x, requires_grad=True), torch.tensor(t)

        def theirs() -> None:
            xt.grad = None
            torch.nn.functional.cross_entropy(xt, tt).backward()

        return ours, theirs

    name = f"softmax-CE {n}×{c}" + ("" if rung == "auto" else f" [{rung} rung]")
    return Case(name, "GB/s", 3.0 * n * c * 4, make)


def _weights(rng, g: int, i: int, h: int):
    w_ih = (rng.standard_normal((g * h, i)) / np.sqrt(i)).astype(np.float32)
    w_hh = (rng.standard_normal((g * h, h)) / np.sqrt(h)).astype(np.float32)
    b = (rng.standard_normal(g * h) * 0.1).astype(np.float32)
    return w_ih, w_hh, b


def _copy_params(torch, module, tensors: dict) -> None:
    with torch.no_grad():
        for name, value in tensors.items():
            getattr(module, name).copy_(torch.tensor(value))


def lstm_layer_case(t: int, n: int, i: int, h: int, gemm_path: str = "auto") -> Case:
    def make() -> tuple[Fn, Fn | None]:
        from dl_kernels import _C

        rng = np.random.default_rng(0)
        x = rng.standard_normal((t, n, i)).astype(np.float32)
        h0 = np.zeros((n, h), np.float32)
        c0 = np.zeros((n, h), np.float32)
        dy = rng.standard_normal((t, n, h)).astype(np.float32)
        w_ih, w_hh, b = _weights(rng, 4, i, h)

        def ours() -> None:
            _C.set_rnn_gemm_path(gemm_path)
            y, _, _, saved = _C.lstm_forward(x, h0, c0, w_ih, w_hh, b, None, "standard", False)
            _C.lstm_backward(x, h0, c0, w_ih, w_hh, None, "standard", False, y, saved, dy)
            _C.set_rnn_gemm_path("auto")

        torch = optional_torch()
        if torch is None:
            return ours, None
        m = torch.nn.LSTM(i, h)
        _copy_params(torch, m, {"weight_ih_l0": w_ih, "weight_hh_l0": w_hh, "bias_ih_l0": b,
                                "bias_hh_l0": np.zeros_like(b)})
        xt, h0t, c0t, dyt = (torch.tensor(a) for a in (x, h0[None], c0[None], dy))
        xt.requires_grad_(True)

        def theirs() -> None:
            m.zero_grad(set_to_none=True)
            xt.grad = None
            m(xt, (h0t, c0t))[0].backward(dyt)

        return ours, theirs

    name = f"LSTM layer T{t} N{n} {i}→{h}"
    if gemm_path == "library":
        name += " (ablation: W_hh repacked every step)"
    return Case(name, "GFLOP/s", 3 * 2.0 * t * n * 4 * h * (i + h), make)


def gru_layer_case(t: int, n: int, i: int, h: int) -> Case:
    def make() -> tuple[Fn, Fn | None]:
        from dl_kernels import _C

        rng = np.random.default_rng(0)
        x = rng.standard_normal((t, n, i)).astype(np.float32)
        h0 = np.zeros((n, h), np.float32)
        dy = rng.standard_normal((t, n, h)).astype(np.float32)
        w_ih, w_hh, b = _weights(rng, 3, i, h)
        b_hn = (rng.standard_normal(h) * 0.1).astype(np.float32)

        def ours() -> None:
            y, _, saved = _C.gru_forward(x, h0, w_ih, w_hh, b, b_hn, "reset_after", False)
            _C.gru_backward(x, h0, w_ih, w_hh, "reset_after", False, y, saved, dy)

        torch = optional_torch()
        if torch is None:
            return ours, None
        m = torch.nn.GRU(i, h)
        b_hh = np.concatenate([np.zeros(2 * h, np.float32), b_hn])
        _copy_params(torch, m, {"weight_ih_l0": w_ih, "weight_hh_l0": w_hh, "bias_ih_l0": b,
                                "bias_hh_l0": b_hh})
        xt, h0t, dyt = (torch.tensor(a) for a in (x, h0[None], dy))
        xt.requires_grad_(True)

        def theirs() -> None:
            m.zero_grad(set_to_none=True)
            xt.grad = None
            m(xt, h0t)[0].backward(dyt)

        return ours, theirs

    return Case(f"GRU layer T{t} N{n} {i}→{h}", "GFLOP/s", 3 * 2.0 * t * n * 3 * h * (i + h), make)


def cell_case(kind: str, n: int, i: int, h: int) -> Case:
    g = 4 if kind == "LSTM" else 3

    def make() -> tuple[Fn, Fn | None]:
        from dl_kernels import _C

        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, i)).astype(np.float32)
        hp = rng.standard_normal((n, h)).astype(np.float32) * 0.5
        cp = rng.standard_normal((n, h)).astype(np.float32) * 0.5
        dh = rng.standard_normal((n, h)).astype(np.float32)
        w_ih, w_hh, b = _weights(rng, g, i, h)
        b_hn = (rng.standard_normal(h) * 0.1).astype(np.float32)

        if kind == "LSTM":
            def ours() -> None:
                _, c_new, saved = _C.lstm_cell_forward(x, hp, cp, w_ih, w_hh, b, None, "standard")
                _C.lstm_cell_backward(x, hp, cp, w_ih, w_hh, None, "standard", c_new, saved, dh)
        else:
            def ours() -> None:
                _, saved = _C.gru_cell_forward(x, hp, w_ih, w_hh, b, b_hn, "reset_after")
                _C.gru_cell_backward(x, hp, w_ih, w_hh, "reset_after", saved, dh)

        torch = optional_torch()
        if torch is None:
            return ours, None
        m = torch.nn.LSTMCell(i, h) if kind == "LSTM" else torch.nn.GRUCell(i, h)
        b_hh = np.zeros_like(b) if kind == "LSTM" else np.concatenate([np.zeros(2 * h), b_hn])
        _copy_params(torch, m, {"weight_ih": w_ih, "weight_hh": w_hh, "bias_ih": b,
                                "bias_hh": b_hh.astype(np.float32)})
        xt, ht, ct, dht = (torch.tensor(a) for a in (x, hp, cp, dh))
        xt.requires_grad_(True)

        def theirs() -> None:
            m.zero_grad(set_to_none=True)
            xt.grad = None
            out = m(xt, (ht, ct))[0] if kind == "LSTM" else m(xt, ht)
            out.backward(dht)

        return ours, theirs

    return Case(f"{kind} cell step N{n} {i}→{h}", "GFLOP/s", 3 * 2.0 * n * g * h * (i + h), make)


CASES = [
    xent_case(4096, 10),
    xent_case(512, 32000),
    # The scalar libm rung: what `auto` ran on AVX2-only CPUs before the avx2 rung.
    xent_case(512, 32000, rung="reference"),
    lstm_layer_case(50, 64, 128, 256),
    lstm_layer_case(50, 64, 128, 256, gemm_path="library"),
    gru_layer_case(50, 64, 128, 256),
    cell_case("LSTM", 1, 128, 256),
    cell_case("GRU", 1, 128, 256),
]


if __name__ == "__main__":
    import argparse
    import os
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import dl_kernels
    from benchlib import interleaved_medians

    parser = argparse.ArgumentParser(description="quick look at these cases (no RESULTS.md)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--only")
    args = parser.parse_args()
    torch = optional_torch()
    for threads in args.threads:
        dl_kernels.set_num_threads(threads)
        if torch is not None:
            torch.set_num_threads(threads)
        for case in CASES:
            if args.only and args.only not in case.name:
                continue
            ours, theirs = case.make()
            fns = {"ours": ours} if theirs is None else {"ours": ours, "torch": theirs}
            med = interleaved_medians(fns, repeats=args.repeats)
            rate = case.work / med["ours"] / 1e9
            peer = f"torch {med['torch'] * 1e3:8.3f} ms  speed-up {med['torch'] / med['ours']:.2f}x" \
                if "torch" in med else ""
            print(f"{threads}t  {case.name:32s} ours {med['ours'] * 1e3:8.3f} ms "
                  f"({rate:6.1f} {case.unit})  {peer}", flush=True)
