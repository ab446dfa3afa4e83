"""Benchmark cases for conv2d and pool2d: ours (dl_kernels._C) against PyTorch CPU.

Consumed by bench/bench_cpu_kernels.py. Each case builds its inputs once (`make`), returning
the two callables it times, interleaved: a full forward + backward step of one layer.

- conv fwd+bwd: forward with bias, then the gradients of input, weight and bias (PyTorch:
  F.conv2d then .backward, grads reset to None each step so nothing accumulates).
  Work = 3 x 2*N*O*C*KH*KW*OH*OW flops (forward, grad-input, grad-weight).
- pool fwd+bwd 2x2 stride 2 on each conv's output. Work = bytes that must move at least once:
  max: x, y, argmax (int64), gy, argmax again, gx; avg: x, y, gy, gx.
"""

from __future__ import annotations

import numpy as np
from benchlib import Case, Fn, optional_torch

SECTION = "conv_pool"
TITLE = "Convolution and pooling (float32, NCHW, forward + backward)"



def conv_case(
    name: str, n: int, c: int, hw: int, o: int, k: int, pad: int, rung: str = "auto"
) -> Case:
    flops = 3 * 2.0 * n * o * c * k * k * hw * hw

    def make() -> tuple[Fn, Fn | None]:
        from dl_kernels import _C

        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, c, hw, hw)).astype(np.float32)
        w = (rng.standard_normal((o, c, k, k)) / np.sqrt(c * k * k)).astype(np.float32)
        b = rng.standard_normal(o).astype(np.float32)
        gy = rng.standard_normal((n, o, hw, hw)).astype(np.float32)
        p4 = (pad, pad, pad, pad)

        def ours() -> None:
            _C.set_conv2d_rung(rung)
            try:
                _C.conv2d_forward(x, w, b, padding=p4)
                _C.conv2d_backward_input(gy, w, input_hw=(hw, hw), padding=p4)
                _C.conv2d_backward_weight(gy, x, kernel_hw=(k, k), padding=p4)
                _C.conv2d_backward_bias(gy)
            finally:
                _C.set_conv2d_rung("auto")

        torch = optional_torch()
        if torch is None:
            return ours, None
        xt = torch.tensor(x, requires_grad=True)
        wt = torch.tensor(w, requires_grad=True)
        bt = torch.tensor(b, requires_grad=True)
        gyt = torch.tensor(gy)

        def theirs() -> None:
            xt.grad = wt.grad = bt.grad = None
            torch.nn.functional.conv2d(xt, wt, bt, padding=pad).backward(gyt)

        return ours, theirs

    return Case(name, "GFLOP/s", flops, make)


def pool_case(name: str, kind: str, shape: tuple[int, int, int, int], rung: str = "auto") -> Case:
    n, c, h, w = shape
    x_bytes = 4.0 * n * c * h * w
    y_bytes = 4.0 * n * c * (h // 2) * (w // 2)
    work = 2 * x_bytes + 2 * y_bytes + (4 * y_bytes if kind == "max" else 0)

    def make() -> tuple[Fn, Fn | None]:
        from dl_kernels import _C

        rng = np.random.default_rng(0)
        x = rng.standard_normal(shape).astype(np.float32)
        gy = rng.standard_normal((n, c, h // 2, w // 2)).astype(np.float32)

        def step() -> None:
            if kind == "max":
                _, am = _C.max_pool2d_forward(x, (2, 2), (2, 2))
                _C.max_pool2d_backward(gy, am, (h, w))
            else:
                _C.avg_pool2d_forward(x, (2, 2), (2, 2))
                _C.avg_pool2d_backward(gy, (h, w), (2, 2), (2, 2))

        def ours() -> None:
            _C.set_pool2d_rung(rung)
            try:
                step()
            finally:
                _C.set_pool2d_rung("auto")

        torch = optional_torch()
        if torch is None:
            return ours, None
        xt = torch.tensor(x, requires_grad=True)
        gyt = torch.tensor(gy)
        op = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d

        def theirs() -> None:
            xt.grad = None
            op(xt, 2, 2).backward(gyt)

        return ours, theirs

    return Case(name, "GB/s", work, make)


LENET = (64, 32, 28, 28)
VGG = (32, 64, 56, 56)
# The auto rung for every case; the rows marked [rung] time a lower rung of the same ladder
# against the same peer, to show what the faster rung buys.
CASES = [
    conv_case("conv LeNet-like N64 1→32 28² k5 pad2", 64, 1, 28, 32, 5, 2),
    conv_case("conv LeNet-like N64 16→32 14² k5 pad2", 64, 16, 14, 32, 5, 2),
    conv_case("conv LeNet-like N64 16→32 14² k5 pad2 [im2col rung]", 64, 16, 14, 32, 5, 2,
              rung="im2col"),
    conv_case("conv VGG-like N32 64→64 56² k3 pad1", 32, 64, 56, 64, 3, 1),
    conv_case("conv VGG-like [im2col rung]", 32, 64, 56, 64, 3, 1, rung="im2col"),
    pool_case("max-pool 2×2/2 on 64×32×28²", "max", LENET),
    pool_case("max-pool 2×2/2 on 32×64×56²", "max", VGG),
    pool_case("max-pool 2×2/2 on 32×64×56² [reference rung]", "max", VGG, rung="reference"),
    pool_case("avg-pool 2×2/2 on 64×32×28²", "avg", LENET),
    pool_case("avg-pool 2×2/2 on 32×64×56²", "avg", VGG),
    pool_case("avg-pool 2×2/2 on 32×64×56² [reference rung]", "avg", VGG, rung="reference"),
]
