"""dl_kernels: a kernel-centred deep-learning library.

Every heavy operation runs on hand-written kernels: ``dl_kernels._C`` (C++, CPU) and, when
built and a GPU is present, ``dl_kernels._cuda`` (CUDA).
"""

from __future__ import annotations

from dl_kernels import _C, autograd, cuda, nn, ops, optim
from dl_kernels._config import (
    are_deterministic_algorithms_enabled,
    config,
    get_follow_free_cores,
    get_num_threads,
    set_follow_free_cores,
    set_num_threads,
    show_config,
    use_deterministic_algorithms,
)
from dl_kernels.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from dl_kernels.dtypes import (
    bool_,
    device,
    dtype,
    float32,
    float64,
    int8,
    int16,
    int32,
    int64,
    uint8,
)
from dl_kernels.errors import OpError
from dl_kernels.factories import (
    arange,
    empty,
    empty_like,
    eye,
    from_dlpack,
    from_numpy,
    full,
    full_like,
    get_rng_state,
    linspace,
    manual_seed,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    set_rng_state,
    zeros,
    zeros_like,
)
from dl_kernels.ops.core import (
    abs,
    amax,
    amin,
    argmax,
    argmin,
    argsort,
    bmm,
    cat,
    chunk,
    clamp,
    clip,
    concat,
    exp,
    flatten,
    gather,
    index_select,
    log,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    norm,
    permute,
    relu,
    reshape,
    sigmoid,
    softmax,
    sort,
    split,
    sqrt,
    squeeze,
    stack,
    std,
    sum,
    tanh,
    topk,
    transpose,
    unsqueeze,
    var,
    where,
)
from dl_kernels.tensor import (
    Tensor,
    as_tensor,
    tensor,
)

# PyTorch's further tensor ops (dl_kernels.ops), as functions here and as Tensor methods
globals().update(ops.FUNCTIONS)

__version__ = _C.build_info()["version"]

# The package face (issue 16): data and models as attributes, save/load as torch's, the
# command line's models back in one call. distributed is imported on first use (it needs
# mpi4py, and may not be built into every branch).
from dl_kernels import data, models
from dl_kernels.saving import load, load_model, save


def __getattr__(name: str):  # PEP 562: lazy subpackages
    if name == "distributed":
        import importlib

        try:
            return importlib.import_module("dl_kernels.distributed")
        except ModuleNotFoundError as exc:
            if exc.name != "dl_kernels.distributed":
                raise  # the package exists; what it needs (mpi4py) is missing
            raise AttributeError("dl_kernels.distributed is not part of this build") from exc
    raise AttributeError(f"module 'dl_kernels' has no attribute {name!r}")


bool = bool_
float = float32
double = float64
long = int64
int = int32  # as torch.int
short = int16

__all__ = ["__version__", "config", "cuda", "get_num_threads", "set_num_threads", "show_config"]
__all__ += ["data", "load", "load_model", "models", "save"]
__all__ += ["are_deterministic_algorithms_enabled", "use_deterministic_algorithms"]
__all__ += ["get_follow_free_cores", "set_follow_free_cores"]
__all__ += [
    "Tensor",
    "abs",
    "amax",
    "amin",
    "arange",
    "argmax",
    "argmin",
    "argsort",
    "as_tensor",
    "autograd",
    "bmm",
    "bool",
    "cat",
    "chunk",
    "clamp",
    "clip",
    "concat",
    "device",
    "double",
    "dtype",
    "empty",
    "empty_like",
    "enable_grad",
    "exp",
    "eye",
    "flatten",
    "float",
    "float32",
    "float64",
    "from_dlpack",
    "from_numpy",
    "full",
    "full_like",
    "gather",
    "get_rng_state",
    "index_select",
    "int64",
    "is_grad_enabled",
    "linspace",
    "log",
    "log_softmax",
    "logsumexp",
    "long",
    "manual_seed",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "nn",
    "no_grad",
    "norm",
    "ones",
    "ones_like",
    "optim",
    "permute",
    "rand",
    "rand_like",
    "randint",
    "randn",
    "randn_like",
    "relu",
    "reshape",
    "set_grad_enabled",
    "set_rng_state",
    "sigmoid",
    "softmax",
    "sort",
    "split",
    "sqrt",
    "squeeze",
    "stack",
    "std",
    "sum",
    "tanh",
    "tensor",
    "topk",
    "transpose",
    "unsqueeze",
    "var",
    "where",
    "zeros",
    "zeros_like",
]
__all__ += ["OpError", "ops"] + ops.__all__
__all__ += ["int", "int8", "int16", "int32", "short", "uint8"]
