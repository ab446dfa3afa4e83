"""Command line: `python -m dl_kernels [selfcheck | train | sample]` (also `dl-kernels`).

selfcheck (the default) prints the build configuration and checks the CPU GEMM against numpy,
printing the measured GFLOP/s of both. train trains a model from dl_kernels.models on a
bundled data set and prints its test metrics; sample generates text from a trained
character language model.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Callable

import numpy as np

import dl_kernels
from dl_kernels import backend


def best_seconds(fn, repeats: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def selfcheck(n: int) -> int:
    dl_kernels.show_config()
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    # through the backend's kernel entry, as every tensor op reaches the GEMM
    be = backend.get_backend("cpu")
    da, db = be.from_numpy(a), be.from_numpy(b)
    ours = be.to_numpy(be.gemm(da, db))
    ref = a.astype(np.float64) @ b
    rel = float(np.abs(ours - ref).max() / np.abs(ref).max())
    flops = 2.0 * n**3
    t_ours = best_seconds(lambda: be.gemm(da, db))
    t_numpy = best_seconds(lambda: a @ b)
    print(f"\nGEMM self-check, float32, n = {n}, {dl_kernels.get_num_threads()} threads")
    print(f"  max relative error vs float64 numpy: {rel:.2e}")
    print(f"  dl_kernels: {flops / t_ours / 1e9:7.1f} GFLOP/s")
    print(f"  numpy:      {flops / t_numpy / 1e9:7.1f} GFLOP/s")
    ok = rel < 1e-5
    print("  result:", "OK" if ok else "WRONG")
    return 0 if ok else 1


# ---- train ---------------------------------------------------------------------------------
_TRAIN_EPILOG = """\
models: logreg, perceptron, mlp, cnn (lenet), inception, char-lstm, char-gru
data:   digits (default for images), mnist5k, fashion-mnist, shakespeare (default for
        char-lstm/char-gru), or a PATH to MNIST-format IDX files

examples:
  python -m dl_kernels train                          # MLP on digits, about a minute
  python -m dl_kernels train cnn --data mnist5k --epochs 10
  python -m dl_kernels train char-lstm --limit 400000 --epochs 2
  python -m dl_kernels train --resume runs/mlp-digits/last.ckpt --epochs 40
  mpirun -np 2 python -m dl_kernels train char-lstm --distributed   # data parallel, MPI
"""


def _train_epilog() -> str:
    from dl_kernels import tasks

    names = ", ".join(sorted(tasks.train_tasks()))
    return _TRAIN_EPILOG + (f"\nmodels with a command line of their own (train NAME --help): {names}\n"
                            if names else "")


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def _add_train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a model on a bundled data set and print its test metrics",
        description="Train a model on a data set that ships with an installed package; "
        "checkpoints, a learning-curve PNG and the final model go to --out.",
        epilog=_train_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", help="model name (default mlp)")
    p.add_argument("--data", help="data set name or IDX path")
    p.add_argument("--epochs", type=_positive_int, help="epochs (total, also on --resume)")
    p.add_argument("--batch-size", type=_positive_int, help="mini-batch size")
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--optimizer", help="sgd, momentum, nesterov, adam, adamw, rmsprop, "
                   "adagrad, perceptron (default per model)")
    p.add_argument("--schedule", default="none", help="learning-rate schedule per epoch: "
                   "none, step, exp, plateau (default none)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 weight decay")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--out", help="output directory (default runs/<model>-<data>)")
    p.add_argument("--resume", metavar="CKPT", help="resume from a checkpoint (last.ckpt)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--patience", type=int, default=0,
                   help="early stopping after this many epochs without a better validation "
                   "score (default 0: off; the best weights are always restored)")
    p.add_argument("--limit", type=_positive_int,
                   help="cap every split at N samples (characters for text): smoke runs")
    p.add_argument("--standardize", default="channel",
                   help="input standardisation: channel (default), feature (the notes' "
                   "per-input whitening) or global")
    p.add_argument("--augment", type=int, default=0, help="random shift by up to N pixels")
    p.add_argument("--noise", type=float, default=0.0, help="Gaussian input noise std")
    p.add_argument("--dropout", type=float, help="dropout probability (default per model)")
    p.add_argument("--clip", type=float, default=5.0,
                   help="gradient-norm clip for language models (default 5)")
    p.add_argument("--seq-len", type=_positive_int, default=64,
                   help="truncated-BPTT window for language models (default 64)")
    p.add_argument("--hidden", type=_positive_int, default=256, help="LM hidden size")
    p.add_argument("--embed", type=_positive_int, default=64, help="LM embedding size")
    p.add_argument("--layers", type=_positive_int, default=1, help="LM recurrent layers")
    p.add_argument("--threads", type=_positive_int, help="CPU threads for the kernels "
                   "(default: all cores, shared among the ranks on a machine)")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel training over the MPI ranks of `mpirun -np N`: "
                   "--batch-size stays the global batch; rank 0 prints and writes")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-plot", action="store_true", help="no learning-curve PNG")


def _explicit(argv: list[str]) -> set[str]:
    """The long options present on the command line, as TrainConfig field names."""
    out = set()
    for a in argv:
        if a.startswith("--"):
            out.add(a[2:].split("=", 1)[0].replace("-", "_"))
    return out


def run_train(args: argparse.Namespace, argv: list[str]) -> int:
    from dl_kernels.train import TrainConfig, fit

    cfg = TrainConfig(
        model=args.model or "mlp", data=args.data, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, optimizer=args.optimizer, schedule=args.schedule,
        weight_decay=args.weight_decay, device=args.device, out=args.out, seed=args.seed,
        patience=args.patience, limit=args.limit, augment=args.augment, noise=args.noise,
        standardize=args.standardize,
        clip=args.clip, seq_len=args.seq_len, hidden=args.hidden, embed=args.embed,
        layers=args.layers, dropout=args.dropout, threads=args.threads,
        distributed=args.distributed, progress=not args.no_progress and sys.stderr.isatty(), plot=not args.no_plot)
    explicit = _explicit(argv) | ({"model"} if args.model else set())
    # (distributed: rank 0 alone reads the checkpoint, and says so if it is missing)
    if args.resume is not None and not args.distributed and not os.path.exists(args.resume):
        raise ValueError(f"checkpoint {args.resume!r} does not exist")
    result = fit(cfg, resume=args.resume, explicit=explicit)
    if args.distributed:
        from dl_kernels import distributed

        if distributed.get_rank() != 0:
            return 0
    print(f"trained {result.epochs_run} epochs in {result.train_seconds:.1f} s; "
          f"checkpoints, model and curves in {result.out_dir}")
    return 0


# ---- sample --------------------------------------------------------------------------------
def _add_sample_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample", help="generate text from a trained character language model",
        description="Generate text from a char-lstm/char-gru checkpoint: temperature "
        "sampling, or beam search with --beam K.")
    p.add_argument("--checkpoint", required=True, metavar="CKPT",
                   help="model.ckpt or last.ckpt of a char-lstm/char-gru run")
    p.add_argument("--beam", type=int, default=0,
                   help="beam width (0: sample with --temperature instead)")
    p.add_argument("--length", type=_positive_int, default=300, help="characters to generate")
    p.add_argument("--temperature", type=float, default=0.8,
                   help="softmax temperature (0: greedy; default 0.8)")
    p.add_argument("--prime", default="ROMEO:\n", help="text to start from")
    p.add_argument("--seed", type=int, default=0, help="random seed for sampling")


def run_sample(args: argparse.Namespace) -> int:
    from dl_kernels.data.text import CharVocab
    from dl_kernels.models import beam_search, sample
    from dl_kernels.models.char_rnn import CharRNN
    from dl_kernels.train import load_trained

    if args.beam < 0:
        raise ValueError(f"--beam must be >= 0, got {args.beam}")
    if not (math.isfinite(args.temperature) and args.temperature >= 0):
        raise ValueError(f"--temperature must be a finite number >= 0, got {args.temperature}")
    if not os.path.exists(args.checkpoint):
        raise ValueError(f"checkpoint {args.checkpoint!r} does not exist")
    model, blob = load_trained(args.checkpoint)
    if not isinstance(model, CharRNN):
        # A wrong checkpoint is a bad value, not a wrong type: ValueError, one line.
        raise ValueError(f"{args.checkpoint!r} holds a {blob['config']['model']} model; "  # noqa: TRY004
                         "sample needs a char-lstm or char-gru checkpoint")
    vocab = CharVocab.from_state_dict(blob["task"]["vocab"])
    prime = vocab.encode(args.prime)
    if args.beam:
        ids, logp = beam_search(model, prime, args.length, beam=args.beam)
        print(args.prime + vocab.decode(ids))
        print(f"\n[beam {args.beam}: total log-probability {logp:.2f} nats]", file=sys.stderr)
    else:
        ids = sample(model, prime, args.length, temperature=args.temperature, rng=args.seed)
        print(args.prime + vocab.decode(ids))
    return 0


def _task_entry(argv: list[str]) -> tuple[str, Callable[[list[str]], int], list[str]] | None:
    """The task module that serves this command line, if one does (see dl_kernels.tasks)."""
    from dl_kernels import tasks

    if len(argv) >= 2 and argv[0] == "train" and not argv[1].startswith("-"):
        fn = tasks.train_tasks().get(argv[1])
        return ("train", fn, argv[2:]) if fn else None
    if argv and not argv[0].startswith("-"):
        fn = tasks.commands().get(argv[0])
        return (argv[0], fn, argv[1:]) if fn else None
    return None


def _run_guarded(command: str, fn: Callable[[], int]) -> int:
    try:
        return fn()
    except KeyboardInterrupt:
        print("dl_kernels: interrupted", file=sys.stderr)
        return 130
    except (ValueError, RuntimeError, OSError, ImportError) as exc:
        if os.environ.get("DLK_TRACEBACK"):
            raise
        # One clear line, no traceback: unknown model, bad path, missing data package, ...
        msg = str(exc).strip().replace("\n", " ") or type(exc).__name__
        _stop_other_ranks(command, msg)
        print(f"dl_kernels {command}: error: {msg}", file=sys.stderr)
        return 1


def _stop_other_ranks(command: str, msg: str) -> None:
    """In a multi-rank MPI job the other ranks may be waiting in a collective for this one:
    print the error with this rank's number and abort the whole job (mpirun then stops every
    rank and reports it) instead of leaving them to hang."""
    mod = sys.modules.get("dl_kernels.distributed._mpi")
    if mod is None or not mod.is_initialized() or mod.get_world_size() < 2:
        return
    mod.abort(1, f"dl_kernels {command}: error: {msg}; stopping all ranks")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    entry = _task_entry(argv)
    if entry is not None:
        command, fn, rest = entry
        return _run_guarded(command, lambda: fn(rest))
    parser = argparse.ArgumentParser(prog="dl_kernels", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    check = sub.add_parser("selfcheck", help="print the build and check the GEMM against numpy")
    check.add_argument("--n", type=_positive_int, default=1024, help="matrix size (default 1024)")
    _add_train_parser(sub)
    _add_sample_parser(sub)
    args = parser.parse_args(argv)

    def dispatch() -> int:
        if args.command in (None, "selfcheck"):
            return selfcheck(getattr(args, "n", 1024))
        if args.command == "train":
            return run_train(args, argv)
        if args.command == "sample":
            return run_sample(args)
        parser.error(f"unknown command {args.command}")
        return 2

    return _run_guarded(args.command or "selfcheck", dispatch)


if __name__ == "__main__":
    sys.exit(main())
