"""Command-line tasks with a training loop or a command line of their own.

Each module here declares which names it answers to and provides ``main(argv) -> int``:

- ``TRAIN_NAMES``: ``python -m dl_kernels train NAME [options]`` calls ``main(argv)`` with the
  options after NAME (for models whose loop is not the image/char-LM loop of ``train.py``:
  word2vec, g2p, sentiment, ...);
- ``COMMANDS``: a dict ``{command: function(argv) -> int}`` of top-level commands
  (``python -m dl_kernels neighbours ...``).

Modules are found by listing this package, so adding a task is adding a file. Keep a module's
import light (import heavy pieces inside ``main``): every module is imported to read its names.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Callable


def _modules() -> list[ModuleType]:
    return [importlib.import_module(f"{__name__}.{m.name}")
            for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]


def train_tasks() -> dict[str, Callable[[list[str]], int]]:
    """``train`` names served by a task module, mapped to that module's ``main``."""
    return {name: mod.main for mod in _modules() for name in getattr(mod, "TRAIN_NAMES", ())}


def commands() -> dict[str, Callable[[list[str]], int]]:
    """Top-level commands served by task modules, mapped to their entry points."""
    out: dict[str, Callable[[list[str]], int]] = {}
    for mod in _modules():
        out.update(getattr(mod, "COMMANDS", {}))
    return out
