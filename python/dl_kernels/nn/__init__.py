"""Neural-network building blocks: ``dl_kernels.nn.functional`` (ops with autograd)."""

from __future__ import annotations

from dl_kernels.nn import functional
from dl_kernels.nn import init, serialization, utils
from dl_kernels.nn.activation import (
    LeakyReLU, LogSoftmax, MaxoutPool, NoisyReLU, PNorm, ReLU, Sigmoid, Softmax, SoftMaxout,
    Softplus, Step, Tanh,
)
from dl_kernels.nn.attention import AdditiveAttention, BahdanauAttention
from dl_kernels.nn.blocks import Highway, Inception, Maxout, Residual
from dl_kernels.nn.container import ModuleDict, ModuleList, Sequential
from dl_kernels.nn.layers import (
    AvgPool2d, Conv2d, Dropout, Embedding, Flatten, Identity, Linear, MaxPool2d,
)
from dl_kernels.nn.loss import (
    BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, GaussianNLLLoss, MixtureDensityLoss, MSELoss,
    NLLLoss, PerceptronLoss, l1_penalty, l2_penalty,
)
from dl_kernels.nn.module import Module
from dl_kernels.nn.parameter import Parameter
from dl_kernels.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell, RNNOutput
from dl_kernels.nn.serialization import CheckpointError, load, save
from dl_kernels.nn.utils import clip_grad_norm_, clip_grad_value_

__all__ = ["functional"]
__all__ += [
    "init", "serialization", "utils", "Module", "Parameter", "Sequential", "ModuleList",
    "ModuleDict", "Identity", "Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten",
    "Dropout", "Embedding", "ReLU", "LeakyReLU", "NoisyReLU", "Sigmoid", "Tanh", "Softplus",
    "Step", "Softmax", "LogSoftmax", "MaxoutPool", "SoftMaxout", "PNorm", "Maxout", "Residual",
    "Highway", "Inception", "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "RNNOutput",
    "AdditiveAttention", "BahdanauAttention", "CrossEntropyLoss", "NLLLoss", "MSELoss",
    "BCELoss", "BCEWithLogitsLoss", "GaussianNLLLoss", "MixtureDensityLoss", "PerceptronLoss",
    "l1_penalty", "l2_penalty", "save", "load", "CheckpointError", "clip_grad_norm_",
    "clip_grad_value_",
]
