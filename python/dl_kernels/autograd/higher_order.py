"""Gradients as tensors: ``autograd.grad`` and ``backward(create_graph=True)``.

The engine's reverse walk (engine.py) works on backend arrays, which is fast but leaves no
graph behind. Here the same walk runs with Tensor gradients. With ``create_graph=False`` each
node's array backward is used and its result wrapped; with ``create_graph=True`` each node's
gradient is computed by Tensor ops (the rules in ``_RULES``), so the gradients are themselves
differentiable: double backward, gradient penalties, Hessian-vector products. A node without a
Tensor rule raises NotImplementedError naming the op, never a silently missing term.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Callable

from dl_kernels.autograd import function as Fn
from dl_kernels.autograd import math_ops as M
from dl_kernels.autograd import scan_ops as S
from dl_kernels.autograd import shape_ops as SO
from dl_kernels.autograd.engine import Function, _GradMode, _topological_order, enable_grad


def _sum_to(g: Any, shape: tuple) -> Any:
    """Sum a broadcast gradient (a Tensor) back to ``shape``."""
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    lead = g.ndim - len(shape)
    if lead:
        g = g.sum(tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axes, keepdim=True)
    return g.reshape(shape)


def _expand_reduced(g: Any, shape: tuple, axis: Any, keepdim: bool) -> Any:
    if not keepdim and axis is not None:
        axes = axis if isinstance(axis, tuple) else (axis,)
        g = g.reshape(tuple(1 if i in axes else n for i, n in enumerate(shape)))
    return g.expand(shape)


def _binary_scalar(node: Function) -> bool:
    return node.inputs[1] is None


# Each rule: (node, grads as Tensors) -> one Tensor (or None) per input, using node.inputs
# (the input tensors) and the parameters the node kept.
def _add(n: Function, g: Any) -> tuple:
    a, b = n.inputs
    return _sum_to(g, a.shape), (None if b is None else _sum_to(g, b.shape))


def _sub(n: Function, g: Any) -> tuple:
    a, b = n.inputs
    if b is None:
        return (-g if n.reverse else g), None
    return _sum_to(g, a.shape), _sum_to(-g, b.shape)


def _mul(n: Function, g: Any) -> tuple:
    a, b = n.inputs
    if b is None:
        return g * n.scalar, None
    return _sum_to(g * b, a.shape), _sum_to(g * a, b.shape)


def _div(n: Function, g: Any) -> tuple:
    a, b = n.inputs
    if b is None:
        return ((-g * n.scalar / (a * a)) if n.reverse else g / n.scalar), None
    return _sum_to(g / b, a.shape), _sum_to(-g * a / (b * b), b.shape)


def _pow(n: Function, g: Any) -> tuple:
    a, b = n.inputs
    if b is None:
        s = n.scalar
        if n.reverse:
            return g * (s ** a) * math.log(s), None
        if s == 0:
            return g * 0.0, None
        return g * s * a ** (s - 1), None
    # Tensor methods only: this module sits below the tensor layer and imports none of it
    da = (b * a ** (b - 1)).where(b != 0, 0.0)
    db = ((a ** b) * a.log()).where(~((a == 0) & (b >= 0)), 0.0)
    return _sum_to(g * da, a.shape), _sum_to(g * db, b.shape)


def _matmul(n: Function, g: Any) -> tuple:
    a, b = n.inputs
    if a.ndim == 1 or b.ndim == 1:
        a2 = a.reshape(1, -1) if a.ndim == 1 else a
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = g2.unsqueeze(-2)
        if b.ndim == 1:
            g2 = g2.unsqueeze(-1)
        ga = _sum_to(g2 @ b2.transpose(-2, -1), a2.shape).reshape(a.shape)
        gb = _sum_to(a2.transpose(-2, -1) @ g2, b2.shape).reshape(b.shape)
        return ga, gb
    return _sum_to(g @ b.transpose(-2, -1), a.shape), _sum_to(a.transpose(-2, -1) @ g, b.shape)


def _linear(n: Function, g: Any) -> tuple:
    x, w, b = n.inputs
    g2 = g.reshape(-1, g.shape[-1])
    x2 = x.reshape(-1, x.shape[-1])
    return ((g2 @ w).reshape(x.shape), g2.t() @ x2, None if b is None else g2.sum(0))


def _unary(deriv: Callable[[Any], Any]) -> Callable:
    return lambda n, g: (g * deriv(n.inputs[0]),)


def _softmax(n: Function, g: Any) -> tuple:
    y = n.inputs[0].softmax(n.dim)
    gy = g * y
    return (gy - y * gy.sum(n.dim, keepdim=True),)


def _log_softmax(dim_of: Callable[[Function], int]) -> Callable:
    def rule(n: Function, g: Any) -> tuple:
        d = dim_of(n)
        p = n.inputs[0].softmax(d)
        return (g - p * g.sum(d, keepdim=True),)

    return rule


def _where(n: Function, g: Any) -> tuple:
    cond = g._wrap(n.cond, n.be)  # g is a tensor: its _wrap makes one, no import of the class
    zero = g * 0.0
    a, b = n.inputs
    return _sum_to(g.where(cond, zero), a.shape), _sum_to(zero.where(cond, g), b.shape)


def _cat(n: Function, g: Any) -> tuple:
    sizes = [t.shape[n.axis] for t in n.inputs]
    return tuple(g.split(sizes, n.axis))


def _stack(n: Function, g: Any) -> tuple:
    return tuple(g.unbind(n.axis))


def _getitem(n: Function, g: Any) -> tuple:
    if n.advanced:
        raise NotImplementedError("create_graph through advanced indexing")
    out = g.new_zeros(n.shape)
    out[n.index] = g
    return (out,)


def _rounding(n: Function, g: Any) -> tuple:
    return (g * 0.0,)


def _relu_mask(x: Any) -> Any:
    return (x > 0).to(x.dtype)


_RULES: dict[type, Callable] = {
    Fn.Add: _add,
    Fn.Sub: _sub,
    Fn.Mul: _mul,
    Fn.Div: _div,
    Fn.Pow: _pow,
    Fn.Neg: lambda n, g: (-g,),
    Fn.MatMul: _matmul,
    Fn.Linear: _linear,
    Fn.Exp: _unary(lambda x: x.exp()),
    Fn.Log: _unary(lambda x: 1.0 / x),
    Fn.Sqrt: _unary(lambda x: 0.5 / x.sqrt()),
    Fn.Tanh: _unary(lambda x: 1.0 - x.tanh() ** 2),
    Fn.Sigmoid: _unary(lambda x: x.sigmoid() * (1.0 - x.sigmoid())),
    Fn.Relu: _unary(_relu_mask),
    Fn.Abs: _unary(lambda x: x.sign()),
    Fn.Sign: _rounding,
    M.Sin: _unary(lambda x: x.cos()),
    M.Cos: _unary(lambda x: -x.sin()),
    M.Rounding: _rounding,
    Fn.Sum: lambda n, g: (_expand_reduced(g, n.shape, n.axis, n.keepdim),),
    Fn.Mean: lambda n, g: (_expand_reduced(g / n.count, n.shape, n.axis, n.keepdim),),
    Fn.Reshape: lambda n, g: (g.reshape(n.shape),),
    Fn.Permute: lambda n, g: (g.permute(*n.inverse),),
    Fn.Expand: lambda n, g: (_sum_to(g, n.shape),),
    Fn.Clone: lambda n, g: (g,),
    Fn.Cast: lambda n, g: (g.to(n.src),),
    Fn.Softmax: _softmax,
    Fn.LogSoftmax: _log_softmax(lambda n: n.dim),
    Fn.LogSoftmaxLast: _log_softmax(lambda n: -1),
    Fn.Where: _where,
    Fn.Cat: _cat,
    Fn.Stack: _stack,
    Fn.GetItem: _getitem,
}


def _const(n: Function, arr: Any) -> Any:
    """A saved array of the node as a constant tensor (a mask or a fixed weight)."""
    from dl_kernels.tensor import Tensor

    return Tensor._wrap(arr, n.be)


def _var(n: Function, g: Any) -> tuple:
    x = n.inputs[0]
    centered = x - x.mean(n.axis, keepdim=True)
    denom = _const(n, n.denom)
    return (_expand_reduced(g, n.shape, n.axis, n.keepdim) * centered * 2.0 / denom,)


def _logsumexp(n: Function, g: Any) -> tuple:
    x = n.inputs[0]
    lse = x.logsumexp(n.axis, keepdim=True) if n.axis is not None else x.logsumexp(
        tuple(range(x.ndim)), keepdim=True)
    return (_expand_reduced(g, x.shape, n.axis, n.keepdim) * (x - lse).exp(),)


def _softplus(n: Function, g: Any) -> tuple:
    x = n.inputs[0]
    bx = x * n.beta
    return (g * bx.sigmoid().where(~(bx > n.threshold), 1.0),)


def _split(n: Function, *grads: Any) -> tuple:
    ref = next(gi for gi in grads if gi is not None)
    parts = [gi if gi is not None else ref.new_zeros(shape, dtype=dtype)
             for gi, (shape, dtype) in zip(grads, n.out_meta)]
    return (Fn.Cat.apply(*parts, axis=n.axis),)


def _cumsum(n: Function, g: Any) -> tuple:
    return (g.flip(n.axis).cumsum(n.axis).flip(n.axis),)


def _conv2d(n: Function, g: Any) -> tuple:
    from dl_kernels.autograd.conv_ops import Conv2dWeightGrad, ConvTranspose2d

    x, w, b = n.inputs
    stride, padding, dilation, groups = n.params
    gx = ConvTranspose2d.apply(g, w, None, stride=stride, padding=padding, dilation=dilation,
                               groups=groups, out_hw=tuple(x.shape[2:]))
    gw = Conv2dWeightGrad.apply(g, x, kernel_hw=tuple(w.shape[2:]), stride=stride,
                                padding=padding, dilation=dilation, groups=groups)
    return gx, gw, (None if b is None else g.sum((0, 2, 3)))


_UNARY_MATH: dict[type, Callable[[Any], Any]] = {
    M.Tan: lambda x: 1.0 + x.tan() ** 2,
    M.Asin: lambda x: (1.0 - x * x).rsqrt(),
    M.Acos: lambda x: -(1.0 - x * x).rsqrt(),
    M.Atan: lambda x: 1.0 / (1.0 + x * x),
    M.Sinh: lambda x: x.cosh(),
    M.Cosh: lambda x: x.sinh(),
    M.Asinh: lambda x: (x * x + 1.0).rsqrt(),
    M.Acosh: lambda x: (x * x - 1.0).rsqrt(),
    M.Atanh: lambda x: 1.0 / (1.0 - x * x),
    M.Erf: lambda x: (-(x * x)).exp() * _TWO_OVER_SQRT_PI,
    M.Erfc: lambda x: (-(x * x)).exp() * -_TWO_OVER_SQRT_PI,
    M.Exp2: lambda x: x.exp2() * math.log(2.0),
    M.Log2: lambda x: 1.0 / (x * math.log(2.0)),
    M.Log10: lambda x: 1.0 / (x * math.log(10.0)),
    M.Expm1: lambda x: x.exp(),
    M.Log1p: lambda x: 1.0 / (x + 1.0),
}
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)

_RULES.update({cls: _unary(d) for cls, d in _UNARY_MATH.items()})
_RULES.update({
    Fn.Var: _var,
    Fn.LogSumExp: _logsumexp,
    Fn.Softplus: _softplus,
    Fn.Split: _split,
    Fn.Clamp: lambda n, g: (g if n.inside is None else g * _const(n, n.inside).to(g.dtype),),
    Fn.LeakyRelu: lambda n, g: (g * _const(n, n.factor),),
    Fn.Maximum: lambda n, g: (_sum_to(g * _const(n, n.wa), n.shapes[0]),
                              _sum_to(g * (1.0 - _const(n, n.wa)), n.shapes[1])),
    Fn.MaxReduce: lambda n, g: (_expand_reduced(g, n.shape, n.axis, n.keepdim)
                                * _const(n, n.mask),),
    Fn.Pad: lambda n, g: (g[n.region],),
    Fn.Conv2d: _conv2d,
    S.CumSum: _cumsum,
    SO.Flip: lambda n, g: (g.flip(n.axes),),
    SO.Roll: lambda n, g: (g.roll(tuple(-s for s in n.shifts), n.axes),),
})


def _node_grads(node: Function, grads: list, create_graph: bool) -> tuple:
    from dl_kernels.tensor import Tensor

    if create_graph:
        rule = _RULES.get(type(node))
        if rule is None:
            raise NotImplementedError(
                f"create_graph=True: {type(node).__name__} has no differentiable backward yet "
                f"(supported: {', '.join(sorted(c.__name__ for c in _RULES))})")
        if node.n_outputs > 1 and rule is not _split:
            raise NotImplementedError(f"create_graph=True through {type(node).__name__}")
        out = rule(node, *grads)
        return out if isinstance(out, tuple) else (out,)
    arrays = [None if g is None else g._data for g in grads]
    for i, (shape, dtype) in enumerate(getattr(node, "out_meta", [])):
        if arrays[i] is None:
            arrays[i] = node.be.zeros(shape, dtype)
    out = node.backward(*arrays)
    out = out if isinstance(out, tuple) else (out,)
    return tuple(None if a is None else Tensor._wrap(a, node.be) for a in out)


def _walk(roots: Sequence[Any], seeds: Sequence[Any], create_graph: bool,
          retain_graph: bool, targets: Sequence[Any] | None) -> dict[int, Any]:
    """Propagate the seeds; return id(tensor) -> gradient for leaves (targets None) or for
    the targets."""
    from dl_kernels.tensor import Tensor

    found: dict[int, Any] = {}
    target_ids = None if targets is None else {id(t) for t in targets}
    # non-leaf targets are met as (grad_fn, output index)
    target_slots = {} if targets is None else {
        (id(t.grad_fn), t._out_idx): t for t in targets if t.grad_fn is not None}

    def deliver(t: Any, g: Any) -> None:
        key = id(t)
        if target_ids is None or key in target_ids:
            found[key] = g if key not in found else found[key] + g

    pending: dict[Function, list] = {}
    order_roots = []
    for r, g in zip(roots, seeds):
        if r.grad_fn is None:
            deliver(r, g)
            continue
        slot = pending.setdefault(r.grad_fn, [None] * r.grad_fn.n_outputs)
        slot[r._out_idx] = g if slot[r._out_idx] is None else slot[r._out_idx] + g
        order_roots.append(r.grad_fn)
    if not order_roots:
        return found
    # one order over every root: a virtual root whose inputs are the real roots
    top = Function.__new__(Function)
    top.inputs = tuple(r for r in roots if r.grad_fn is not None)
    order = [n for n in _topological_order(top) if n is not top]
    with enable_grad() if create_graph else _NoGrad():
        for node in order:
            grads = pending.pop(node, None)
            if grads is None:
                continue
            for i, g in enumerate(grads):
                t = target_slots.get((id(node), i))
                if t is not None and g is not None:
                    deliver(t, g)
            in_grads = _node_grads(node, grads, create_graph)
            for t, gi, need in zip(node.inputs, in_grads, node.needs_input_grad):
                if not need or gi is None:
                    continue
                if not isinstance(gi, Tensor):
                    gi = Tensor._wrap(gi, node.be)
                if t.grad_fn is None:
                    deliver(t, gi)
                    continue
                slot = pending.setdefault(t.grad_fn, [None] * t.grad_fn.n_outputs)
                i = t._out_idx
                slot[i] = gi if slot[i] is None else slot[i] + gi
    if not retain_graph:
        for node in order:
            node.__dict__.clear()
            node.inputs = None
    return found


class _NoGrad:
    def __enter__(self) -> None:
        self.prev = _GradMode.enabled
        _GradMode.enabled = False

    def __exit__(self, *exc: object) -> None:
        _GradMode.enabled = self.prev


def _seeds(outputs: Sequence[Any], grad_outputs: Any) -> list:
    from dl_kernels.tensor import Tensor

    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    seeds = []
    for o, g in zip(outputs, grad_outputs):
        if not o.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a "
                               "grad_fn")
        if g is None:
            if o.numel() != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs; got "
                                   f"shape {tuple(o.shape)}")
            g = o.new_ones(o.shape)
        seeds.append(g)
    return seeds


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """The gradients of ``outputs`` (weighted by ``grad_outputs``) with respect to each of
    ``inputs``, as PyTorch's torch.autograd.grad; nothing is accumulated into ``.grad``."""
    from dl_kernels.tensor import Tensor

    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    retain = create_graph if retain_graph is None else retain_graph
    found = _walk(outputs, _seeds(outputs, grad_outputs), create_graph, retain, inputs)
    out = []
    for t in inputs:
        g = found.get(id(t))
        if g is None and not allow_unused:
            raise RuntimeError("One of the differentiated Tensors appears to not have been used "
                               "in the graph. Set allow_unused=True if this is the desired "
                               "behavior.")
        out.append(g)
    return tuple(out)


def backward(root: Any, gradient: Any = None, retain_graph: bool | None = None,
             create_graph: bool = False, inputs: Any = None) -> None:
    """Tensor.backward with ``create_graph`` / ``inputs``: accumulate into ``.grad`` (as
    tensors with a graph when create_graph)."""
    from dl_kernels.tensor import Tensor

    targets = None if inputs is None else ([inputs] if isinstance(inputs, Tensor)
                                           else list(inputs))
    retain = create_graph if retain_graph is None else retain_graph
    seeds = _seeds([root], None if gradient is None else [
        gradient if isinstance(gradient, Tensor) else Tensor(gradient)])
    leaves = targets if targets is not None else _leaves_of(root)
    found = _walk([root], seeds, create_graph, retain, leaves)
    for t in leaves:
        g = found.get(id(t))
        if g is None:
            continue
        if not create_graph:
            g = g.detach()
        t.grad = g if t.grad is None else t.grad + g


def _leaves_of(root: Any) -> list:
    """The leaf tensors that require grad reachable from root."""
    seen: dict[int, Any] = {}
    stack = [root]
    visited: set[int] = set()
    while stack:
        t = stack.pop()
        if t is None:
            continue
        if t.grad_fn is None:
            if t.requires_grad:
                seen[id(t)] = t
            continue
        if id(t.grad_fn) in visited or t.grad_fn.inputs is None:
            continue
        visited.add(id(t.grad_fn))
        stack.extend(t.grad_fn.inputs)
    return list(seen.values())
