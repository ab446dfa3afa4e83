"""CUDA kernels against PyTorch (cuBLAS / cuDNN, TF32 off) on the same GPU, in the same run.

    python bench/bench_cuda.py [--quick] [--rungs] [--write]

Every case is timed with CUDA events (ours on the library's stream, PyTorch's on its current
stream), contenders interleaved round-robin, median of >= 10 repeats after warm-up. The
device's ceilings are measured in the same run: the device-to-device copy bandwidth (a large
cudaMemcpy, counted as read + write) for memory-bound kernels and cuBLAS's fp32 SGEMM at 8192
for compute-bound ones. --rungs times every GEMM rung; --write replaces the "cuda" section of
bench/RESULTS.md. Without a GPU the script says so and exits with status 2.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dl_kernels import cuda

if not cuda.is_available():
    reason = cuda.config().get("cuda_error") or cuda.config().get("cuda_import_error")
    print(f"bench_cuda: no CUDA device available, nothing to measure ({reason}).", file=sys.stderr)
    sys.exit(2)

import benchlib
import torch
import torch.nn.functional as F

C = cuda.module()
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.backends.cudnn.benchmark = True
TDEV = torch.device("cuda")


def time_ours(fn: Callable[[], object]) -> float:
    start, end = C.Event(), C.Event()
    start.record()
    fn()
    end.record()
    end.synchronize()
    return start.elapsed_ms(end) / 1e3


def time_torch(fn: Callable[[], object]) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3


def medians(fns: dict[str, tuple[Callable[[], float], Callable[[], object]]], repeats: int,
            warmup: int = 3) -> dict[str, float]:
    """fns: name -> (timer, body). Round-robin so drifts hit every contender alike."""
    for _ in range(warmup):
        for timer, body in fns.values():
            timer(body)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, (timer, body) in fns.items():
            times[name].append(timer(body))
    return {k: statistics.median(v) for k, v in times.items()}


def up(a: np.ndarray):
    return C.from_numpy(np.ascontiguousarray(a))


def measure_ceilings(repeats: int) -> tuple[float, float]:
    n = 256 << 20  # 1 GiB of float32
    src, dst = C.empty((n,)), C.empty((n,))
    C.fill(src, 1.0)

    def copy() -> None:
        C.copy(dst, src)

    t = medians({"copy": (time_ours, copy)}, repeats)["copy"]
    a = torch.randn(8192, 8192, device=TDEV)
    b = torch.randn(8192, 8192, device=TDEV)

    def mm() -> None:
        torch.mm(a, b)

    t_mm = medians({"mm": (time_torch, mm)}, max(5, repeats // 2))["mm"]
    return 2 * 4 * n / t, 2 * 8192**3 / t_mm


class Table:
    def __init__(self, title: str, unit: str, ceiling_name: str):
        self.title, self.unit, self.ceiling_name = title, unit, ceiling_name
        self.rows: list[str] = []

    def add(self, case: str, work: float, ours: float, peer: float, ceiling: float,
            peer_name: str) -> None:
        ours_rate, peer_rate = work / ours, work / peer
        scale = 1e12 if self.unit == "TFLOP/s" else 1e9
        row = (f"| {case} | {ours * 1e3:.3f} ms, {ours_rate / scale:.2f} {self.unit} | "
               f"{peer * 1e3:.3f} ms, {peer_rate / scale:.2f} {self.unit} ({peer_name}) | "
               f"{peer / ours:.2f}x | {100 * ours_rate / ceiling:.0f} % |")
        self.rows.append(row)
        print(row, flush=True)

    def markdown(self) -> str:
        head = (f"### {self.title}\n\n| case | ours | peer | ours / peer speed | "
                f"% of {self.ceiling_name} |\n|---|---|---|---|---|")
        return head + "\n" + "\n".join(self.rows) + "\n"


GEMM_RUNGS = ["naive", "smem", "regtile", "vec", "warptile"]


def gemm_case(table: Table, m: int, n: int, k: int, repeats: int, rungs: bool,
              flops_peak: float) -> None:
    rng = np.random.default_rng(0)
    a32 = rng.standard_normal((m, k), dtype=np.float32)
    b32 = rng.standard_normal((k, n), dtype=np.float32)
    a, b, c = up(a32), up(b32), C.empty((m, n))
    ta, tb = torch.from_numpy(a32).to(TDEV), torch.from_numpy(b32).to(TDEV)
    tc = torch.empty(m, n, device=TDEV)
    names = ["auto"] + (GEMM_RUNGS if rungs else [])

    def ours(rung: str) -> Callable[[], None]:
        def body() -> None:
            C.set_gemm_rung(rung)
            C.gemm(a, b, c)
        return body

    def peer() -> None:
        torch.mm(ta, tb, out=tc)

    fns = {r: (time_ours, ours(r)) for r in names}
    fns["torch"] = (time_torch, peer)
    t = medians(fns, repeats if m * n * k < 4096**3 else max(5, repeats // 2))
    C.set_gemm_rung("auto")
    for r in names:
        table.add(f"{m}x{n}x{k} [{r}]", 2 * m * n * k, t[r], t["torch"], flops_peak, "cuBLAS")


def bench_gemm(repeats: int, quick: bool, rungs: bool, flops_peak: float) -> Table:
    table = Table("SGEMM (fp32, TF32 off)", "TFLOP/s", "cuBLAS SGEMM at 8192")
    shapes = [(1024,) * 3, (2048,) * 3, (4096,) * 3] + ([] if quick else [(8192,) * 3])
    shapes += [(128, 1024, 784), (128, 10, 1024), (1024, 784, 128)]
    for m, n, k in shapes:
        gemm_case(table, m, n, k, repeats, rungs, flops_peak)
    return table


def conv_case(table: Table, name: str, xs: tuple, ws: tuple, p: int, repeats: int,
              flops_peak: float) -> None:
    rng = np.random.default_rng(1)
    x32 = rng.standard_normal(xs, dtype=np.float32)
    w32 = rng.standard_normal(ws, dtype=np.float32) * 0.1
    b32 = np.zeros(ws[0], np.float32)
    x, w, b = up(x32), up(w32), up(b32)
    pad = (p, p, p, p)
    oh = xs[2] + 2 * p - ws[2] + 1
    dy32 = rng.standard_normal((xs[0], ws[0], oh, oh), dtype=np.float32)
    dy = up(dy32)

    def ours() -> None:
        C.conv2d_forward(x, w, b, padding=pad)
        C.conv2d_backward_input(dy, w, xs[2:], padding=pad)
        C.conv2d_backward_weight(dy, x, ws[2:], padding=pad)
        C.conv2d_backward_bias(dy)

    tx = torch.from_numpy(x32).to(TDEV).requires_grad_(True)
    tw = torch.from_numpy(w32).to(TDEV).requires_grad_(True)
    tb = torch.from_numpy(b32).to(TDEV).requires_grad_(True)
    tdy = torch.from_numpy(dy32).to(TDEV)

    def peer() -> None:
        F.conv2d(tx, tw, tb, padding=p).backward(tdy)

    t = medians({"ours": (time_ours, ours), "torch": (time_torch, peer)}, repeats)
    flops = 3 * 2 * xs[0] * ws[0] * oh * oh * ws[1] * ws[2] * ws[3]
    table.add(name, flops, t["ours"], t["torch"], flops_peak, "cuDNN")


def bench_conv(repeats: int, flops_peak: float) -> Table:
    table = Table("conv2d fwd + bwd (input, weight, bias)", "TFLOP/s", "cuBLAS SGEMM at 8192")
    conv_case(table, "LeNet-like N64 1->32 28x28 k5 p2", (64, 1, 28, 28), (32, 1, 5, 5), 2,
              repeats, flops_peak)
    conv_case(table, "VGG-like N32 64->64 56x56 k3 p1", (32, 64, 56, 56), (64, 64, 3, 3), 1,
              repeats, flops_peak)
    return table


def xent_case(table: Table, n: int, c: int, repeats: int, bandwidth: float) -> None:
    rng = np.random.default_rng(2)
    x32 = rng.standard_normal((n, c), dtype=np.float32)
    t64 = rng.integers(0, c, n)
    x, tg = up(x32), up(t64)

    def ours() -> None:
        _, lse = C.softmax_cross_entropy_forward(x, tg, check_targets=False)
        C.softmax_cross_entropy_backward(x, tg, lse, 1.0)

    tx = torch.from_numpy(x32).to(TDEV).requires_grad_(True)
    tt = torch.from_numpy(t64).to(TDEV)

    def ours_fused() -> None:
        C.softmax_cross_entropy_fused(x, tg, check_targets=False)

    def peer() -> None:
        F.cross_entropy(tx, tt).backward()
        tx.grad = None

    t = medians({"ours": (time_ours, ours), "fused": (time_ours, ours_fused),
                 "torch": (time_torch, peer)}, repeats)
    # DRAM bytes each must move at least: separate kernels read the logits twice and write the
    # gradient once; the fused kernel reads them once (its second read hits L2) and writes once.
    table.add(f"{n}x{c} [fwd, bwd kernels]", 3 * 4 * n * c, t["ours"], t["torch"], bandwidth,
              "PyTorch")
    table.add(f"{n}x{c} [fused]", 2 * 4 * n * c, t["fused"], t["torch"], bandwidth, "PyTorch")


def bench_xent(repeats: int, bandwidth: float) -> Table:
    table = Table("softmax cross-entropy fwd + bwd (mean)", "GB/s", "copy bandwidth")
    for n, c in [(512, 32000), (4096, 10)]:
        xent_case(table, n, c, repeats, bandwidth)
    return table


def pool_case(table: Table, shape: tuple, repeats: int, bandwidth: float) -> None:
    rng = np.random.default_rng(3)
    x32 = rng.standard_normal(shape, dtype=np.float32)
    x = up(x32)
    n, ch, h, w = shape
    dy32 = rng.standard_normal((n, ch, h // 2, w // 2), dtype=np.float32)
    dy = up(dy32)
    tx = torch.from_numpy(x32).to(TDEV).requires_grad_(True)
    tdy = torch.from_numpy(dy32).to(TDEV)
    elems = x32.size

    def ours_max() -> None:
        _, arg = C.max_pool2d_forward(x, (2, 2))
        C.max_pool2d_backward(dy, arg, shape[2:], (2, 2))

    def ours_avg() -> None:
        C.avg_pool2d_forward(x, (2, 2))
        C.avg_pool2d_backward(dy, shape[2:], (2, 2))

    def peer_max() -> None:
        F.max_pool2d(tx, 2).backward(tdy)
        tx.grad = None

    def peer_avg() -> None:
        F.avg_pool2d(tx, 2).backward(tdy)
        tx.grad = None

    t = medians({"om": (time_ours, ours_max), "tm": (time_torch, peer_max),
                 "oa": (time_ours, ours_avg), "ta": (time_torch, peer_avg)}, repeats)
    # max: read x, write y and argmax (8 B), read dy and argmax, write dx
    max_bytes = 4 * elems + (4 + 8 + 4 + 8) * elems // 4 + 4 * elems
    avg_bytes = 4 * elems + 4 * elems // 4 + 4 * elems // 4 + 4 * elems
    table.add(f"max {shape}", max_bytes, t["om"], t["tm"], bandwidth, "PyTorch")
    table.add(f"avg {shape}", avg_bytes, t["oa"], t["ta"], bandwidth, "PyTorch")


def bench_pool(repeats: int, bandwidth: float) -> Table:
    table = Table("pool2d 2x2 stride 2, fwd + bwd", "GB/s", "copy bandwidth")
    for shape in [(32, 64, 56, 56), (64, 32, 28, 28)]:
        pool_case(table, shape, repeats, bandwidth)
    return table


def rnn_case(table: Table, kind: str, n: int, repeats: int, flops_peak: float) -> None:
    T, I, H = 50, 128, 256
    gates = 4 if kind == "LSTM" else 3
    rng = np.random.default_rng(4)
    x32 = rng.standard_normal((T, n, I), dtype=np.float32)
    wx = rng.standard_normal((gates * H, I), dtype=np.float32) * 0.05
    wh = rng.standard_normal((gates * H, H), dtype=np.float32) * 0.05
    bb = np.zeros(gates * H, np.float32)
    dhs32 = rng.standard_normal((T, n, H), dtype=np.float32)
    x, h0, c0 = up(x32), C.zeros((n, H)), C.zeros((n, H))
    w_x, w_h, b, dhs = up(wx), up(wh), up(bb), up(dhs32)

    b_hn = C.zeros((H,))

    def ours_lstm() -> None:
        y, _, _, saved = C.lstm_forward(x, h0, c0, w_x, w_h, b)
        C.lstm_backward(x, h0, c0, w_x, w_h, None, "standard", False, y, saved, dhs)

    def ours_gru() -> None:
        y, _, saved = C.gru_forward(x, h0, w_x, w_h, b, b_hn, "reset_after")
        C.gru_backward(x, h0, w_x, w_h, "reset_after", False, y, saved, dhs)

    module = (torch.nn.LSTM if kind == "LSTM" else torch.nn.GRU)(I, H).to(TDEV)
    tx = torch.from_numpy(x32).to(TDEV).requires_grad_(True)
    tdhs = torch.from_numpy(dhs32).to(TDEV)

    def peer() -> None:
        out, _ = module(tx)
        out.backward(tdhs)

    ours = ours_lstm if kind == "LSTM" else ours_gru
    t = medians({"ours": (time_ours, ours), "torch": (time_torch, peer)}, repeats)
    flops = 3 * 2 * T * n * gates * H * (I + H)
    table.add(f"{kind} N={n}", flops, t["ours"], t["torch"], flops_peak, "cuDNN")


def bench_rnn(repeats: int, flops_peak: float) -> Table:
    table = Table("LSTM / GRU layer fwd + bwd, T=50, I=128, H=256 (GRU: reset_after)",
                  "TFLOP/s", "cuBLAS SGEMM at 8192")
    for kind in ["LSTM", "GRU"]:
        for n in [64, 1]:
            rnn_case(table, kind, n, repeats, flops_peak)
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, no 8192 GEMM")
    ap.add_argument("--rungs", action="store_true", help="time every GEMM rung")
    ap.add_argument("--write", action="store_true", help="write bench/RESULTS.md's cuda section")
    args = ap.parse_args()
    repeats = 10 if args.quick else 21
    name = C.device_name(0)
    print(f"device: {name}; torch {torch.__version__}; TF32 off", flush=True)
    bandwidth, flops_peak = measure_ceilings(repeats)
    C.empty_cache()
    print(f"ceilings: copy {bandwidth / 1e9:.0f} GB/s (read + write), "
          f"cuBLAS SGEMM 8192 {flops_peak / 1e12:.1f} TFLOP/s", flush=True)
    tables = [bench_gemm(repeats, args.quick, args.rungs, flops_peak),
              bench_conv(repeats, flops_peak), bench_xent(repeats, bandwidth),
              bench_pool(repeats, bandwidth), bench_rnn(repeats, flops_peak)]
    if args.write:
        cmd = "python bench/bench_cuda.py " + " ".join(sys.argv[1:])
        text = (f"## CUDA kernels\n\n{benchlib.header(cmd.strip())}Device: {name}. Ceilings "
                f"measured in the same run: device-to-device copy {bandwidth / 1e9:.0f} GB/s, "
                f"cuBLAS SGEMM (8192, fp32, TF32 off) {flops_peak / 1e12:.1f} TFLOP/s.\n\n")
        text += "\n".join(t.markdown() for t in tables)
        benchlib.write_section("cuda", text)
        print(f"wrote {benchlib.RESULTS}")


if __name__ == "__main__":
    main()
