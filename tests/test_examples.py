"""Every script in examples/ runs top to bottom with a tiny budget (DLK_EXAMPLE_TINY=1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dl_kernels
import pytest

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_with_a_tiny_budget(script: Path, tmp_path: Path) -> None:
    # The scripts run in tmp_path: import the dl_kernels this test imported (a relative
    # PYTHONPATH=python would not resolve there).
    package_root = str(Path(dl_kernels.__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "DLK_EXAMPLE_TINY": "1",
           "DLK_EXAMPLE_OUT": str(tmp_path),
           "MPLBACKEND": "Agg",
           # Tiny models: one kernel thread is as fast, and never waits on a busy machine.
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(script)], check=False, cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 and "DataPackageMissing" in proc.stderr:
        # As the data tests do: a data package that is not installed skips, naming the install.
        pytest.skip(proc.stderr.strip().splitlines()[-1])
    assert proc.returncode == 0, f"{script.name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
