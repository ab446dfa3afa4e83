"""The package's import graph runs one way: model -> nn -> tensor -> autograd -> backend.

Every ``import`` in ``python/dl_kernels`` (module level or inside a function; annotation-only
imports under ``if TYPE_CHECKING:`` excepted) is an edge; an edge from a lower layer to a
higher one (the package face ``dl_kernels`` itself is the top) is a back edge and fails here,
naming the file and line. Modules not listed below count as top level: they may import
anything, and nothing listed may import them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import dl_kernels

ROOT = Path(dl_kernels.__file__).resolve().parent

# (module prefix, rank): the longest matching prefix gives a module its rank; an import may
# only point at the same rank or lower.
LAYERS: list[tuple[str, int]] = [
    ("dl_kernels._C", 0), ("dl_kernels._cuda", 0), ("dl_kernels.cuda", 0),
    ("dl_kernels._config", 0), ("dl_kernels.backend", 0), ("dl_kernels.errors", 0),
    ("dl_kernels.shapes", 0),  # pure shape arithmetic on tuples
    ("dl_kernels.autograd.engine", 1),
    ("dl_kernels.autograd", 2),  # the Functions: function.py, math_ops.py, shape_ops.py, ...
    ("dl_kernels.dtypes", 3),
    ("dl_kernels.storage", 4),
    ("dl_kernels.tensor", 5),
    # the Tensor-level reverse walk (create_graph, autograd.grad): Tensor.backward defers to it,
    # and it uses Tensor methods and the Functions only (no factories, no ops)
    ("dl_kernels.autograd.higher_order", 5),
    ("dl_kernels.factories", 6), ("dl_kernels.ops", 6),
    ("dl_kernels.autograd.gradcheck", 7),  # checks tensors: above the tensor layer
    ("dl_kernels.distributed", 7),  # collectives over tensors; data's samplers shard with it
    ("dl_kernels.data", 8),
    ("dl_kernels.nn", 9),
    ("dl_kernels.optim", 10),
    ("dl_kernels.decoding", 10),  # greedy and beam search over any model's step function
    ("dl_kernels.models", 11),
]
TOP = 100  # the package face, train, tasks, the command line, anything unlisted
EXACT = {"dl_kernels.autograd": 7}  # autograd's package face re-exports gradcheck


def rank(module: str) -> int:
    if module == "dl_kernels":
        return TOP
    if module in EXACT:
        return EXACT[module]
    best, best_len = TOP, -1
    for prefix, r in LAYERS:
        if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
            best, best_len = r, len(prefix)
    return best


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    if name in ("dl_kernels._C", "dl_kernels._cuda"):  # compiled; _cuda may not be built
        return True
    rel = Path(*name.split("."))
    base = ROOT.parent / rel
    return (base.with_suffix(".py").exists() or (base / "__init__.py").exists()
            or any(base.parent.glob(base.name + ".*.so")))


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, target module) for every dl_kernels import in the file."""
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        if _type_checking_only(node):
            skip.update(id(n) for b in node.body for n in ast.walk(b))
    me = module_name(path, root)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names
                      if a.name.split(".")[0] == "dl_kernels"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            if base.split(".")[0] != "dl_kernels":
                continue
            for a in node.names:
                sub = f"{base}.{a.name}"
                found.append((node.lineno, sub if is_module(sub) else base))
    return found


def back_edges(root: Path = ROOT) -> list[str]:
    bad = []
    for path in sorted(root.rglob("*.py")):
        src = module_name(path, root)
        for line, target in imports(path, root):
            if rank(target) > rank(src):
                bad.append(f"{path.relative_to(root.parent)}:{line}: {src} (layer {rank(src)}) "
                           f"imports {target} (layer {rank(target)})")
    return bad


def test_the_import_graph_has_no_edge_running_back_up():
    assert back_edges() == []


def test_the_checker_flags_back_edges_and_exempts_annotation_only_imports(tmp_path):
    fake = tmp_path / "dl_kernels"
    (fake / "nn").mkdir(parents=True)
    (fake / "nn" / "__init__.py").write_text("")
    (fake / "nn" / "layer.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "import dl_kernels as dlk\n"  # the package face: a back edge
        "from dl_kernels.tensor import Tensor\n"  # down: fine
        "if TYPE_CHECKING:\n"
        "    from dl_kernels.models import CharRNN\n"  # annotations only: exempt
        "def f():\n"
        "    from dl_kernels import train\n")  # inside a function: still an edge
    assert back_edges(fake) == [
        "dl_kernels/nn/layer.py:2: dl_kernels.nn.layer (layer 9) imports dl_kernels (layer 100)",
        ("dl_kernels/nn/layer.py:7: dl_kernels.nn.layer (layer 9) imports dl_kernels.train "
        "(layer 100)"),
    ]
    assert rank("dl_kernels.nn.functional") > rank("dl_kernels.tensor") > rank("dl_kernels.backend")
