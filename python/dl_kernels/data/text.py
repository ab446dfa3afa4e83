"""Characters as integers for character-level language models, and truncated-BPTT batches."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from dl_kernels.data._errors import DataError
from dl_kernels.data.splits import SeedLike, as_generator


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4")


class CharVocab:
    """A character vocabulary: id i is the i-th distinct character in code-point order."""

    def __init__(self, chars: str | Sequence[str]) -> None:
        chars = "".join(chars)
        codes = np.unique(_codepoints(chars))
        if len(codes) != len(chars):
            raise DataError("CharVocab characters must be distinct")
        self.codes = codes
        self.chars = codes.astype("<u4").tobytes().decode("utf-32-le")

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        if not text:
            raise DataError("cannot build a vocabulary from empty text")
        return cls(np.unique(_codepoints(text)).astype("<u4").tobytes().decode("utf-32-le"))

    def __len__(self) -> int:
        return len(self.codes)

    def __contains__(self, ch: str) -> bool:
        return len(ch) == 1 and ch in self.chars

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharVocab) and self.chars == other.chars

    def encode(self, text: str) -> np.ndarray:
        """int64 ids of ``text``; raises DataError naming any character not in the vocabulary."""
        cps = _codepoints(text)
        ids = np.searchsorted(self.codes, cps)
        ids_clipped = np.minimum(ids, len(self.codes) - 1)
        bad = self.codes[ids_clipped] != cps
        if bad.any():
            unknown = sorted({chr(int(c)) for c in cps[bad]})
            raise DataError(f"characters not in the vocabulary: {unknown!r}")
        return ids.astype(np.int64)

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.codes)):
            raise DataError(f"ids must be in [0, {len(self.codes)}), got {ids.min()}..{ids.max()}")
        return self.codes[ids].astype("<u4").tobytes().decode("utf-32-le")

    def state_dict(self) -> dict:
        return {"chars": self.chars}

    @classmethod
    def from_state_dict(cls, state: dict) -> CharVocab:
        return cls(state["chars"])

    def __repr__(self) -> str:
        return f"CharVocab({len(self)} characters)"


class SequenceLoader:
    """Truncated-BPTT batches over one long id sequence.

    The sequence is cut into ``batch_size`` contiguous rows; batch t is the columns
    [t*T, (t+1)*T) of every row: ``x`` (N, T) int64 and its target ``y``, the same text
    shifted by one character (the notes: shift the sequence by one to get the target). Row n
    of batch t+1 continues row n of batch t, so a recurrent model carries its hidden state
    across batches. With ``random_offset`` each epoch starts at a random position in
    [0, seq_len) drawn from ``seed``, so window boundaries move between epochs.

    ``shard=(rank, num_replicas)`` (data-parallel training): the rows are still cut for the
    global ``batch_size``, and this rank yields only its contiguous block of them (see
    ``dl_kernels.distributed.shard_range``); rows carry their own hidden state, so the ranks
    together compute exactly the one-process batches.
    """

    def __init__(
        self,
        ids: np.ndarray,
        batch_size: int,
        seq_len: int,
        *,
        random_offset: bool = False,
        seed: SeedLike = None,
        drop_last: bool = False,
        shard: tuple[int, int] | None = None,
    ) -> None:
        ids = np.asarray(ids)
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise DataError(f"ids must be a 1-D integer array, got {ids.dtype} {ids.shape}")
        if int(batch_size) < 1 or int(seq_len) < 1:
            raise DataError(f"batch_size and seq_len must be >= 1, got {batch_size}, {seq_len}")
        offset_room = int(seq_len) if random_offset else 0
        if len(ids) - 1 - offset_room < int(batch_size):
            raise DataError(
                f"a sequence of {len(ids)} ids is too short for {batch_size} rows"
                + (f" after a random offset of up to {seq_len}" if random_offset else "")
            )
        self.ids = ids.astype(np.int64, copy=False)
        self.batch_size, self.seq_len = int(batch_size), int(seq_len)
        self.random_offset = bool(random_offset)
        self.drop_last = bool(drop_last)
        self.rng = as_generator(seed)
        # Rows are sized for the largest offset so every epoch has the same number of batches.
        self.row_len = (len(ids) - 1 - offset_room) // self.batch_size
        self.rows = (0, self.batch_size)
        if shard is not None:
            from dl_kernels.distributed.sampler import shard_range

            rank, world = int(shard[0]), int(shard[1])
            if not 0 <= rank < world:
                raise DataError(f"shard rank must be in [0, {world}), got {rank}")
            self.rows = shard_range(self.batch_size, rank, world)

    def __len__(self) -> int:
        n, t = self.row_len, self.seq_len
        return n // t if self.drop_last else -(-n // t)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        offset = int(self.rng.integers(0, self.seq_len)) if self.random_offset else 0
        n, r = self.batch_size, self.row_len
        body = self.ids[offset : offset + n * r + 1]
        lo_row, hi_row = self.rows
        x_rows = body[:-1].reshape(n, r)[lo_row:hi_row]
        y_rows = body[1:].reshape(n, r)[lo_row:hi_row]
        for t in range(len(self)):
            lo, hi = t * self.seq_len, min((t + 1) * self.seq_len, r)
            yield np.ascontiguousarray(x_rows[:, lo:hi]), np.ascontiguousarray(y_rows[:, lo:hi])

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
