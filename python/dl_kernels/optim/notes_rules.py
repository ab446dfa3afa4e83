"""Two update rules from the course notes that PyTorch does not have.

Perceptron (Rosenblatt 1958): β(i+1) = β(i) + α·e(i)·x(i) with e = y − f(x), f(x) = ±1. Written as
an optimiser it is plain gradient descent on the perceptron criterion
E = Σ (f(x) − y)·(wᵀx + b) with f held fixed (``nn.PerceptronLoss``): ∂E/∂w = −e·x, so
θ ← θ − α·∂E/∂θ is exactly the notes' rule, and α = 0.5 gives the notes' 0.5·e·x.

QuickProp (Fahlman 1988): treat each weight's error as an independent parabola
fitted from the last step and the last two gradients; jump to its minimum,
Δθ[τ] = g[τ] / (g[τ−1] − g[τ]) · Δθ[τ−1], θ[τ+1] = θ[τ] + Δθ[τ]. The usual growth limit
bounds the factor to abs(Δθ[τ]) ≤ μ·abs(Δθ[τ−1]) (μ = 1.75); where the parabola opens downwards
(the gradient kept its sign and grew) the step continues by μ·Δθ[τ−1]; a weight whose last
step was zero restarts with a gradient step −lr·g.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from dl_kernels.optim.optimizer import Optimizer
from dl_kernels.tensor import tensor


def _host(t: Any) -> np.ndarray:
    return t.detach().to("cpu").numpy().astype(np.float64)


class Perceptron(Optimizer):
    """The perceptron learning rule θ ← θ + lr·e·x, as gradient descent on PerceptronLoss."""

    def __init__(self, params: Iterable[Any], lr: float = 0.5) -> None:
        super().__init__(params, {"lr": lr})

    def _update(self, p: Any, grad: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        p.add_(grad, alpha=-group["lr"])


class QuickProp(Optimizer):
    """QuickProp with Fahlman's growth limit ``mu``; the first step is −lr·g."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, mu: float = 1.75) -> None:
        if mu <= 0:
            raise ValueError(f"Invalid growth limit mu: expected > 0, got {mu}")
        super().__init__(params, {"lr": lr, "mu": mu})

    def _update(self, p: Any, grad: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        # Per-element branching is clearer in numpy; the state stays on the parameter's device.
        g = _host(grad)
        lr, mu = group["lr"], group["mu"]
        if not state:
            step = -lr * g
        else:
            g_prev, d_prev = _host(state["prev_grad"]), _host(state["prev_step"])
            denom = g_prev - g
            with np.errstate(divide="ignore", invalid="ignore"):
                factor = np.where(denom != 0, g / np.where(denom != 0, denom, 1.0), mu)
            concave = (g * g_prev > 0) & (np.abs(g) >= np.abs(g_prev))
            factor = np.where(concave, mu, np.clip(factor, -mu, mu))
            step = np.where(d_prev != 0, factor * d_prev, -lr * g)
        step_t = tensor(step, dtype=p.dtype, device=p.device)
        p.add_(step_t)
        state["prev_grad"] = grad.detach().clone()
        state["prev_step"] = step_t
