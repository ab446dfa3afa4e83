"""The optimiser base class: parameter groups, per-parameter state, state_dict.

Semantics follow ``torch.optim.Optimizer``: ``params`` is an iterable of tensors or of dicts
(parameter groups, each with its own hyper-parameters overriding the defaults);
``zero_grad(set_to_none=True)``; ``step(closure=None)``; ``state_dict()`` holds the state
keyed by the parameter's position over all groups, and ``load_state_dict`` restores it onto
the same parameters in the same order.

Optimisers with a fused update (SGD, Adam, AdamW) take ``fused`` and ``foreach`` flags as
``torch.optim`` does: a group's step is then one backend call over all its parameters
(``backend.sgd_update`` / ``adam_update``: every element read and written once) instead of a
chain of whole-array operations per parameter. Both paths give the same numbers, bit for bit.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any, Callable

import numpy as np

from dl_kernels.autograd.engine import no_grad
from dl_kernels.tensor import Tensor, tensor

_FUSED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _is_tensor(x: Any) -> bool:
    return isinstance(x, Tensor)


def _not_fusable(p: Any) -> str | None:
    """Why parameter ``p`` cannot take the fused update (None when it can)."""
    d = p._data
    if d.dtype not in _FUSED_DTYPES:
        return f"has dtype {d.dtype}, expected float32 or float64"
    if not p._be.is_contiguous(d):
        return "is not contiguous"
    return None


def _not_fusable_group(params: list[Any]) -> str | None:
    """Why the parameters (all with a gradient) cannot share one fused update, or None: one
    backend, one floating dtype, contiguous, and each gradient of its parameter's dtype and
    shape (the backend copies a gradient of other strides)."""
    be, dtype = params[0]._be, params[0]._data.dtype
    for i, p in enumerate(params):
        why = _not_fusable(p)
        if why is None and (p._be is not be or p.grad._be is not be):
            why = "is on another device than the first"
        if why is None and p._data.dtype != dtype:
            why = f"has dtype {p._data.dtype}, the first parameter {dtype}"
        g = p.grad._data
        if why is None and (g.dtype != p._data.dtype or g.shape != p._data.shape):
            why = (f"has a gradient of dtype {g.dtype} and shape {tuple(g.shape)}, expected "
                   f"{p._data.dtype} and {tuple(p._data.shape)}")
        if why is not None:
            return f"parameter {i} of the group {why}"
    return None


class Optimizer:
    """Base class of the optimisers (``torch.optim.Optimizer``).

    Args:
        params: an iterable of Tensors (e.g. ``model.parameters()``), or of dicts (parameter
            groups: ``{"params": [...], "lr": ...}``, each overriding the defaults).
        defaults: the hyper-parameters of every group that does not set its own.

    A training step is ``opt.zero_grad(); loss.backward(); opt.step()``. Subclasses
    implement ``_update(p, grad, group, state)`` for one parameter, and may implement
    ``_fused_step(group, params)`` for all the parameters of a group in one call (see
    :meth:`step` for when it runs).

    Example:
        >>> import dl_kernels as dlk
        >>> model = dlk.nn.Linear(3, 1)
        >>> opt = dlk.optim.SGD([{"params": [model.weight]},
        ...                      {"params": [model.bias], "lr": 0.5}], lr=0.1)
        >>> [g["lr"] for g in opt.param_groups]
        [0.1, 0.5]
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.state: dict[int, dict[str, Any]] = {}  # keyed by id(param)
        self.param_groups: list[dict[str, Any]] = []
        params = list(params)
        if len(params) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)

    # ---- groups -------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a parameter group (a dict with ``"params"`` and optional hyper-parameters;
        the defaults fill the rest), e.g. to train layers unfrozen later.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"a param group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        params = [params] if _is_tensor(params) else list(params)
        for p in params:
            if not _is_tensor(p):
                raise TypeError(f"optimizer can only optimize Tensors, got {type(p).__name__}")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if id(p) in seen:
                raise ValueError("some parameters appear in more than one parameter group")
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        lr = group.get("lr")
        if lr is not None and lr < 0:
            raise ValueError(f"Invalid learning rate: expected >= 0, got {lr}")
        if group.get("fused") and group.get("foreach"):
            raise ValueError("`fused` and `foreach` cannot be `True` together")
        if group.get("fused"):  # as torch: checked when the parameters arrive
            for i, p in enumerate(group["params"]):
                why = _not_fusable(p)
                if why is not None:
                    raise ValueError(f"fused=True: parameter {i} of the group {why}")

    def _fused_mode(self, group: dict[str, Any]) -> str | None:
        """How a group steps: "required" (fused=True), "auto" (the fused update where the
        parameters qualify: the default, and foreach=True, our multi-tensor path being the
        fused update) or None (the per-parameter path: fused=False or foreach=False)."""
        if type(self)._fused_step is Optimizer._fused_step:
            return None
        fused, foreach = group.get("fused"), group.get("foreach")
        if fused:
            return "required"
        if foreach is False or (fused is False and not foreach):
            return None
        return "auto"

    # ---- per-parameter state --------------------------------------------------------------
    def state_of(self, p: Any) -> dict[str, Any]:
        """The per-parameter state dict of ``p`` (momentum buffers, moments, step counts)."""
        return self.state.setdefault(id(p), {})

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of every parameter (set to None by default, or zero them)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    with no_grad():
                        p.grad.zero_()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient, once. ``closure`` (optional) re-runs the
        forward and backward and returns the loss, which ``step`` returns.

        A group takes the fused update (one backend call for all its parameters) when the
        optimiser has one and the group's flags allow it (``fused=True``; or by default, and
        with ``foreach=True``, where the parameters qualify: one floating dtype, contiguous,
        gradients of their parameter's dtype and shape, no two sharing memory); otherwise each
        parameter is updated in turn. ``fused=True`` on parameters that do not qualify is a
        ValueError naming the parameter.
        """
        loss = None
        if closure is not None:
            loss = closure()  # the closure runs forward and backward itself
        with no_grad():
            for group in self.param_groups:
                params = [p for p in group["params"] if p.grad is not None]
                if not params:
                    continue
                mode = self._fused_mode(group)
                if mode is not None and self._try_fused(group, params, mode == "required"):
                    continue
                for p in params:
                    self._update(p, p.grad, group, self.state_of(p))
        return loss

    def _try_fused(self, group: dict[str, Any], params: list[Any], required: bool) -> bool:
        """Run the fused update of a group; False (nothing changed) where it does not apply."""
        why = _not_fusable_group(params)
        if why is not None:
            if required:
                raise ValueError(f"fused=True: {why}")
            return False
        try:
            self._fused_step(group, params)
        except ValueError:
            # The backend checks everything (memory shared between arrays, a hyper-parameter
            # set out of range after construction) before it writes anything: the
            # per-parameter path then does what it always did.
            if required:
                raise
            return False
        return True

    def _update(self, p: Any, grad: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        raise NotImplementedError

    def _fused_step(self, group: dict[str, Any], params: list[Any]) -> None:
        """All ``params`` of ``group`` (each with a gradient) in one backend call. When it
        raises ValueError no parameter or running average may have changed (zero state the
        per-parameter path would create alike may). Optimisers without a fused update keep
        this one."""
        raise NotImplementedError

    # ---- state_dict ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """{'state': {index: {name: Tensor | number}},
        'param_groups': [{..., 'params': [index, ...]}]}"""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if id(p) in self.state and self.state[id(p)]:
                    state[index[id(p)]] = {
                        k: (v.detach().clone() if _is_tensor(v) else copy.deepcopy(v))
                        for k, v in self.state[id(p)].items()
                    }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned onto the same parameters in the same order."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"loaded state dict has {len(groups)} parameter groups, "
                f"this optimizer has {len(self.param_groups)}"
            )
        for saved, own in zip(groups, self.param_groups):
            if len(saved["params"]) != len(own["params"]):
                raise ValueError(
                    "loaded state dict has a parameter group of size "
                    f"{len(saved['params'])}, this optimizer's group has {len(own['params'])}"
                )
        by_index = {}
        for saved, own in zip(groups, self.param_groups):
            for i, p in zip(saved["params"], own["params"]):
                by_index[int(i)] = p
        self.state = {}
        for key, pstate in state_dict["state"].items():
            p = by_index[int(key)]
            restored = {}
            for k, v in pstate.items():
                if _is_tensor(v) or isinstance(v, np.ndarray):
                    arr = v.numpy() if _is_tensor(v) else v
                    if arr.ndim == 0:
                        restored[k] = arr.item()
                        continue
                    if tuple(arr.shape) != tuple(p.shape):
                        raise ValueError(
                            f"optimizer state '{k}' has shape {tuple(arr.shape)}, "
                            f"the parameter has shape {tuple(p.shape)}"
                        )
                    restored[k] = tensor(np.array(arr), dtype=p.dtype, device=p.device)
                else:
                    restored[k] = copy.deepcopy(v)
            self.state[id(p)] = restored
        for saved, own in zip(groups, self.param_groups):
            for k, v in saved.items():
                if k != "params":
                    own[k] = v

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k != "params":
                    lines.append(f"    {k}: {group[k]}")
        lines.append(")")
        return "\n".join(lines)
