"""Neural-network building blocks: ``dl_kernels.nn.functional`` (ops with autograd)."""

from __future__ import annotations

from dl_kernels.nn import functional

__all__ = ["functional"]
