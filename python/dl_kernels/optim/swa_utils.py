"""Weight averaging: stochastic weight averaging (SWA, Izmailov et al. 2018, "Averaging weights
leads to wider optima and better generalization") and an exponential moving average of the
weights (Polyak & Juditsky 1992), with ``torch.optim.swa_utils``'s names and semantics.

The average of the points a run visits late in training sits nearer the centre of the flat
region they wander over than any one of them, and generalises better; with batch normalisation
the running statistics must then be recomputed for the averaged weights (:func:`update_bn`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from dl_kernels.autograd.engine import no_grad
from dl_kernels.nn.module import Module
from dl_kernels.nn.normalization import _BatchNorm
from dl_kernels.tensor import tensor

AvgFn = Callable[[Any, Any, Any], Any]


def get_ema_avg_fn(decay: float = 0.999) -> AvgFn:
    """The exponential moving average: avg <- decay * avg + (1 - decay) * current."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"get_ema_avg_fn: decay must be in [0, 1], got {decay}")

    def ema(averaged: Any, current: Any, num_averaged: Any) -> Any:
        return averaged * decay + current * (1.0 - decay)

    return ema


def get_swa_avg_fn() -> AvgFn:
    """The running equal-weight mean: avg <- avg + (current - avg) / (n + 1)."""

    def swa(averaged: Any, current: Any, num_averaged: Any) -> Any:
        return averaged + (current - averaged) / (int(num_averaged) + 1)

    return swa


class AveragedModel(Module):
    """A copy of ``model`` whose parameters are the average of the ``model`` parameters passed
    to :meth:`update_parameters` (the first call copies them).

    Args:
        model: the module to average; it is deep-copied, so training it leaves this untouched.
        avg_fn: ``avg_fn(averaged, current, num_averaged) -> new average`` per tensor; None
            (default) is the equal-weight mean of SWA, :func:`get_ema_avg_fn` an EMA.
        use_buffers: also average the buffers (running statistics); False (default) leaves
            them as copied, to be recomputed with :func:`update_bn`.

    Example:
        >>> import dl_kernels as dlk
        >>> lin = dlk.nn.Linear(1, 1, bias=False)
        >>> swa = AveragedModel(lin)
        >>> for w in (1.0, 2.0, 6.0):
        ...     _ = lin.weight.data.fill_(w)
        ...     swa.update_parameters(lin)
        >>> swa.module.weight.item(), int(swa.n_averaged)
        (3.0, 3)
    """

    def __init__(self, model: Module, avg_fn: AvgFn | None = None,
                 use_buffers: bool = False) -> None:
        super().__init__()
        self.module = copy.deepcopy(model)
        self.register_buffer("n_averaged", tensor(0))
        self.avg_fn = avg_fn if avg_fn is not None else get_swa_avg_fn()
        self.use_buffers = use_buffers

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    def _tensors(self, model: Module) -> tuple[list[Any], list[Any]]:
        mine = list(self.module.parameters())
        theirs = list(model.parameters())
        if self.use_buffers:
            mine += [b for b in self.module.buffers() if b is not None]
            theirs += [b for b in model.buffers() if b is not None]
        if len(mine) != len(theirs):
            raise ValueError(f"AveragedModel.update_parameters: expected a model with "
                             f"{len(mine)} tensors like the averaged one, got {len(theirs)}")
        for a, b in zip(mine, theirs):
            if tuple(a.shape) != tuple(b.shape):
                raise ValueError(f"AveragedModel.update_parameters: expected a tensor of shape "
                                 f"{tuple(a.shape)}, got {tuple(b.shape)}")
        return mine, theirs

    def update_parameters(self, model: Module) -> None:
        """Fold ``model``'s current parameters (and buffers, with ``use_buffers``) into the
        average."""
        mine, theirs = self._tensors(model)
        n = int(self.n_averaged)
        with no_grad():
            for a, b in zip(mine, theirs):
                b = b.detach()
                if n == 0 or not b.is_floating_point():
                    a.copy_(b)  # integer buffers (batch counters) follow the model
                else:
                    a.copy_(self.avg_fn(a.detach(), b, n))
            self.n_averaged.add_(1)


def update_bn(loader: Iterable[Any], model: Module) -> None:
    """Recompute the batch-norm running statistics of ``model`` (e.g. an :class:`AveragedModel`)
    as cumulative averages over one pass of ``loader`` (batches, or tuples whose first element
    is the input); other modules and the training mode are restored afterwards."""
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    if not norms:
        return
    momenta = {}
    for m in norms:
        m.reset_running_stats()
        momenta[m] = m.momentum
        m.momentum = None
    was_training = model.training
    model.train()
    with no_grad():
        for batch in loader:
            model(batch[0] if isinstance(batch, (tuple, list)) else batch)
    for m, momentum in momenta.items():
        m.momentum = momentum
    model.train(was_training)
