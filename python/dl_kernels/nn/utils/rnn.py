"""Variable-length sequences for the recurrent layers, with torch.nn.utils.rnn's names and
semantics: ``PackedSequence``, ``pack_padded_sequence``, ``pad_packed_sequence``,
``pad_sequence``, ``pack_sequence``, ``unpad_sequence``, ``unpack_sequence``.

A packed batch is cuDNN's layout: sequences sorted by length, longest first; ``batch_sizes[t]``
is how many of them are still running at time t; ``data`` holds the rows of step 0 (all N
sequences), then those of step 1 (the first batch_sizes[1]), ... so it is (sum(batch_sizes), *).
RNN/LSTM/GRU take it and run each step on its active rows only (csrc/cpu/rnn_packed.h): padding
is never computed, a sequence's reverse direction starts at its own last step, and its final
state is the one after its own last step. ``sorted_indices`` maps sorted position → original
batch index (None when the batch was already sorted, ``enforce_sorted=True``);
``unsorted_indices`` is its inverse. Packing and unpacking are index gathers, so gradients flow
through them (and are zero for the padding).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from dl_kernels.factories import from_numpy, full
from dl_kernels.ops.core import cat, stack
from dl_kernels.tensor import Tensor


def _as_index(a: Any) -> Any:
    return None if a is None else from_numpy(np.ascontiguousarray(a, dtype=np.int64))


def _np(a: Any) -> np.ndarray:
    if a is None:
        return None
    if isinstance(a, Tensor):
        return a.detach().numpy()
    if hasattr(a, "numpy"):  # e.g. a torch tensor of lengths
        return np.asarray(a.numpy())
    return np.asarray(a)


class PackedSequence(NamedTuple):
    """(data (R, *), batch_sizes (T,) int64, sorted_indices (N,) | None, unsorted_indices)."""

    data: Any
    batch_sizes: Any
    sorted_indices: Any = None
    unsorted_indices: Any = None

    def batch_sizes_numpy(self) -> np.ndarray:
        """batch_sizes as the contiguous int64 array the recurrent kernels take."""
        return np.ascontiguousarray(_np(self.batch_sizes), dtype=np.int64)

    def _replace_data(self, data: Any) -> PackedSequence:
        return PackedSequence(data, self.batch_sizes, self.sorted_indices, self.unsorted_indices)

    @property
    def is_cuda(self) -> bool:
        return self.data.device.type == "cuda"


def _lengths(lengths: Any, batch: int, total: int) -> np.ndarray:
    ln = _np(lengths)
    ln = np.asarray(ln).reshape(-1)
    if ln.dtype.kind not in "iu":
        if ln.dtype.kind == "f" and np.all(ln == np.floor(ln)):
            ln = ln.astype(np.int64)
        else:
            raise ValueError(f"lengths: expected integers, got dtype {ln.dtype}")
    ln = ln.astype(np.int64)
    if ln.shape[0] != batch:
        raise ValueError(f"lengths: expected {batch} lengths (one per sequence in the batch), "
                         f"got {ln.shape[0]}")
    if batch and ln.min() <= 0:
        raise ValueError(f"lengths: every sequence needs length > 0, got {ln.min()}")
    if batch and ln.max() > total:
        raise ValueError(f"lengths: a length of {ln.max()} exceeds the padded length {total}")
    return ln


def _batch_sizes(sorted_lengths: np.ndarray) -> np.ndarray:
    t = int(sorted_lengths[0]) if len(sorted_lengths) else 0
    return (sorted_lengths[None, :] > np.arange(t)[:, None]).sum(axis=1).astype(np.int64)


def pack_padded_sequence(input: Any, lengths: Any, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch (T, B, *) (or (B, T, *) with batch_first) of sequences of the given
    lengths. enforce_sorted=True requires lengths in decreasing order (the ONNX-friendly case);
    False sorts them and records the permutation."""
    if input.ndim < 2:
        raise ValueError(f"pack_padded_sequence: expected a (T, B, *) or (B, T, *) input, got "
                         f"shape {tuple(input.shape)}")
    total, batch = (input.shape[1], input.shape[0]) if batch_first else input.shape[:2]
    ln = _lengths(lengths, batch, total)
    if batch == 0:
        raise ValueError("pack_padded_sequence: the batch is empty")
    if enforce_sorted:
        if np.any(np.diff(ln) > 0):
            raise ValueError("pack_padded_sequence: `lengths` array must be sorted in decreasing "
                             f"order when `enforce_sorted` is True (got {ln.tolist()}); pass "
                             "enforce_sorted=False to sort them here")
        order = np.arange(batch)
        sorted_idx = unsorted_idx = None
    else:
        order = np.argsort(-ln, kind="stable")
        sorted_idx, unsorted_idx = order, np.argsort(order, kind="stable")
    bs = _batch_sizes(ln[order])
    # Row (t, j) of the packed data is padded position (t, order[j]).
    t_idx = np.repeat(np.arange(len(bs)), bs)
    j_idx = np.concatenate([order[:b] for b in bs])
    flat = j_idx * total + t_idx if batch_first else t_idx * batch + j_idx
    rest = tuple(input.shape[2:])
    data = input.reshape(total * batch, *rest)[flat]
    return PackedSequence(data, _as_index(bs), _as_index(sorted_idx), _as_index(unsorted_idx))


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0, total_length: int | None = None
                        ) -> tuple[Any, Any]:
    """The inverse of pack_padded_sequence: (padded (T, B, *) or (B, T, *), lengths (B,) int64),
    in the original batch order; total_length pads T further (e.g. for DataParallel)."""
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"pad_packed_sequence: expected a PackedSequence, got "
                        f"{type(sequence).__name__}")
    data = sequence.data
    bs = sequence.batch_sizes_numpy()
    n, t_max = int(bs[0]), len(bs)
    if total_length is not None:
        if total_length < t_max:
            raise ValueError(f"pad_packed_sequence: total_length={total_length} is shorter than "
                             f"the longest sequence ({t_max})")
        t_max = int(total_length)
    offsets = np.concatenate([[0], np.cumsum(bs)])
    # Sorted lengths: how many steps have position j active.
    sorted_len = (bs[None, :] > np.arange(n)[:, None]).sum(axis=1)
    unsorted = _np(sequence.unsorted_indices)
    pos = np.arange(n) if unsorted is None else unsorted  # sorted position of batch index b
    rows = data.shape[0]
    t = np.arange(t_max)[:, None]
    j = pos[None, :]
    active = t < sorted_len[j]
    src = np.where(active, offsets[np.minimum(t, len(bs) - 1)] + j, rows)  # (T, B); rows = pad
    rest = tuple(data.shape[1:])
    pad = full((1, *rest), padding_value, dtype=data.dtype, device=data.device)
    ext = cat([data, pad], dim=0)
    idx = src.T.reshape(-1) if batch_first else src.reshape(-1)
    shape = (n, t_max, *rest) if batch_first else (t_max, n, *rest)
    padded = ext[idx].reshape(*shape)
    return padded, from_numpy(np.ascontiguousarray(sorted_len[pos], dtype=np.int64))


def pad_sequence(sequences: Sequence[Any], batch_first: bool = False,
                 padding_value: float = 0.0, padding_side: str = "right") -> Any:
    """Stack tensors (L_i, *) into (L_max, B, *) (or (B, L_max, *)), padding with
    padding_value on the right (or the left)."""
    if len(sequences) == 0:
        raise ValueError("pad_sequence: expected at least one sequence")
    if padding_side not in ("right", "left"):
        raise ValueError(f"pad_sequence: padding_side must be 'right' or 'left', got "
                         f"{padding_side!r}")
    rest = tuple(sequences[0].shape[1:])
    for k, s in enumerate(sequences):
        if s.ndim < 1 or tuple(s.shape[1:]) != rest:
            raise ValueError(f"pad_sequence: sequence {k} has shape {tuple(s.shape)}; every "
                             f"sequence must be (L, *{rest})")
    t_max = max(s.shape[0] for s in sequences)
    rows = []
    for s in sequences:
        short = t_max - s.shape[0]
        if short:
            pad = full((short, *rest), padding_value, dtype=s.dtype, device=s.device)
            s = cat([s, pad] if padding_side == "right" else [pad, s], dim=0)
        rows.append(s)
    return stack(rows, dim=0 if batch_first else 1)


def pack_sequence(sequences: Sequence[Any], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of tensors (L_i, *) (pad_sequence then pack_padded_sequence)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences: Any, lengths: Any, batch_first: bool = False) -> list[Any]:
    """The list of unpadded sequences (L_i, *) of a padded batch."""
    ln = _np(lengths).reshape(-1)
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [x[b, : int(ln[b])] for b in range(len(ln))]


def unpack_sequence(packed_sequences: PackedSequence) -> list[Any]:
    """The list of sequences (L_i, *) of a PackedSequence, in the original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


__all__ = [
    "PackedSequence",
    "pack_padded_sequence",
    "pack_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpack_sequence",
    "unpad_sequence",
]
