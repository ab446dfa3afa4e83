"""Words as integers: one tokenizer and one word-level vocabulary for every text model.

word2vec, the sentiment classifier, the word language model and the sequence-to-sequence
models all read text through :func:`tokenize` and map tokens to ids with :class:`Vocab`, so a
vocabulary built for one (say word2vec's vectors) indexes the same words in another.

>>> toks = tokenize("The cat's hat -- the CAT sat.")
>>> toks
['the', "cat's", 'hat', 'the', 'cat', 'sat']
>>> v = Vocab.build([toks], min_count=2)
>>> v.itos
['<unk>', 'the']
>>> v.encode(["the", "dog"]).tolist()
[1, 0]
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from dl_kernels.data._errors import DataError

# A word is a run of letters or digits, with inner apostrophes or hyphens ("don't",
# "well-known"); punctuation is dropped unless asked for, one character a token.
_WORD = r"[^\W_]+(?:['\u2019\-][^\W_]+)*"
_WORD_RE = re.compile(_WORD)
_WORD_OR_PUNCT_RE = re.compile(_WORD + r"|[^\w\s]")


def tokenize(text: str, lower: bool = True, punctuation: bool = False) -> list[str]:
    """Split ``text`` into word tokens (lower-cased by default).

    ``punctuation=True`` keeps each punctuation character as a token of its own, which
    sentiment models use ("!" and "?" carry meaning); word2vec drops them.
    """
    if not isinstance(text, str):
        raise DataError(f"tokenize expects a str, got {type(text).__name__}")
    if lower:
        text = text.lower()
    pattern = _WORD_OR_PUNCT_RE if punctuation else _WORD_RE
    return pattern.findall(text.replace("\u2019", "'"))


def tokenize_lines(text: str, eos: str | None = "</s>", lower: bool = True,
                   punctuation: bool = True, max_tokens: int | None = None) -> list[str]:
    """Tokens of every non-blank line of ``text``, each line closed by ``eos`` (when not None):
    the running word stream of a word language model, where the end of a verse line is
    itself a word to predict (as "<eos>" is in the Penn Treebank setup). ``max_tokens`` stops
    after that many tokens (the first ones)."""
    if not isinstance(text, str):
        raise DataError(f"tokenize_lines expects a str, got {type(text).__name__}")
    out: list[str] = []
    for line in text.splitlines():
        if max_tokens is not None and len(out) >= max_tokens:
            return out[:max_tokens]
        toks = tokenize(line, lower=lower, punctuation=punctuation)
        if toks:
            out.extend(toks)
            if eos is not None:
                out.append(eos)
    return out if max_tokens is None else out[:max_tokens]


class Vocab:
    """A word vocabulary: special tokens first, then words by falling frequency.

    Built from token sequences with :meth:`build`: words seen fewer than ``min_count`` times
    are left out, and at most ``max_size`` entries are kept (specials included), the most
    frequent first, ties broken alphabetically so the ids never depend on input order.
    Words outside the vocabulary map to the unknown token when there is one (the shortlist
    with an out-of-shortlist token of neural language models), else :meth:`encode` raises.
    ``counts[i]`` is the corpus frequency of entry ``i``; the unknown token counts every
    occurrence of a word that was left out.
    """

    def __init__(self, itos: Sequence[str], counts: Sequence[int] | np.ndarray,
                 unk: str | None = "<unk>", specials: Sequence[str] = ()) -> None:
        itos = list(itos)
        counts = np.asarray(counts, dtype=np.int64)
        if counts.shape != (len(itos),):
            raise DataError(f"Vocab needs one count per token: {len(itos)} tokens, "
                            f"counts of shape {counts.shape}")
        if len(set(itos)) != len(itos):
            raise DataError("Vocab tokens must be distinct")
        if unk is not None and unk not in itos:
            raise DataError(f"the unknown token {unk!r} is not in the vocabulary")
        self.itos = itos
        self.counts = counts
        self.stoi = {t: i for i, t in enumerate(itos)}
        self.unk = unk
        self.specials = tuple(specials)

    @classmethod
    def build(cls, sequences: Iterable[Iterable[str]], min_count: int = 1,
              max_size: int | None = None, unk: str | None = "<unk>",
              specials: Sequence[str] = ()) -> Vocab:
        """Count the tokens of ``sequences`` and keep the frequent ones.

        ``specials`` (e.g. ``("<pad>", "<s>", "</s>")``) come first, in the order given, then
        ``unk``; ``pad`` at index 0 is the usual choice for padded batches.
        """
        if min_count < 1:
            raise DataError(f"min_count must be >= 1, got {min_count}")
        reserved = [*specials, *([unk] if unk is not None and unk not in specials else [])]
        if max_size is not None and max_size < max(len(reserved), 1):
            raise DataError(f"max_size must be >= {max(len(reserved), 1)} (the special tokens), "
                            f"got {max_size}")
        counter: Counter[str] = Counter()
        for seq in sequences:
            if isinstance(seq, str):
                raise DataError("Vocab.build takes sequences of tokens, not strings: "
                                "tokenize the text first")
            counter.update(seq)
        words = sorted((w for w, c in counter.items() if c >= min_count and w not in reserved),
                       key=lambda w: (-counter[w], w))
        if max_size is not None:
            words = words[:max_size - len(reserved)]
        if not words and not reserved:
            raise DataError("cannot build a vocabulary: no token reaches min_count "
                            f"{min_count} (empty corpus?)")
        kept = set(words)
        counts = [counter[t] for t in reserved] + [counter[w] for w in words]
        if unk is not None:
            counts[reserved.index(unk)] += sum(c for w, c in counter.items()
                                               if w not in kept and w not in reserved)
        return cls(reserved + words, counts, unk=unk, specials=specials)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        """The id of ``token`` (the unknown token's id for a word not in the vocabulary)."""
        i = self.stoi.get(token)
        if i is not None:
            return i
        if self.unk is None:
            raise KeyError(f"{token!r} is not in the vocabulary and it has no unknown token")
        return self.stoi[self.unk]

    @property
    def unk_index(self) -> int | None:
        return None if self.unk is None else self.stoi[self.unk]

    def index(self, token: str) -> int:
        """The id of a special token or word that must be present (raises DataError if not)."""
        if token not in self.stoi:
            raise DataError(f"{token!r} is not in the vocabulary")
        return self.stoi[token]

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """int64 ids of ``tokens``; unknown words become the unknown token's id, or raise
        DataError naming them when the vocabulary has none."""
        tokens = list(tokens)
        if self.unk is None:
            missing = sorted({t for t in tokens if t not in self.stoi})
            if missing:
                raise DataError(f"tokens not in the vocabulary: {missing[:10]!r}")
            return np.fromiter((self.stoi[t] for t in tokens), np.int64, len(tokens))
        u = self.stoi[self.unk]
        return np.fromiter((self.stoi.get(t, u) for t in tokens), np.int64, len(tokens))

    def decode(self, ids: Iterable[int] | np.ndarray) -> list[str]:
        ids = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids,
                         dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise DataError(f"ids must be in [0, {len(self)}), got {ids.min()}..{ids.max()}")
        return [self.itos[i] for i in ids]

    def frequencies(self) -> np.ndarray:
        """Relative corpus frequencies of the entries (float64, summing to 1 over the corpus)."""
        total = self.counts.sum()
        return self.counts / total if total else self.counts.astype(np.float64)

    def state_dict(self) -> dict:
        return {"itos": list(self.itos), "counts": self.counts.tolist(), "unk": self.unk,
                "specials": list(self.specials)}

    @classmethod
    def from_state_dict(cls, state: dict) -> Vocab:
        try:
            return cls(state["itos"], state["counts"], unk=state["unk"],
                       specials=state.get("specials", ()))
        except KeyError as exc:
            raise DataError(f"not a Vocab state: missing {exc.args[0]!r}") from None

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Vocab) and self.itos == other.itos
                and np.array_equal(self.counts, other.counts) and self.unk == other.unk)

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens, unk={self.unk!r})"
