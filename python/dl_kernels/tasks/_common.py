"""Pieces the task modules of this package share: argument types, thread setup, and a plain
minibatch loop for classifiers (best validation epoch kept, test metrics at that epoch)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def positive_int(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def non_negative_int(text: str) -> int:
    v = int(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {v}")
    return v


def positive_float(text: str) -> float:
    v = float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {v}")
    return v


def int_list(text: str) -> list[int]:
    """'500,500' -> [500, 500] (every size >= 1)."""
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") \
            from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected sizes >= 1, got {text!r}")
    return sizes


def setup(seed: int, threads: int | None) -> None:
    import dl_kernels as dlk

    if threads:
        dlk.set_num_threads(threads)
    dlk.manual_seed(seed)
    np.random.seed(seed % 2**32)


def accuracy(model: Any, x: np.ndarray, y: np.ndarray, batch_size: int = 512,
             forward: Callable[[Any, np.ndarray], Any] | None = None) -> float:
    """Fraction of rows of ``x`` whose argmax logit is the label (model in eval mode)."""
    import dl_kernels as dlk

    if len(x) == 0:
        return float("nan")
    was = model.training
    model.eval()
    correct = 0
    with dlk.no_grad():
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            out = forward(model, xb) if forward else model(dlk.tensor(xb))
            correct += int((out.numpy().argmax(1) == y[i:i + batch_size]).sum())
    model.train(was)
    return correct / len(x)


def fit_classifier(model: Any, train: tuple[np.ndarray, np.ndarray],
                   val: tuple[np.ndarray, np.ndarray], epochs: int, batch_size: int,
                   lr: float, seed: int, log: Callable[[str], None] | None = None,
                   forward: Callable[[Any, np.ndarray], Any] | None = None,
                   clip: float | None = None) -> dict[str, Any]:
    """Adam on softmax cross-entropy; after every epoch the validation accuracy, and the
    weights of the best epoch are restored at the end. Returns {'best_epoch', 'val_acc',
    'seconds', 'history'}."""
    import dl_kernels as dlk
    from dl_kernels import nn, optim
    from dl_kernels.nn import functional as F

    x, y = train
    rng = np.random.default_rng(seed)
    opt = optim.Adam(model.parameters(), lr=lr)
    best: tuple[float, int, dict] | None = None
    history = []
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        order = rng.permutation(len(x))
        total = 0.0
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            xb = x[idx]
            out = forward(model, xb) if forward else model(dlk.tensor(xb))
            loss = F.cross_entropy(out, dlk.tensor(y[idx]))
            opt.zero_grad()
            loss.backward()
            if clip:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            total += float(loss.item()) * len(idx)
        acc = accuracy(model, *val, forward=forward)
        history.append({"epoch": epoch, "train_loss": total / max(len(x), 1), "val_acc": acc})
        if log:
            log(f"  epoch {epoch}/{epochs}: train loss {total / max(len(x), 1):.4f}, "
                f"val accuracy {acc:.4f}")
        if best is None or acc > best[0]:
            best = (acc, epoch, {k: v.copy() for k, v in _state(model).items()})
    assert best is not None
    model.load_state_dict({k: dlk.tensor(v) for k, v in best[2].items()})
    return {"best_epoch": best[1], "val_acc": best[0], "history": history,
            "seconds": time.perf_counter() - start}


def _state(model: Any) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in model.state_dict().items()}
