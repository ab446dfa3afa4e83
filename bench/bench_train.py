"""Training steps end to end: dl_kernels against PyTorch CPU, same model, data and optimiser.

One step = zero_grad, forward, loss, backward, (gradient clipping,) optimiser step. Cases:

- MLP 784-1024-10, batch 128, SGD with momentum 0.9, on Fashion-MNIST images;
- LeNet (dl_kernels.models.LeNet: conv5 16 -> pool -> conv5 32 -> pool -> 120 -> 84 -> 10),
  batch 64, SGD with momentum, on Fashion-MNIST 28x28 images;
- char-LSTM (Embedding 64 -> LSTM 256 -> Linear), T = 64, N = 32, H = 256, Adam and
  gradient-norm clipping at 5, on Shakespeare.

Both libraries start from the same weights (ours converted with to_torch_state_dict) and see
the same batch; the first step's losses are compared as a check that they compute the same
thing. Each library and thread count runs in processes of its own (MKL fixes its pool at import,
and PyTorch's OpenMP threads keep spinning after its step, taking a core from whatever runs
next in the process), --rounds processes of each in ABBA order (ours, torch, torch, ours, ...:
a shared machine's speed drifts over minutes): per case the median of --repeats steps after
warm-up, then the median over the rounds. Speed-up = torch step time / ours. Where a data package is missing, random data of
the same shape stands in (said in the output).

    python bench/bench_train.py [--repeats 11] [--threads 1 2] [--rounds 4] [--contend] [--write]

--contend adds every thread count again beside one competing CPU-bound process (a busy loop
the script starts and stops), as on a shared machine: threads that wait for a core held by
another process are what turns a millisecond step into a slow one.
"""

from __future__ import annotations

import os
import sys

TARGETS = {"mlp": 1.2, "lenet": 1.2, "char-lstm": 1.2}


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import thread_sweep_main, threads_label


def _images(n: int) -> tuple[object, object, str]:
    import numpy as np
    from dl_kernels.data import DataError, Standardizer, load_dataset

    try:
        ds = load_dataset("fashion-mnist", limit=max(n, 1000))
        x = Standardizer("channel").fit(ds.train.x).transform(ds.train.x[:n])
        return x.astype(np.float32), ds.train.y[:n].astype(np.int64), "Fashion-MNIST"
    except DataError:
        rng = np.random.default_rng(0)
        return (rng.standard_normal((n, 1, 28, 28)).astype(np.float32),
                rng.integers(0, 10, n).astype(np.int64), "random images")


def _text(n: int, t: int) -> tuple[object, object, int, str]:
    import numpy as np
    from dl_kernels.data import DataError, load_dataset

    try:
        ds = load_dataset("shakespeare", limit=n * t + 1)
        ids = ds.ids("train")[: n * t + 1]
        vocab, what = len(ds.vocab), "Shakespeare"
    except DataError:
        vocab, what = 84, "random characters"
        ids = np.random.default_rng(0).integers(0, vocab, n * t + 1)
    return ids[:-1].reshape(n, t), ids[1:].reshape(n, t), vocab, what


def _torch_twin(ours: object, kind: str, vocab: int = 0) -> object:
    """The torch.nn model with our module names, loaded with our weights."""
    import torch
    from dl_kernels.models import MLP, LeNet
    from torch import nn as tnn

    class Twin(tnn.Module):
        pass

    twin = Twin()
    if kind == "mlp":
        assert isinstance(ours, MLP)
        twin.net = tnn.Sequential(tnn.Flatten(), tnn.Linear(784, 1024), tnn.ReLU(),
                                  tnn.Linear(1024, 10))
        twin.forward = lambda x: twin.net(x)
    elif kind == "lenet":
        assert isinstance(ours, LeNet)
        twin.features = tnn.Sequential(tnn.Conv2d(1, 16, 5, padding=2), tnn.ReLU(),
                                       tnn.MaxPool2d(2))
        twin.features2 = tnn.Sequential(tnn.Conv2d(16, 32, 5), tnn.ReLU(), tnn.MaxPool2d(2))
        twin.classifier = tnn.Sequential(
            tnn.Flatten(), tnn.Linear(32 * 5 * 5, 120), tnn.ReLU(), tnn.Dropout(0.0),
            tnn.Linear(120, 84), tnn.ReLU(), tnn.Linear(84, 10))
        twin.forward = lambda x: twin.classifier(twin.features2(twin.features(x)))
    else:
        twin.embedding = tnn.Embedding(vocab, 64)
        twin.rnn = tnn.LSTM(64, 256, batch_first=True)
        twin.drop = tnn.Dropout(0.0)
        twin.head = tnn.Linear(256, vocab)

        def fwd(x: object) -> object:
            out, _ = twin.rnn(twin.embedding(x))
            return twin.head(out)

        twin.forward = fwd
    try:
        twin.load_state_dict(ours.to_torch_state_dict(torch.from_numpy), strict=True)
        same = True
    except Exception:  # noqa: BLE001 - a layout the converter lacks: time anyway
        same = False
    return twin, same


def _steps(case: str) -> tuple[object, object, str, bool]:
    """(our step, torch's step, data description, same initial weights?) for one case."""
    import dl_kernels as dlk
    import numpy as np
    import torch
    from dl_kernels import nn, optim
    from dl_kernels.models import MLP, CharRNN, LeNet

    if case == "char-lstm":
        xs, ys, vocab, data = _text(32, 64)
        ours = CharRNN(vocab, embed=64, hidden=256, cell="lstm")
        twin, same = _torch_twin(ours, case, vocab)
        opt = optim.Adam(ours.parameters(), lr=1e-3)
        topt = torch.optim.Adam(twin.parameters(), lr=1e-3)
    else:
        n = 128 if case == "mlp" else 64
        xs, ys, data = _images(n)
        ours = MLP((1, 28, 28), 10, hidden=(1024,), dropout=0.0) if case == "mlp" else \
            LeNet((1, 28, 28), 10, dropout=0.0)
        twin, same = _torch_twin(ours, case)
        opt = optim.SGD(ours.parameters(), lr=0.01, momentum=0.9)
        topt = torch.optim.SGD(twin.parameters(), lr=0.01, momentum=0.9)
    x, y = dlk.tensor(xs), dlk.tensor(ys)
    tx, ty = torch.from_numpy(np.ascontiguousarray(xs)), torch.from_numpy(ys)
    loss_fn, tloss_fn = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    lstm = case == "char-lstm"

    def ours_step() -> float:
        opt.zero_grad()
        out = ours(x)[0] if lstm else ours(x)
        loss = loss_fn(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        loss.backward()
        if lstm:
            optim.clip_grad_norm_(ours.parameters(), 5.0)
        opt.step()
        return float(loss.item())

    def torch_step() -> float:
        topt.zero_grad()
        out = twin(tx)
        loss = tloss_fn(out.reshape(-1, out.shape[-1]), ty.reshape(-1))
        loss.backward()
        if lstm:
            torch.nn.utils.clip_grad_norm_(twin.parameters(), 5.0)
        topt.step()
        return float(loss.item())

    return ours_step, torch_step, data, same


def worker(threads: int, repeats: int, only: str | None = None) -> dict:
    import dl_kernels as dlk
    import torch

    sys.path.insert(0, os.path.dirname(__file__))
    from benchlib import interleaved_medians

    dlk.set_num_threads(threads)
    torch.set_num_threads(threads)
    dlk.manual_seed(0)
    rows = []
    for case in ("mlp", "lenet", "char-lstm"):
        ours_step, torch_step, data, same = _steps(case)
        first = (ours_step(), torch_step())
        steps = {"ours": ours_step, "torch": torch_step}
        if only:  # one library per process (see benchlib.thread_sweep_main)
            steps = {only: steps[only]}
        med = dict.fromkeys(("ours", "torch"), float("nan"))
        med.update(interleaved_medians(steps, repeats=repeats))
        rows.append({"case": case, "data": data, "ours": med["ours"], "torch": med["torch"],
                     "same_weights": same, "first_loss": first})
    return {"threads": threads, "rows": rows}


CASES = {
    "mlp": "MLP 784-1024-10, batch 128, SGD+momentum",
    "lenet": "LeNet (16, 32 channels), batch 64, SGD+momentum",
    "char-lstm": "char-LSTM E64 H256, T 64, N 32, Adam + clip",
}


def table(results: list[dict]) -> str:
    lines = [("| case | data | threads | ours ms/step | torch ms/step | speed-up (torch/ours) "
              "| target | first-step loss ours / torch |"),
             "|---|---|---|---|---|---|---|---|"]
    for i, row in enumerate(results[0]["rows"]):
        for res in results:
            r = res["rows"][i]
            lo, lt = r["first_loss"]
            same = "" if r["same_weights"] else " (different init)"
            lines.append(
                f"| {CASES[r['case']]} | {r['data']} | {threads_label(res)} | "
                f"{1e3 * r['ours']:.2f} | {1e3 * r['torch']:.2f} | "
                f"{r['torch'] / r['ours']:.2f}× | ≥ {TARGETS[r['case']]:.1f}× | "
                f"{lo:.5f} / {lt:.5f}{same} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    thread_sweep_main(__file__, __doc__, "train", "Training steps end to end (float32)", worker,
                      table, separate=("ours", "torch"))


if __name__ == "__main__":
    main()
