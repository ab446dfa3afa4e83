"""Sphinx configuration: the API reference of dl_kernels, built from its docstrings.

Build: ``python -m sphinx -W --keep-going -b html docs build/docs`` (what .ci/run does).
The kernels page takes its measured numbers from bench/RESULTS.md at build time, so it never
drifts from the benchmark record.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# An installed dl_kernels wins; a source checkout with the extension built in place works too.
if importlib.util.find_spec("dl_kernels") is None:
    sys.path.insert(0, str(ROOT / "python"))

import dl_kernels  # noqa: E402

project = "dl_kernels"
author = "the dl_kernels developers"
release = version = dl_kernels.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax"]
exclude_patterns = ["_build", "_generated"]  # included by the pages, not pages themselves
html_theme = "alabaster"
html_static_path: list[str] = []
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False


# ---- generated parts ---------------------------------------------------------------------
GEN = HERE / "_generated"


def _md_table_to_rst(lines: list[str]) -> list[str]:
    """A Markdown pipe table as an RST list-table."""
    rows = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines]
    header, body = rows[0], rows[2:]
    out = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *body]:
        cells = [c if c else " " for c in row]
        out.append(f"   * - {_inline(cells[0])}")
        out.extend(f"     - {_inline(c)}" for c in cells[1:])
    return out + [""]


def _inline(text: str) -> str:
    """Markdown inline code to RST, and characters RST would read as markup escaped."""
    text = re.sub(r"`([^`]+)`", r"``\1``", text)
    return text.replace("*", r"\*") if "``" not in text else text


def _results_sections() -> dict[str, list[str]]:
    """bench/RESULTS.md's sections (between BEGIN/END markers) as RST lines."""
    path = ROOT / "bench" / "RESULTS.md"
    if not path.exists():
        return {}
    sections: dict[str, list[str]] = {}
    name = None
    body: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"<!-- (BEGIN|END) (\w+) -->", line.strip())
        if m and m.group(1) == "BEGIN":
            name, body = m.group(2), []
        elif m and name is not None:
            sections[name] = _md_block_to_rst(body)
            name = None
        elif name is not None:
            body.append(line)
    return sections


def _md_block_to_rst(lines: list[str]) -> list[str]:
    out: list[str] = []
    table: list[str] = []
    for line in lines + [""]:
        if line.lstrip().startswith("|"):
            table.append(line)
            continue
        if table:
            out.extend(_md_table_to_rst(table))
            table = []
        if line.startswith("## "):
            title = line[3:].strip()
            out += [title, "~" * len(title), ""]
        else:
            out.append(_inline(line))
    return out


def _generate() -> None:
    GEN.mkdir(exist_ok=True)
    sections = _results_sections()
    for name in ("conv_pool", "xent_rnn", "gemm", "overhead", "train", "cuda", "optim"):
        text = sections.get(name, ["(not in bench/RESULTS.md of this checkout)", ""])
        (GEN / f"results_{name}.rst").write_text("\n".join(text) + "\n", encoding="utf-8")
    if importlib.util.find_spec("dl_kernels.distributed") is not None:
        dist = [".. automodule:: dl_kernels.distributed", ""]
    else:
        dist = [".. note::", "",
                "   ``dl_kernels.distributed`` is not part of this build of the package.", ""]
    (GEN / "distributed_api.rst").write_text("\n".join(dist) + "\n", encoding="utf-8")


_generate()
