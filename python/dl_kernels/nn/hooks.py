"""Module hooks with PyTorch's signatures: forward pre-hooks ``hook(module, args)``, forward
hooks ``hook(module, args, output)`` and full backward hooks ``hook(module, grad_input,
grad_output)``. A pre-hook may return new args, a forward hook a new output, a backward hook
new input gradients.

Backward hooks work as PyTorch's: the module's tensor inputs and outputs pass through identity
Functions; the one on the outputs records grad_output, the one on the inputs calls the hooks
with grad_input once backward reaches it.
"""

from __future__ import annotations

from typing import Any, Callable

from dl_kernels.autograd.engine import Function, RemovableHandle
from dl_kernels.tensor import Tensor


class ModuleHooks:
    """The hooks of one module (created on the first registration)."""

    def __init__(self) -> None:
        self.forward_pre: list[Callable] = []
        self.forward: list[Callable] = []
        self.backward: list[Callable] = []

    def add(self, kind: str, fn: Callable) -> RemovableHandle:
        hooks = getattr(self, kind)
        hooks.append(fn)
        return RemovableHandle(hooks, fn)

    def call(self, module: Any, args: tuple, kwargs: dict) -> Any:
        for hook in list(self.forward_pre):
            new = hook(module, args)
            if new is not None:
                args = new if isinstance(new, tuple) else (new,)
        state = None
        if self.backward:
            state = _BackwardState(module, self.backward)
            args = state.wrap_inputs(args)
        out = module.forward(*args, **kwargs)
        for hook in list(self.forward):
            new = hook(module, args, out)
            if new is not None:
                out = new
        if state is not None:
            out = state.wrap_outputs(out)
        return out


class _BackwardState:
    def __init__(self, module: Any, hooks: list[Callable]) -> None:
        self.module, self.hooks = module, list(hooks)
        self.grad_output: tuple | None = None
        self.n_inputs = 0
        self.input_slots: list[int] = []

    def wrap_inputs(self, args: tuple) -> tuple:
        slots = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
        self.input_slots = slots
        if not slots:
            return args
        wrapped = _HookIn.apply(*[args[i] for i in slots], state=self)
        if not isinstance(wrapped, tuple):
            wrapped = (wrapped,)
        out = list(args)
        for i, t in zip(slots, wrapped):
            out[i] = t
        return tuple(out)

    def wrap_outputs(self, out: Any) -> Any:
        single = isinstance(out, Tensor)
        items = (out,) if single else tuple(out) if isinstance(out, tuple) else None
        if items is None:
            return out
        slots = [i for i, o in enumerate(items) if isinstance(o, Tensor) and o.requires_grad]
        if not slots:
            return out
        wrapped = _HookOut.apply(*[items[i] for i in slots], state=self, n=len(items),
                                 slots=tuple(slots))
        if not isinstance(wrapped, tuple):
            wrapped = (wrapped,)
        new = list(items)
        for i, t in zip(slots, wrapped):
            new[i] = t
        if single:
            return new[0]
        return type(out)(*new) if hasattr(out, "_fields") else tuple(new)

    def fire(self, grad_input: tuple) -> tuple:
        for hook in self.hooks:
            new = hook(self.module, grad_input, self.grad_output)
            if new is not None:
                grad_input = tuple(new)
        return grad_input


class _HookIn(Function):
    def forward(self, *arrays, state=None):
        self.state = state
        return arrays if len(arrays) > 1 else arrays[0]

    def backward(self, *grads):
        be = self.be
        gi = tuple(None if g is None else Tensor._wrap(g, be) for g in grads)
        gi = self.state.fire(gi)
        out = tuple(None if g is None else g._data for g in gi)
        return out if len(out) > 1 else out[0]


class _HookOut(Function):
    def forward(self, *arrays, state=None, n=1, slots=()):
        self.state, self.n, self.slots = state, n, slots
        return arrays if len(arrays) > 1 else arrays[0]

    def backward(self, *grads):
        be = self.be
        go: list[Any] = [None] * self.n
        for i, g in zip(self.slots, grads):
            go[i] = Tensor._wrap(g, be)
        self.state.grad_output = tuple(go)
        if not self.state.input_slots:
            self.state.fire((None,))
        return grads if len(grads) > 1 else grads[0]
