"""The course's models, by name (the command line's ``train <model>``).

====================  ================================================  ======
name                  model                                             data
====================  ================================================  ======
logreg                LogisticRegression (7,850 parameters on 28x28)    images
perceptron            one-vs-rest Perceptron, the notes' update rule    images
mlp                   MLP, ReLU + dropout                               images
cnn / lenet           LeNet-style CNN                                   images
inception             CNN with an inception block                       images
char-lstm / char-gru  CharRNN language model                            text
====================  ================================================  ======
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable

from dl_kernels.models.char_rnn import CharRNN, beam_search, detach_state, perplexities, sample
from dl_kernels.models.classifiers import (
    MLP,
    InceptionNet,
    LeNet,
    LogisticRegression,
    Perceptron,
    perceptron_targets,
)
from dl_kernels.models.seq2seq import Seq2Seq


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str  # "image" or "text"
    description: str
    build: Callable[..., Any]
    default_optimizer: str
    default_lr: float
    default_epochs: int
    default_batch_size: int


def _image(cls: Any, **fixed: Any) -> Callable[..., Any]:
    def build(input_shape: Sequence[int], num_classes: int, **kwargs: Any) -> Any:
        return cls(input_shape, num_classes, **{**fixed, **kwargs})
    return build


def _text(cell: str) -> Callable[..., Any]:
    def build(vocab_size: int, **kwargs: Any) -> Any:
        return CharRNN(vocab_size, cell=cell, **kwargs)
    return build


MODELS: dict[str, ModelSpec] = {
    "logreg": ModelSpec("logreg", "image", "logistic (softmax) regression",
                        _image(LogisticRegression), "sgd", 0.1, 20, 64),
    "perceptron": ModelSpec("perceptron", "image", "one-vs-rest perceptrons, the notes' rule",
                            _image(Perceptron), "perceptron", 0.5, 10, 1),
    "mlp": ModelSpec("mlp", "image", "MLP with ReLU and dropout", _image(MLP), "adam", 1e-3,
                     30, 64),
    "cnn": ModelSpec("cnn", "image", "LeNet-style CNN", _image(LeNet), "adam", 2e-3, 20, 64),
    "inception": ModelSpec("inception", "image", "CNN with an inception block",
                           _image(InceptionNet), "adam", 2e-3, 15, 64),
    "char-lstm": ModelSpec("char-lstm", "text", "character-level LSTM language model",
                           _text("lstm"), "adam", 3e-3, 3, 32),
    "char-gru": ModelSpec("char-gru", "text", "character-level GRU language model",
                          _text("gru"), "adam", 3e-3, 3, 32),
}
ALIASES = {"lenet": "cnn", "logistic": "logreg", "lstm": "char-lstm", "gru": "char-gru"}


def get_model_spec(name: str) -> ModelSpec:
    """The spec of a model by name or alias; ValueError listing the names otherwise."""
    key = name.strip().lower().replace("_", "-")
    key = ALIASES.get(key, key)
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(MODELS)}")
    return MODELS[key]


__all__ = [
    "ALIASES",
    "MLP",
    "MODELS",
    "CharRNN",
    "InceptionNet",
    "LeNet",
    "LogisticRegression",
    "ModelSpec",
    "Perceptron",
    "Seq2Seq",
    "beam_search",
    "detach_state",
    "get_model_spec",
    "perceptron_targets",
    "perplexities",
    "sample",
]  # fmt: skip
