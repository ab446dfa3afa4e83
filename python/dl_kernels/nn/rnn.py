"""Recurrent layers: RNN (tanh/relu), LSTM (standard / peephole / coupled), GRU (the notes'
form or PyTorch's reset-after form), and their single-step Cell modules.

Layout (one bias per gate, as the notes write the equations; gates stacked in rows)::

    weight_ih_l{k}[_reverse]   (G·H, I_k)   I_0 = input_size, I_k = H·num_directions
    weight_hh_l{k}[_reverse]   (G·H, H)
    bias_l{k}[_reverse]        (G·H,)
    LSTM  G = 4, gates i, f, g, o;  coupled: G = 3, gates f, g, o (i = 1 − f)
          peephole: also weight_ch_l{k}[_reverse] (3, H), the diagonal cell-state weights of
          the i, f and o gates, in that order (i and f look at c_{t−1}, o at c_t;
          Gers & Schmidhuber 2000)
    GRU   G = 3, gates r, z, n
          reset_after=False (default, the notes, Cho et al.):
              n = tanh(W_in x + W_hn (r ⊙ h) + b_n),        h' = (1 − z) ⊙ h + z ⊙ n
          reset_after=True (cuDNN / PyTorch), with the extra bias_hn_l{k}[_reverse] (H,):
              n = tanh(W_in x + b_n + r ⊙ (W_hn h + b_hn)),  h' = (1 − z) ⊙ n + z ⊙ h
    RNN   G = 1: h' = tanh(W_ih x + W_hh h + b)

Inputs are (T, N, I), or (N, T, I) with batch_first, or unbatched (T, I), or a PackedSequence
(nn.utils.rnn): variable lengths run on the kernels' per-step active batch (padding is never
computed; each sequence's reverse direction starts at its own last step; h_n is each sequence's
state after its own last step, in the caller's batch order), and the output is packed. Returns PyTorch's
(output, h_n) or (output, (h_n, c_n)); output holds the last layer's h_t for every t (both
directions concatenated), h_n/c_n are (num_layers·num_directions, N, H). Dropout is applied
to the outputs of every layer but the last, never on the recurrent connections.

Default init (PyTorch's): every weight and bias ~ U(−1/√H, 1/√H). The course (after Saxe et al.
2014) suggests orthogonal recurrent weights: ``rnn.init_orthogonal_()`` applies
``nn.init.orthogonal_`` to each gate block of every weight_hh.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dl_kernels.dtypes import float32, float64
from dl_kernels.factories import zeros
from dl_kernels.nn import functional as F
from dl_kernels.nn import init
from dl_kernels.nn.module import Module
from dl_kernels.nn.parameter import Parameter
from dl_kernels.nn.utils.rnn import PackedSequence
from dl_kernels.ops.core import cat, stack

_LSTM_MODES = ("standard", "peephole", "coupled")


def _param(*shape: int, dtype: Any, device: Any) -> Parameter:
    return Parameter(zeros(*shape, dtype=dtype or float32, device=device or "cpu"))


def _gates(mode: str, variant: str = "standard") -> int:
    if mode == "LSTM":
        return 3 if variant == "coupled" else 4
    return {"GRU": 3, "RNN": 1}[mode]


class _RNNBase(Module):
    mode = "RNN"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device: Any = None, dtype: Any = None,
                 variant: str = "standard", reset_after: bool = False,
                 nonlinearity: str = "tanh", proj_size: int = 0) -> None:
        super().__init__()
        if proj_size < 0 or (proj_size and (self.mode != "LSTM" or proj_size >= hidden_size)):
            raise ValueError(f"proj_size must be 0, or (LSTM only) in [1, hidden_size), got "
                             f"{proj_size}")
        if proj_size and variant != "standard":
            raise ValueError("proj_size needs the standard LSTM variant")
        self.proj_size = proj_size
        if input_size < 1 or hidden_size < 1 or num_layers < 1:
            raise ValueError(f"input_size, hidden_size and num_layers must be >= 1, got "
                             f"{input_size}, {hidden_size}, {num_layers}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout must be in [0, 1], got {dropout}")
        if self.mode == "LSTM" and variant not in _LSTM_MODES:
            raise ValueError(f"LSTM variant must be one of {_LSTM_MODES}, got {variant!r}")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional = bidirectional
        self.variant, self.reset_after, self.nonlinearity = variant, reset_after, nonlinearity
        g = _gates(self.mode, variant)
        h = hidden_size
        out_h = proj_size or h  # the size of h_t: the projection's when there is one
        dirs = 2 if bidirectional else 1
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else out_h * dirs
            for d in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                setattr(self, "weight_ih" + sfx, _param(g * h, in_size, dtype=dtype,
                                                         device=device))
                setattr(self, "weight_hh" + sfx, _param(g * h, out_h, dtype=dtype,
                                                         device=device))
                if bias:
                    setattr(self, "bias" + sfx, _param(g * h, dtype=dtype, device=device))
                if self.mode == "LSTM" and variant == "peephole":
                    setattr(self, "weight_ch" + sfx, _param(3, h, dtype=dtype, device=device))
                if self.mode == "GRU" and reset_after and bias:
                    setattr(self, "bias_hn" + sfx, _param(h, dtype=dtype, device=device))
                if proj_size:
                    setattr(self, "weight_hr" + sfx, _param(proj_size, h, dtype=dtype,
                                                             device=device))
        self.reset_parameters()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def init_orthogonal_(self, gain: float = 1.0) -> Module:
        """Orthogonal recurrent weights (Saxe et al. 2014): each H×H gate block of weight_hh."""
        h = self.hidden_size
        for name, p in self.named_parameters():
            if name.startswith("weight_hh"):
                blocks = []
                for _ in range(p.shape[0] // h):
                    blk = zeros(h, h, dtype=float64)
                    init.orthogonal_(blk, gain)
                    blocks.append(blk.numpy())
                init._fill(p, np.concatenate(blocks, axis=0))
        return self

    def _layer_params(self, layer: int, reverse: bool) -> dict[str, Any]:
        sfx = f"_l{layer}" + ("_reverse" if reverse else "")
        get = self._parameters.get
        return {"w_ih": get("weight_ih" + sfx), "w_hh": get("weight_hh" + sfx),
                    "b": get("bias" + sfx), "w_ch": get("weight_ch" + sfx),
                    "b_hn": get("bias_hn" + sfx), "w_hr": get("weight_hr" + sfx)}

    # One layer, one direction over the whole sequence: (T, N, I) -> (T, N, H), h_T[, c_T];
    # with batch_sizes, packed (R, I) -> (R, H).
    def _run(self, x: Any, h0: Any, c0: Any, p: dict[str, Any], reverse: bool,
             batch_sizes: Any = None) -> tuple:
        raise NotImplementedError

    def forward(self, input: Any, hx: Any = None) -> tuple[Any, Any]:
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        if input.ndim not in (2, 3):
            raise ValueError(f"{type(self).__name__} expects a 2-D (unbatched) or 3-D input, "
                             f"got shape {tuple(input.shape)}")
        unbatched = input.ndim == 2
        x = input.unsqueeze(1) if unbatched else (
            input.transpose(0, 1) if self.batch_first else input)
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__}: input has {x.shape[-1]} features, "
                             f"expected input_size={self.input_size}")
        n = x.shape[1]
        h = self.hidden_size
        hp = getattr(self, "proj_size", 0) or h
        states = self.num_layers * self.num_directions
        is_lstm = self.mode == "LSTM"
        if hx is None:
            h0 = zeros(states, n, hp, dtype=x.dtype, device=x.device)
            c0 = zeros(states, n, h, dtype=x.dtype, device=x.device) if is_lstm else None
        else:
            h0, c0 = hx if is_lstm else (hx, None)
            if unbatched:
                h0 = h0.unsqueeze(1)
                c0 = c0.unsqueeze(1) if c0 is not None else None
            for name, t, size in (("h_0", h0, hp), ("c_0", c0, h)):
                if t is not None and tuple(t.shape) != (states, n, size):
                    raise ValueError(f"{type(self).__name__}: expected {name} of shape "
                                     f"{(states, n, size)}, got {tuple(t.shape)}")
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(self.num_directions):
                k = layer * self.num_directions + d
                out, hT, cT = self._run(x, h0[k], c0[k] if is_lstm else None,
                                        self._layer_params(layer, bool(d)), bool(d))
                outs.append(out)
                h_n.append(hT)
                c_n.append(cT)
            x = outs[0] if len(outs) == 1 else cat(outs, dim=2)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        hn = stack(h_n, dim=0)
        cn = stack(c_n, dim=0) if is_lstm else None
        if unbatched:
            x, hn = x.squeeze(1), hn.squeeze(1)
            cn = cn.squeeze(1) if cn is not None else None
        elif self.batch_first:
            x = x.transpose(0, 1)
        time_dim = 1 if self.batch_first and not unbatched else 0
        return RNNResult(x, (hn, cn) if is_lstm else hn, time_dim)

    def _forward_packed(self, seq: PackedSequence, hx: Any) -> tuple[Any, Any]:
        x, bs = seq.data, seq.batch_sizes_numpy()
        name = type(self).__name__
        if x.ndim != 2 or x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: packed data must be (R, input_size={self.input_size}), "
                             f"got shape {tuple(x.shape)}")
        n, h = int(bs[0]), self.hidden_size
        states = self.num_layers * self.num_directions
        is_lstm = self.mode == "LSTM"
        order = None if seq.sorted_indices is None else seq.sorted_indices.detach().numpy()
        if hx is None:
            h0 = zeros(states, n, h, dtype=x.dtype, device=x.device)
            c0 = zeros(states, n, h, dtype=x.dtype, device=x.device) if is_lstm else None
        else:
            h0, c0 = hx if is_lstm else (hx, None)
            for nm, t in (("h_0", h0), ("c_0", c0)):
                if t is not None and tuple(t.shape) != (states, n, h):
                    raise ValueError(f"{name}: expected {nm} of shape {(states, n, h)}, got "
                                     f"{tuple(t.shape)}")
            if order is not None:  # the caller's batch order -> the packed (sorted) order
                h0 = h0[:, order]
                c0 = c0[:, order] if c0 is not None else None
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(self.num_directions):
                k = layer * self.num_directions + d
                out, hT, cT = self._run(x, h0[k], c0[k] if is_lstm else None,
                                        self._layer_params(layer, bool(d)), bool(d), bs)
                outs.append(out)
                h_n.append(hT)
                c_n.append(cT)
            x = outs[0] if len(outs) == 1 else cat(outs, dim=1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        hn = stack(h_n, dim=0)
        cn = stack(c_n, dim=0) if is_lstm else None
        if order is not None:
            back = seq.unsorted_indices.detach().numpy()
            hn = hn[:, back]
            cn = cn[:, back] if cn is not None else None
        out = seq._replace_data(x)
        return (out, (hn, cn)) if is_lstm else (out, hn)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "LSTM" and self.variant != "standard":
            s += f", variant={self.variant!r}"
        if self.mode == "GRU" and self.reset_after:
            s += ", reset_after=True"
        if self.mode == "RNN" and self.nonlinearity != "tanh":
            s += f", nonlinearity={self.nonlinearity!r}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s

    # ---- torch interop --------------------------------------------------------------------
    def _torch_ok(self) -> None:
        if self.mode == "LSTM" and self.variant != "standard":
            raise ValueError(f"torch.nn.LSTM has no {self.variant} variant: only the standard "
                             "LSTM converts to and from torch")
        if self.mode == "GRU" and not self.reset_after:
            raise ValueError("torch.nn.GRU is the reset-after form: only GRU(reset_after=True) "
                             "converts to and from torch")

    def _own_torch_state(self) -> dict[str, np.ndarray]:
        self._torch_ok()
        h = self.hidden_size
        out: dict[str, np.ndarray] = {}
        for layer in range(self.num_layers):
            for d in range(self.num_directions):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                p = {k: (v.detach().numpy() if v is not None else None)
                     for k, v in self._layer_params(layer, bool(d)).items()}
                out["weight_ih" + sfx] = p["w_ih"]
                out["weight_hh" + sfx] = p["w_hh"]
                if p["w_hr"] is not None:
                    out["weight_hr" + sfx] = p["w_hr"]
                if self.bias:
                    out["bias_ih" + sfx] = p["b"].copy()
                    b_hh = np.zeros_like(p["b"])
                    if self.mode == "GRU":
                        b_hh[2 * h:] = p["b_hn"]
                    out["bias_hh" + sfx] = b_hh
        return out

    def _own_from_torch(self, sd: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self._torch_ok()
        h = self.hidden_size
        out: dict[str, np.ndarray] = {}
        for layer in range(self.num_layers):
            for d in range(self.num_directions):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                for w in ("weight_ih", "weight_hh", "weight_hr"):
                    if w + sfx in sd:
                        out[w + sfx] = sd[w + sfx]
                if self.bias and "bias_ih" + sfx in sd and "bias_hh" + sfx in sd:
                    b_ih, b_hh = sd["bias_ih" + sfx], sd["bias_hh" + sfx]
                    if self.mode == "GRU":
                        b = b_ih.copy()
                        b[:2 * h] += b_hh[:2 * h]
                        out["bias" + sfx] = b
                        out["bias_hn" + sfx] = b_hh[2 * h:].copy()
                    else:
                        out["bias" + sfx] = b_ih + b_hh
        return out


class RNN(_RNNBase):
    """Elman RNN: h_t = tanh(W_ih x_t + W_hh h_{t−1} + b) (or relu). See the module docstring."""

    mode = "RNN"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype, nonlinearity=nonlinearity)

    def _run(self, x: Any, h0: Any, c0: Any, p: dict[str, Any], reverse: bool,
             batch_sizes: Any = None) -> tuple:
        # The input projection of every step is one GEMM; only W_hh h runs per step.
        xp = F.linear(x, p["w_ih"], p["b"])
        act = F.tanh if self.nonlinearity == "tanh" else F.relu
        if batch_sizes is not None:
            return self._run_packed(xp, h0, p, reverse, batch_sizes, act)
        steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
        h = h0
        outs: list[Any] = [None] * x.shape[0]
        for t in steps:
            h = act(xp[t] + F.linear(h, p["w_hh"]))
            outs[t] = h
        return stack(outs, dim=0), h, None

    @staticmethod
    def _run_packed(xp: Any, h0: Any, p: dict[str, Any], reverse: bool, bs: np.ndarray,
                    act: Any) -> tuple:
        """The per-step active batch (rnn_packed.h's rule) on packed rows xp (R, H): step t
        updates its first bs[t] sequences; in reverse, the ones joining at t start from h0."""
        steps = len(bs)
        off = np.concatenate([[0], np.cumsum(bs)])
        outs: list[Any] = [None] * steps
        h = None
        for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
            n = int(bs[t])
            if h is None:
                hp = h0[:n]
            elif h.shape[0] >= n:
                hp = h[:n]
            else:
                hp = cat([h, h0[h.shape[0]:n]], dim=0)
            h = act(xp[int(off[t]):int(off[t + 1])] + F.linear(hp, p["w_hh"]))
            outs[t] = h
        if reverse:
            final = h
        else:  # sequences [bs[t+1], bs[t]) end at t
            ends = [outs[t][int(bs[t + 1]) if t + 1 < steps else 0:int(bs[t])]
                    for t in range(steps - 1, -1, -1)]
            final = cat([e for e in ends if e.shape[0]], dim=0)
        return cat(outs, dim=0), final, None


class LSTM(_RNNBase):
    """LSTM layer, ``variant`` = "standard" | "peephole" | "coupled" (see module docstring).

    The notes' Keras model Embedding(5000, 64) → LSTM(64) → LSTM(64) → Linear(64, 6) counts
    386,438 parameters: 4·(64·64 + 64·64 + 64) = 33,024 per LSTM.
    """

    mode = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, variant: str = "standard", device: Any = None,
                 dtype: Any = None, proj_size: int = 0) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype, variant=variant, proj_size=proj_size)

    def _run(self, x: Any, h0: Any, c0: Any, p: dict[str, Any], reverse: bool,
             batch_sizes: Any = None) -> tuple:
        if p["w_hr"] is not None:
            if batch_sizes is not None:
                raise ValueError("LSTM with proj_size does not take packed sequences: pass a "
                                 "padded batch")
            return self._run_projected(x, h0, c0, p, reverse)
        y, (hT, cT) = F.lstm(x, (h0, c0), p["w_ih"], p["w_hh"], p["b"], None,
                             peephole=p["w_ch"], variant=self.variant, reverse=reverse,
                             batch_sizes=batch_sizes)
        return y, hT, cT

    @staticmethod
    def _run_projected(x: Any, h0: Any, c0: Any, p: dict[str, Any], reverse: bool) -> tuple:
        """LSTM with a projection (Sak et al. 2014, LSTMP): h_t = W_hr (o ⊙ tanh(c_t)). The
        fused kernels assume h has the cell's size, so this runs on Tensor ops: one input
        GEMM for all steps, then per step the recurrent GEMM, the gates and the projection."""
        xp = F.linear(x, p["w_ih"], p["b"])
        steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
        h, c = h0, c0
        outs: list[Any] = [None] * x.shape[0]
        for t in steps:
            i, f, g, o = (xp[t] + F.linear(h, p["w_hh"])).chunk(4, -1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            h = F.linear(o.sigmoid() * c.tanh(), p["w_hr"])
            outs[t] = h
        return stack(outs, dim=0), h, c


class GRU(_RNNBase):
    """GRU layer; ``reset_after=False`` is the notes' form, True PyTorch's (see docstring)."""

    mode = "GRU"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, reset_after: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype, reset_after=reset_after)

    def _run(self, x: Any, h0: Any, c0: Any, p: dict[str, Any], reverse: bool,
             batch_sizes: Any = None) -> tuple:
        # the parameters are already in the kernel's layout (b (3H,), b_hn (H,)): passed as is
        out, hT = F.gru(x, h0, p["w_ih"], p["w_hh"], p["b"], None,
                        variant="reset_after" if self.reset_after else "notes", reverse=reverse,
                        b_hn=p["b_hn"], batch_sizes=batch_sizes)
        return out, hT, None


# ---- cells --------------------------------------------------------------------------------
class _CellBase(Module):
    mode = "RNN"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: Any = None, dtype: Any = None, variant: str = "standard",
                 reset_after: bool = False, nonlinearity: str = "tanh") -> None:
        super().__init__()
        if self.mode == "LSTM" and variant not in _LSTM_MODES:
            raise ValueError(f"LSTM variant must be one of {_LSTM_MODES}, got {variant!r}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.variant, self.reset_after, self.nonlinearity = variant, reset_after, nonlinearity
        g, h = _gates(self.mode, variant), hidden_size
        self.weight_ih = _param(g * h, input_size, dtype=dtype, device=device)
        self.weight_hh = _param(g * h, h, dtype=dtype, device=device)
        if bias:
            self.register_parameter("bias", _param(g * h, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        if self.mode == "LSTM" and variant == "peephole":
            self.weight_ch = _param(3, h, dtype=dtype, device=device)
        if self.mode == "GRU" and reset_after and bias:
            self.bias_hn = _param(h, dtype=dtype, device=device)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _zeros(self, x: Any) -> Any:
        shape = (x.shape[0], self.hidden_size) if x.ndim == 2 else (self.hidden_size,)
        return zeros(*shape, dtype=x.dtype, device=x.device)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.mode == "LSTM" and self.variant != "standard":
            s += f", variant={self.variant!r}"
        if self.mode == "GRU" and self.reset_after:
            s += ", reset_after=True"
        return s + ("" if self.bias is not None else ", bias=False")

    def _torch_ok(self) -> None:
        _RNNBase._torch_ok(self)  # type: ignore[arg-type]

    def _own_torch_state(self) -> dict[str, np.ndarray]:
        self._torch_ok()
        h = self.hidden_size
        out = {"weight_ih": self.weight_ih.detach().numpy(),
               "weight_hh": self.weight_hh.detach().numpy()}
        if self.bias is not None:
            b = self.bias.detach().numpy()
            out["bias_ih"] = b.copy()
            b_hh = np.zeros_like(b)
            if self.mode == "GRU":
                b_hh[2 * h:] = self.bias_hn.detach().numpy()
            out["bias_hh"] = b_hh
        return out

    def _own_from_torch(self, sd: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self._torch_ok()
        h = self.hidden_size
        out = {k: sd[k] for k in ("weight_ih", "weight_hh") if k in sd}
        if self.bias is not None and "bias_ih" in sd and "bias_hh" in sd:
            if self.mode == "GRU":
                b = sd["bias_ih"].copy()
                b[:2 * h] += sd["bias_hh"][:2 * h]
                out["bias"] = b
                out["bias_hn"] = sd["bias_hh"][2 * h:].copy()
            else:
                out["bias"] = sd["bias_ih"] + sd["bias_hh"]
        return out


class RNNCell(_CellBase):
    """One step of RNN: h' = tanh(W_ih x + W_hh h + b)."""

    mode = "RNN"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, device, dtype, nonlinearity=nonlinearity)

    def forward(self, x: Any, hx: Any = None) -> Any:
        h = self._zeros(x) if hx is None else hx
        act = F.tanh if self.nonlinearity == "tanh" else F.relu
        return act(F.linear(x, self.weight_ih, self.bias) + F.linear(h, self.weight_hh))


class LSTMCell(_CellBase):
    """One LSTM step: (x, (h, c)) -> (h', c'); variants as LSTM."""

    mode = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 variant: str = "standard", device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, device, dtype, variant=variant)

    def forward(self, x: Any, hx: Any = None, step_group: Any = None) -> tuple[Any, Any]:
        """``step_group``: see F.lstm_cell (one StepGroup per sequence run step by step)."""
        unbatched = x.ndim == 1  # (I,) with state (H,), as PyTorch's cells accept
        h, c = (self._zeros(x), self._zeros(x)) if hx is None else hx
        if unbatched:
            x, h, c = x.unsqueeze(0), h.unsqueeze(0), c.unsqueeze(0)
        h2, c2 = F.lstm_cell(x, (h, c), self.weight_ih, self.weight_hh, self.bias, None,
                             peephole=self._parameters.get("weight_ch"), variant=self.variant,
                             step_group=step_group)
        return (h2.squeeze(0), c2.squeeze(0)) if unbatched else (h2, c2)


class GRUCell(_CellBase):
    """One GRU step: (x, h) -> h'; ``reset_after`` as GRU."""

    mode = "GRU"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 reset_after: bool = False, device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, device, dtype, reset_after=reset_after)

    def forward(self, x: Any, hx: Any = None) -> Any:
        unbatched = x.ndim == 1  # (I,) with state (H,), as PyTorch's cells accept
        h = self._zeros(x) if hx is None else hx
        if unbatched:
            x, h = x.unsqueeze(0), h.unsqueeze(0)
        out = F.gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias, None,
                         variant="reset_after" if self.reset_after else "notes",
                         b_hn=self._parameters.get("bias_hn"))
        return out.squeeze(0) if unbatched else out


class RNNResult(tuple):
    """``(output, state)`` as PyTorch's recurrent layers return it, also saying which dim of
    ``output`` is time (``time_dim``: 1 for a batched batch-first layer, else 0), so that
    ``RNNOutput`` picks the last step of the layout the layer really produced."""

    time_dim: int

    def __new__(cls, output: Any, state: Any, time_dim: int = 0) -> Any:
        self = super().__new__(cls, (output, state))
        self.time_dim = time_dim
        return self

    def __getnewargs__(self) -> tuple:
        return (self[0], self[1], self.time_dim)


class RNNOutput(Module):
    """Keras's ``return_sequences`` as a module, so recurrent layers fit in a Sequential.

    Takes what an RNN/LSTM/GRU returns, ``(output, state)``, and gives ``output`` (every step)
    or, with ``return_sequences=False``, its last time step (N, D·H). The layout comes from the
    recurrent layer itself; ``batch_first`` (default None: follow the layer) is needed only for
    a plain tensor input (then None means time-major), and must agree with the layer's.
    """

    def __init__(self, return_sequences: bool = True, batch_first: bool | None = None) -> None:
        super().__init__()
        self.return_sequences, self.batch_first = return_sequences, batch_first

    def forward(self, rnn_result: Any) -> Any:
        output = rnn_result[0] if isinstance(rnn_result, tuple) else rnn_result
        if self.return_sequences:
            return output
        time_dim = getattr(rnn_result, "time_dim", None)
        if time_dim is None:
            time_dim = 1 if self.batch_first else 0
        elif self.batch_first is not None and output.ndim == 3 and (time_dim == 1) != bool(
                self.batch_first):
            raise ValueError(f"RNNOutput(batch_first={self.batch_first}) follows a recurrent "
                             f"layer with batch_first={time_dim == 1}")
        return output[:, -1] if time_dim == 1 else output[-1]

    def extra_repr(self) -> str:
        return f"return_sequences={self.return_sequences}, batch_first={self.batch_first}"
