"""``python -m dl_kernels train dae``: stacked denoising autoencoders (Vincent et al. 2008).

Pretrains each layer as a tied-weight denoising autoencoder, fine-tunes the stack with a
softmax output, trains the same network from random weights for comparison, and prints the
test error of both. Writes a PNG of the first layer's filters and one of noisy / clean /
reconstructed test images to --out.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dl_kernels.tasks._common import (
    int_list,
    non_negative_int,
    positive_float,
    positive_int,
)

TRAIN_NAMES = ("dae",)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dl_kernels train dae",
        description="Stacked denoising autoencoders: layer-wise pretraining, then supervised "
                    "fine-tuning; test error with and without pretraining.")
    p.add_argument("--data", default="mnist5k",
                   help="image data set: mnist5k (default), fashion-mnist, digits or an IDX path")
    p.add_argument("--limit", type=positive_int, default=10000,
                   help="at most this many images per split (default 10000)")
    p.add_argument("--hidden", type=int_list, default=[500, 500],
                   help="hidden layer sizes, comma-separated (default 500,500)")
    p.add_argument("--noise", choices=("mask", "gaussian"), default="mask",
                   help="corruption: mask (zero a fraction of pixels) or gaussian")
    p.add_argument("--level", type=float, default=0.25,
                   help="masked fraction, or the Gaussian noise's standard deviation (0.25)")
    p.add_argument("--output", choices=("sigmoid", "linear"), default="sigmoid",
                   help="first layer's reconstruction: sigmoid + cross-entropy or linear + MSE")
    p.add_argument("--pretrain-epochs", type=non_negative_int, default=8,
                   help="epochs of pretraining per layer (default 8; 0 skips pretraining)")
    p.add_argument("--epochs", type=positive_int, default=15,
                   help="epochs of supervised fine-tuning (default 15)")
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--lr", type=positive_float, default=1e-3, help="Adam step (default 1e-3)")
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the comparison run without pretraining")
    p.add_argument("--out", default="runs/dae", help="folder for the PNGs (default runs/dae)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=positive_int, help="CPU threads for the kernels")
    p.add_argument("--quiet", action="store_true", help="print only the results")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.noise == "mask" and not 0 <= args.level <= 1:
        raise ValueError(f"--level is the masked fraction: expected a value in [0, 1], "
                         f"got {args.level}")
    if args.level < 0:
        raise ValueError(f"--level must be >= 0, got {args.level}")

    import numpy as np

    from dl_kernels.data import load_dataset
    from dl_kernels.models.autoencoder import (
        StackedDAE,
        corrupt,
        save_filters_png,
        save_reconstructions_png,
    )
    from dl_kernels.tasks._common import accuracy, fit_classifier, setup

    setup(args.seed, args.threads)
    ds = load_dataset(args.data, seed=args.seed, limit=args.limit)
    if ds.kind != "image":
        raise ValueError(f"dae trains on images; {args.data!r} is {ds.kind}")
    log = (lambda s: None) if args.quiet else print
    print(ds.summary())
    c, h, w = ds.image_shape
    flat = {name: (s.x.reshape(len(s.x), -1).astype(np.float32), s.y)
            for name, s in (("train", ds.train), ("val", ds.val), ("test", ds.test))}
    if args.output == "sigmoid" and (flat["train"][0].min() < 0 or flat["train"][0].max() > 1):
        raise ValueError("the sigmoid / cross-entropy reconstruction needs inputs in [0, 1]; "
                         "use --output linear")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    runs = [("pretrained", True)] if args.pretrain_epochs > 0 else []
    if not args.no_baseline or not runs:
        runs.append(("random init", False))
    for label, pretrain in runs:
        setup(args.seed, None)
        model = StackedDAE(c * h * w, args.hidden, ds.num_classes, args.output)
        t0 = time.perf_counter()
        if pretrain:
            log(f"pretraining {len(args.hidden)} layer(s), {args.pretrain_epochs} epochs each, "
                f"{args.noise} noise {args.level}")
            model.pretrain(flat["train"][0], args.pretrain_epochs, args.batch_size, args.lr,
                           args.noise, args.level, args.seed, log)
            first = model.layers[0]
            if c == 1:
                save_filters_png(first, out / "filters.png", (h, w))
                clean = flat["test"][0][:10]
                noisy = corrupt(clean, args.noise, args.level, args.seed)
                save_reconstructions_png(first, clean, noisy, out / "reconstructions.png",
                                         (h, w))
        pre_s = time.perf_counter() - t0
        log(f"fine-tuning ({label})")
        fit = fit_classifier(model, flat["train"], flat["val"], args.epochs, args.batch_size,
                             args.lr, args.seed, log)
        err = 1.0 - accuracy(model, *flat["test"])
        results[label] = err
        print(f"{label}: test error {100 * err:.2f} % (best val epoch {fit['best_epoch']}, "
              f"val accuracy {100 * fit['val_acc']:.2f} %; pretraining {pre_s:.0f} s, "
              f"fine-tuning {fit['seconds']:.0f} s)")
    if args.pretrain_epochs > 0 and c == 1:
        print(f"figures: {out / 'filters.png'}, {out / 'reconstructions.png'}")
    return 0
