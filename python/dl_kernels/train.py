"""The training loop: ``fit(TrainConfig(...))`` trains a model from ``dl_kernels.models`` on a
data set from ``dl_kernels.data`` and reports its test metrics.

Each epoch: a pass over the training data behind a tqdm progress bar (loss and accuracy, or
perplexity for a language model, as running averages), a validation pass, one line of
metrics, early-stopping bookkeeping (the best weights by validation accuracy, or validation
loss for a language model, are kept and restored at the end), and a checkpoint.

Checkpoints resume exactly: ``last.ckpt`` holds the model, the optimiser (moments, step
counts), the learning-rate schedule, the library's random generator (dropout), the
DataLoader's generator (shuffles, augmentation), the epoch, the metrics history and the best
weights so far. It is written at the end of every epoch to a temporary file that is renamed
over the old one (``os.replace``), so a crash during the write leaves the previous checkpoint
intact; a run resumed from it retraces the uninterrupted run bit for bit.

Data parallel (``distributed=True``, the command line's ``--distributed`` under ``mpirun -np
N``): every rank builds the same model, ``DistributedDataParallel`` averages the gradients,
each rank takes its share of every global batch (``DistributedSampler``; rows of the text
stream), and a rank's mean loss is weighted by its share of the batch, so N ranks take the
steps one process would with the same ``--batch-size`` and seed. Validation and test are
sharded too and their sums all-reduced. Rank 0 alone prints and writes checkpoints and
curves; a checkpoint does not depend on the number of ranks, so a run resumes with any.
Dropout masks come from a generator seeded by (seed, epoch, rank).

At the end: the best weights are restored, the test set is evaluated, ``model.ckpt`` (best
weights, enough to rebuild the model, and the vocabulary for sampling) and ``curves.png``
(the learning curves, matplotlib's Agg backend) are written to the output directory.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

import dl_kernels as dlk
from dl_kernels import nn, optim
from dl_kernels.data import (
    Compose,
    DataLoader,
    GaussianNoise,
    RandomShift,
    SequenceLoader,
    Standardizer,
    load_dataset,
)
from dl_kernels.data.text import CharVocab
from dl_kernels.models import (
    ModelSpec,
    detach_state,
    get_model_spec,
    perceptron_targets,
    perplexities,
)
from dl_kernels.nn import serialization

CHECKPOINT_FORMAT = "dl_kernels-train-v1"
LAST = "last.ckpt"
FINAL = "model.ckpt"
CURVES = "curves.png"
# The train / validation / test split does not follow --seed: runs with different seeds are
# scored on the same test samples.
SPLIT_SEED = 0


class TrainError(ValueError):
    """A training run cannot start or resume: bad option, wrong data for the model, a
    checkpoint that does not fit. The command line prints its message as one line."""


@dataclass
class TrainConfig:
    """Everything that defines a run. ``None`` means the model's default (see models.MODELS)."""

    model: str = "mlp"
    data: str | None = None  # default: digits for image models, shakespeare for text
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    optimizer: str | None = None
    schedule: str = "none"  # none | step | exp | plateau
    weight_decay: float = 0.0
    device: str = "cpu"
    out: str | None = None
    seed: int = 0
    patience: int = 0  # early stopping: epochs without improvement; 0 = never stop early
    limit: int | None = None  # cap every split (samples, or characters for text)
    augment: int = 0  # random shift of images by up to this many pixels
    noise: float = 0.0  # Gaussian input noise (std, on standardised inputs)
    clip: float = 5.0  # global gradient-norm clip (language models)
    seq_len: int = 64  # truncated-BPTT window (language models)
    hidden: int = 256  # language models: hidden size
    embed: int = 64  # language models: embedding size
    layers: int = 1  # language models: stacked recurrent layers
    dropout: float | None = None  # None: the model's default
    standardize: str = "channel"  # channel | feature (the notes' per-input) | global
    threads: int | None = None
    distributed: bool = False  # data parallel over MPI ranks (run under mpirun)
    progress: bool = True
    plot: bool = True
    verbose: bool = True

    def resolved(self) -> TrainConfig:
        """A copy with every ``None`` default filled in from the model's spec."""
        spec = get_model_spec(self.model)
        c = TrainConfig(**asdict(self))
        c.model = spec.name
        c.data = c.data or ("shakespeare" if spec.kind == "text" else "digits")
        c.epochs = spec.default_epochs if c.epochs is None else c.epochs
        c.batch_size = spec.default_batch_size if c.batch_size is None else c.batch_size
        c.lr = spec.default_lr if c.lr is None else c.lr
        c.optimizer = (c.optimizer or spec.default_optimizer).lower()
        if c.out is None:
            data_tag = Path(str(c.data)).name.replace(os.sep, "_") or "data"
            c.out = os.path.join("runs", f"{spec.name}-{data_tag}")
        for name, low in (("epochs", 1), ("batch_size", 1), ("seq_len", 1), ("hidden", 1),
                          ("embed", 1), ("layers", 1), ("patience", 0), ("augment", 0)):
            if getattr(c, name) < low:
                raise TrainError(f"--{name.replace('_', '-')} must be >= {low}, "
                                 f"got {getattr(c, name)}")
        # Every float option must be finite and in range: NaN compares false with everything,
        # so `lr > 0` style checks alone let NaN through, and inf diverges on the first step.
        for name, low, high, low_open in (("lr", 0.0, math.inf, True),
                                          ("weight_decay", 0.0, math.inf, False),
                                          ("noise", 0.0, math.inf, False),
                                          ("clip", 0.0, math.inf, False),
                                          ("dropout", 0.0, 1.0, False)):
            v = getattr(c, name)
            if v is None and name == "dropout":
                continue
            ok = isinstance(v, (int, float)) and math.isfinite(v) and \
                (v > low if low_open else v >= low) and v < high
            if not ok:
                rng = f"{'(' if low_open else '['}{low:g}, {high:g})"
                raise TrainError(f"--{name.replace('_', '-')} must be a finite number in {rng}, "
                                 f"got {v}")
        if c.seed < 0:
            raise TrainError(f"--seed must be >= 0, got {c.seed}")
        if c.standardize not in ("channel", "feature", "global"):
            raise TrainError(f"unknown standardization {c.standardize!r}: choose channel, "
                             "feature or global")
        if c.schedule not in SCHEDULES:
            raise TrainError(f"unknown schedule {c.schedule!r}: choose one of "
                             f"{', '.join(SCHEDULES)}")
        if c.optimizer not in OPTIMIZERS:
            raise TrainError(f"unknown optimizer {c.optimizer!r}: choose one of "
                             f"{', '.join(OPTIMIZERS)}")
        return c


@dataclass
class TrainResult:
    config: TrainConfig
    history: list[dict[str, float]]
    test: dict[str, float]
    best_epoch: int
    epochs_run: int  # epochs completed by this call (after a resume: the new ones)
    train_seconds: float
    out_dir: str
    model: Any = field(repr=False, default=None)


# ---- seeds and random state ----------------------------------------------------------------
def seed_everything(seed: int) -> None:
    """Seed the library's generator (initialisation, dropout) and numpy's legacy global one."""
    dlk.manual_seed(int(seed))
    np.random.seed(int(seed) % 2**32)


def get_rng_state() -> dict[str, Any]:
    """The library's random state (dropout masks, random init) and numpy's legacy global one,
    for checkpoints."""
    return {"dlk": dlk.get_rng_state(), "numpy": _numpy_legacy_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    dlk.set_rng_state(state["dlk"])
    if "numpy" in state:
        name, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((name, np.asarray(keys, dtype=np.uint32), int(pos),
                             int(has_gauss), float(cached)))


def _numpy_legacy_state() -> tuple:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return (name, np.asarray(keys), int(pos), int(has_gauss), float(cached))


# ---- optimisers and schedules ---------------------------------------------------------------
def _make_optimizer(name: str, params: Iterable[Any], lr: float, wd: float) -> Any:
    if name == "sgd":
        return optim.SGD(params, lr=lr, weight_decay=wd)
    if name == "momentum":
        return optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd)
    if name == "nesterov":
        return optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=wd)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=wd)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, weight_decay=wd)
    if name == "adagrad":
        return optim.Adagrad(params, lr=lr, weight_decay=wd)
    if name == "perceptron":
        return optim.Perceptron(params, lr=lr)
    raise TrainError(f"unknown optimizer {name!r}")


OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad",
              "perceptron")
SCHEDULES = ("none", "step", "exp", "plateau")


def _make_schedule(name: str, opt: Any, epochs: int) -> Any:
    """Stepped once per epoch. step: ×0.1 at 1/2 and 3/4 of the run is approximated by
    StepLR(epochs//3, 0.3); exp: r0·β^t with β chosen so the rate ends at r0/20;
    plateau: ×0.5 after 2 epochs without a better validation loss."""
    if name == "none":
        return None
    if name == "step":
        return optim.StepLR(opt, step_size=max(1, epochs // 3), gamma=0.3)
    if name == "exp":
        return optim.ExponentialDecay(opt, beta=(1 / 20) ** (1 / max(1, epochs - 1)))
    if name == "plateau":
        return optim.ReduceLROnPlateau(opt, factor=0.5, patience=2)
    raise TrainError(f"unknown schedule {name!r}")


# ---- data parallel ---------------------------------------------------------------------------
class _Dist:
    """The MPI job as the loop sees it: rank, world size, shards, summed metrics."""

    def __init__(self) -> None:
        from dl_kernels import distributed

        try:
            self.rank, self.world = distributed.init()
        except ImportError as exc:  # MPIUnavailable: the message has the install command
            raise TrainError(str(exc)) from exc
        self.mod = distributed

    @property
    def shard(self) -> tuple[int, int]:
        return (self.rank, self.world)

    def sampler(self, n: int, batch_size: int, shuffle: bool, seed: int) -> Any:
        if batch_size < self.world:
            raise TrainError(f"--batch-size {batch_size} is smaller than the {self.world} "
                             "ranks: every rank needs a sample of each batch")
        return self.mod.DistributedSampler(n, batch_size, num_replicas=self.world,
                                           rank=self.rank, shuffle=shuffle, seed=seed)

    def sum(self, *values: float) -> list[float]:
        a = np.array(values, dtype=np.float64)
        self.mod.all_reduce(a, "sum")
        return [float(v) for v in a]

    def seed_epoch(self, seed: int, epoch: int) -> None:
        """Each rank its own dropout stream, fixed by (seed, epoch, rank): a resumed run, with
        any number of ranks, draws what an uninterrupted one would."""
        state = np.random.SeedSequence([seed % 2**32, epoch, self.rank]).generate_state(1)
        dlk.manual_seed(int(state[0]))


def _shared_config(cfg: TrainConfig) -> dict[str, Any]:
    """The fields every rank must agree on."""
    local = ("progress", "plot", "verbose", "threads", "out")
    return {k: v for k, v in asdict(cfg).items() if k not in local}


# ---- tasks: what a batch means for each kind of model ---------------------------------------
class _ImageTask:
    """Classification: cross-entropy (or the perceptron criterion), accuracy."""

    kind = "image"
    monitor = "val_acc"

    def __init__(self, cfg: TrainConfig, spec: ModelSpec, dist: _Dist | None = None) -> None:
        self.dist = dist
        try:
            ds = load_dataset(cfg.data, seed=SPLIT_SEED, limit=cfg.limit)
        except ValueError as exc:  # DataError, DataPackageMissing
            raise TrainError(str(exc)) from exc
        if getattr(ds, "kind", "image") != "image":
            raise TrainError(f"model {spec.name!r} classifies images, but data {cfg.data!r} "
                             f"is {ds.kind}; use an image data set (digits, mnist5k, "
                             "fashion-mnist or IDX files)")
        self.ds, self.cfg = ds, cfg
        # Default: one mean and deviation per channel. The notes' per-input whitening
        # ("feature") blows rarely-inked border pixels (tiny training variance) up to huge
        # values in unseen images: on digits the validation loss of a CNN was 8x worse.
        self.std = Standardizer(per=cfg.standardize).fit(ds.train.x)
        steps: list[Any] = []
        if cfg.augment:
            steps.append(RandomShift(cfg.augment))
        steps.append(self.std)
        if cfg.noise > 0:
            steps.append(GaussianNoise(cfg.noise))
        self.sampler = None
        if dist is not None:
            self.sampler = dist.sampler(len(ds.train.x), cfg.batch_size, True, cfg.seed)
        # A distributed sampler deals this rank's share of each global batch.
        batching: dict[str, Any] = {"batch_sampler": self.sampler} if self.sampler is not None \
            else {"batch_size": cfg.batch_size, "shuffle": True}
        self.train_loader = DataLoader(ds.train, seed=cfg.seed, transform=Compose(steps),
                                       **batching)
        self.perceptron = spec.name == "perceptron"
        self.loss_fn = nn.PerceptronLoss(reduction="sum") if self.perceptron else \
            nn.CrossEntropyLoss()
        kwargs = {} if cfg.dropout is None or self.perceptron or spec.name == "logreg" else \
            {"dropout": cfg.dropout}
        self.model = spec.build(ds.image_shape, ds.num_classes, **kwargs)

    def describe(self) -> str:
        return self.ds.summary()

    def extra_state(self) -> dict[str, Any]:
        return {"standardizer": self.std.state_dict(), "num_classes": self.ds.num_classes,
                "input_shape": list(self.ds.image_shape)}

    def batches(self) -> Any:
        return iter(self.train_loader)

    def num_batches(self) -> int:
        return len(self.train_loader)

    def loss_and_stats(self, model: Any, batch: Any) -> tuple[Any, float, int, int]:
        xb, yb = batch
        out = model(dlk.tensor(xb, device=self.cfg.device))
        if self.perceptron:
            target = perceptron_targets(yb, self.ds.num_classes).to(self.cfg.device)
            loss = self.loss_fn(out, target)
            loss_sum = float(loss.item())  # the rule is per example: summed, not averaged
        else:
            loss = self.loss_fn(out, dlk.tensor(yb, device=self.cfg.device))
            loss_sum = float(loss.item()) * len(yb)
        correct = int((out.detach().numpy().argmax(axis=1) == yb).sum())
        return loss, loss_sum, correct, len(yb)

    def batch_count(self, batch: Any) -> int:
        return len(batch[1])

    def global_count(self, index: int, batch: Any) -> int:
        return self.sampler.global_size(index) if self.sampler is not None else len(batch[1])

    def loss_weight(self, local: int, total: int, world: int) -> float:
        """Scale of this rank's loss so that averaging the ranks' gradients gives the global
        batch's: a mean over ``local`` samples counts local/total; the perceptron's sum, 1."""
        return float(world) if self.perceptron else local * world / total

    def evaluate(self, model: Any, split: str) -> dict[str, float]:
        part = getattr(self.ds, split)
        sampler = None if self.dist is None else \
            self.dist.sampler(len(part.x), max(512, self.dist.world), False, 0)
        loader = DataLoader(part, transform=self.std,
                            **({"batch_size": 512} if sampler is None else
                               {"batch_sampler": sampler}))
        total = correct = 0
        loss_sum = 0.0
        model.eval()
        with dlk.no_grad():
            for batch in loader:
                if not len(batch[1]):
                    continue
                _, ls, c, n = self.loss_and_stats(model, batch)
                loss_sum, correct, total = loss_sum + ls, correct + c, total + n
        model.train()
        if self.dist is not None:
            loss_sum, correct, total = self.dist.sum(loss_sum, correct, total)
        return {"loss": loss_sum / max(total, 1), "acc": correct / max(total, 1),
                "n": float(total)}

    def running(self, loss_sum: float, correct: int, n: int) -> dict[str, str]:
        return {"loss": f"{loss_sum / max(n, 1):.4f}", "acc": f"{100 * correct / max(n, 1):.2f}%"}

    def epoch_metrics(self, loss_sum: float, correct: int, n: int) -> dict[str, float]:
        return {"loss": loss_sum / max(n, 1), "acc": correct / max(n, 1)}

    def start_epoch(self) -> None:
        if self.sampler is not None:
            # PyTorch's protocol: the caller tells a distributed sampler the epoch. The
            # transform draws from (seed, epoch, rank), so an epoch depends only on the epoch
            # count, whatever the number of ranks a run is resumed with.
            epoch = self.train_loader.epoch
            self.sampler.set_epoch(epoch)
            self.train_loader.rng = np.random.default_rng([self.cfg.seed, epoch,
                                                           self.sampler.rank])

    def after_backward(self, model: Any) -> None:
        pass


class _TextTask:
    """Character language model: next-character cross-entropy, perplexity, truncated BPTT."""

    kind = "text"
    monitor = "val_loss"

    def __init__(self, cfg: TrainConfig, spec: ModelSpec, dist: _Dist | None = None) -> None:
        self.dist = dist
        try:
            ds = load_dataset(cfg.data, seed=SPLIT_SEED, limit=cfg.limit)
        except ValueError as exc:
            raise TrainError(str(exc)) from exc
        if getattr(ds, "kind", "image") != "text":
            raise TrainError(f"model {spec.name!r} is a language model, but data {cfg.data!r} "
                             "is images; use --data shakespeare")
        self.ds, self.cfg = ds, cfg
        self.vocab: CharVocab = ds.vocab
        if dist is not None and cfg.batch_size < dist.world:
            raise TrainError(f"--batch-size {cfg.batch_size} is smaller than the {dist.world} "
                             "ranks: every rank needs a row of the text")
        self.train_loader = SequenceLoader(ds.ids("train"), cfg.batch_size, cfg.seq_len,
                                           random_offset=True, seed=cfg.seed, drop_last=True,
                                           shard=None if dist is None else dist.shard)
        self.loss_fn = nn.CrossEntropyLoss()
        dropout = 0.0 if cfg.dropout is None else cfg.dropout
        self.model = spec.build(len(self.vocab), embed=cfg.embed, hidden=cfg.hidden,
                                layers=cfg.layers, dropout=dropout)
        self.state: Any = None

    def describe(self) -> str:
        return self.ds.summary()

    def extra_state(self) -> dict[str, Any]:
        return {"vocab": self.vocab.state_dict()}

    def batches(self) -> Any:
        return iter(self.train_loader)

    def num_batches(self) -> int:
        return len(self.train_loader)

    def start_epoch(self) -> None:
        self.state = None

    def batch_count(self, batch: Any) -> int:
        return batch[1].size

    def global_count(self, index: int, batch: Any) -> int:
        return self.cfg.batch_size * batch[1].shape[1]

    def loss_weight(self, local: int, total: int, world: int) -> float:
        return local * world / total

    def _step(self, model: Any, batch: Any, state: Any) -> tuple[Any, Any, float, int]:
        x, y = batch
        logits, state = model(dlk.tensor(x, device=self.cfg.device), state)
        v = logits.shape[-1]
        loss = self.loss_fn(logits.reshape(-1, v), dlk.tensor(y.reshape(-1),
                                                              device=self.cfg.device))
        return loss, state, float(loss.item()) * y.size, y.size

    def loss_and_stats(self, model: Any, batch: Any) -> tuple[Any, float, int, int]:
        # Truncated BPTT: the state flows on from the previous window, its gradient does not.
        loss, state, ls, n = self._step(model, batch, detach_state(self.state))
        self.state = detach_state(state)
        return loss, ls, 0, n

    def after_backward(self, model: Any) -> None:
        if self.cfg.clip > 0:
            optim.clip_grad_norm_(model.parameters(), self.cfg.clip)

    def evaluate(self, model: Any, split: str) -> dict[str, float]:
        ids = self.ds.ids(split)
        rows = max(1, min(self.cfg.batch_size, (len(ids) - 1) // max(self.cfg.seq_len, 1)))
        shard = None if self.dist is None else self.dist.shard
        loader = SequenceLoader(ids, rows, self.cfg.seq_len, shard=shard)
        loss_sum, total, state = 0.0, 0, None
        model.eval()
        with dlk.no_grad():
            for batch in loader:
                if not batch[1].size:
                    continue
                _, state, ls, n = self._step(model, batch, state)
                loss_sum, total = loss_sum + ls, total + n
        model.train()
        if self.dist is not None:
            loss_sum, _, total = self.dist.sum(loss_sum, 0, total)
        out = perplexities(loss_sum / max(total, 1))
        out["n"] = float(total)
        return out

    def running(self, loss_sum: float, correct: int, n: int) -> dict[str, str]:
        loss = loss_sum / max(n, 1)
        return {"loss": f"{loss:.4f}", "ppl": f"{math.exp(min(loss, 700)):.3f}"}

    def epoch_metrics(self, loss_sum: float, correct: int, n: int) -> dict[str, float]:
        return perplexities(loss_sum / max(n, 1))


# ---- checkpoints -------------------------------------------------------------------------------
def save_checkpoint(obj: dict[str, Any], path: str | os.PathLike) -> None:
    """Write atomically: a temporary file in the same directory, fsync, ``os.replace``."""
    serialization.save(obj, path)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    path = os.fspath(path)
    try:
        blob = serialization.load(path)
    except ValueError as exc:  # CheckpointError
        raise TrainError(str(exc)) from exc
    if isinstance(blob, dict) and blob.get("format") == "dl_kernels-object-v1":
        raise TrainError(f"{path!r} was written by dl_kernels.save, not by training: read it "
                         "with dl_kernels.load(path) (e.g. model.load_state_dict(...) of it)")
    if not isinstance(blob, dict) or blob.get("format") != CHECKPOINT_FORMAT:
        raise TrainError(f"{path!r} is not a dl_kernels training checkpoint")
    return blob


def _state_numpy(model: Any) -> dict[str, np.ndarray]:
    return {k: np.array(v.numpy(), copy=True) for k, v in model.state_dict().items()}


def _config_dict(cfg: TrainConfig) -> dict[str, Any]:
    return {k: v for k, v in asdict(cfg).items()}


def _config_from(d: dict[str, Any]) -> TrainConfig:
    names = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in d.items() if k in names})


# Fields a resumed run may change; everything else must come from the checkpoint.
_RESUMABLE = ("epochs", "out", "patience", "progress", "plot", "verbose", "threads", "device",
              "distributed")


def _merge_resume(saved: TrainConfig, given: TrainConfig, explicit: set[str]) -> TrainConfig:
    cfg = TrainConfig(**asdict(saved))
    known = {f.name for f in fields(TrainConfig)}
    for name in explicit & known:
        if name not in _RESUMABLE and \
                getattr(given, name) != getattr(saved, name):
            raise TrainError(f"--{name.replace('_', '-')} {getattr(given, name)} differs from "
                             f"the checkpoint's {getattr(saved, name)}; a resumed run keeps "
                             "its model, data and optimiser settings")
    for name in _RESUMABLE:
        if name in explicit or name in ("progress", "plot", "verbose"):
            setattr(cfg, name, getattr(given, name))
    return cfg


# ---- the loop ----------------------------------------------------------------------------------
def _check_device(device: str) -> None:
    from dl_kernels import backend

    try:
        backend.get_backend(device)
    except (RuntimeError, ValueError) as exc:
        raise TrainError(str(exc)) from exc


def _diverged(what: str, out_dir: Path) -> None:
    """Stop a run whose loss is no longer finite: training on would only spread NaN through
    the weights, and `last.ckpt` (written after the previous epoch) must stay the good one."""
    kept = (f"the last good checkpoint {os.fspath(out_dir / LAST)!r} is kept"
            if (out_dir / LAST).exists() else "no epoch finished, so there is no checkpoint")
    raise TrainError(f"{what}: the run diverged and was stopped ({kept}); try a smaller --lr"
                     " or --clip")


def _better(task_kind: str, metrics: dict[str, float], best: dict[str, float] | None) -> bool:
    if best is None:
        return True
    if task_kind == "image":  # accuracy first, validation loss breaks ties
        return (metrics["val_acc"], -metrics["val_loss"]) > (best["val_acc"], -best["val_loss"])
    return metrics["val_loss"] < best["val_loss"]


def fit(config: TrainConfig, resume: str | os.PathLike | None = None,
        explicit: Iterable[str] = ()) -> TrainResult:
    """Train (or resume) a run and evaluate it on the test split.

    ``explicit`` names the options the user set on the command line; on resume those must
    agree with the checkpoint except the ones a resumed run may change (epochs, out, ...).
    """
    dist = _Dist() if config.distributed else None
    blob = _load_resume(resume, dist)
    if blob is not None and blob.get("final"):
        raise TrainError(f"{os.fspath(resume)!r} is the final model of a finished run, not a "
                         f"resumable checkpoint: resume from {LAST} in the same directory")
    if blob is not None:
        cfg = _merge_resume(_config_from(blob["config"]), config, set(explicit)).resolved()
        if resume is not None and "out" not in set(explicit):
            cfg.out = os.path.dirname(os.path.abspath(resume))
    else:
        cfg = config.resolved()
    _check_device(cfg.device)
    if dist is not None:
        dist.mod.check_same("the training configuration", _shared_config(cfg))
        if not cfg.threads:  # the ranks on a machine share its cores
            local = dist.mod.local_world_size()
            dlk.set_num_threads(max(1, (os.cpu_count() or 1) // local))
    if cfg.threads:
        dlk.set_num_threads(cfg.threads)
    spec = get_model_spec(cfg.model)

    seed_everything(cfg.seed)
    task = _TextTask(cfg, spec, dist) if spec.kind == "text" else _ImageTask(cfg, spec, dist)
    model = task.model
    if cfg.device != "cpu":
        model.to(cfg.device)
    net = model
    if dist is not None:
        net = nn.parallel.DistributedDataParallel(model)
    opt = _make_optimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.weight_decay)
    sched = _make_schedule(cfg.schedule, opt, cfg.epochs)

    history: list[dict[str, float]] = []
    best: dict[str, float] | None = None
    best_state = _state_numpy(model)
    bad_epochs, start_epoch = 0, 0
    if blob is not None:
        try:
            model.load_state_dict(blob["model"])
            opt.load_state_dict(blob["optimizer"])
        except (ValueError, KeyError) as exc:
            raise TrainError(f"checkpoint {os.fspath(resume)!r} does not fit the model: {exc}")
        if sched is not None and blob.get("scheduler") is not None:
            sched.load_state_dict(blob["scheduler"])
        task.train_loader.load_state_dict(blob["loader"])
        set_rng_state(blob["rng"])  # (distributed runs reseed per epoch and rank)
        history = [dict(h) for h in blob["history"]]
        best = dict(blob["best"]) if blob.get("best") is not None else None
        best_state = {k: np.asarray(v) for k, v in blob["best_state"].items()}
        bad_epochs, start_epoch = int(blob["bad_epochs"]), int(blob["epoch"])

    lead = dist is None or dist.rank == 0  # the rank that prints and writes files
    out_dir = Path(cfg.out)
    if lead:
        out_dir.mkdir(parents=True, exist_ok=True)
        serialization.remove_stale_temporaries(out_dir)  # left by a run killed mid-write
    log = _printer(cfg.verbose and lead)
    log(task.describe())
    ranks = "" if dist is None else f" per rank x {dist.world} ranks (data parallel, MPI)"
    log(f"model {spec.name}: {model.num_parameters():,} parameters; optimizer {cfg.optimizer} "
        f"lr {cfg.lr:g}; batch {cfg.batch_size}; {dlk.get_num_threads()} threads{ranks}")
    if start_epoch:
        log(f"resuming from {os.fspath(resume)} after epoch {start_epoch}")

    train_seconds = 0.0
    epochs_run = 0
    stopped = False
    if best is not None and cfg.patience and bad_epochs >= cfg.patience:
        stopped = True
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        if stopped:
            break
        t0 = time.perf_counter()
        model.train()
        task.start_epoch()
        if dist is not None:
            dist.seed_epoch(cfg.seed, epoch)
        loss_sum, correct, n = 0.0, 0, 0
        bar = _progress(task.batches(), task.num_batches(), f"epoch {epoch}/{cfg.epochs}",
                        cfg.progress and lead)
        for index, batch in enumerate(bar):
            opt.zero_grad()
            if dist is None:
                loss, ls, c, k = task.loss_and_stats(model, batch)
            else:
                ls, c, k = _distributed_backward(task, net, batch, index, dist.world)
            if not math.isfinite(ls):
                _diverged(f"the training loss became {ls} at epoch {epoch}", out_dir)
            if dist is None:
                loss.backward()
            task.after_backward(model)
            opt.step()
            loss_sum, correct, n = loss_sum + ls, correct + c, n + k
            if cfg.progress and lead:
                bar.set_postfix(task.running(loss_sum, correct, n), refresh=False)
        if cfg.progress and lead:
            bar.close()
        if dist is not None:
            loss_sum, correct, n = dist.sum(loss_sum, correct, n)
        train_metrics = task.epoch_metrics(loss_sum, correct, n)
        seconds = time.perf_counter() - t0
        train_seconds += seconds
        val = task.evaluate(model, "val")
        if not math.isfinite(val["loss"]):
            _diverged(f"the validation loss became {val['loss']} after epoch {epoch}", out_dir)
        row = {"epoch": float(epoch), "seconds": seconds,
               "lr": float(opt.param_groups[0]["lr"])}
        row.update({f"train_{k}": v for k, v in train_metrics.items()})
        row.update({f"val_{k}": v for k, v in val.items() if k != "n"})
        history.append(row)
        if _better(task.kind, row, best):
            best = dict(row)
            best_state = _state_numpy(model)
            bad_epochs = 0
        else:
            bad_epochs += 1
        if sched is not None:
            if cfg.schedule == "plateau":
                sched.step(row["val_loss"])
            else:
                sched.step()
        log(_epoch_line(task.kind, row, cfg.epochs))
        epochs_run += 1
        if cfg.patience and bad_epochs >= cfg.patience:
            log(f"early stop: no better validation score for {bad_epochs} epochs")
            stopped = True
        if not lead:
            continue
        save_checkpoint({
            "format": CHECKPOINT_FORMAT,
            "config": _config_dict(cfg),
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict() if sched is not None else None,
            "loader": task.train_loader.state_dict(),
            "rng": get_rng_state(),
            "history": history,
            "best": best,
            "best_state": best_state,
            "bad_epochs": bad_epochs,
            "task": task.extra_state(),
        }, out_dir / LAST)

    model.load_state_dict(best_state)  # early stopping's best weights
    test = task.evaluate(model, "test")
    best_epoch = int(best["epoch"]) if best is not None else 0
    if not lead:
        return TrainResult(cfg, history, test, best_epoch, epochs_run, train_seconds,
                           str(out_dir), model)
    save_checkpoint({
        "format": CHECKPOINT_FORMAT,
        "config": _config_dict(cfg),
        "epoch": len(history),
        "final": True,
        "model": model.state_dict(),
        "best_epoch": best_epoch,
        "test": test,
        "task": task.extra_state(),
    }, out_dir / FINAL)
    if cfg.plot and history:
        plot_curves(history, out_dir / CURVES, title=f"{spec.name} on {cfg.data}",
                    kind=task.kind, best_epoch=best_epoch)
    log(_test_line(task.kind, test, best_epoch))
    return TrainResult(cfg, history, test, best_epoch, epochs_run, train_seconds,
                       str(out_dir), model)


def _load_resume(resume: str | os.PathLike | None, dist: _Dist | None) -> dict[str, Any] | None:
    """The checkpoint to resume from; in a distributed run rank 0 reads it and broadcasts it
    (the ranks need no shared file system), and a failure to read it stops every rank."""
    if resume is None:
        return None
    if dist is None:
        return load_checkpoint(resume)
    blob, error = None, None
    if dist.rank == 0:
        try:
            blob = load_checkpoint(resume)
        except (OSError, ValueError) as exc:
            error = str(exc)
    blob, error = dist.mod.broadcast_object((blob, error), 0)
    if error is not None:
        raise TrainError(error)
    return blob


def _distributed_backward(task: Any, net: Any, batch: Any, index: int,
                          world: int) -> tuple[float, int, int]:
    """Backward of this rank's share of a global batch, its loss weighted by that share;
    the DistributedDataParallel exchange finishes before returning. A rank whose share is
    empty (a final batch smaller than the world) contributes zero gradients."""
    k = task.batch_count(batch)
    if k == 0:
        net.zero_contribution()
        return 0.0, 0, 0
    loss, ls, c, k = task.loss_and_stats(net, batch)
    weight = task.loss_weight(k, task.global_count(index, batch), world)
    (loss if weight == 1.0 else loss * weight).backward()
    net.synchronize()
    return ls, c, k


def _printer(verbose: bool) -> Any:
    def log(msg: str) -> None:
        if verbose:
            try:
                from tqdm import tqdm

                tqdm.write(msg)
            except ImportError:
                print(msg, flush=True)
    return log


def _progress(it: Any, total: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc=desc, leave=False, dynamic_ncols=True, mininterval=0.5)


def _epoch_line(kind: str, row: dict[str, float], epochs: int) -> str:
    head = f"epoch {int(row['epoch']):>3}/{epochs}"
    if kind == "image":
        body = (f"train loss {row['train_loss']:.4f} acc {100 * row['train_acc']:6.2f}% | "
                f"val loss {row['val_loss']:.4f} acc {100 * row['val_acc']:6.2f}%")
    else:
        body = (f"train loss {row['train_loss']:.4f} ppl {row['train_ppl']:.3f} | "
                f"val loss {row['val_loss']:.4f} ({row['val_bits']:.3f} bits/char) "
                f"ppl e^L {row['val_ppl']:.3f}, 2^L {row['val_ppl2']:.3f}")
    return f"{head}  {body} | lr {row['lr']:.3g} | {row['seconds']:.1f}s"


def _test_line(kind: str, test: dict[str, float], best_epoch: int) -> str:
    if kind == "image":
        return (f"test accuracy: {100 * test['acc']:.2f}% ({round(test['acc'] * test['n'])}"
                f"/{int(test['n'])}), test loss {test['loss']:.4f} (best epoch {best_epoch})")
    return (f"test perplexity per character: e^L = {test['ppl']:.3f}, 2^L = {test['ppl2']:.3f}"
            f" (L = {test['loss']:.4f} nats = {test['bits']:.3f} bits/char; best epoch "
            f"{best_epoch})")


def plot_curves(history: list[dict[str, float]], path: str | os.PathLike, title: str = "",
                kind: str = "image", best_epoch: int | None = None) -> None:
    """Loss and accuracy (or perplexity) per epoch, training and validation, to a PNG; a
    dotted line marks the epoch whose weights were kept."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    metric, label = ("acc", "accuracy") if kind == "image" else ("ppl", "perplexity e^L")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for split, style in (("train", "-o"), ("val", "-s")):
        axes[0].plot(epochs, [h[f"{split}_loss"] for h in history], style, label=split, ms=3)
        axes[1].plot(epochs, [h[f"{split}_{metric}"] for h in history], style, label=split,
                     ms=3)
    axes[0].set_ylabel("loss")
    axes[1].set_ylabel(label)
    for ax in axes:
        if best_epoch:
            ax.axvline(best_epoch, color="grey", ls=":", lw=1, label="best")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    tmp = Path(path).with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)


def load_trained(path: str | os.PathLike) -> tuple[Any, dict[str, Any]]:
    """Rebuild the model saved in a checkpoint (``model.ckpt`` or ``last.ckpt``; the latter's
    best weights) and return (model in eval mode, the checkpoint dict)."""
    blob = load_checkpoint(path)
    cfg = _config_from(blob["config"])
    spec = get_model_spec(cfg.model)
    extra = blob.get("task", {})
    if spec.kind == "text":
        vocab = CharVocab.from_state_dict(extra["vocab"])
        model = spec.build(len(vocab), embed=cfg.embed, hidden=cfg.hidden, layers=cfg.layers,
                           dropout=0.0 if cfg.dropout is None else cfg.dropout)
    else:
        kwargs = {} if cfg.dropout is None or spec.name in ("perceptron", "logreg") else \
            {"dropout": cfg.dropout}
        model = spec.build(tuple(extra["input_shape"]), int(extra["num_classes"]), **kwargs)
    state = blob["best_state"] if "best_state" in blob else blob["model"]
    try:
        model.load_state_dict(state)
    except ValueError as exc:
        raise TrainError(f"checkpoint {os.fspath(path)!r} does not fit its model: {exc}")
    model.eval()
    return model, blob
