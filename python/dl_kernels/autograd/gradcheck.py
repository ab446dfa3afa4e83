"""gradcheck: compare autograd's gradients with central finite differences in float64.

For a random cotangent ``v`` on each output, autograd's vector-Jacobian product
``d(sum v·f(x))/dx`` is compared, element by element, with
``(L(x + eps) - L(x - eps)) / 2eps`` where ``L = sum v·f``. At a kink (ReLU at 0, a max with a
tie, abs(x) at 0) the two one-sided differences disagree; there the analytic value is accepted
when it lies between them, i.e. when it is a valid subgradient, as a careful checker does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

import numpy as np


class GradcheckError(AssertionError):
    """Which input, which element, analytic vs numeric, and by how much they differ."""


def _outputs(out: Any) -> list:
    """The floating-point tensors among fn's outputs (indices and masks are not checked)."""
    from dl_kernels.tensor import Tensor

    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    return [o for o in outs if isinstance(o, Tensor) and o.is_floating_point()]


def gradcheck(
    fn: Callable[..., Any],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    seed: int = 0,
) -> bool:
    """True when every float64 input with requires_grad gets the gradient finite differences
    give; otherwise raises GradcheckError (or returns False with raise_exception=False)."""
    from dl_kernels.autograd.engine import no_grad
    from dl_kernels.tensor import Tensor, tensor

    if not isinstance(inputs, (tuple, list)):
        inputs = (inputs,)
    checked = [
        i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad
    ]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    for i in checked:
        if inputs[i].dtype.name != "float64":
            raise TypeError(
                f"gradcheck: input {i} is {inputs[i].dtype}; expected float64 "
                "(finite differences need double precision)"
            )
    rng = np.random.default_rng(seed)
    outs = _outputs(fn(*inputs))
    cotangents = [rng.standard_normal(o.shape) for o in outs]

    def loss() -> float:
        with no_grad():
            vals = _outputs(fn(*inputs))
        return float(sum(np.sum(np.asarray(o.detach().numpy(), dtype=np.float64) * v)
                         for o, v in zip(vals, cotangents)))

    for i in checked:
        inputs[i].grad = None
    total = None
    for o, v in zip(outs, cotangents):
        if not o.requires_grad:
            continue
        term = (o * tensor(v, dtype=o.dtype, device=o.device)).sum()
        total = term if total is None else total + term
    if total is not None:
        total.backward()

    for i in checked:
        t = inputs[i]
        analytic = np.zeros(t.shape) if t.grad is None else np.array(t.grad.numpy())
        start = np.array(t.detach().numpy(), dtype=np.float64)  # a host copy
        for j in range(start.size):
            index = tuple(int(k) for k in np.unravel_index(j, t.shape)) if t.shape else ()
            x0 = start[index]

            def put(value: float, t: Any = t, index: Any = index) -> None:
                with no_grad():  # perturbed in place: the function sees the change
                    t[index] = value

            put(x0 + eps)
            up = loss()
            put(x0 - eps)
            down = loss()
            put(x0)
            numeric = (up - down) / (2 * eps)
            a = analytic.reshape(-1)[j]
            if abs(a - numeric) <= atol + rtol * abs(numeric):
                continue
            mid = loss()
            right, left = (up - mid) / eps, (mid - down) / eps
            lo, hi = min(left, right), max(left, right)
            kink = hi - lo > atol + rtol * max(abs(left), abs(right))
            if kink and lo - atol <= a <= hi + atol:
                continue
            msg = (
                f"gradcheck: input {i} (shape {tuple(t.shape)}), "
                f"element {index}: "
                f"analytic {a:.8g} vs numeric {numeric:.8g} (difference {abs(a - numeric):.3g}, "
                f"allowed {atol + rtol * abs(numeric):.3g})"
            )
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True
