"""First-order optimisers with PyTorch's arguments and update rules.

Each ``_update`` is the single-tensor form of the matching ``torch.optim`` class (same
defaults, same order of operations), so trajectories agree to float rounding. SGD, Adam and
AdamW also have a ``_fused_step``: the same rules for a whole group in one backend call
(``backend.sgd_update`` / ``adam_update``), bitwise equal to ``_update``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from dl_kernels.factories import full_like, zeros_like
from dl_kernels.ops.core import maximum
from dl_kernels.optim.optimizer import Optimizer
from dl_kernels.tensor import Tensor


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay.

    g ← ∇ + wd·θ;  b ← μ·b + (1 − dampening)·g  (b = g on the first step);
    g ← g + μ·b (Nesterov) or g ← b;  θ ← θ − lr·g.

    Momentum: Polyak 1964; Nesterov's form as in Sutskever et al. 2013 (PyTorch's).

    Args:
        params: parameters or parameter groups (see :class:`Optimizer`).
        lr: learning rate (default 1e-3).
        momentum: μ, 0 for plain SGD.
        dampening: scales the new gradient in the momentum buffer.
        weight_decay: L2 penalty coefficient wd added to the gradient.
        nesterov: Nesterov momentum (needs momentum > 0 and dampening 0).
        maximize: ascend instead of descend.
        foreach: False for the per-parameter path; True or None (default) for the fused
            update where the parameters qualify (see :meth:`Optimizer.step`).
        fused: True to require the fused update (one backend call per group: the gradient
            read once, parameter and momentum buffer written once), False to forbid it; None
            (default) uses it where the parameters qualify. Same numbers either way.

    Example:
        >>> import dl_kernels as dlk
        >>> w = dlk.tensor([1.0], requires_grad=True)
        >>> opt = SGD([w], lr=0.1, momentum=0.9)
        >>> for _ in range(2):
        ...     opt.zero_grad()
        ...     (w * w).sum().backward()   # gradient 2w
        ...     opt.step()
        >>> round(w.item(), 4)             # 1 - 0.2, then 0.8 - 0.1 (1.6 + 0.9 * 2)
        0.46
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
    ) -> None:
        if momentum < 0:
            raise ValueError(f"Invalid momentum value: expected >= 0, got {momentum}")
        if weight_decay < 0:
            raise ValueError(f"Invalid weight_decay value: expected >= 0, got {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                        "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize,
                        "foreach": foreach, "fused": fused}
        super().__init__(params, defaults)

    def _update(self, p: Any, grad: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        g = -grad if group["maximize"] else grad
        if group["weight_decay"] != 0:
            g = g + p * group["weight_decay"]
        momentum = group["momentum"]
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = g.detach().clone()
                state["momentum_buffer"] = buf
            else:
                buf.mul_(momentum).add_(g, alpha=1 - group["dampening"])
            g = g + buf * momentum if group["nesterov"] else buf
        p.add_(g, alpha=-group["lr"])

    def _fused_step(self, group: dict[str, Any], params: list[Any]) -> None:
        be = params[0]._be
        momentum = group["momentum"]
        bufs = None
        if momentum != 0:
            bufs = [self.state_of(p).get("momentum_buffer") for p in params]
        arrays = None if bufs is None else [None if b is None else b._data for b in bufs]
        out = be.sgd_update([p._data for p in params], [p.grad._data for p in params], arrays,
                            lr=group["lr"], momentum=momentum, dampening=group["dampening"],
                            weight_decay=group["weight_decay"], nesterov=group["nesterov"],
                            maximize=group["maximize"])
        if bufs is not None:  # the buffers made on this first step become state
            for p, b, a in zip(params, bufs, out):
                if b is None:
                    self.state_of(p)["momentum_buffer"] = Tensor._wrap(a, be)


class Adagrad(Optimizer):
    """AdaGrad (Duchi, Hazan & Singer 2011): per-coordinate rates lr / (√Σg² + eps), with
    optional lr decay and L2.

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 1e-2).
        lr_decay: the rate at step t is lr / (1 + (t - 1) lr_decay).
        weight_decay: L2 penalty coefficient.
        initial_accumulator_value: starting value of Σg².
        eps: added to the denominator (default 1e-10).
        maximize: ascend instead of descend.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ) -> None:
        if lr_decay < 0 or weight_decay < 0 or initial_accumulator_value < 0 or eps < 0:
            raise ValueError("Adagrad: lr_decay, weight_decay, initial_accumulator_value and "
                             "eps must be >= 0")
        defaults = {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay, "eps": eps,
                        "initial_accumulator_value": initial_accumulator_value,
                        "maximize": maximize}
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                st = self.state_of(p)
                st["step"] = 0
                st["sum"] = full_like(p.detach(), group["initial_accumulator_value"])

    def _update(self, p: Any, grad: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        g = -grad if group["maximize"] else grad
        state["step"] += 1
        if group["weight_decay"] != 0:
            g = g + p * group["weight_decay"]
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"].addcmul_(g, g, value=1.0)
        std = state["sum"].sqrt().add_(group["eps"])
        p.addcdiv_(g, std, value=-clr)


class RMSprop(Optimizer):
    """RMSProp (Tieleman & Hinton 2012): v ← α·v + (1 − α)·g²; θ ← θ − lr·g / (√v + eps)
    (centred and momentum forms).

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 1e-2).
        alpha: decay of the running mean of g² (default 0.99).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty coefficient.
        momentum: momentum on the scaled step.
        centered: divide by the running variance (v minus the squared running mean of g).
        maximize: ascend instead of descend.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        if eps < 0 or momentum < 0 or weight_decay < 0 or alpha < 0:
            raise ValueError("RMSprop: eps, momentum, weight_decay and alpha must be >= 0")
        defaults = {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
                        "momentum": momentum, "centered": centered, "maximize": maximize}
        super().__init__(params, defaults)

    def _update(self, p: Any, grad: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        g = -grad if group["maximize"] else grad
        if not state:
            state["step"] = 0
            state["square_avg"] = zeros_like(p.detach())
            if group["momentum"] > 0:
                state["momentum_buffer"] = zeros_like(p.detach())
            if group["centered"]:
                state["grad_avg"] = zeros_like(p.detach())
        state["step"] += 1
        if group["weight_decay"] != 0:
            g = g + p * group["weight_decay"]
        alpha = group["alpha"]
        sq = state["square_avg"]
        sq.mul_(alpha).addcmul_(g, g, value=1 - alpha)
        if group["centered"]:
            ga = state["grad_avg"]
            ga.mul_(alpha).add_(g, alpha=1 - alpha)
            avg = (sq - ga * ga).sqrt().add_(group["eps"])
        else:
            avg = sq.sqrt().add_(group["eps"])
        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf.mul_(group["momentum"]).addcdiv_(g, avg, value=1.0)
            p.add_(buf, alpha=-group["lr"])
        else:
            p.addcdiv_(g, avg, value=-group["lr"])


class Adam(Optimizer):
    """Adam with bias correction (Kingma & Ba), optional AMSGrad and L2 weight decay.

    m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²;
    θ ← θ − lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + eps).

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 1e-3).
        betas: (β1, β2), the decays of the running mean and mean square of g
            (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty coefficient added to the gradient (see AdamW for decoupled
            decay).
        amsgrad: use the maximum of past v (Reddi et al. 2018).
        maximize: ascend instead of descend.
        foreach: False for the per-parameter path; True or None (default) for the fused
            update where the parameters qualify (see :meth:`Optimizer.step`).
        fused: True to require the fused update (one backend call per group: θ, g, m, v read
            once, θ, m, v written once), False to forbid it; None (default) uses it where the
            parameters qualify. Same numbers either way.

    Example:
        >>> import dl_kernels as dlk
        >>> model = dlk.nn.Linear(4, 2)
        >>> opt = Adam(model.parameters(), lr=1e-2)
        >>> loss = model(dlk.randn(8, 4)).pow(2).mean()
        >>> opt.zero_grad(); loss.backward(); opt.step()
    """

    _decoupled = False

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
    ) -> None:
        if not 0.0 <= betas[0] < 1.0 or not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid betas: expected each in [0, 1), got {betas}")
        if eps < 0 or weight_decay < 0:
            raise ValueError("Adam: eps and weight_decay must be >= 0")
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                        "amsgrad": amsgrad, "maximize": maximize, "foreach": foreach,
                        "fused": fused}
        super().__init__(params, defaults)

    def _update(self, p: Any, grad: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        g = -grad if group["maximize"] else grad
        lr, wd = group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = zeros_like(p.detach())
            state["exp_avg_sq"] = zeros_like(p.detach())
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = zeros_like(p.detach())
        state["step"] += 1
        if wd != 0:
            if self._decoupled:
                p.mul_(1 - lr * wd)
            else:
                g = g + p * wd
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.mul_(beta1).add_(g, alpha=1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        step = state["step"]
        bias_correction1 = 1 - beta1**step
        bias_correction2_sqrt = math.sqrt(1 - beta2**step)
        if group["amsgrad"]:
            vmax = state["max_exp_avg_sq"]
            vmax.copy_(maximum(vmax, v))
            denom = (vmax.sqrt() / bias_correction2_sqrt).add_(group["eps"])
        else:
            denom = (v.sqrt() / bias_correction2_sqrt).add_(group["eps"])
        p.addcdiv_(m, denom, value=-lr / bias_correction1)

    def _fused_step(self, group: dict[str, Any], params: list[Any]) -> None:
        be = params[0]._be
        amsgrad = group["amsgrad"]
        states = [self.state_of(p) for p in params]
        for p, state in zip(params, states):
            if not state:  # as _update: zero moments before the first step
                state["step"] = 0
                state["exp_avg"] = zeros_like(p.detach())
                state["exp_avg_sq"] = zeros_like(p.detach())
                if amsgrad:
                    state["max_exp_avg_sq"] = zeros_like(p.detach())
        vmax = [st["max_exp_avg_sq"]._data for st in states] if amsgrad else None
        beta1, beta2 = group["betas"]
        be.adam_update([p._data for p in params], [p.grad._data for p in params],
                       [st["exp_avg"]._data for st in states],
                       [st["exp_avg_sq"]._data for st in states], vmax,
                       [int(st["step"]) + 1 for st in states], lr=group["lr"], beta1=beta1,
                       beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
                       amsgrad=amsgrad, maximize=group["maximize"],
                       decoupled_weight_decay=self._decoupled)
        for state in states:  # counted once the update has happened
            state["step"] += 1


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): θ ← θ·(1 − lr·wd) first,
    then the Adam step. Same arguments as :class:`Adam`, with ``weight_decay`` 1e-2 by
    default."""

    _decoupled = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize, foreach=foreach, fused=fused)
