"""word2vec: skip-gram and CBOW word vectors (Mikolov et al. 2013) trained on our own kernel.

Training is ``dl_kernels._C.word2vec_train`` (csrc/cpu/word2vec.cpp): negative sampling from
the unigram distribution to the 3/4 power or sampled softmax, sub-sampling of frequent words,
a dynamic window, a learning rate decaying linearly to ~0 and lock-free (Hogwild) threads,
as the original word2vec.c does; the fast rung batches a window's pairs into small matrix
products that share one set of negatives (Ji et al. 2016, HogBatch). The same model written
with autograd is :mod:`dl_kernels.models.word2vec_autograd`.

Using the vectors: :meth:`Word2Vec.most_similar` (cosine), :meth:`Word2Vec.analogy` (3CosAdd,
Levy & Goldberg 2014), WordSim-353 Spearman correlation and analogy accuracy, save / load and
a t-SNE picture of the most frequent words (van der Maaten & Hinton 2008).

>>> from dl_kernels.models.word2vec import Word2Vec
>>> docs = [["the", "cat", "sat"], ["the", "dog", "sat"]] * 50
>>> m = Word2Vec(dim=8, min_count=1, epochs=2, seed=0).fit(docs)
>>> [w for w, _ in m.most_similar("cat", topn=3)][0] in m.vocab
True
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dl_kernels.data._errors import DataError
from dl_kernels.data.words import Vocab

ARCHS = ("skipgram", "cbow")
LOSSES = ("negative", "softmax")
RUNGS = ("auto", "fast", "reference", "portable")
_FORMAT = "dl_kernels-word2vec-1"


@dataclass
class Word2VecConfig:
    arch: str = "skipgram"
    loss: str = "negative"
    dim: int = 100
    window: int = 5
    negative: int = 5
    sample: float = 1e-3
    alpha: float | None = None  # None: 0.025 for skip-gram, 0.05 for CBOW (word2vec.c's)
    min_alpha: float = 1e-4
    epochs: int = 5
    min_count: int = 5
    max_vocab: int | None = None
    threads: int | None = None  # None: the library's thread count
    seed: int = 1
    rung: str = "auto"
    extra: dict = field(default_factory=dict)

    def check(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.rung not in RUNGS:
            raise ValueError(f"rung must be one of {RUNGS}, got {self.rung!r}")
        for name in ("dim", "window", "negative", "epochs", "min_count"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.sample < 0:
            raise ValueError(f"sample must be >= 0, got {self.sample}")
        if self.alpha is not None and self.alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {self.alpha}")

    @property
    def start_alpha(self) -> float:
        if self.alpha is not None:
            return float(self.alpha)
        return 0.05 if self.arch == "cbow" else 0.025


def encode_documents(vocab: Vocab, documents: Sequence[Sequence[str]]) -> np.ndarray:
    """The corpus as the kernel reads it: int32 ids of in-vocabulary words, each document
    followed by -1 (a boundary no window crosses); words outside the vocabulary are dropped, as
    word2vec.c drops them."""
    stoi = vocab.stoi
    parts = []
    for doc in documents:
        ids = np.fromiter((stoi.get(w, -1) for w in doc), np.int32, len(doc))
        ids = ids[ids >= 0]
        if ids.size:
            parts.append(ids)
            parts.append(np.array([-1], np.int32))
    return np.concatenate(parts) if parts else np.zeros(0, np.int32)


class Word2Vec:
    """Word vectors trained by word2vec on the CPU kernel; see the module docstring."""

    def __init__(self, config: Word2VecConfig | None = None, **kwargs: Any) -> None:
        self.config = config if config is not None else Word2VecConfig(**kwargs)
        self.config.check()
        self.vocab: Vocab | None = None
        self.win: np.ndarray | None = None
        self.wout: np.ndarray | None = None
        self.history: list[dict] = []
        self._unit: np.ndarray | None = None

    # ---- training ------------------------------------------------------------------------
    def build_vocab(self, documents: Sequence[Sequence[str]]) -> Word2Vec:
        c = self.config
        self.vocab = Vocab.build(documents, min_count=c.min_count, max_size=c.max_vocab, unk=None)
        if len(self.vocab) == 0:
            raise DataError(f"no word occurs at least min_count={c.min_count} times")
        v, d = len(self.vocab), c.dim
        rng = np.random.default_rng(c.seed)
        # word2vec.c's initialisation: W_in uniform in [-0.5/D, 0.5/D), W_out zero.
        self.win = ((rng.random((v, d), dtype=np.float32) - 0.5) / d).astype(np.float32)
        self.wout = np.zeros((v, d), np.float32)
        self._unit = None
        return self

    def fit(self, documents: Sequence[Sequence[str]],
            progress: Callable[[dict], None] | None = None, slice_words: int = 1 << 20) -> Word2Vec:
        """Builds the vocabulary if there is none, then trains ``epochs`` passes, calling the
        kernel on slices of ``slice_words`` words so ``progress`` hears of each (words/s, loss,
        learning rate)."""
        from dl_kernels import _C

        if self.vocab is None:
            self.build_vocab(documents)
        c = self.config
        corpus = encode_documents(self.vocab, documents)
        n_words = int((corpus >= 0).sum())
        if n_words == 0:
            raise DataError("the corpus holds no word of the vocabulary")
        total = n_words * c.epochs
        done = 0
        counts = self.vocab.counts.astype(np.int64)
        # Equal slices (not a short last one): each progress report covers as much work.
        n_slices = max(1, -(-len(corpus) // max(slice_words, 1)))
        cuts = [len(corpus) * k // n_slices for k in range(n_slices + 1)]
        for epoch in range(c.epochs):
            for a, b in zip(cuts[:-1], cuts[1:]):
                t0 = time.perf_counter()
                s = _C.word2vec_train(
                    corpus[a:b], counts, self.win, self.wout, arch=c.arch, loss=c.loss,
                    window=c.window, negative=c.negative, sample=c.sample, alpha=c.start_alpha,
                    min_alpha=c.min_alpha, words_done=done, words_total=total, threads=c.threads,
                    seed=c.seed + 7919 * epoch, rung=c.rung)
                dt = time.perf_counter() - t0
                done += s["words"]
                rec = {"epoch": epoch + 1, "words_done": done, "words_total": total,
                       "words_per_s": s["words"] / dt if dt > 0 else float("inf"),
                       "loss": s["loss"] / max(s["loss_count"], 1), "alpha": s["alpha"],
                       "seconds": dt}
                self.history.append(rec)
                if progress is not None:
                    progress(rec)
        self._unit = None
        return self

    # ---- using the vectors -----------------------------------------------------------------
    def _need(self) -> Vocab:
        if self.vocab is None or self.win is None:
            raise ValueError("the model has no vectors yet: call fit() or Word2Vec.load()")
        return self.vocab

    @property
    def vectors(self) -> np.ndarray:
        """The word vectors W_in (V, D)."""
        self._need()
        return self.win

    def unit_vectors(self) -> np.ndarray:
        """Rows of W_in scaled to length 1 (cosine similarity is then a dot product)."""
        if self._unit is None:
            w = self.vectors
            norms = np.linalg.norm(w, axis=1, keepdims=True)
            self._unit = (w / np.maximum(norms, 1e-12)).astype(np.float32)
        return self._unit

    def index(self, word: str) -> int:
        vocab = self._need()
        i = vocab.stoi.get(word)
        if i is None:
            raise ValueError(f"unknown word {word!r}: not in the vocabulary of {len(vocab)} words "
                             f"(min_count={self.config.min_count})")
        return i

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.index(word)]

    def __contains__(self, word: object) -> bool:
        return self.vocab is not None and word in self.vocab.stoi

    def similarity(self, a: str, b: str) -> float:
        u = self.unit_vectors()
        return float(u[self.index(a)] @ u[self.index(b)])

    def _nearest(self, query: np.ndarray, exclude: Sequence[int], topn: int) -> list[tuple[str, float]]:
        u = self.unit_vectors()
        q = query / max(float(np.linalg.norm(query)), 1e-12)
        sims = u @ q.astype(np.float32)
        sims[list(exclude)] = -np.inf
        k = min(topn, len(sims) - len(set(exclude)))
        if k <= 0:
            return []
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top], kind="stable")]
        return [(self.vocab.itos[i], float(sims[i])) for i in top]

    def most_similar(self, word: str, topn: int = 10) -> list[tuple[str, float]]:
        """The ``topn`` words closest to ``word`` by cosine similarity, the word itself left out."""
        i = self.index(word)
        return self._nearest(self.unit_vectors()[i], [i], topn)

    def analogy(self, a: str, b: str, c: str, topn: int = 1) -> list[tuple[str, float]]:
        """a is to b as c is to ?: the words nearest to b - a + c on unit vectors (3CosAdd),
        the three question words left out (as word2vec's compute-accuracy does)."""
        ia, ib, ic = self.index(a), self.index(b), self.index(c)
        u = self.unit_vectors()
        return self._nearest(u[ib] - u[ia] + u[ic], [ia, ib, ic], topn)

    # ---- evaluation --------------------------------------------------------------------------
    def evaluate_wordsim(self, pairs: Sequence[tuple[str, str, float]] | None = None) -> dict:
        """Spearman correlation between cosine similarity and human scores (WordSim-353 by
        default) over the pairs whose words are both in the vocabulary."""
        if pairs is None:
            from dl_kernels.data.word_corpora import load_wordsim353
            pairs = load_wordsim353()
        u = self.unit_vectors()
        stoi = self._need().stoi
        ours, human = [], []
        for a, b, score in pairs:
            if a in stoi and b in stoi:
                ours.append(float(u[stoi[a]] @ u[stoi[b]]))
                human.append(score)
        rho = spearman(np.array(ours), np.array(human)) if len(ours) >= 2 else float("nan")
        return {"spearman": rho, "pairs": len(ours), "total": len(pairs)}

    def evaluate_analogies(self, questions: Sequence[tuple[str, tuple[str, str, str, str]]] | None
                           = None, restrict_vocab: int = 30000, batch: int = 512) -> dict:
        """Accuracy of 3CosAdd on analogy questions (the Google set by default) whose four words
        are among the ``restrict_vocab`` most frequent, answers searched among those words
        (as gensim's evaluate_word_analogies). Also per section."""
        if questions is None:
            from dl_kernels.data.word_corpora import load_analogies
            questions = load_analogies()
        vocab = self._need()
        limit = min(restrict_vocab, len(vocab))
        stoi = {w: i for w, i in vocab.stoi.items() if i < limit}
        u = self.unit_vectors()[:limit]
        kept = [(s, [stoi[w] for w in q]) for s, q in questions if all(w in stoi for w in q)]
        correct = np.zeros(len(kept), bool)
        for s in range(0, len(kept), batch):
            ids = np.array([q for _, q in kept[s:s + batch]], np.int64).reshape(-1, 4)
            target = u[ids[:, 1]] - u[ids[:, 0]] + u[ids[:, 2]]
            sims = target @ u.T
            rows = np.arange(len(ids))
            for k in range(3):
                sims[rows, ids[:, k]] = -np.inf
            correct[s:s + batch] = sims.argmax(axis=1) == ids[:, 3]
        sections: dict[str, list[int]] = {}
        for (sec, _), ok in zip(kept, correct):
            sections.setdefault(sec, [0, 0])
            sections[sec][0] += int(ok)
            sections[sec][1] += 1
        return {"accuracy": float(correct.mean()) if len(kept) else float("nan"),
                "questions": len(kept), "total": len(questions),
                "sections": {k: v[0] / v[1] for k, v in sections.items()}}

    # ---- pictures ----------------------------------------------------------------------------
    def plot_tsne(self, path: str | os.PathLike, n_words: int = 300, skip: int = 0,
                  seed: int = 0) -> Path:
        """A t-SNE map (scikit-learn) of the ``n_words`` most frequent words after the first
        ``skip``, each point labelled with its word, written as a PNG."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from sklearn.manifold import TSNE

        vocab = self._need()
        ids = np.arange(skip, min(skip + n_words, len(vocab)))
        if len(ids) < 5:
            raise ValueError(f"t-SNE needs at least 5 words, the vocabulary offers {len(ids)}")
        x = self.unit_vectors()[ids].astype(np.float64)
        # One thread: a few hundred points need no more, and scikit-learn's OpenMP threads spin
        # for seconds per iteration on a machine whose cores are busy with other work.
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            xy = TSNE(n_components=2, perplexity=min(30.0, (len(ids) - 1) / 3), init="pca",
                      random_state=seed).fit_transform(x)
        fig, ax = plt.subplots(figsize=(14, 14))
        ax.scatter(xy[:, 0], xy[:, 1], s=4, c="tab:blue")
        for (px, py), i in zip(xy, ids):
            ax.annotate(vocab.itos[i], (px, py), fontsize=8, alpha=0.8)
        ax.set_title(f"t-SNE of the {len(ids)} most frequent words ({self.config.arch}, "
                     f"dim {self.config.dim})")
        ax.set_xticks([])
        ax.set_yticks([])
        path = Path(path)
        fig.savefig(path, dpi=90, bbox_inches="tight")
        plt.close(fig)
        return path

    # ---- save / load -------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Vocabulary, both matrices and the configuration in one .npz, written to a temporary
        file and renamed, so a crash never leaves half a checkpoint."""
        vocab = self._need()
        path = Path(path)
        meta = {"format": _FORMAT, "config": asdict(self.config), "vocab": vocab.state_dict()}
        fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, win=self.win, wout=self.wout, meta=np.array(json.dumps(meta)))
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Word2Vec:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path}: no such checkpoint file")
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                win, wout = z["win"], z["wout"]
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"{path}: not a word2vec checkpoint ({exc})") from None
        if meta.get("format") != _FORMAT:
            raise ValueError(f"{path}: not a word2vec checkpoint (format {meta.get('format')!r})")
        m = cls(Word2VecConfig(**meta["config"]))
        m.vocab = Vocab.from_state_dict(meta["vocab"])
        if win.shape != (len(m.vocab), m.config.dim) or wout.shape != win.shape:
            raise ValueError(f"{path}: vectors of shape {win.shape} do not match "
                             f"{len(m.vocab)} words x dim {m.config.dim}")
        m.win, m.wout = np.ascontiguousarray(win, np.float32), np.ascontiguousarray(wout, np.float32)
        return m

    def save_text(self, path: str | os.PathLike) -> Path:
        """The vectors in word2vec's text format ("V D" then "word v1 ... vD" per line)."""
        vocab = self._need()
        path = Path(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(f"{len(vocab)} {self.config.dim}\n")
            for w, row in zip(vocab.itos, self.win):
                f.write(w + " " + " ".join(f"{x:.6g}" for x in row) + "\n")
        os.replace(tmp, path)
        return path


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), np.float64)
    ranks[order] = np.arange(1, len(x) + 1)
    _, inv, cnt = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    return sums[inv] / cnt[inv]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation: Pearson's correlation of the (tie-averaged) ranks."""
    ra, rb = _ranks(np.asarray(a, np.float64)), _ranks(np.asarray(b, np.float64))
    ra -= ra.mean()
    rb -= rb.mean()
    den = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / den) if den > 0 else float("nan")
