"""``python -m dl_kernels train word-lstm``: word-level LSTM language model on Shakespeare.

A shortlist vocabulary (the most frequent words, the rest mapped to ``<unk>``; every verse
line closed by ``</s>``), truncated BPTT over contiguous train / validation / test blocks, the
output layer trained with the importance-sampled softmax and evaluated with the full softmax
(the fused cross-entropy kernel). By default the same model is also trained with the full
softmax for the same number of words, and both runs' validation perplexity and training
words/s are printed; then a sample and a beam-search continuation of a prime.
"""

from __future__ import annotations

import argparse
import time

from dl_kernels.tasks._common import non_negative_int, positive_float, positive_int

TRAIN_NAMES = ("word-lstm",)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dl_kernels train word-lstm",
        description="Word-level LSTM language model on Shakespeare: shortlist vocabulary, "
                    "sampled-softmax training, full-softmax perplexity, sampling, beam search.")
    p.add_argument("--vocab", type=positive_int, default=10000,
                   help="shortlist size, <unk> and </s> included (default 10000)")
    p.add_argument("--min-count", type=positive_int, default=2,
                   help="words seen fewer times are out of the shortlist (default 2)")
    p.add_argument("--limit-words", type=non_negative_int, default=100000,
                   help="train on the first N words of the training block (0: all ~1.2M; "
                        "default 100000)")
    p.add_argument("--val-words", type=non_negative_int, default=20000,
                   help="evaluate on the first N validation words (0: all; default 20000)")
    p.add_argument("--embed", type=positive_int, default=64)
    p.add_argument("--hidden", type=positive_int, default=128)
    p.add_argument("--layers", type=positive_int, default=1)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--seq-len", type=positive_int, default=35, help="BPTT window (default 35)")
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--epochs", type=positive_int, default=1)
    p.add_argument("--lr", type=positive_float, default=3e-3, help="Adam step (default 3e-3)")
    p.add_argument("--clip", type=float, default=1.0, help="gradient norm clip (0: none)")
    p.add_argument("--samples", type=non_negative_int, default=256,
                   help="words sampled per step for the sampled softmax (0: full softmax; "
                        "default 256)")
    p.add_argument("--no-compare", action="store_true",
                   help="skip the full-softmax comparison run")
    p.add_argument("--prime", default="to be or not to be",
                   help="text to continue by sampling and beam search")
    p.add_argument("--length", type=non_negative_int, default=20,
                   help="words to generate (default 20)")
    p.add_argument("--beam", type=positive_int, default=5)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=positive_int, help="CPU threads for the kernels")
    p.add_argument("--quiet", action="store_true", help="print only the results")
    return p


def _train(args: argparse.Namespace, vocab_size: int, counts, train_ids, val_ids,
           samples: int, log) -> tuple:
    import numpy as np

    from dl_kernels import optim
    from dl_kernels.data import SequenceLoader
    from dl_kernels.models.char_rnn import detach_state
    from dl_kernels.models.word_lm import UnigramSampler, WordLSTM, evaluate
    from dl_kernels.tasks._common import setup

    setup(args.seed, None)
    model = WordLSTM(vocab_size, args.embed, args.hidden, args.layers, args.dropout)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    sampler = UnigramSampler(counts) if samples else None
    rng = np.random.default_rng(args.seed)
    loader = SequenceLoader(train_ids, args.batch_size, args.seq_len, random_offset=True,
                            seed=args.seed, drop_last=True)
    words, seconds = 0, 0.0
    what = f"sampled softmax, K = {samples}" if samples else "full softmax"
    for epoch in range(1, args.epochs + 1):
        state, total, n = None, 0.0, 0
        for step, (x, y) in enumerate(loader, 1):
            t0 = time.perf_counter()
            loss, state = model.loss(x, y, detach_state(state), sampler, samples, rng)
            opt.zero_grad()
            loss.backward()
            if args.clip > 0:
                optim.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            seconds += time.perf_counter() - t0
            words += y.size
            total, n = total + float(loss.item()) * y.size, n + y.size
            if step % 25 == 0:
                log(f"  [{what}] epoch {epoch} step {step}/{len(loader)}: training loss "
                    f"{total / n:.3f}, {words / seconds:,.0f} words/s")
        val = evaluate(model, val_ids, args.batch_size, args.seq_len)
        log(f"  [{what}] epoch {epoch}: validation perplexity {val['ppl']:.1f}")
    return model, val, words / max(seconds, 1e-9), seconds


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if not 0.0 <= args.dropout < 1.0:
        raise ValueError(f"--dropout must be in [0, 1), got {args.dropout}")
    if args.temperature < 0:
        raise ValueError(f"--temperature must be >= 0, got {args.temperature}")
    if args.vocab < 3:
        raise ValueError(f"--vocab must be >= 3 (</s>, <unk> and a word), got {args.vocab}")

    min_len = args.batch_size * args.seq_len + 1
    if args.limit_words and args.limit_words < min_len:
        raise ValueError(f"--limit-words {args.limit_words} is too few: need at least "
                         f"batch-size x seq-len + 1 = {min_len} training words")

    from dl_kernels.data import Vocab, load_dataset, tokenize, tokenize_lines
    from dl_kernels.models.char_rnn import beam_search, sample
    from dl_kernels.tasks._common import setup

    setup(args.seed, args.threads)
    log = (lambda s: None) if args.quiet else print
    ds = load_dataset("shakespeare")
    train_words = tokenize_lines(ds.train, max_tokens=args.limit_words or None)
    vocab = Vocab.build([train_words], min_count=args.min_count, max_size=args.vocab,
                        specials=("</s>",))
    val_words = tokenize_lines(ds.val, max_tokens=args.val_words or None)
    train_ids, val_ids = vocab.encode(train_words), vocab.encode(val_words)
    if len(train_ids) < min_len:
        raise ValueError(f"--limit-words {args.limit_words} leaves {len(train_ids)} training "
                         f"words: need at least batch-size x seq-len + 1 = {min_len}")
    unk = vocab.unk_index
    print(f"Shakespeare words: {len(train_ids):,} train / {len(val_ids):,} validation; "
          f"shortlist of {len(vocab):,} (out-of-shortlist: "
          f"{100 * (train_ids == unk).mean():.1f} % of training words, "
          f"{100 * (val_ids == unk).mean():.1f} % of validation words)")
    runs = [args.samples] + ([0] if args.samples and not args.no_compare else [])
    model = None
    for k in runs:
        m, val, wps, secs = _train(args, len(vocab), vocab.counts, train_ids, val_ids, k, log)
        what = f"sampled softmax (K = {k})" if k else "full softmax"
        print(f"{what}: validation perplexity {val['ppl']:.1f} (full softmax, "
              f"{int(val['words']):,} words), training {wps:,.0f} words/s ({secs:.0f} s)")
        model = model or m
    prime = vocab.encode(tokenize(args.prime, punctuation=True)) if args.prime else None
    if prime is None or prime.size == 0:
        raise ValueError("--prime must hold at least one word")
    if args.length:
        setup(args.seed, None)
        said = sample(model, prime, args.length, args.temperature, rng=args.seed)
        print(f"sample (T = {args.temperature}): {args.prime} | "
              f"{' '.join(vocab.decode(said))}")
        best, logp = beam_search(model, prime, args.length, args.beam)
        print(f"beam search (width {args.beam}, log p = {logp:.1f}): {args.prime} | "
              f"{' '.join(vocab.decode(best))}")
    return 0
