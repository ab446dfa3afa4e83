"""Differentiable movement and combination ops: flip, roll, scatter / scatter_reduce and
einsum. (Ops that are plain indexing, such as repeat_interleave, diagonal or unfold, are
compositions of GetItem in ``dl_kernels.ops`` and need no Function of their own.)"""

from __future__ import annotations

import string
from typing import Any

from dl_kernels.autograd.engine import Function


class Flip(Function):
    def forward(self, a, axes=()):
        self.axes = axes
        return self.be.flip(a, axes)

    def backward(self, g):
        return self.be.flip(g, self.axes)


class Roll(Function):
    def forward(self, a, shifts=(), axes=None):
        self.shifts, self.axes = shifts, axes
        if axes is None:
            return self.be.reshape(self.be.roll(self.be.reshape(a, (-1,)), shifts, 0), a.shape)
        return self.be.roll(a, shifts, axes)

    def backward(self, g):
        neg = tuple(-s for s in self.shifts)
        if self.axes is None:
            return self.be.reshape(self.be.roll(self.be.reshape(g, (-1,)), neg, 0), g.shape)
        return self.be.roll(g, neg, self.axes)


class Scatter(Function):
    """torch.scatter (reduce=None: src overwrites) and scatter_reduce (sum, prod, mean, amax,
    amin; include_self). Inputs (a, src) with src None for a scalar value."""

    def forward(self, a, src, index=None, axis=0, value=None, reduce=None, include_self=True):
        be = self.be
        self.index, self.axis, self.reduce, self.include_self = index, axis, reduce, include_self
        self.a, self.src = a, src
        self.out = be.scatter(a, index, value if src is None else src, axis, reduce, include_self)
        return self.out

    def backward(self, g):
        be, idx, axis = self.be, self.index, self.axis
        need_a = self.needs_input_grad[0]
        need_src = len(self.needs_input_grad) > 1 and self.needs_input_grad[1]
        ga = gs = None
        ones_idx = be.ones(idx.shape, g.dtype)
        hit = be.gt(be.scatter(be.zeros(g.shape, g.dtype), idx, ones_idx, axis), 0)
        if self.reduce is None:
            if need_a:
                ga = be.where(hit, 0.0, g)
            if need_src:
                gs = self._src_shaped(be.gather(g, idx, axis))
            return ga, gs
        if self.reduce == "sum":
            if need_a:
                ga = g if self.include_self else be.where(hit, 0.0, g)
            if need_src:
                gs = self._src_shaped(be.gather(g, idx, axis))
            return ga, gs
        if self.reduce == "mean":
            count = be.scatter(be.full(g.shape, 1.0 if self.include_self else 0.0, g.dtype),
                               idx, ones_idx, axis, "sum", True)
            gm = be.div(g, be.maximum(count, 1.0))
            if need_a:
                ga = gm if self.include_self else be.where(hit, 0.0, g)
            if need_src:
                gs = self._src_shaped(be.gather(gm, idx, axis))
            return ga, gs
        if self.reduce in ("amax", "amin"):
            # the gradient is shared evenly among every entry equal to the result
            src = self._src_view()
            self_eq = be.eq(self.a, self.out)
            if not self.include_self:
                self_eq = be.logical_and(self_eq, be.logical_not(hit))
            src_eq = be.eq(src, be.gather(self.out, idx, axis))
            count = be.scatter(be.astype(self_eq, g.dtype), idx, be.astype(src_eq, g.dtype),
                               axis, "sum", True)
            share = be.div(g, be.maximum(count, 1.0))
            if need_a:
                ga = be.mul(share, self_eq)
            if need_src:
                gs = self._src_shaped(be.mul(be.gather(share, idx, axis), src_eq))
            return ga, gs
        # prod: d out / d x = out / x (inputs assumed nonzero where they are reduced)
        src = self._src_view()
        gout = be.mul(g, self.out)
        if need_a:
            ga = be.div(gout, self.a) if self.include_self else be.where(hit, 0.0, g)
            ga = be.where(hit, ga, g)
        if need_src:
            gs = self._src_shaped(be.div(be.gather(gout, idx, axis), src))
        return ga, gs

    def _src_view(self) -> Any:
        return self.be.getitem(self.src, tuple(slice(0, n) for n in self.index.shape))

    def _src_shaped(self, gs: Any) -> Any:
        """The gradient of src: only its leading index.shape block was read."""
        if tuple(self.src.shape) == tuple(gs.shape):
            return gs
        out = self.be.zeros(self.src.shape, gs.dtype)
        self.be.setitem(out, tuple(slice(0, n) for n in gs.shape), gs)
        return out


def parse_einsum(equation: str, ndims: list[int]) -> tuple[list[str], str]:
    """Subscripts per operand and of the output, with '...' expanded to letters and an
    implicit output (no '->') made explicit as numpy/PyTorch do."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(ndims):
        raise ValueError(f"einsum: equation {equation!r} names {len(ins)} operands, got "
                         f"{len(ndims)}")
    used = set(eq) - set(".,->")
    spare = [c for c in string.ascii_uppercase + string.ascii_lowercase if c not in used]
    n_ell = max((nd - (len(s) - 3) for s, nd in zip(ins, ndims) if "..." in s), default=0)
    ell = "".join(spare[:n_ell])
    out_ins = []
    for s, nd in zip(ins, ndims):
        if "..." in s:
            k = nd - (len(s) - 3)
            s = s.replace("...", ell[n_ell - k:] if k else "")
        if len(s) != nd:
            raise ValueError(f"einsum: subscripts {s!r} for an operand with {nd} dims")
        out_ins.append(s)
    if arrow:
        out = rhs.replace("...", ell)
    else:
        counts: dict[str, int] = {}
        for s in out_ins:
            for c in s:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    return out_ins, out


class Einsum(Function):
    """einsum over any number of operands; the gradient of each operand is the einsum of the
    output gradient with the others, with deltas for subscripts repeated within it and
    broadcast over subscripts that only it has."""

    def forward(self, *arrays, equation=""):
        self.ins, self.out_sub = parse_einsum(equation, [a.ndim for a in arrays])
        self.arrays = arrays
        eq = ",".join(self.ins) + "->" + self.out_sub
        return self.be.einsum(eq, *arrays)

    def backward(self, g):
        be = self.be
        sizes: dict[str, int] = {}
        for s, a in zip(self.ins, self.arrays):
            for c, n in zip(s, a.shape):
                if n != 1 or c not in sizes:
                    sizes[c] = n
        grads = []
        for k, (sk, ak) in enumerate(zip(self.ins, self.arrays)):
            if not self.needs_input_grad[k]:
                grads.append(None)
                continue
            others = [(s, a) for j, (s, a) in enumerate(zip(self.ins, self.arrays)) if j != k]
            avail = set(self.out_sub).union(*[set(s) for s, _ in others])
            uniq = "".join(dict.fromkeys(sk))
            keep = "".join(c for c in uniq if c in avail)
            eq = ",".join([self.out_sub] + [s for s, _ in others]) + "->" + keep
            gk = be.einsum(eq, g, *[a for _, a in others])
            # subscripts only this operand has were summed: broadcast back over them
            shape_keep = [1 if c not in keep else sizes[c] for c in uniq]
            gk = be.reshape(gk, tuple(shape_keep))
            gk = be.broadcast_to(gk, tuple(sizes[c] for c in uniq))
            if len(uniq) != len(sk):  # repeated subscripts: put the gradient on the diagonal
                spare = iter(c for c in string.ascii_letters if c not in set(self.out_sub)
                             .union(*[set(s) for s in self.ins]))
                target, deltas, dsubs, seen = "", [], [], set()
                for c in sk:
                    if c in seen:
                        d = next(spare)
                        n = sizes[c]
                        r = be.arange(0, n, 1, "int64")
                        eye = be.astype(be.eq(be.reshape(r, (n, 1)), be.reshape(r, (1, n))),
                                        g.dtype)
                        deltas.append(eye)
                        dsubs.append(c + d)
                        target += d
                    else:
                        seen.add(c)
                        target += c
                gk = be.einsum(",".join([uniq] + dsubs) + "->" + target, gk, *deltas)
            grads.append(be.unbroadcast(gk, ak.shape) if tuple(gk.shape) != tuple(ak.shape)
                         else gk)
        return tuple(grads)
