"""The error an op raises when its inputs do not fit.

PyTorch raises ``RuntimeError`` for shape and value mismatches where numpy and most Python
code raise ``ValueError``. ``OpError`` derives from both, so code written in either habit
catches it (``except RuntimeError`` as a torch user would, ``except ValueError`` as a numpy
user would).
"""

from __future__ import annotations


class OpError(ValueError, RuntimeError):
    """Bad input to an op: the message names the expected and the actual shapes/values."""
