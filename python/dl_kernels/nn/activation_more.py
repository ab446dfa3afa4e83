"""Modules for the activations of ``nn.functional_act`` (PyTorch's names and arguments)."""

from __future__ import annotations

from typing import Any

from dl_kernels.nn import functional_act as A
from dl_kernels.nn.module import Module
from dl_kernels.nn.parameter import Parameter


class _Act(Module):
    """An activation with keyword parameters forwarded to its function."""

    fn: Any = None

    def __init__(self, **params: Any) -> None:
        super().__init__()
        self.params = params

    def forward(self, x: Any) -> Any:
        return type(self).fn(x, **self.params)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.params.items() if k != "inplace")


def _act(name: str, fn: Any, *argnames: str, **defaults: Any) -> type:
    def __init__(self: Any, *args: Any, inplace: bool = False, **kwargs: Any) -> None:
        params = dict(defaults)
        params.update(zip(argnames, args))
        params.update(kwargs)
        _Act.__init__(self, **params)

    return type(name, (_Act,), {"fn": staticmethod(fn), "__init__": __init__,
                                "__doc__": f"{fn.__doc__ or name}"})


GELU = _act("GELU", A.gelu, "approximate", approximate="none")
SiLU = _act("SiLU", A.silu)
ELU = _act("ELU", A.elu, "alpha", alpha=1.0)
SELU = _act("SELU", A.selu)
CELU = _act("CELU", A.celu, "alpha", alpha=1.0)
ReLU6 = _act("ReLU6", A.relu6)
Hardtanh = _act("Hardtanh", A.hardtanh, "min_val", "max_val", min_val=-1.0, max_val=1.0)
Hardswish = _act("Hardswish", A.hardswish)
Hardsigmoid = _act("Hardsigmoid", A.hardsigmoid)
Mish = _act("Mish", A.mish)
Softsign = _act("Softsign", A.softsign)
LogSigmoid = _act("LogSigmoid", A.logsigmoid)
Softmin = _act("Softmin", A.softmin, "dim", dim=None)
Tanhshrink = _act("Tanhshrink", A.tanhshrink)
Softshrink = _act("Softshrink", A.softshrink, "lambd", lambd=0.5)
Hardshrink = _act("Hardshrink", A.hardshrink, "lambd", lambd=0.5)
GLU = _act("GLU", A.glu, "dim", dim=-1)
Threshold = _act("Threshold", A.threshold, "threshold", "value")


class PReLU(Module):
    """max(0, x) + a min(0, x) with a learnt slope a (one, or one per channel), He et al.
    2015."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        from dl_kernels.dtypes import float32
        from dl_kernels.factories import full

        self.num_parameters = num_parameters
        self.weight = Parameter(full((num_parameters,), init, dtype=dtype or float32,
                                         device=device))

    def forward(self, x: Any) -> Any:
        return A.prelu(x, self.weight)


class RReLU(Module):
    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
                 inplace: bool = False) -> None:
        super().__init__()
        self.lower, self.upper = lower, upper

    def forward(self, x: Any) -> Any:
        return A.rrelu(x, self.lower, self.upper, self.training)


SiLU.__doc__ = "x σ(x) (also called swish)."
