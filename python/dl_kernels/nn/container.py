"""Containers: Sequential, ModuleList, ModuleDict."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

from dl_kernels.nn.module import Module


class Sequential(Module):
    """Modules applied in order; built from positional modules or one OrderedDict."""

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, m in args[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def forward(self, x: Any) -> Any:
        mods = tuple(self._modules.values())
        n, i = len(mods), 0
        while i < n:
            m = mods[i]
            act = _fused_activation(m, mods[i + 1]) if i + 1 < n else None
            if act is None:
                x = m(x)
                i += 1
            else:  # the layer's kernel applies the activation as it writes its output
                x = m._forward_activation(x, act)
                i += 2
        return x

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, idx: int | slice) -> Any:
        items = list(self._modules.items())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(items[idx]))
        if not -len(items) <= idx < len(items):
            raise IndexError(f"index {idx} is out of range for a Sequential of {len(items)}")
        return items[idx][1]

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self


class ModuleList(Module):
    """A list of modules whose parameters are registered."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        for m in modules or []:
            self.append(m)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, idx: int) -> Module:
        return list(self._modules.values())[idx]


class ModuleDict(Module):
    """A dict of modules whose parameters are registered."""

    def __init__(self, modules: dict[str, Module] | None = None) -> None:
        super().__init__()
        for k, m in (modules or {}).items():
            self.add_module(k, m)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def keys(self) -> Any:
        return self._modules.keys()

    def items(self) -> Any:
        return self._modules.items()

    def values(self) -> Any:
        return self._modules.values()


_FUSIONS: dict[tuple[type, type], str] = {}


def _fused_activation(layer: Module, nxt: Module) -> str | None:
    """The activation a layer's kernel can apply for the module after it (a Linear followed by
    ReLU, Tanh or Sigmoid; a Conv2d followed by ReLU), or None. Exact types only (a subclass
    may change forward) and no hooks on either (they must see both outputs)."""
    if "_hooks" in layer.__dict__ or "_hooks" in nxt.__dict__:
        return None
    if not _FUSIONS:  # built on first use: the layer modules import this one
        from dl_kernels.nn.activation import ReLU, Sigmoid, Tanh
        from dl_kernels.nn.layers import Conv2d, Linear

        _FUSIONS.update({(Linear, ReLU): "relu", (Linear, Tanh): "tanh",
                         (Linear, Sigmoid): "sigmoid", (Conv2d, ReLU): "relu"})
    return _FUSIONS.get((type(layer), type(nxt)))
