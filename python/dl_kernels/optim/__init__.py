"""Optimisers, learning-rate schedules and gradient clipping (``torch.optim`` names)."""

from __future__ import annotations

from dl_kernels.nn.utils import clip_grad_norm_, clip_grad_value_
from dl_kernels.optim import lr_scheduler, swa_utils
from dl_kernels.optim.first_order import SGD, Adagrad, Adam, AdamW, RMSprop
from dl_kernels.optim.lr_scheduler import (
    BoldDriver,
    ExponentialDecay,
    ExponentialLR,
    InverseTime,
    LRScheduler,
    ReduceLROnPlateau,
    StepLR,
)
from dl_kernels.optim.notes_rules import Perceptron, QuickProp
from dl_kernels.optim.optimizer import Optimizer

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "BoldDriver",
    "ExponentialDecay",
    "ExponentialLR",
    "InverseTime",
    "LRScheduler",
    "Optimizer",
    "Perceptron",
    "QuickProp",
    "RMSprop",
    "ReduceLROnPlateau",
    "StepLR",
    "clip_grad_norm_",
    "clip_grad_value_",
    "lr_scheduler",
    "swa_utils",
]
