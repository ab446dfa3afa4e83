"""Grapheme-to-phoneme conversion on CMUdict with an attentional encoder-decoder.

    python -m dl_kernels train g2p [--time-limit 55] [--out runs/g2p] [--members 2] ...
    python -m dl_kernels g2p --checkpoint runs/g2p/g2p-best.ckpt WORD... [--beam 5 --n-best 3]
                             [--heatmap attention.png]

Training: words (characters) -> ARPAbet phonemes without stress, the seeded 90/5/5 split by
unique word of dl_kernels.data.cmudict; Adam with gradient clipping; batches of words of
similar length (less padding); a checkpoint after every epoch (written to a temporary file and
renamed). The learning rate follows a cosine from --lr down to zero over the training budget
(whichever of --time-limit and --epochs ends first: "SGDR" annealing, Loshchilov & Hutter 2017,
without restarts), so a run that is stopped by its time limit has still annealed; with
--schedule plateau it instead halves whenever the validation PER stops improving. The loss is the
cross-entropy, optionally with label smoothing (Szegedy et al. 2016). From fractions of the
budget given by --average-from on, the mean of the weights is kept as well (stochastic weight
averaging, Izmailov et al. 2018) and validated after every epoch beside the epoch's own model.
After training the best validated model is scored on the test words with beam search: PER
(phoneme edits per reference phoneme) and WER (words whose output matches none of their
pronunciations).

With ``--members K`` K models with different seeds train side by side, one process each on its
share of the cores, and the test words are decoded by their ensemble: at every step the beam
search extends the mean of the members' next-token probabilities (Sutskever et al. 2014; Luong
et al. 2015). The members' runs are in ``OUT/member<k>/``; ``OUT/g2p-best.ckpt`` holds all of
them, and ``g2p --checkpoint`` decodes with all of them. With ``--r2l-members K`` the last K
members emit the phonemes right to left; an ensemble of both directions rescores the union of
both directions' n-best lists by the mean log probability under all members (agreement on
target-bidirectional decoding, Liu et al. 2016).
Published anchors on CMUdict: Phonetisaurus (WFST) 24.4 % WER; CMUSphinx g2p-seq2seq
(transformer) 20.2 %.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

TRAIN_NAMES = ("g2p",)
PAD, BOS, EOS = 0, 1, 2
KIND = "dl_kernels-g2p"
SNAPSHOTS = "g2p-snapshots.ckpt"  # with --cycles K > 1: the K cycle-end models, one ensemble


# ---- vocabularies and batches ---------------------------------------------------------------
class Vocab:
    """Characters (ids from 1; 0 pads) and phonemes (0 pad, 1 <s>, 2 </s>, then the phones)."""

    def __init__(self, chars: list[str], phones: list[str]) -> None:
        self.chars, self.phones = list(chars), list(phones)
        self.char_id = {c: i + 1 for i, c in enumerate(self.chars)}
        self.phone_id = {p: i + 3 for i, p in enumerate(self.phones)}

    @classmethod
    def build(cls, pairs: list[tuple[str, tuple[str, ...]]]) -> Vocab:
        return cls(sorted({c for w, _ in pairs for c in w}),
                   sorted({p for _, ph in pairs for p in ph}))

    def check_word(self, word: str) -> None:
        if not word:
            raise ValueError("g2p: empty word: give at least one character")
        bad = sorted({c for c in word if c not in self.char_id})
        if bad:
            raise ValueError(f"g2p: word {word!r} has characters outside the model's alphabet: "
                             f"{''.join(bad)!r} (known: {''.join(self.chars)!r})")

    def encode_words(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        lengths = np.array([len(w) for w in words], dtype=np.int64)
        src = np.zeros((len(words), int(lengths.max())), dtype=np.int64)
        for i, w in enumerate(words):
            src[i, :len(w)] = [self.char_id[c] for c in w]
        return src, lengths

    def encode_prons(self, prons: list[tuple[str, ...]]) -> tuple[np.ndarray, np.ndarray]:
        t = max(len(p) for p in prons) + 1
        tin = np.zeros((len(prons), t), dtype=np.int64)
        tout = np.zeros((len(prons), t), dtype=np.int64)
        for i, p in enumerate(prons):
            ids = [self.phone_id[x] for x in p]
            tin[i, :len(ids) + 1] = [BOS, *ids]
            tout[i, :len(ids) + 1] = [*ids, EOS]
        return tin, tout

    def decode(self, ids: np.ndarray) -> tuple[str, ...]:
        return tuple(self.phones[i - 3] for i in ids if i >= 3)


def length_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator
                   ) -> list[np.ndarray]:
    """Indices in batches of similar length (sorted by length with random tie order), the
    batches shuffled: little padding, and every epoch a different order."""
    order = np.lexsort((rng.random(len(lengths)), lengths))
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def cosine_restarts(base_lr: float, used: float, cycles: int) -> tuple[int, float]:
    """(the cycle, counted from 0, and the learning rate) when the fraction ``used`` of the
    budget is spent: the budget cut into ``cycles`` equal cycles, in each the rate annealed from
    ``base_lr`` to zero on a half cosine (SGDR, Loshchilov & Hutter 2017; the models at the cycle
    ends are the members of a snapshot ensemble, Huang et al. 2017)."""
    scaled = min(max(used, 0.0), 1.0) * cycles
    cycle = min(int(scaled), cycles - 1)
    return cycle, 0.5 * base_lr * (1 + math.cos(math.pi * (scaled - cycle)))


# ---- the model ------------------------------------------------------------------------------
def build_model(cfg: dict[str, Any]) -> Any:
    from dl_kernels.models.seq2seq import Seq2Seq

    return Seq2Seq(**cfg)


def right_to_left(model: Any) -> bool:
    """Whether a g2p model emits the phonemes last to first (``--r2l-members``)."""
    return bool(getattr(model, "right_to_left", False))


def transcribe(model: Any, vocab: Vocab, words: list[str], beam: int = 5, n_best: int = 1,
               batch_size: int = 256, length_penalty: float = 0.0) -> list[list[Any]]:
    """The n-best pronunciations of every word: [(phones, logp, score), ...] per word.
    ``model``: a Seq2Seq, or a list of them decoded as an ensemble (the mean of their
    next-token probabilities at every step). An ensemble of left-to-right and right-to-left
    models is decoded by each direction's beam search, and the union of both n-best lists
    (``beam`` each) is rescored by every model: a pronunciation's score is the mean of its log
    probabilities under all of them (target-bidirectional agreement, Liu et al. 2016)."""
    from dl_kernels.models.seq2seq import translate

    models = list(model) if isinstance(model, (list, tuple)) else [model]
    groups = [(g, rev) for g, rev in (([m for m in models if not right_to_left(m)], False),
                                      ([m for m in models if right_to_left(m)], True)) if g]
    out: list[list[Any]] = [[] for _ in words]
    order = sorted(range(len(words)), key=lambda i: len(words[i]))
    for k in range(0, len(order), batch_size):
        idx = order[k:k + batch_size]
        src, lengths = vocab.encode_words([words[i] for i in idx])
        found: list[dict[tuple[str, ...], tuple[float, float]]] = [{} for _ in idx]
        for group, reverse in groups:
            hyps = translate(group, src, lengths, beam=beam,
                             n_best=n_best if len(groups) == 1 else beam,
                             max_len=int(lengths.max()) + 10, length_penalty=length_penalty)
            for cands, hs in zip(found, hyps):
                for h in hs:
                    phones = vocab.decode(h.tokens)
                    cands.setdefault(phones[::-1] if reverse else phones,
                                     (float(h.logp), float(h.score)))
        if len(groups) > 1:
            found = _rescore(models, vocab, src, lengths, found)
        for i, cands in zip(idx, found):
            out[i] = [(phones, logp, score) for phones, (logp, score) in cands.items()][:n_best]
    return out


def _rescore(models: list[Any], vocab: Vocab, src: np.ndarray, lengths: np.ndarray,
             found: list[dict[tuple[str, ...], Any]]
             ) -> list[dict[tuple[str, ...], tuple[float, float]]]:
    """Every word's candidates scored by the mean log probability under all ``models`` (each
    reading the phonemes in its own direction), best first."""
    rows = np.array([j for j, cands in enumerate(found) for _ in cands], dtype=np.int64)
    prons = [p for cands in found for p in cands]
    total = np.zeros(len(prons))
    for m in models:
        tin, tout = vocab.encode_prons([p[::-1] for p in prons] if right_to_left(m) else prons)
        total += m.sequence_logp(src[rows], lengths[rows], tin, tout)
    total /= len(models)
    out: list[dict[tuple[str, ...], tuple[float, float]]] = [{} for _ in found]
    for r in np.argsort(-total, kind="stable"):
        out[rows[r]][prons[r]] = (float(total[r]), float(total[r]))
    return out


def evaluate(model: Any, vocab: Vocab, words: list[str], prons: list[list[tuple[str, ...]]],
             beam: int = 1) -> dict[str, float]:
    from dl_kernels.data.cmudict import g2p_scores

    best = [h[0][0] for h in transcribe(model, vocab, words, beam=beam)]
    return g2p_scores(best, prons)


# ---- checkpoints ----------------------------------------------------------------------------
def save_checkpoint(path: str, model: Any, vocab: Vocab, extra: dict[str, Any]) -> None:
    from dl_kernels.nn.serialization import save

    save({"kind": KIND, "config": model.config, "chars": vocab.chars, "phones": vocab.phones,
          "state": dict(model.state_dict()), "right_to_left": right_to_left(model), **extra},
         path)


def save_ensemble(path: str, models: list[Any], vocab: Vocab, extra: dict[str, Any]) -> None:
    """Several members in one checkpoint file; ``g2p --checkpoint`` decodes with all of them."""
    from dl_kernels.nn.serialization import save

    save({"kind": KIND, "members": [{"config": m.config, "state": dict(m.state_dict()),
                                     "right_to_left": right_to_left(m)} for m in models],
          "chars": vocab.chars, "phones": vocab.phones, **extra}, path)


def load_checkpoint(path: str) -> tuple[list[Any], Vocab, dict[str, Any]]:
    """(the models, one or an ensemble's members, in evaluation mode; the vocabulary; the
    checkpoint's other entries)."""
    from dl_kernels.nn.serialization import load

    ckpt = load(path)
    if not isinstance(ckpt, dict) or ckpt.get("kind") != KIND:
        raise ValueError(f"g2p: {path!r} is not a g2p checkpoint (train one with "
                         "`python -m dl_kernels train g2p`)")
    models = []
    for member in ckpt.get("members", [ckpt]):
        model = build_model(member["config"])
        model.load_state_dict(member["state"])
        model.right_to_left = bool(member.get("right_to_left", False))
        model.eval()
        models.append(model)
    return models, Vocab(ckpt["chars"], ckpt["phones"]), ckpt


# ---- training -------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dl_kernels train g2p",
                                description="Train the attentional encoder-decoder on CMUdict.")
    p.add_argument("--out", default="runs/g2p", help="directory for checkpoints and the log")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--time-limit", type=float, default=55.0,
                   help="stop starting epochs after this many minutes of training")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--embed", type=int, default=64)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--enc-layers", type=int, default=2)
    p.add_argument("--dec-layers", type=int, default=1)
    p.add_argument("--cell", choices=("lstm", "gru"), default="lstm")
    p.add_argument("--attention", choices=("general", "dot", "additive"), default="general")
    p.add_argument("--dropout", type=float, default=0.1,
                   help="dropout on the embeddings, between encoder layers and before the "
                        "output layer (0.1 did better than 0.25 within the hour: README)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--schedule", choices=("cosine", "plateau"), default="cosine",
                   help="cosine: anneal to zero over the time/epoch budget; plateau: halve "
                        "the rate when the validation PER stops improving")
    p.add_argument("--cycles", type=int, default=1,
                   help="restart the cosine this many times over the budget and decode with "
                        "the ensemble of the models at the ends of the cycles (snapshot "
                        "ensembles); 1: one annealing, the best validation epoch's model")
    p.add_argument("--average-from", type=float, nargs="*", default=[0.5, 0.75],
                   metavar="FRACTION",
                   help="from each of these fractions of the budget on, also keep the mean of "
                        "the weights (10 times an epoch; stochastic weight averaging, Izmailov "
                        "et al. 2018); every average is validated after each epoch and can be "
                        "the best model. No value: no averaging; only with --cycles 1")
    p.add_argument("--clip", type=float, default=5.0)
    p.add_argument("--beam", type=int, default=5, help="beam width of the final test decode")
    p.add_argument("--val-words", type=int, default=2000,
                   help="validation words decoded (greedy) after each epoch")
    p.add_argument("--limit", type=int, default=0, help="use only this many training words")
    p.add_argument("--test-words", type=int, default=0,
                   help="score only this many test words (0: all of them)")
    p.add_argument("--init", default=None, metavar="CKPT",
                   help="start from this g2p checkpoint's weights and model configuration "
                        "(continue training; the optimiser starts afresh)")
    p.add_argument("--label-smoothing", type=float, default=0.0,
                   help="mix this much of the uniform distribution into each target "
                        "(Szegedy et al. 2016)")
    p.add_argument("--members", type=int, default=2,
                   help="train this many models at once, each in its own process on its share "
                        "of the cores (seeds --seed, --seed + 1, ...), and score the test words "
                        "with their ensemble (two did best within the hour: README); 1: a "
                        "single model")
    p.add_argument("--r2l-members", type=int, default=0,
                   help="this many of the members (the last ones) emit the phonemes right to "
                        "left; an ensemble of both directions rescores the union of their "
                        "n-best lists with all members")
    p.add_argument("--threads", type=int, default=0,
                   help="threads per model (0: the cores shared out among the --members)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--member-index", type=int, default=-1, help=argparse.SUPPRESS)
    return p


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def _logger(out: str, tag: str = "") -> Iterator[Callable[[str], None]]:
    """log(msg): a timestamped line to stdout and out/train.log (closed on the way out)."""
    os.makedirs(out, exist_ok=True)
    prefix = f"{tag}: " if tag else ""
    with open(os.path.join(out, "train.log"), "a", encoding="utf-8") as log_file:

        def log(msg: str) -> None:
            line = f"[{time.strftime('%H:%M:%S')}] {prefix}{msg}"
            print(line, flush=True)
            log_file.write(line + "\n")
            log_file.flush()

        yield log


def train_main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    for name in ("epochs", "batch_size", "embed", "hidden", "enc_layers", "dec_layers", "beam",
                 "members", "cycles"):
        if getattr(args, name) < 1:
            raise ValueError(f"train g2p: --{name.replace('_', '-')} must be >= 1")
    if not 0.0 <= args.label_smoothing < 1.0:
        raise ValueError(f"train g2p: --label-smoothing must be in [0, 1), got "
                         f"{args.label_smoothing}")
    if not 0 <= args.r2l_members <= args.members:
        raise ValueError(f"train g2p: --r2l-members must be in [0, --members = {args.members}], "
                         f"got {args.r2l_members}")
    bad = [f for f in args.average_from if not 0.0 <= f < 1.0]
    if bad:
        raise ValueError(f"train g2p: --average-from takes fractions of the budget in [0, 1), "
                         f"got {bad}")
    if args.cycles > 1 and args.schedule != "cosine":
        raise ValueError(f"train g2p: --cycles {args.cycles} restarts the cosine schedule; it "
                         f"needs --schedule cosine, not {args.schedule}")
    if args.members > 1:
        with _logger(args.out) as log:
            return _train_ensemble(args, argv, log)
    with _logger(args.out, f"member {args.member_index}" if args.member_index >= 0 else "") as log:
        return _train_one(args, log)


def _train_ensemble(args: argparse.Namespace, argv: list[str], log: Callable[[str], None]
                    ) -> int:
    """Train ``--members`` models side by side, one process each with its share of the cores
    (this small model's step is short kernels and Python: processes get more batches through
    the cores than threads of one process do), then decode the test words with their
    ensemble."""
    import subprocess

    cores = _usable_cores()
    threads = args.threads or max(1, cores // args.members)
    dirs = [os.path.join(args.out, f"member{i}") for i in range(args.members)]
    log(f"g2p ensemble: {args.members} members, {threads} thread(s) each, on "
        f"{cores} cores; their logs: {', '.join(d + '/train.log' for d in dirs)}")
    procs: list[subprocess.Popen] = []

    def first_failure() -> int | None:
        return next((i for i, p in enumerate(procs) if p.poll() not in (None, 0)), None)

    try:
        for i, d in enumerate(dirs):
            cmd = [sys.executable, "-m", "dl_kernels", "train", "g2p", *argv, "--members", "1",
                   "--seed", str(args.seed + i), "--out", d, "--threads", str(threads),
                   "--member-index", str(i),
                   "--r2l-members", str(int(i >= args.members - args.r2l_members))]
            procs.append(subprocess.Popen(cmd))
        while first_failure() is None and any(p.poll() is None for p in procs):
            time.sleep(0.5)
        failed = first_failure()
    finally:  # a failed member (or an interrupt) stops the others
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait()
    if failed is not None:
        raise RuntimeError(f"train g2p: member {failed} failed (exit {procs[failed].returncode})"
                           f"; see {dirs[failed]}/train.log")
    final = "g2p-best.ckpt" if args.cycles == 1 else SNAPSHOTS
    best = [load_checkpoint(os.path.join(d, final)) for d in dirs]
    last = [load_checkpoint(os.path.join(d, "g2p.ckpt")) for d in dirs]
    vocab = best[0][1]
    members = [m for ms, _, _ in best for m in ms]
    info = {"epochs": [ck["epoch"] for _, _, ck in best],
            "val": [ck["val"] for _, _, ck in best],
            "train_minutes": max(ck["train_minutes"] for _, _, ck in last)}
    save_ensemble(os.path.join(args.out, "g2p-best.ckpt"), members, vocab, info)
    save_ensemble(os.path.join(args.out, "g2p.ckpt"), [m for ms, _, _ in last for m in ms],
                  vocab, {**info, "epochs": [ck["epoch"] for _, _, ck in last]})
    for i, (_, _, ck) in enumerate(best):
        what = "best epoch" if args.cycles == 1 else f"{args.cycles} snapshots, last epoch"
        log(f"member {i}: {what} {_best_what(ck)}, val PER {ck['val']['per']:.2f} % "
            f"WER {ck['val']['wer']:.2f} %")
    r2l = sum(right_to_left(m) for m in members)
    both = f", {r2l} of them right to left, the n-best lists rescored" if r2l else ""
    _test(args, members, vocab, log, f"ensemble of {len(members)}{both}, best epochs "
          f"{[_best_what(ck) for _, _, ck in best]}", info["train_minutes"])
    return 0


def _best_what(ckpt: dict[str, Any]) -> str:
    """'12', or '12 (the mean of the weights since 0.5 of the budget)' for an averaged model."""
    if "averaged_from" not in ckpt:
        return str(ckpt["epoch"])
    return (f"{ckpt['epoch']} (the mean of {ckpt['n_averaged']} points since "
            f"{ckpt['averaged_from']:g} of the budget)")


def _test(args: argparse.Namespace, models: list[Any], vocab: Vocab, log: Callable[[str], None],
          what: str, train_min: float) -> None:
    """Score the test words (beam search) and log the result."""
    from dl_kernels.data.cmudict import g2p_splits

    test = g2p_splits(seed=0)["test"]
    n_test = args.test_words or len(test)
    t0 = time.perf_counter()
    scores = evaluate(models, vocab, test.words[:n_test], test.prons[:n_test], beam=args.beam)
    n_params = sum(p.numel() for m in models for p in m.parameters())
    log(f"TEST ({n_test} words, beam {args.beam}, {what}): PER {scores['per']:.2f} % "
        f"WER {scores['wer']:.2f} %; training {train_min:.1f} min, decoding "
        f"{time.perf_counter() - t0:.0f} s; {n_params} parameters; load {os.getloadavg()}")


def _train_one(args: argparse.Namespace, log: Callable[[str], None]) -> int:
    import dl_kernels as dlk
    from dl_kernels import nn, optim
    from dl_kernels.data.cmudict import g2p_splits
    from dl_kernels.optim.swa_utils import AveragedModel

    if args.threads:
        dlk.set_num_threads(args.threads)
    member = args.member_index

    splits = g2p_splits(seed=0)
    train = splits["train"]
    words, prons = train.words, train.prons
    if args.limit:
        words, prons = words[:args.limit], prons[:args.limit]
    pairs = [(w, p) for w, ps in zip(words, prons) for p in ps]
    vocab = Vocab.build(train.pairs())  # the whole training split's alphabet, even with --limit
    val = splits["val"]
    pick = np.random.default_rng(0).permutation(len(val))[:args.val_words]  # same for all seeds
    rng = np.random.default_rng(args.seed)
    val_words = [val.words[i] for i in pick]
    val_prons = [val.prons[i] for i in pick]

    dlk.manual_seed(args.seed)
    cfg = {"src_vocab": len(vocab.chars) + 1, "tgt_vocab": len(vocab.phones) + 3,
           "embed": args.embed, "hidden": args.hidden, "enc_layers": args.enc_layers,
           "dec_layers": args.dec_layers, "cell": args.cell, "attention": args.attention,
           "dropout": args.dropout, "pad": PAD, "bos": BOS, "eos": EOS}
    if args.init:
        models, init_vocab, init_ckpt = load_checkpoint(args.init)
        if len(models) > 1 and not 0 <= member < len(models):
            raise ValueError(f"train g2p: --init {args.init!r} is an ensemble of {len(models)} "
                             f"models: continue it with --members {len(models)}, or start from "
                             "one member's checkpoint (memberK/g2p-best.ckpt)")
        model = models[member] if len(models) > 1 else models[0]
        if (init_vocab.chars, init_vocab.phones) != (vocab.chars, vocab.phones):
            raise ValueError(f"train g2p: --init {args.init!r} has another alphabet or phoneme "
                             "set than this data")
        cfg = dict(model.config)
        log(f"starting from {args.init} (epoch {init_ckpt.get('epoch')}, "
            f"{init_ckpt.get('train_minutes', 0):.1f} min of training)")
    else:
        model = build_model(cfg)
        model.right_to_left = args.r2l_members == 1
    n_params = sum(p.numel() for p in model.parameters())
    opt = optim.Adam(model.parameters(), lr=args.lr)
    log(f"g2p: {len(pairs)} training pairs ({len(words)} words), {len(val_words)} validation "
        f"words, {len(vocab.chars)} characters, {len(vocab.phones)} phonemes; model {cfg}, "
        f"{n_params} parameters; threads {dlk.get_num_threads()}; load {os.getloadavg()}")

    src_len = np.array([len(w) for w, _ in pairs])
    ckpt_path = os.path.join(args.out, "g2p.ckpt")
    best_path = os.path.join(args.out, "g2p-best.ckpt")
    best_per, lr, cycles_done = math.inf, args.lr, 0
    start = time.perf_counter()

    def train_minutes() -> float:
        return (time.perf_counter() - start) / 60

    def budget_used(epoch: int, batch: int, n_batches: int) -> float:
        """The fraction of the training budget spent: time or epochs, whichever is ahead."""
        by_time = train_minutes() / args.time_limit if args.time_limit else 0
        return min(1.0, max(by_time, (epoch - 1 + batch / n_batches) / args.epochs))

    def snapshot_path(cycle: int) -> str:
        return os.path.join(args.out, f"g2p-cycle{cycle}.ckpt")

    # SWA: {start fraction: the average of the weights since then}; restarts would mix cycles.
    averages: dict[float, Any] = {}
    average_from = sorted(set(args.average_from)) if args.cycles == 1 else []

    for epoch in range(1, args.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        total = count = 0.0
        batches = length_batches(src_len, args.batch_size, rng)
        for bi, idx in enumerate(batches):
            if args.schedule == "cosine":
                # SGDR: the cosine restarts at the start of every cycle; a cycle that has just
                # ended (its rate annealed to zero) leaves its model as a snapshot.
                cycle, lr = cosine_restarts(args.lr, budget_used(epoch, bi, len(batches)),
                                            args.cycles)
                for ended in range(cycles_done + 1, cycle + 1):
                    save_checkpoint(snapshot_path(ended), model, vocab,
                                    {"epoch": epoch, "train_minutes": train_minutes()})
                    log(f"cycle {ended} of {args.cycles} ended in epoch {epoch} (batch {bi}): "
                        f"snapshot {snapshot_path(ended)}")
                cycles_done = max(cycles_done, cycle)
                for g in opt.param_groups:
                    g["lr"] = lr
            src, lengths = vocab.encode_words([pairs[i][0] for i in idx])
            tin, tout = vocab.encode_prons([pairs[i][1][::-1] if model.right_to_left
                                            else pairs[i][1] for i in idx])
            loss = model.loss(src, lengths, tin, tout, label_smoothing=args.label_smoothing)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            if average_from and (bi + 1) % max(1, len(batches) // 10) == 0:
                used = budget_used(epoch, bi + 1, len(batches))
                for frac in average_from:
                    if used >= frac:
                        averages.setdefault(frac, AveragedModel(model)).update_parameters(model)
            ntok = int((tout != PAD).sum())
            total += float(loss.item()) * ntok
            count += ntok
            if bi % 200 == 0:
                log(f"epoch {epoch} batch {bi}/{len(batches)} loss {total / count:.4f} "
                    f"({(time.perf_counter() - t0) / (bi + 1) * 1000:.0f} ms/batch)")
            if (time.perf_counter() - start) / 60 > args.time_limit:
                break
        train_min = train_minutes()
        model.eval()
        scores = evaluate(model, vocab, val_words, val_prons, beam=1)
        improved = scores["per"] < best_per
        if improved:
            best_per = scores["per"]
        elif args.schedule == "plateau":
            lr *= 0.5
            for g in opt.param_groups:
                g["lr"] = lr
        extra = {"epoch": epoch, "val": scores, "train_minutes": train_min, "lr": lr}
        save_checkpoint(ckpt_path, model, vocab, extra)
        if improved:
            save_checkpoint(best_path, model, vocab, extra)
        log(f"epoch {epoch}: loss {total / max(count, 1):.4f}, val PER {scores['per']:.2f} % "
            f"WER {scores['wer']:.2f} % (greedy, {len(val_words)} words), "
            f"{time.perf_counter() - t0:.0f} s, {train_min:.1f} min so far, lr {lr:.2g}, "
            f"load {os.getloadavg()[0]:.1f}")
        for frac, avg in averages.items():
            avg.module.eval()
            avg_scores = evaluate(avg.module, vocab, val_words, val_prons, beam=1)
            n = int(avg.n_averaged)
            better = avg_scores["per"] < best_per
            if better:
                best_per = avg_scores["per"]
                save_checkpoint(best_path, avg.module, vocab,
                                {**extra, "val": avg_scores, "averaged_from": frac,
                                 "n_averaged": n})
            log(f"epoch {epoch}: mean of the weights since {frac:g} of the budget ({n} points): "
                f"val PER {avg_scores['per']:.2f} % WER {avg_scores['wer']:.2f} %"
                f"{' (best so far)' if better else ''}")
        if train_min > args.time_limit:
            log(f"time limit of {args.time_limit} min reached")
            break
    train_min = train_minutes()
    if args.cycles == 1:
        models, _, ck = load_checkpoint(best_path)
        _test(args, models, vocab, log, f"best epoch {_best_what(ck)}", train_min)
        return 0
    save_checkpoint(snapshot_path(args.cycles), model, vocab,
                    {"epoch": epoch, "train_minutes": train_min})
    models = [load_checkpoint(snapshot_path(c))[0][0] for c in range(1, args.cycles + 1)]
    scores = evaluate(models, vocab, val_words, val_prons, beam=1)
    log(f"the {args.cycles} cycles' snapshots as an ensemble: val PER {scores['per']:.2f} % "
        f"WER {scores['wer']:.2f} % (greedy)")
    save_ensemble(os.path.join(args.out, SNAPSHOTS), models, vocab,
                  {"epoch": epoch, "val": scores, "train_minutes": train_min})
    _test(args, models, vocab, log, f"the snapshots of {args.cycles} cycles", train_min)
    return 0


# ---- the g2p command ------------------------------------------------------------------------
def _heatmap(path: str, model: Any, vocab: Vocab, word: str, phones: tuple[str, ...]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    src, lengths = vocab.encode_words([word])
    emitted = phones[::-1] if right_to_left(model) else phones
    weights = model.attention_weights(src, lengths, [vocab.phone_id[p] for p in emitted])
    fig, ax = plt.subplots(figsize=(0.5 * len(word) + 2, 0.4 * len(weights) + 1.5))
    ax.imshow(weights, cmap="viridis", aspect="auto", vmin=0, vmax=1)
    ax.set_xticks(range(len(word)), list(word))
    ax.set_yticks(range(len(weights)), [*emitted, "</s>"])
    ax.set_xlabel("letters")
    ax.set_ylabel("phonemes emitted")
    ax.set_title(f"attention: {word}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def g2p_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m dl_kernels g2p",
                                description="Pronounce words with a trained g2p model.")
    p.add_argument("words", nargs="*", metavar="WORD")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--beam", type=int, default=5)
    p.add_argument("--n-best", type=int, default=3)
    p.add_argument("--heatmap", default=None,
                   help="PNG of the attention weights for the first word's best output "
                        "(of an ensemble's first left-to-right member)")
    args = p.parse_args(argv)
    if not args.words:
        raise ValueError("g2p: give at least one WORD")
    if args.beam < 1 or not 1 <= args.n_best <= args.beam:
        raise ValueError(f"g2p: need --beam >= 1 and 1 <= --n-best <= --beam, got beam "
                         f"{args.beam}, n-best {args.n_best}")
    models, vocab, _ = load_checkpoint(args.checkpoint)
    words = [w.lower() for w in args.words]
    for w in words:
        vocab.check_word(w)
    results = transcribe(models, vocab, words, beam=args.beam, n_best=args.n_best)
    for w, hyps in zip(words, results):
        for rank, (phones, logp, _) in enumerate(hyps, 1):
            print(f"{w}\t{rank}\t{' '.join(phones)}\t{logp:.3f}")
    if args.heatmap:
        _heatmap(args.heatmap, next((m for m in models if not right_to_left(m)), models[0]),
                 vocab, words[0], results[0][0][0])
        print(f"attention heat-map written to {args.heatmap}", file=sys.stderr)
    return 0


COMMANDS = {"g2p": g2p_main}


def main(argv: list[str]) -> int:
    return train_main(argv)
