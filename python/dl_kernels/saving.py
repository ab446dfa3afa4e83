"""``dl_kernels.save`` / ``dl_kernels.load`` (as ``torch.save`` / ``torch.load``) and
``dl_kernels.load_model`` for a model trained by the command line.

Files are the library's checkpoint format (:mod:`dl_kernels.nn.serialization`): one ``.npz``
archive, no pickled code, every array checked against its recorded shape, dtype and CRC-32
on reading, written atomically (temporary file, fsync, rename) with the permissions the umask
gives an ordinary new file.

>>> import os, tempfile
>>> import dl_kernels as dlk
>>> path = os.path.join(tempfile.mkdtemp(), "w.dlk")
>>> dlk.save({"w": dlk.ones(2, 3), "step": 7, "names": ("a", "b")}, path)
>>> back = dlk.load(path)
>>> back["w"].shape, back["step"], back["names"]
((2, 3), 7, ('a', 'b'))
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

import dl_kernels as dlk
from dl_kernels.nn import serialization
from dl_kernels.nn.module import Module
from dl_kernels.nn.serialization import CheckpointError

OBJECT_FORMAT = "dl_kernels-object-v1"
_TRAIN_FORMAT = "dl_kernels-train-v1"  # dl_kernels.train.CHECKPOINT_FORMAT


def save(obj: Any, path: str | os.PathLike) -> None:
    """Save ``obj`` to ``path``: Tensors, numpy arrays, numbers, strings, None, and dicts,
    lists and tuples of them, nested (a ``state_dict()``, an optimiser's, a whole training
    state).

    Args:
        obj: the object tree. Tensors are saved as their values (not their graph or grad).
        path: the file to write (replaced atomically if it exists).

    Raises:
        TypeError: for an object the format cannot hold (a Module: save its
            ``state_dict()``; arbitrary classes: no code is ever pickled).

    Example:
        >>> import os, tempfile
        >>> import dl_kernels as dlk
        >>> model = dlk.nn.Linear(3, 2)
        >>> path = os.path.join(tempfile.mkdtemp(), "linear.dlk")
        >>> dlk.save(model.state_dict(), path)
        >>> model.load_state_dict(dlk.load(path))
        IncompatibleKeys(missing_keys=[], unexpected_keys=[])
    """
    if isinstance(obj, Module):
        raise TypeError("dl_kernels.save stores values, not code: save model.state_dict() and "
                        "load it with model.load_state_dict(dl_kernels.load(path))")
    serialization.save({"format": OBJECT_FORMAT, "object": obj}, path)


def load(path: str | os.PathLike, numpy: bool = False) -> Any:
    """Load what :func:`save` wrote: the same tree, Tensors as Tensors (on the CPU).

    Args:
        path: the file.
        numpy: True gives every array back as a numpy array instead.

    Raises:
        CheckpointError: (a ValueError) for a missing, truncated or corrupted file, or a
            checkpoint of another kind (a training checkpoint names :func:`load_model`).

    Example:
        >>> import os, tempfile
        >>> import dl_kernels as dlk
        >>> path = os.path.join(tempfile.mkdtemp(), "t.dlk")
        >>> dlk.save([dlk.arange(3), {"lr": 0.1}], path)
        >>> dlk.load(path)
        [tensor([0, 1, 2]), {'lr': 0.1}]
    """
    blob = serialization.load(path, tensors=not numpy)
    kind = blob.get("format") if isinstance(blob, dict) else None
    if kind == OBJECT_FORMAT:
        return blob["object"]
    p = os.fspath(path)
    if kind == _TRAIN_FORMAT:
        raise CheckpointError(
            f"{p!r} is a training checkpoint written by `python -m dl_kernels train`: load "
            "it with dl_kernels.load_model(path) (the model with its input standardiser), or "
            "dl_kernels.train.load_checkpoint(path) for the raw dictionary")
    if isinstance(blob, dict) and set(blob) == {"module", "state"}:
        raise CheckpointError(
            f"{p!r} was written by Module.save ({blob['module']}): load it into the model with "
            "model.load(path)")
    raise CheckpointError(f"{p!r} is a dl_kernels archive of kind {kind!r}, not one written by "
                          "dl_kernels.save; read it with dl_kernels.nn.serialization.load(path)")


class TrainedModel(Module):
    """A network trained by the command line with what it needs at inference time.

    Calling it applies the training run's input standardiser (fitted on the training set)
    and then the network, so raw inputs go in as they come from the data set.

    Attributes:
        net: the network (a Module, in eval mode).
        standardizer: the :class:`~dl_kernels.data.Standardizer` of an image model, else None.
        vocab: the :class:`~dl_kernels.data.CharVocab` of a language model, else None.
        config: the run's :class:`~dl_kernels.train.TrainConfig`.
        checkpoint: the whole checkpoint dictionary (test metrics, history, ...).
    """

    def __init__(self, net: Module, standardizer: Any, vocab: Any, config: Any,
                 checkpoint: dict[str, Any]) -> None:
        super().__init__()
        self.net = net
        self.standardizer = standardizer
        self.vocab = vocab
        self.config = config
        self.checkpoint = checkpoint

    def forward(self, x: Any, *args: Any) -> Any:
        """Image models: raw inputs ``(N, C, H, W)`` (array or Tensor) to class scores
        ``(N, classes)``. Language models: ``net(ids, state)`` unchanged."""
        if self.standardizer is not None:
            raw = x.detach().numpy() if isinstance(x, dlk.Tensor) else np.asarray(x)
            device = x.device if isinstance(x, dlk.Tensor) else "cpu"
            x = dlk.tensor(self.standardizer.transform(raw), device=device)
        return self.net(x, *args)

    def predict(self, x: Any) -> np.ndarray:
        """Class ids (int64, shape (N,)) for raw inputs, without building a graph."""
        with dlk.no_grad():
            return self(x).numpy().argmax(axis=-1)


def load_model(path: str | os.PathLike) -> TrainedModel:
    """Reload a model trained by ``python -m dl_kernels train`` in one call.

    Args:
        path: ``model.ckpt`` (the final, best-validation weights) or ``last.ckpt`` (a run in
            progress; its best weights so far) from the run's output directory.

    Returns:
        A :class:`TrainedModel` in eval mode; ``model(raw_x)`` standardises as training did.

    Raises:
        TrainError: (a ValueError) if the file is not a training checkpoint (one written by
            :func:`save` names :func:`load`) or does not fit its model.
    """
    from dl_kernels.data import CharVocab, Standardizer
    from dl_kernels.train import load_trained

    net, blob = load_trained(path)
    extra = blob.get("task", {})
    std = None
    if "standardizer" in extra:
        std = Standardizer()
        std.load_state_dict(extra["standardizer"])
    vocab = CharVocab.from_state_dict(extra["vocab"]) if "vocab" in extra else None
    from dl_kernels.train import _config_from

    model = TrainedModel(net, std, vocab, _config_from(blob["config"]), blob)
    model.eval()
    return model
