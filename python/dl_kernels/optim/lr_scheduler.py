"""Learning-rate schedules, with PyTorch's scheduler protocol.

A scheduler wraps an optimiser; ``step()`` (once per epoch or per iteration, as the user
chooses) advances its counter and writes the new rate into every parameter group; its
``get_last_lr()`` returns the rates it last set; ``state_dict``/``load_state_dict`` hold its
counters. The base rate of each group is remembered as ``initial_lr`` in the group.

From the course: ExponentialDecay r = r0·β^(t/τ) (learning-rate decay), InverseTime
α(i) = α0/(i + c) (the stochastic-approximation step size, Robbins & Monro 1951), BoldDriver
η ← 1.1·η when the loss fell and 0.5·η when it rose (Vogl et al. 1988; Battiti 1989).
Also PyTorch's StepLR and ReduceLROnPlateau with torch's arguments and semantics.
"""

from __future__ import annotations

import math
from typing import Any

from dl_kernels.optim.optimizer import Optimizer


class LRScheduler:
    """Base class of the epoch-indexed schedules (``torch.optim.lr_scheduler.LRScheduler``).

    Construction records each group's rate as ``initial_lr`` and applies the rate of epoch
    0; each ``step()`` advances one epoch and sets every group's ``lr`` to
    ``lr_at(initial_lr, epoch)``, which subclasses define.

    Example:
        >>> import dl_kernels as dlk
        >>> opt = dlk.optim.SGD(dlk.nn.Linear(2, 1).parameters(), lr=1.0)
        >>> sched = dlk.optim.StepLR(opt, step_size=2, gamma=0.5)
        >>> rates = []
        >>> for epoch in range(5):
        ...     rates.append(opt.param_groups[0]["lr"])
        ...     sched.step()
        >>> rates
        [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError("param 'initial_lr' is not specified in param_groups when "
                               "resuming a scheduler (last_epoch != -1)")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, base_lr: float, t: int) -> float:
        """The rate at epoch ``t`` for a group whose initial rate is ``base_lr`` (subclasses define it)."""
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        """The rates of the current epoch, one per parameter group."""
        return [self.lr_at(b, self.last_epoch) for b in self.base_lrs]

    def step(self) -> None:
        """Advance one epoch and set every group's ``lr``."""
        self.last_epoch += 1
        lrs = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The rates last set, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state (epoch, base rates, its own settings), for checkpoints."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.__dict__.update(state_dict)


class ExponentialDecay(LRScheduler):
    """r = r0·β^(t/τ): the rate falls by the factor β every τ steps, smoothly in between."""

    def __init__(self, optimizer: Optimizer, beta: float, tau: float = 1.0,
                 last_epoch: int = -1) -> None:
        if not 0 < beta <= 1 or tau <= 0:
            raise ValueError(f"ExponentialDecay needs 0 < beta <= 1 and tau > 0, "
                             f"got beta={beta}, tau={tau}")
        self.beta, self.tau = beta, tau
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, t: int) -> float:
        return base_lr * self.beta ** (t / self.tau)


class ExponentialLR(ExponentialDecay):
    """PyTorch's ExponentialLR: lr = lr0·γ^t (ExponentialDecay with β = γ, τ = 1)."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        super().__init__(optimizer, beta=gamma, tau=1.0, last_epoch=last_epoch)


class InverseTime(LRScheduler):
    """α(i) = α0/(i + c), with α0 the group's rate when the scheduler is made (c = 1: α(0) = α0)."""

    def __init__(self, optimizer: Optimizer, c: float = 1.0, last_epoch: int = -1) -> None:
        if c <= 0:
            raise ValueError(f"InverseTime needs c > 0, got {c}")
        self.c = c
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, t: int) -> float:
        return base_lr / (t + self.c)


class StepLR(LRScheduler):
    """PyTorch's StepLR: lr = lr0·γ^⌊t/step_size⌋."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        if step_size < 1:
            raise ValueError(f"StepLR needs step_size >= 1, got {step_size}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, t: int) -> float:
        return base_lr * self.gamma ** (t // self.step_size)


class BoldDriver:
    """η ← increase·η when the loss fell, decrease·η when it rose (the "bold driver", Battiti 1989: ×1.1 / ×0.5).

    ``step(loss)`` once per epoch with that epoch's loss; the first call only records it;
    an equal loss leaves the rate unchanged; rates are kept within [min_lr, max_lr].
    """

    def __init__(self, optimizer: Optimizer, increase: float = 1.1, decrease: float = 0.5,
                 min_lr: float = 0.0, max_lr: float = math.inf) -> None:
        if increase < 1 or not 0 < decrease <= 1:
            raise ValueError(f"BoldDriver needs increase >= 1 and 0 < decrease <= 1, "
                             f"got increase={increase}, decrease={decrease}")
        self.optimizer = optimizer
        self.increase, self.decrease = increase, decrease
        self.min_lr, self.max_lr = min_lr, max_lr
        self.last_loss: float | None = None
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def step(self, loss: Any) -> None:
        loss = float(loss)
        if self.last_loss is not None and loss != self.last_loss:
            factor = self.increase if loss < self.last_loss else self.decrease
            for group in self.optimizer.param_groups:
                group["lr"] = min(self.max_lr, max(self.min_lr, group["lr"] * factor))
        self.last_loss = loss
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The rates last set, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state, for checkpoints."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.__dict__.update(state_dict)


class ReduceLROnPlateau:
    """PyTorch's ReduceLROnPlateau: scale the rate by ``factor`` after ``patience`` epochs
    without improvement (relative or absolute ``threshold``), then wait ``cooldown`` epochs."""

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | list[float] = 0.0,
        eps: float = 1e-8,
    ) -> None:
        if factor >= 1.0:
            raise ValueError(f"Factor should be < 1.0, got {factor}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.optimizer = optimizer
        n = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n:
                raise ValueError(f"expected {n} min_lrs, got {len(min_lr)}")
            self.min_lrs = list(min_lr)
        else:
            self.min_lrs = [min_lr] * n
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = cooldown, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min":
            ref = best * (1 - self.threshold) if self.threshold_mode == "rel" \
                else best - self.threshold
            return a < ref
        ref = best * (1 + self.threshold) if self.threshold_mode == "rel" \
            else best + self.threshold
        return a > ref

    def step(self, metrics: Any) -> None:
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
                old = group["lr"]
                new = max(old * self.factor, min_lr)
                if old - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(state_dict)
