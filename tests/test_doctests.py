"""Every example in the library's docstrings runs and prints what it says (doctest)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import dl_kernels
import numpy as np
import pytest

# The command line and the task modules print and exit: they are tested by test_cli.
SKIP = ("dl_kernels.__main__", "dl_kernels.tasks")


def _modules() -> list[str]:
    names = ["dl_kernels"]
    for info in pkgutil.walk_packages(dl_kernels.__path__, "dl_kernels."):
        if not info.name.startswith(SKIP) and not info.name.split(".")[-1].startswith("_C"):
            names.append(info.name)
    return sorted(names)


MODULES = _modules()


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    try:
        module = importlib.import_module(name)
    except ImportError as exc:  # an optional part whose dependency is missing
        pytest.skip(f"{name} does not import here: {exc}")
    dl_kernels.manual_seed(0)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(module, name, extraglobs={"np": np, "dlk": dl_kernels})
             if t.examples]
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_the_doctests_cover_the_public_packages() -> None:
    for package in ("dl_kernels.nn", "dl_kernels.optim", "dl_kernels.data", "dl_kernels.models",
                    "dl_kernels.autograd", "dl_kernels.saving"):
        assert package in MODULES
