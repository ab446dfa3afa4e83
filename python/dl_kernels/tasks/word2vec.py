"""``train word2vec``, ``neighbours`` and ``analogy``: word vectors from the command line.

    python -m dl_kernels train word2vec [--arch skipgram|cbow] [--data newsgroups|shakespeare|PATH|A+B]
    python -m dl_kernels neighbours CKPT WORD [WORD ...]
    python -m dl_kernels analogy CKPT A B C          # A is to B as C is to ?
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

TRAIN_NAMES = ("word2vec",)


def _train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m dl_kernels train word2vec",
        description="Train word2vec (skip-gram or CBOW) on a bundled corpus with the CPU kernel, "
                    "report words/s, loss, WordSim-353 and analogy scores, and write the "
                    "vectors, a t-SNE plot and a checkpoint.")
    p.add_argument("--arch", choices=("skipgram", "cbow"), default="skipgram")
    p.add_argument("--loss", choices=("negative", "softmax"), default="negative",
                   help="negative sampling (default) or sampled softmax")
    p.add_argument("--data", default="newsgroups",
                   help="newsgroups (20 Newsgroups, ~4.9 M tokens), shakespeare, "
                        "rotten-tomatoes-plots, rotten-tomatoes-snippets, a UTF-8 text file "
                        "with one document per line, or several joined by + "
                        "(e.g. newsgroups+rotten-tomatoes-plots)")
    p.add_argument("--max-tokens", type=int, default=None, help="use only the first N tokens")
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--negative", type=int, default=5)
    p.add_argument("--sample", type=float, default=1e-3)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--alpha", type=float, default=None,
                   help="initial learning rate (default 0.025 skip-gram, 0.05 CBOW)")
    p.add_argument("--min-count", type=int, default=5)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--rung", choices=("auto", "fast", "reference", "portable"), default="auto")
    p.add_argument("--out", default="word2vec_out",
                   help="folder for vectors.txt, word2vec.npz and tsne.png (default word2vec_out)")
    p.add_argument("--tsne-words", type=int, default=300, help="0 skips the plot")
    return p


def main(argv: list[str]) -> int:
    args = _train_parser().parse_args(argv)
    from dl_kernels.data.word_corpora import load_word_corpus
    from dl_kernels.models.word2vec import Word2Vec, Word2VecConfig

    if args.max_tokens is not None and args.max_tokens < 1:
        raise ValueError(f"--max-tokens must be >= 1, got {args.max_tokens}")
    t0 = time.perf_counter()
    corpus = load_word_corpus(args.data, max_tokens=args.max_tokens)
    cfg = Word2VecConfig(arch=args.arch, loss=args.loss, dim=args.dim, window=args.window,
                         negative=args.negative, sample=args.sample, alpha=args.alpha,
                         epochs=args.epochs, min_count=args.min_count, threads=args.threads,
                         seed=args.seed, rung=args.rung)
    model = Word2Vec(cfg).build_vocab(corpus.documents)
    print(f"corpus {corpus.name}: {len(corpus.documents)} documents, {corpus.num_tokens} tokens, "
          f"vocabulary {len(model.vocab)} words (min count {cfg.min_count}); "
          f"read in {time.perf_counter() - t0:.1f} s", flush=True)
    from dl_kernels import _C

    threads = cfg.threads or _C.get_num_threads()
    print(f"training {cfg.arch} ({'negative sampling' if cfg.loss == 'negative' else 'sampled softmax'}, "
          f"dim {cfg.dim}, window {cfg.window}, {cfg.negative} negatives, sample {cfg.sample}, "
          f"{cfg.epochs} epochs, threads {threads}, kernel {_C.word2vec_fast_isa()})",
          flush=True)
    last = [0.0]

    def progress(r: dict) -> None:
        now = time.perf_counter()
        if now - last[0] < 1.0 and r["words_done"] < r["words_total"]:
            return
        last[0] = now
        print(f"  epoch {r['epoch']}  {100 * r['words_done'] / r['words_total']:5.1f} %  "
              f"{r['words_per_s'] / 1e6:.2f} M words/s  loss {r['loss']:.4f}  lr {r['alpha']:.5f}",
              flush=True)

    t1 = time.perf_counter()
    model.fit(corpus.documents, progress=progress)
    dt = time.perf_counter() - t1
    words = model.history[-1]["words_done"] if model.history else 0
    print(f"trained {words} words in {dt:.1f} s: {words / dt / 1e6:.2f} M words/s overall")
    _report_scores(model)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = model.save(out / "word2vec.npz")
    vec = model.save_text(out / "vectors.txt")
    print(f"wrote {ckpt} (checkpoint) and {vec} (word2vec text format)")
    if args.tsne_words > 0:
        png = model.plot_tsne(out / "tsne.png", n_words=args.tsne_words)
        print(f"wrote {png} (t-SNE of the {args.tsne_words} most frequent words)")
    for w in ("computer", "god", "car", "king", "love"):
        if w in model:
            print(f"  nearest to {w!r}: " + ", ".join(x for x, _ in model.most_similar(w, 8)))
    return 0


def _report_scores(model) -> None:
    from dl_kernels.data._errors import DataPackageMissing

    try:
        ws = model.evaluate_wordsim()
        an = model.evaluate_analogies()
    except DataPackageMissing as exc:
        print(f"evaluation skipped: {exc}")
        return
    print(f"WordSim-353 Spearman {ws['spearman']:.3f} ({ws['pairs']}/{ws['total']} pairs in the "
          f"vocabulary)")
    print(f"Google analogies (3CosAdd) accuracy {100 * an['accuracy']:.1f} % "
          f"({an['questions']}/{an['total']} questions in the vocabulary)")


def _load(path: str):
    from dl_kernels.models.word2vec import Word2Vec

    return Word2Vec.load(path)


def neighbours(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m dl_kernels neighbours",
                                description="Nearest words by cosine similarity.")
    p.add_argument("checkpoint")
    p.add_argument("words", nargs="+")
    p.add_argument("--topn", type=int, default=10)
    a = p.parse_args(argv)
    model = _load(a.checkpoint)
    for w in a.words:  # every word checked before anything is printed
        model.index(w.lower())
    for w in a.words:
        near = model.most_similar(w.lower(), a.topn)
        print(f"{w}: " + ", ".join(f"{x} {s:.3f}" for x, s in near))
    return 0


def analogy(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m dl_kernels analogy",
                                description="A is to B as C is to ? (3CosAdd).")
    p.add_argument("checkpoint")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("c")
    p.add_argument("--topn", type=int, default=5)
    a = p.parse_args(argv)
    model = _load(a.checkpoint)
    best = model.analogy(a.a.lower(), a.b.lower(), a.c.lower(), a.topn)
    print(f"{a.a} : {a.b} :: {a.c} : " + ", ".join(f"{x} {s:.3f}" for x, s in best))
    return 0


COMMANDS = {"neighbours": neighbours, "neighbors": neighbours, "analogy": analogy}

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
