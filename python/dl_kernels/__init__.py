"""dl_kernels: a kernel-centred deep-learning library.

Every heavy operation runs on hand-written kernels: ``dl_kernels._C`` (C++, CPU) and, when
built and a GPU is present, ``dl_kernels._cuda`` (CUDA).
"""

from __future__ import annotations

from dl_kernels import _C, cuda
from dl_kernels._config import config, get_num_threads, set_num_threads, show_config

__version__ = _C.build_info()["version"]

__all__ = ["__version__", "config", "cuda", "get_num_threads", "set_num_threads", "show_config"]
