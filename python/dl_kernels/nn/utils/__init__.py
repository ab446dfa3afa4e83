"""torch.nn.utils names: gradient clipping and (``rnn``) packed variable-length sequences."""

from dl_kernels.nn.utils import rnn
from dl_kernels.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm_", "clip_grad_value_", "rnn"]
