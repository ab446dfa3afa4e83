"""Neural-network building blocks: ``dl_kernels.nn.functional`` (ops with autograd).

On top of it (torch.nn names): ``Module`` and ``Parameter``; layers (Linear, Conv2d, pools,
Flatten, Dropout, Embedding, activations, Maxout, Residual, Highway, Inception, RNN/LSTM/GRU and
their cells, AdditiveAttention); containers; losses; ``init``; gradient clipping (``utils``);
one-file checkpoints (``save``/``load``, ``Module.save``/``Module.load``).
"""

from __future__ import annotations

from dl_kernels.nn import functional, init, parallel, serialization, utils
from dl_kernels.nn.activation import (
    LeakyReLU,
    LogSoftmax,
    MaxoutPool,
    NoisyReLU,
    PNorm,
    ReLU,
    Sigmoid,
    Softmax,
    SoftMaxout,
    Softplus,
    Step,
    Tanh,
)
from dl_kernels.nn.activation_more import (
    CELU,
    ELU,
    GELU,
    GLU,
    SELU,
    Hardshrink,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LogSigmoid,
    Mish,
    PReLU,
    ReLU6,
    RReLU,
    SiLU,
    Softmin,
    Softshrink,
    Softsign,
    Tanhshrink,
    Threshold,
)
from dl_kernels.nn.attention import AdditiveAttention, BahdanauAttention, LuongAttention
from dl_kernels.nn.blocks import Highway, Inception, Maxout, Residual
from dl_kernels.nn.container import ModuleDict, ModuleList, Sequential
from dl_kernels.nn.conv_more import (
    AvgPool1d,
    Conv1d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    MaxPool1d,
    MaxUnpool1d,
    MaxUnpool2d,
    Upsample,
    UpsamplingBilinear2d,
    UpsamplingNearest2d,
)
from dl_kernels.nn.layers import (
    AvgPool2d,
    Conv2d,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    Linear,
    MaxPool2d,
)
from dl_kernels.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    GaussianNLLLoss,
    MixtureDensityLoss,
    MSELoss,
    NLLLoss,
    PerceptronLoss,
    l1_penalty,
    l2_penalty,
)
from dl_kernels.nn.module import Module
from dl_kernels.nn.multihead_attention import MultiheadAttention
from dl_kernels.nn.normalization import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    GroupNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    LayerNorm,
)
from dl_kernels.nn.parameter import Parameter
from dl_kernels.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell, RNNOutput, RNNResult
from dl_kernels.nn.serialization import CheckpointError, load, save
from dl_kernels.nn.utils import clip_grad_norm_, clip_grad_value_

__all__ = ["functional"]
__all__ += [
    "CELU", "ELU", "GELU", "GLU", "SELU", "AvgPool1d", "BatchNorm1d", "BatchNorm2d",
    "BatchNorm3d", "Conv1d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "GroupNorm", "Hardshrink",
    "Hardsigmoid", "Hardswish", "Hardtanh", "InstanceNorm1d", "InstanceNorm2d", "LayerNorm",
    "LogSigmoid", "MaxPool1d", "MaxUnpool1d", "MaxUnpool2d", "Mish", "MultiheadAttention",
    "PReLU", "RReLU", "ReLU6", "SiLU", "Softmin", "Softshrink", "Softsign", "Tanhshrink",
    "Threshold", "Upsample", "UpsamplingBilinear2d", "UpsamplingNearest2d",
]
__all__ += [
    "GRU",
    "LSTM",
    "RNN",
    "AdditiveAttention",
    "AvgPool2d",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BahdanauAttention",
    "CheckpointError",
    "Conv2d",
    "CrossEntropyLoss",
    "Dropout",
    "Embedding",
    "Flatten",
    "GRUCell",
    "GaussianNLLLoss",
    "Highway",
    "Identity",
    "Inception",
    "LSTMCell",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "LuongAttention",
    "MSELoss",
    "MaxPool2d",
    "Maxout",
    "MaxoutPool",
    "MixtureDensityLoss",
    "Module",
    "ModuleDict",
    "ModuleList",
    "NLLLoss",
    "NoisyReLU",
    "PNorm",
    "Parameter",
    "PerceptronLoss",
    "RNNCell",
    "RNNOutput",
    "RNNResult",
    "ReLU",
    "Residual",
    "Sequential",
    "Sigmoid",
    "SoftMaxout",
    "Softmax",
    "Softplus",
    "Step",
    "Tanh",
    "clip_grad_norm_",
    "clip_grad_value_",
    "init",
    "l1_penalty",
    "l2_penalty",
    "load",
    "parallel",
    "save",
    "serialization",
    "utils",
]
