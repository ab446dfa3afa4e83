"""``python -m dl_kernels train sentiment``: review-snippet sentiment with k-fold
cross-validation on the Rotten Tomatoes snippets (12,808 fresh / rotten).

Models: ``--model lstm`` (default), the course's Keras model Embedding(5000, 64) -> LSTM(64)
-> LSTM(64) -> Dense(2); ``--model cnn``, Kim's (2014) convolutional classifier. Each fold
builds its vocabulary (``--vocab`` most frequent words of its training part, ``<pad>`` = 0,
``<unk>``), keeps 10 % of its training part for choosing the epoch, and is scored on its
test fold. Prints the mean accuracy over the folds, with random folds and with folds grouped
by movie (no movie in both training and test) unless ``--split`` picks one.

``--vectors`` starts the embedding from word vectors (Kim 2014's "non-static" setup: they are
fine-tuned with the rest unless ``--embed-lr 0`` freezes them), e.g. our own word2vec trained
on unlabelled text that holds no snippet::

    python -m dl_kernels train word2vec --data newsgroups+rotten-tomatoes-plots --dim 64 \\
        --min-count 3 --tsne-words 0 --out w2v_rt
    python -m dl_kernels train sentiment --vectors w2v_rt/word2vec.npz
"""

from __future__ import annotations

import argparse
import time

from dl_kernels.tasks._common import positive_float, positive_int

TRAIN_NAMES = ("sentiment",)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dl_kernels train sentiment",
        description="Sentiment of Rotten Tomatoes snippets: stacked LSTM (the course's "
                    "Keras model) or Kim's CNN, mean k-fold accuracy, random and by movie.")
    p.add_argument("--model", choices=("lstm", "cnn"), default="lstm")
    p.add_argument("--folds", type=positive_int, default=10, help="k of k-fold (default 10)")
    p.add_argument("--max-folds", type=positive_int,
                   help="run only the first N folds (a quicker, noisier estimate)")
    p.add_argument("--split", choices=("both", "random", "movie"), default="both",
                   help="random folds, folds grouped by movie, or both (default)")
    p.add_argument("--vocab", type=positive_int, default=5000,
                   help="vocabulary size with <pad> and <unk> (default 5000)")
    p.add_argument("--embed", type=positive_int, default=64)
    p.add_argument("--hidden", type=positive_int, default=64, help="LSTM units (default 64)")
    p.add_argument("--filters", type=positive_int, default=100,
                   help="CNN feature maps per width (default 100)")
    p.add_argument("--dropout", type=float, default=None,
                   help="dropout (default 0.5 for the CNN, 0.3 for the LSTM)")
    p.add_argument("--max-len", type=positive_int, default=60,
                   help="keep the first N tokens of a snippet (default 60: all of them)")
    p.add_argument("--epochs", type=positive_int, default=6)
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--lr", type=positive_float, default=3e-3, help="Adam step (default 3e-3)")
    p.add_argument("--embed-lr", type=float, default=1.0,
                   help="the embedding's step as a fraction of --lr (0 freezes it; default 1)")
    p.add_argument("--weight-decay", type=float, default=0.0,
                   help="L2 penalty added to the gradients (default 0)")
    p.add_argument("--vectors", metavar="NPZ",
                   help="initialise the embedding from word vectors: a checkpoint of "
                        "'train word2vec', or an .npz with 'words' (str array) and 'vectors' "
                        "(len(words), embed)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=positive_int, help="CPU threads for the kernels")
    p.add_argument("--quiet", action="store_true", help="print only the results")
    return p


def _vectors(path: str):
    """(words, vectors) from an .npz: arrays 'words' and 'vectors', or a checkpoint written by
    ``train word2vec`` (its vocabulary and input vectors W_in)."""
    import numpy as np

    try:
        blob = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"--vectors {path}: cannot read it ({exc})") from None
    if "win" in blob and "meta" in blob:
        from dl_kernels.models.word2vec import Word2Vec

        w2v = Word2Vec.load(path)
        return list(w2v.vocab.itos), w2v.vectors
    if "words" not in blob or "vectors" not in blob:
        raise ValueError(f"--vectors {path}: expected arrays 'words' and 'vectors' (or a "
                         f"word2vec checkpoint), found {sorted(blob.files)}")
    return [str(w) for w in blob["words"]], blob["vectors"]


def make_optimizer(model, lr: float, embed_lr: float = 1.0, weight_decay: float = 0.0):
    """Adam over ``model``'s parameters, the embedding's step scaled by ``embed_lr``;
    ``embed_lr == 0`` freezes the embedding (Kim's "static" vectors: no gradient is kept)."""
    from dl_kernels import optim

    rest = [p for name, p in model.named_parameters() if not name.startswith("embedding.")]
    groups = [{"params": rest}]
    if embed_lr > 0:
        groups.append({"params": [model.embedding.weight], "lr": lr * embed_lr})
    else:
        model.embedding.weight.requires_grad_(False)
    return optim.Adam(groups, lr=lr, weight_decay=weight_decay)


def _batches(lengths, batch_size: int, rng, shuffle: bool):
    """Index batches of similar lengths (less padding): sort by length with random ties,
    cut, shuffle the order of the batches."""
    import numpy as np

    n = len(lengths)
    key = np.asarray(lengths) + (rng.random(n) if shuffle else 0)
    order = np.argsort(key, kind="stable")
    out = [order[i:i + batch_size] for i in range(0, n, batch_size)]
    if shuffle:
        rng.shuffle(out)
    return out


def run_fold(args, texts, labels, train_idx, test_idx, vectors, log) -> dict:
    """Train on ``train_idx`` (10 % of it held out to pick the epoch), score ``test_idx``."""
    import numpy as np

    import dl_kernels as dlk
    from dl_kernels import nn
    from dl_kernels.data import Vocab
    from dl_kernels.models.sentiment import KimCNN, SentimentLSTM, load_word_vectors, pad_batch
    from dl_kernels.nn import functional as F

    rng = np.random.default_rng(args.seed)
    train_idx = rng.permutation(train_idx)
    n_val = max(1, len(train_idx) // 10)
    val_idx, fit_idx = train_idx[:n_val], train_idx[n_val:]
    vocab = Vocab.build([texts[i] for i in fit_idx], max_size=args.vocab, specials=("<pad>",))
    ids = [vocab.encode(t[:args.max_len]) for t in texts]
    dropout = args.dropout if args.dropout is not None else (0.5 if args.model == "cnn" else 0.3)
    if args.model == "lstm":
        model = SentimentLSTM(len(vocab), args.embed, args.hidden, 2, 2, dropout)
        min_len = 1
    else:
        model = KimCNN(len(vocab), args.embed, args.filters, (3, 4, 5), 2, dropout)
        min_len = model.min_len
    if vectors is not None:
        copied = load_word_vectors(model.embedding, vocab.itos, *vectors)
        log(f"    {copied} of {len(vocab)} embedding rows from the word vectors")
    opt = make_optimizer(model, args.lr, args.embed_lr, args.weight_decay)
    lens = np.array([max(len(s), 1) for s in ids])

    def scores(idx) -> float:
        model.eval()
        correct = 0
        with dlk.no_grad():
            for b in _batches(lens[idx], 256, rng, shuffle=False):
                rows = idx[b]
                x, ln = pad_batch([ids[i] for i in rows], min_len)
                correct += int((model(x, ln).numpy().argmax(1) == labels[rows]).sum())
        model.train()
        return correct / len(idx)

    best = (-1.0, 0, None)
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        total = 0.0
        for b in _batches(lens[fit_idx], args.batch_size, rng, shuffle=True):
            rows = fit_idx[b]
            x, ln = pad_batch([ids[i] for i in rows], min_len)
            loss = F.cross_entropy(model(x, ln), dlk.tensor(labels[rows]))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 5.0)
            opt.step()
            total += float(loss.item()) * len(rows)
        val = scores(val_idx)
        log(f"    epoch {epoch}: training loss {total / len(fit_idx):.4f}, "
            f"held-out accuracy {100 * val:.2f} %")
        if val > best[0]:
            best = (val, epoch, {k: v.numpy().copy() for k, v in model.state_dict().items()})
    model.load_state_dict({k: dlk.tensor(v) for k, v in best[2].items()})
    return {"acc": scores(np.asarray(test_idx)), "epoch": best[1],
            "seconds": time.perf_counter() - start}


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.dropout is not None and not 0.0 <= args.dropout < 1.0:
        raise ValueError(f"--dropout must be in [0, 1), got {args.dropout}")
    if args.embed_lr < 0 or args.weight_decay < 0:
        raise ValueError(f"--embed-lr and --weight-decay must be >= 0, got {args.embed_lr} and "
                         f"{args.weight_decay}")
    if args.vocab < 3:
        raise ValueError(f"--vocab must be >= 3 (<pad>, <unk> and a word), got {args.vocab}")
    if args.folds < 2:
        raise ValueError(f"--folds must be >= 2, got {args.folds}")

    import numpy as np

    from dl_kernels.data import tokenize
    from dl_kernels.data.reviews import load_rotten_tomatoes
    from dl_kernels.models.sentiment import fold_indices
    from dl_kernels.tasks._common import setup

    vectors = _vectors(args.vectors) if args.vectors else None
    if vectors is not None and vectors[1].shape[1] != args.embed:
        raise ValueError(f"--vectors has dimension {vectors[1].shape[1]}; pass --embed "
                         f"{vectors[1].shape[1]}")
    setup(args.seed, args.threads)
    log = (lambda s: None) if args.quiet else print
    data = load_rotten_tomatoes()
    print(data.summary())
    texts = [tokenize(t, punctuation=True) for t in data.texts]
    labels = data.labels
    what = "stacked LSTM" if args.model == "lstm" else "Kim CNN (widths 3, 4, 5)"
    splits = ("random", "movie") if args.split == "both" else (args.split,)
    t0 = time.perf_counter()
    for split in splits:
        folds = fold_indices(len(texts), args.folds, data.movies if split == "movie" else None,
                             args.seed)
        accs = []
        for f, test_idx in enumerate(folds[:args.max_folds or len(folds)]):
            train_idx = np.setdiff1d(np.arange(len(texts)), test_idx)
            log(f"  {split} fold {f + 1}/{len(folds)}: {len(train_idx)} train, "
                f"{len(test_idx)} test")
            setup(args.seed + f, None)
            r = run_fold(args, texts, labels, train_idx, test_idx, vectors, log)
            accs.append(r["acc"])
            log(f"  {split} fold {f + 1}: test accuracy {100 * r['acc']:.2f} % "
                f"(epoch {r['epoch']}, {r['seconds']:.0f} s); mean so far "
                f"{100 * np.mean(accs):.2f} %")
        a = 100 * np.array(accs)
        label = "random folds" if split == "random" else "folds grouped by movie"
        sd = a.std(ddof=1) if len(a) > 1 else 0.0
        print(f"{what}, {label}: mean accuracy {a.mean():.2f} % (s.d. {sd:.2f}) over "
              f"{len(a)} of {args.folds} folds")
    print(f"time: {time.perf_counter() - t0:.0f} s")
    return 0
