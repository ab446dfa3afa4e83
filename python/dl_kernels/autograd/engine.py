"""The autograd engine: grad mode, the Function node, and the reverse walk over the graph.

The whole idea in three parts:

1. Every differentiable op is a ``Function`` subclass with ``forward(self, *arrays, **params)``
   (backend arrays in, array or tuple of arrays out; it may keep on ``self`` what backward
   needs) and ``backward(self, *grads)`` (one gradient per output in, one gradient or None per
   input out, already summed back over broadcast axes).
2. ``Function.apply`` runs forward and, when grad mode is on and an input requires grad, makes
   the Function instance the output tensors' ``grad_fn``: the graph is the chain of
   ``grad_fn.inputs``.
3. ``backward(root)`` orders the nodes reachable from ``root`` topologically (depth-first post
   order), then walks them from the root, calling each node's backward once with the sum of
   the gradients its outputs received, and adds leaf gradients into ``tensor.grad``.

The engine knows tensors only by the few attributes it uses (``_data``, ``_be``, ``grad_fn``,
``_out_idx``, ``requires_grad``, ``_wrap``, ``_accumulate_grad``), and arrays only through the
backend object: it imports nothing from the tensor module, which sits above it.
"""

from __future__ import annotations

import contextlib
import weakref
from typing import Any, Callable

from dl_kernels.errors import OpError

_new = object.__new__


# ---- grad mode ------------------------------------------------------------------------------
class _GradMode:
    enabled = True


def is_grad_enabled() -> bool:
    """True unless inside ``no_grad()`` (or ``set_grad_enabled(False)``)."""
    return _GradMode.enabled


class set_grad_enabled(contextlib.ContextDecorator):
    """Context manager / decorator setting grad mode; also takes effect when called plainly."""

    def __init__(self, mode: bool) -> None:
        self.prev = _GradMode.enabled
        self.mode = bool(mode)
        _GradMode.enabled = self.mode

    def __enter__(self) -> None:
        _GradMode.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        _GradMode.enabled = self.prev


class no_grad(contextlib.ContextDecorator):
    """Nothing computed inside records a graph: ``with no_grad():``, ``@no_grad()`` or
    ``@no_grad``."""

    def __new__(cls, func: Any = None) -> Any:
        self = super().__new__(cls)
        if func is None:
            return self
        self.__init__()
        return self(func)  # used bare as a decorator: the wrapped function

    def __init__(self, func: Any = None) -> None:
        self._prev: list[bool] = []

    def __enter__(self) -> None:
        self._prev.append(_GradMode.enabled)
        _GradMode.enabled = False

    def __exit__(self, *exc: object) -> None:
        _GradMode.enabled = self._prev.pop()


class enable_grad(no_grad):
    """Turn recording back on inside a ``no_grad`` region."""

    def __enter__(self) -> None:
        self._prev.append(_GradMode.enabled)
        _GradMode.enabled = True


# ---- the node -------------------------------------------------------------------------------
class Function:
    """One recorded op: ``inputs`` (tensors or None), ``needs_input_grad``, ``n_outputs``."""

    n_outputs = 1
    inputs: tuple | None = None
    needs_input_grad: tuple = ()
    # Set on a node only when used (register_hook, retain_grad); the class defaults let the
    # engine read them without a failing attribute lookup per node.
    hooks: dict | None = None
    retained: dict | None = None
    # True where every array backward returns is new, returned once and kept by nothing else
    # (a kernel's fresh output): a leaf may then take it as its .grad without a copy.
    owns_grads = False

    def forward(self, *args: Any, **params: Any) -> Any:
        raise NotImplementedError

    def backward(self, *grads: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Any, **params: Any) -> Any:
        """Run forward on the inputs' arrays; record the node when a gradient is needed."""
        fn = _new(cls)
        x = inputs[0]  # by convention the first input is always a tensor
        fn.be = be = x._be
        # One and two inputs (nearly every op) are spelled out: no comprehension, no argument
        # unpacking, on the path every op takes.
        n = len(inputs)
        try:
            if n == 2:
                y = inputs[1]
                needs: tuple = (x.requires_grad, y is not None and y.requires_grad)
                yd = None if y is None else y._data
                out = fn.forward(x._data, yd, **params) if params else fn.forward(x._data, yd)
            elif n == 1:
                needs = (x.requires_grad,)
                out = fn.forward(x._data, **params) if params else fn.forward(x._data)
            else:
                needs = tuple([t is not None and t.requires_grad for t in inputs])
                out = fn.forward(*[None if t is None else t._data for t in inputs], **params)
        except ValueError as e:  # numpy's shape errors, catchable as PyTorch's RuntimeError too
            if isinstance(e, OpError):
                raise
            raise OpError(f"{cls.__name__}: {e}") from e
        node = None
        if _GradMode.enabled and (needs[0] or any(needs)):
            fn.inputs = inputs
            fn.needs_input_grad = needs
            node = fn
        wrap = x._wrap
        if type(out) is tuple:
            fn.n_outputs = len(out)
            fn.out_meta = [(o.shape, o.dtype) for o in out]
            return tuple(wrap(o, be, node, i) for i, o in enumerate(out))
        return wrap(out, be, node, 0)


# ---- tensor hooks ---------------------------------------------------------------------------
class RemovableHandle:
    """What ``register_hook`` (tensors) and ``register_*_hook`` (modules) return."""

    def __init__(self, hooks: list, fn: Callable) -> None:
        self._hooks, self._fn = hooks, fn

    def remove(self) -> None:
        if self._fn in self._hooks:
            self._hooks.remove(self._fn)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


# a leaf tensor's hooks (Tensor has __slots__, so they live here, keyed by identity since a
# tensor's == is elementwise, and dropped with the tensor)
_leaf_hooks: dict[int, tuple[weakref.ref, list]] = {}


def _leaf_hook_list(t: Any, create: bool) -> list | None:
    entry = _leaf_hooks.get(id(t))
    if entry is not None and entry[0]() is t:
        return entry[1]
    if not create:
        return None
    key = id(t)
    ref = weakref.ref(t, lambda _r: _leaf_hooks.pop(key, None))
    _leaf_hooks[key] = (ref, [])
    return _leaf_hooks[key][1]


def register_hook(tensor: Any, fn: Callable) -> RemovableHandle:
    """Call ``fn(grad)`` with the gradient of ``tensor`` each time backward computes it; a
    returned tensor replaces the gradient (PyTorch's Tensor.register_hook)."""
    if not tensor.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if tensor.grad_fn is None:
        hooks = _leaf_hook_list(tensor, True)
    else:
        table = getattr(tensor.grad_fn, "hooks", None)
        if table is None:
            table = tensor.grad_fn.hooks = {}
        hooks = table.setdefault(tensor._out_idx, [])
    hooks.append(fn)
    return RemovableHandle(hooks, fn)


def _run_hooks(hooks: list, g: Any, be: Any, like: Any) -> Any:
    """Each hook sees the gradient as a tensor (made with ``like._wrap``, ``like`` a tensor of the
    graph: the engine never names the Tensor class); a returned tensor replaces it."""
    for fn in list(hooks):
        out = fn(like._wrap(g, be))
        if out is not None:
            g = out._data if hasattr(out, "_data") else be.asarray(out)
    return g


def _accumulate_leaf(t: Any, g: Any, owned: bool = False) -> None:
    hooks = _leaf_hook_list(t, False) if _leaf_hooks else None
    if hooks:
        g = _run_hooks(hooks, g, t._be, t)
        owned = False
    t._accumulate_grad(g, owned)


# ---- gradient-ready hooks on leaves ---------------------------------------------------------
# id(leaf) -> (weak reference, hooks); each hook is called as hook(leaf) once per backward,
# after the leaf's last gradient contribution of that backward is in ``leaf.grad`` (torch's
# post-accumulate-grad hook). Data-parallel training launches a bucket's all-reduce from them
# while backward goes on. Keyed by id (Tensor's == is elementwise), dropped when the leaf dies.
_post_accumulate_hooks: dict[int, tuple[Any, list]] = {}


class PostAccumulateGradHandle:
    """``handle.remove()`` unregisters the hook it was returned for."""

    def __init__(self, key: int, hook: Callable[[Any], None]) -> None:
        self._key, self._hook = key, hook

    def remove(self) -> None:
        entry = _post_accumulate_hooks.get(self._key)
        if entry is not None and self._hook in entry[1]:
            entry[1].remove(self._hook)
            if not entry[1]:
                del _post_accumulate_hooks[self._key]


def register_post_accumulate_grad_hook(tensor: Any, hook: Callable[[Any], None]) -> Any:
    """Call ``hook(tensor)`` once per backward after ``tensor.grad`` holds the sum of all of
    this backward's contributions to it (leaves that require grad only)."""
    if tensor.grad_fn is not None or not tensor.requires_grad:
        raise RuntimeError("post-accumulate-grad hooks can only be registered on leaf tensors "
                           "that require grad")
    key = id(tensor)
    entry = _post_accumulate_hooks.get(key)
    if entry is None or entry[0]() is not tensor:
        ref = weakref.ref(tensor, lambda _r, k=key: _post_accumulate_hooks.pop(k, None))
        entry = _post_accumulate_hooks[key] = (ref, [])
    entry[1].append(hook)
    return PostAccumulateGradHandle(key, hook)


def _run_post_accumulate_hooks(leaf: Any) -> None:
    entry = _post_accumulate_hooks.get(id(leaf))
    if entry is not None and entry[0]() is leaf:
        for hook in list(entry[1]):
            hook(leaf)


def _leaf_edges(order: list[Function]) -> dict[int, int]:
    """How many gradient contributions each hooked leaf can receive from these nodes."""
    counts: dict[int, int] = {}
    for node in order:
        for t, need in zip(node.inputs, node.needs_input_grad):
            if need and t.grad_fn is None and id(t) in _post_accumulate_hooks:
                counts[id(t)] = counts.get(id(t), 0) + 1
    return counts


def _edge_done(counts: dict[int, int], leaf: Any, got: set[int]) -> None:
    """One of ``leaf``'s incoming edges has delivered (or never will): after the last, run its
    hooks if it received a gradient in this backward."""
    left = counts[id(leaf)] - 1
    counts[id(leaf)] = left
    if left == 0 and id(leaf) in got:
        _run_post_accumulate_hooks(leaf)


# ---- the reverse walk -----------------------------------------------------------------------
def _topological_order(root: Function) -> list[Function]:
    """Nodes reachable from root, each after every node that feeds it a gradient."""
    order: list[Function] = []
    visited = {root}
    stack = [(root, iter(root.inputs))]
    while stack:
        node, children = stack[-1]
        for t in children:
            fn = None if t is None else t.grad_fn
            if fn is not None and fn not in visited:
                if fn.inputs is None:
                    raise RuntimeError(_FREED)
                visited.add(fn)
                stack.append((fn, iter(fn.inputs)))
                break
        else:
            stack.pop()
            order.append(node)
    order.reverse()
    return order


_FREED = (
    "Trying to backward through the graph a second time (or to use a graph whose saved values "
    "were freed): pass retain_graph=True to the first backward()"
)


def backward(root: Any, g: Any, retain_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf) (times the seed array ``g``, of root's shape and dtype, on
    root's backend) into every leaf's ``.grad``."""
    be = root._be
    if root.grad_fn is None:  # a leaf: its gradient is the seed
        _accumulate_leaf(root, g)
        _run_post_accumulate_hooks(root)
        return
    if root.grad_fn.inputs is None:
        raise RuntimeError(_FREED)
    pending: dict[Function, list] = {root.grad_fn: [None] * root.grad_fn.n_outputs}
    pending[root.grad_fn][root._out_idx] = g
    order = _topological_order(root.grad_fn)
    # Only when some leaf has a hook: count its edges so the hook fires after the last one.
    counts = _leaf_edges(order) if _post_accumulate_hooks else None
    got: set[int] = set()
    for node in order:
        grads = pending.pop(node, None)
        if grads is None:
            if counts:  # this node gives no gradient, so its leaves get none through it
                for t, need in zip(node.inputs, node.needs_input_grad):
                    if need and id(t) in counts:
                        _edge_done(counts, t, got)
            continue
        hooks = node.hooks
        if hooks:
            for i, fns in hooks.items():
                if grads[i] is not None:
                    grads[i] = _run_hooks(fns, grads[i], be, root)
        retained = node.retained
        if retained:
            for i, t in retained.items():
                if grads[i] is not None:
                    t._accumulate_grad(grads[i])
        if node.n_outputs == 1:
            in_grads = node.backward(grads[0])
        else:
            for i, (shape, dtype) in enumerate(node.out_meta):
                if grads[i] is None:
                    grads[i] = be.zeros(shape, dtype)
            in_grads = node.backward(*grads)
        if type(in_grads) is not tuple:
            in_grads = (in_grads,)
        for t, gi, need in zip(node.inputs, in_grads, node.needs_input_grad):
            if not need:
                continue
            fn = t.grad_fn
            if gi is None:
                if counts and fn is None and id(t) in counts:
                    _edge_done(counts, t, got)
                continue
            if fn is None:
                _accumulate_leaf(t, gi, node.owns_grads)
                if counts and id(t) in counts:
                    got.add(id(t))
                    _edge_done(counts, t, got)
                continue
            slot = pending.get(fn)
            if slot is None:
                slot = pending[fn] = [None] * fn.n_outputs
            i = t._out_idx
            slot[i] = gi if slot[i] is None else be.add(slot[i], gi)
        if not retain_graph:
            node.__dict__.clear()  # drop saved arrays; inputs=None marks the node as freed
            node.inputs = None

