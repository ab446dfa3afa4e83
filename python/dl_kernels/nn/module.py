"""Module: the base class of every layer, with PyTorch's habits.

Assigning a ``Parameter`` or a ``Module`` to an attribute registers it; ``register_buffer``
registers a tensor that is saved with the model but not trained. Names are dotted paths
(``"encoder.0.weight"``), in registration order.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, Callable, NamedTuple

import numpy as np

from dl_kernels.autograd.engine import no_grad
from dl_kernels.dtypes import float32, float64
from dl_kernels.nn import serialization
from dl_kernels.nn.parameter import Parameter
from dl_kernels.nn.serialization import CheckpointError
from dl_kernels.tensor import Tensor, tensor


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` did not match: keys the model has that the state lacks, and
    keys the state has that the model lacks (both empty after a strict load)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _as_numpy(value: Any) -> np.ndarray:
    """A Tensor, numpy array, or anything with ``.detach().cpu().numpy()`` (a torch tensor)."""
    if isinstance(value, Tensor):
        return value.detach().to("cpu").numpy()
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


class Module:
    """The base class of every layer and model, as ``torch.nn.Module``.

    Subclass it, call ``super().__init__()`` first, assign layers (Modules) and
    :class:`Parameter` s as attributes (they are registered under those names), and define
    :meth:`forward`. Calling the module calls ``forward``. A module is in training mode
    after construction; :meth:`eval` switches layers such as Dropout to inference.

    Example:
        >>> import dl_kernels as dlk
        >>> from dl_kernels import nn
        >>> class TwoLayer(nn.Module):
        ...     def __init__(self, n_in, n_hidden, n_out):
        ...         super().__init__()
        ...         self.hidden = nn.Linear(n_in, n_hidden)
        ...         self.out = nn.Linear(n_hidden, n_out)
        ...     def forward(self, x):
        ...         return self.out(dlk.relu(self.hidden(x)))
        >>> net = TwoLayer(4, 8, 3)
        >>> net(dlk.randn(5, 4)).shape
        (5, 3)
        >>> [name for name, _ in net.named_parameters()]
        ['hidden.weight', 'hidden.bias', 'out.weight', 'out.bias']
        >>> net.num_parameters()
        67
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration -----------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() was called in "
                f"{type(self).__name__}.__init__")
        params, modules, buffers = self._parameters, self._modules, self._buffers
        if isinstance(value, Parameter):
            modules.pop(name, None)
            buffers.pop(name, None)
            self.__dict__.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None)
            buffers.pop(name, None)
            self.__dict__.pop(name, None)
            modules[name] = value
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"buffer {name!r} must be a Tensor or None, "
                                f"got {type(value).__name__}")
            buffers[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter {name!r} "
                                "(dl_kernels.nn.Parameter or None expected); to change its "
                                f"values use `with no_grad(): module.{name}.copy_(...)`")
            params[name] = None
        else:
            params.pop(name, None)
            modules.pop(name, None)
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (a Parameter, or None) under ``name``, as attribute assignment does."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__} as parameter {name!r} "
                            "(dl_kernels.nn.Parameter or None required)")
        self.__dict__.pop(name, None)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        """Register a tensor that is part of the module's state but not trained (e.g. running
        statistics); ``persistent=False`` keeps it out of :meth:`state_dict`.
        """
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"buffer {name!r} must be a Tensor or None, "
                            f"got {type(tensor).__name__}")
        self._buffers[name] = tensor
        if not persistent:
            self.__dict__.setdefault("_non_persistent", set()).add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register a child module under ``name`` (as ``setattr``, for names built at run time)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._modules[name] = module

    # ---- traversal ----------------------------------------------------------------------
    def named_modules(self, memo: set[int] | None = None,
                      prefix: str = "") -> Iterator[tuple[str, Module]]:
        """``(dotted name, module)`` for this module (name ``''``) and every descendant, once each."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                sub = f"{prefix}.{name}" if prefix else name
                yield from module.named_modules(memo, sub)

    def modules(self) -> Iterator[Module]:
        """This module and every descendant."""
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """``(name, module)`` of the direct children."""
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def children(self) -> Iterator[Module]:
        """The direct children."""
        for _, m in self.named_children():
            yield m

    def named_parameters(self, prefix: str = "",
                         recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, Parameter)`` of every parameter, in registration order, each once.

        Example:
            >>> [n for n, _ in dlk.nn.Linear(2, 3).named_parameters()]
            ['weight', 'bias']
        """
        seen: set[int] = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, module in modules:
            for name, p in module._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter (what an optimiser takes).

        Example:
            >>> sum(p.numel() for p in dlk.nn.Linear(2, 3).parameters())
            9
        """
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Any]]:
        """``(dotted name, Tensor)`` of every buffer."""
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, module in modules:
            for name, b in module._buffers.items():
                if b is not None:
                    yield (f"{mod_prefix}.{name}" if mod_prefix else name), b

    def buffers(self, recurse: bool = True) -> Iterator[Any]:
        """Every buffer."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Total number of scalar parameters (shared parameters counted once)."""
        return sum(int(np.prod(p.shape)) for p in self.parameters()
                   if p.requires_grad or not trainable_only)

    # ---- modes and gradients ------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (``mode=True``) or evaluation mode on this module and all
        descendants; returns ``self``. Dropout is active only in training mode.
        """
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """``train(False)``: inference behaviour for Dropout and similar layers; returns ``self``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter (False freezes them); returns ``self``."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of every parameter (set to None, or zero them in place)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                with no_grad():
                    p.grad.zero_()

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn(module)`` on every descendant and then on this module; returns ``self``."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- device and dtype ---------------------------------------------------------------
    def _apply_to_tensors(self, fn: Callable[[Any], Any]) -> Module:
        """Replace every parameter's and buffer's storage with ``fn(tensor)``, in place, so
        references held elsewhere (an optimiser) stay valid."""
        with no_grad():
            for m in self.modules():
                for p in m._parameters.values():
                    if p is not None:
                        p.data = fn(p.data)
                        if p.grad is not None:
                            p.grad = fn(p.grad)
                for name, b in list(m._buffers.items()):
                    if b is not None:
                        m._buffers[name] = fn(b)
        return self

    def to(self, device: Any = None, dtype: Any = None) -> Module:
        """Move to ``device`` and/or cast floating parameters to ``dtype``, in place."""
        def convert(t: Any) -> Any:
            return t.to(device=device, dtype=dtype) if _is_float(t) else t.to(device=device)
        return self._apply_to_tensors(convert)

    def cpu(self) -> Module:
        """``to('cpu')``."""
        return self.to("cpu")

    def cuda(self) -> Module:
        """``to('cuda')``."""
        return self.to("cuda")

    def float(self) -> Module:
        """Cast floating parameters and buffers to float32."""
        return self.to(dtype=float32)

    def double(self) -> Module:
        """Cast floating parameters and buffers to float64 (for gradient checks)."""
        return self.to(dtype=float64)

    # ---- calling --------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; subclasses define it. Call the module (``m(x)``), not ``forward``."""
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        hooks = self.__dict__.get("_hooks")
        if hooks is None:
            return self.forward(*args, **kwargs)
        return hooks.call(self, args, kwargs)

    # ---- hooks (PyTorch's signatures; see nn.hooks) ------------------------------------------
    def _hook_table(self) -> Any:
        from dl_kernels.nn.hooks import ModuleHooks

        if "_hooks" not in self.__dict__:
            object.__setattr__(self, "_hooks", ModuleHooks())
        return self.__dict__["_hooks"]

    def register_forward_pre_hook(self, hook: Callable) -> Any:
        """``hook(module, args)`` before forward; may return new args."""
        return self._hook_table().add("forward_pre", hook)

    def register_forward_hook(self, hook: Callable) -> Any:
        """``hook(module, args, output)`` after forward; may return a new output."""
        return self._hook_table().add("forward", hook)

    def register_full_backward_hook(self, hook: Callable) -> Any:
        """``hook(module, grad_input, grad_output)`` when the gradients with respect to the
        module's inputs are computed; may return new grad_input."""
        return self._hook_table().add("backward", hook)

    register_backward_hook = register_full_backward_hook

    # ---- state ----------------------------------------------------------------------------
    def state_dict(self, prefix: str = "") -> OrderedDict[str, Any]:
        """Name -> detached Tensor, for every parameter and persistent buffer."""
        out: OrderedDict[str, Any] = OrderedDict()
        for mod_prefix, module in self.named_modules(prefix=prefix.rstrip(".")):
            dot = f"{mod_prefix}." if mod_prefix else ""
            for name, p in module._parameters.items():
                if p is not None:
                    out[dot + name] = p.detach()
            skip = module.__dict__.get("_non_persistent", set())
            for name, b in module._buffers.items():
                if b is not None and name not in skip:
                    out[dot + name] = b.detach()
        return out

    def _state_targets(self) -> OrderedDict[str, tuple[Module, str, str]]:
        out: OrderedDict[str, tuple[Module, str, str]] = OrderedDict()
        for mod_prefix, module in self.named_modules():
            dot = f"{mod_prefix}." if mod_prefix else ""
            for name, p in module._parameters.items():
                if p is not None:
                    out.setdefault(dot + name, (module, name, "param"))
            skip = module.__dict__.get("_non_persistent", set())
            for name, b in module._buffers.items():
                if b is not None and name not in skip:
                    out.setdefault(dot + name, (module, name, "buffer"))
        return out

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> IncompatibleKeys:
        """Copy values (Tensors, numpy arrays or torch tensors) into this module's tensors.

        Shapes must match exactly (ValueError naming the key and both shapes). With
        ``strict=True`` missing or unexpected keys raise ValueError listing them; otherwise
        they are returned as ``(missing_keys, unexpected_keys)``.
        """
        targets = self._state_targets()
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        if strict and (missing or unexpected):
            raise ValueError(
                f"error loading state_dict into {type(self).__name__}: "
                f"missing keys {missing}, unexpected keys {unexpected}")
        with no_grad():
            for key, (module, name, kind) in targets.items():
                if key not in state_dict:
                    continue
                value = _as_numpy(state_dict[key])
                target = module._parameters[name] if kind == "param" else module._buffers[name]
                if tuple(value.shape) != tuple(target.shape):
                    raise ValueError(
                        f"size mismatch for {key!r}: the checkpoint has shape "
                        f"{tuple(value.shape)}, the model expects {tuple(target.shape)}")
                target.copy_(tensor(np.ascontiguousarray(value), dtype=target.dtype,
                                        device=target.device))
        return IncompatibleKeys(missing, unexpected)

    def save(self, path: str | os.PathLike) -> None:
        """Write the state_dict to one file, atomically (see nn.serialization)."""
        serialization.save({"module": type(self).__name__, "state": dict(self.state_dict())},
                           path)

    def load(self, path: str | os.PathLike, strict: bool = True) -> Module:
        """Load a file written by ``save`` into this module, in place; returns self.

        A missing, truncated or corrupted file, or one whose keys or shapes do not fit this
        module, raises CheckpointError (a ValueError).
        """
        blob = serialization.load(path)
        if not isinstance(blob, dict) or "state" not in blob:
            raise CheckpointError(f"{os.fspath(path)!r} holds no module state")
        try:
            self.load_state_dict(blob["state"], strict=strict)
        except ValueError as exc:
            raise CheckpointError(f"checkpoint {os.fspath(path)!r} does not fit "
                                  f"{type(self).__name__}: {exc}") from exc
        return self

    # ---- torch interop (per-layer overrides where the layouts differ) -----------------------
    def to_torch_state_dict(self, convert: Callable[[np.ndarray], Any] | None = None,
                            prefix: str = "") -> OrderedDict[str, Any]:
        """This module's state under the names and layout of the torch.nn equivalent.

        Values are numpy arrays, or ``convert(array)`` (pass ``torch.from_numpy`` to get a
        dict that ``torch.nn.Module.load_state_dict`` accepts). Children are converted by
        their own rules, so a Sequential of convertible layers converts as a whole.
        """
        out: OrderedDict[str, Any] = OrderedDict()
        dot = f"{prefix}." if prefix else ""
        for name, arr in self._own_torch_state().items():
            out[dot + name] = convert(arr) if convert else arr
        for name, child in self.named_children():
            out.update(child.to_torch_state_dict(convert, prefix=dot + name))
        return out

    def from_torch_state_dict(self, state_dict: Any, strict: bool = True) -> Module:
        """Load a torch.nn state_dict (torch tensors or arrays) into this module; returns self."""
        ours: dict[str, np.ndarray] = {}
        self._collect_from_torch({k: _as_numpy(v) for k, v in state_dict.items()}, "", ours)
        self.load_state_dict(ours, strict=strict)
        return self

    def _collect_from_torch(self, sd: dict[str, np.ndarray], prefix: str,
                            ours: dict[str, np.ndarray]) -> None:
        dot = f"{prefix}." if prefix else ""
        own = {k[len(dot):]: v for k, v in sd.items()
               if k.startswith(dot) and "." not in k[len(dot):]}
        for k, v in self._own_from_torch(own).items():
            ours[dot + k] = v
        for name, child in self.named_children():
            child._collect_from_torch(sd, dot + name, ours)

    def _own_torch_state(self) -> dict[str, np.ndarray]:
        """This module's own (non-child) tensors in torch's layout; identity by default."""
        return {k: _as_numpy(v) for k, v in self._parameters.items() if v is not None} | {
            k: _as_numpy(v) for k, v in self._buffers.items() if v is not None}

    def _own_from_torch(self, sd: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Inverse of ``_own_torch_state``: torch-layout own tensors -> our names."""
        return dict(sd)

    # ---- printing -------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """Extra text inside this module's repr (its sizes); subclasses override it."""
        return ""

    def __repr__(self) -> str:
        n = self.num_parameters()
        head = f"{type(self).__name__}({self.extra_repr()}"
        count = f"  # {n:,} parameters" if n else ""
        children = list(self.named_children())
        if not children:
            return f"{head}){count}"
        lines = [head + count]
        for name, child in children:
            lines.append(f"  ({name}): " + repr(child).replace("\n", "\n  "))
        lines.append(")")
        return "\n".join(lines)


def _is_float(t: Any) -> bool:
    return np.dtype(t.dtype).kind == "f" if _np_dtype_ok(t) else True


def _np_dtype_ok(t: Any) -> bool:
    try:
        np.dtype(t.dtype)
        return True
    except TypeError:
        return False
