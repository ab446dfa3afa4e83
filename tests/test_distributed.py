"""Data-parallel training on MPI, end to end: ``mpirun -np 2 python -m dl_kernels train ...
--distributed`` retraces the one-process loss curve to float32 round-off, resumes with another
number of ranks, and a rank that raises, dies or stalls stops the job with a clear error
instead of a hang. Each test launches its own ``mpirun``; they skip, saying why, where Open MPI
or mpi4py is missing (install: see README, "Data parallel on MPI")."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import dl_kernels
import numpy as np
import pytest
from dl_kernels import distributed as dist

ROOT = Path(__file__).resolve().parents[1]
HAVE_MPI = shutil.which("mpirun") is not None and dist.is_available()
needs_mpi = pytest.mark.skipif(not HAVE_MPI, reason="needs Open MPI (mpirun) and mpi4py: "
                               + dist.INSTALL_HINT)


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    # The ranks import the dl_kernels this test imported (the source tree or the installed one).
    here = str(Path(dl_kernels.__file__).resolve().parents[1])
    env["PYTHONPATH"] = here + os.pathsep + env.get("PYTHONPATH", "")
    # Open MPI refuses to run as root without these (CI containers run as root).
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1", DLK_DIST_TIMEOUT="60")
    env.update(extra)
    return env


def _mpirun(n: int, args: list[str], timeout: float = 120, **env: str):
    cmd = ["mpirun", "-np", str(n), sys.executable, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(**env),
                          check=False,
                          cwd=ROOT)


def _train(n: int, out: Path, *args: str):
    proc = _mpirun(n, ["-m", "dl_kernels", "train", *args, "--distributed", "--out", str(out),
                       "--no-plot", "--threads", "1"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _history(out: Path) -> list[dict[str, float]]:
    from dl_kernels.train import load_checkpoint

    return load_checkpoint(out / "last.ckpt")["history"]


def _curve(history, keys=("train_loss", "val_loss")) -> np.ndarray:
    return np.array([[h[k] for k in keys] for h in history])


def test_importing_the_library_needs_no_mpi_and_init_says_how_to_install():
    code = textwrap.dedent("""
        import sys
        sys.modules["mpi4py"] = None  # as if mpi4py were not installed
        import dl_kernels, dl_kernels.nn
        from dl_kernels import distributed
        assert not distributed.is_available()
        try:
            distributed.init()
        except ImportError as exc:
            print(exc)
        from dl_kernels.__main__ import main
        assert main(["train", "--distributed", "--out", "unused"]) == 1  # one line, exit 1
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          env=_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "apt-get install openmpi-bin libopenmpi-dev && pip install mpi4py" in proc.stdout
    assert "dl_kernels train: error: dl_kernels.distributed needs MPI and mpi4py" in proc.stderr


@needs_mpi
def test_two_ranks_reproduce_the_one_rank_curve_mlp_uneven_batch(tmp_path):
    # batch 25 over 2 ranks: shares of 13 and 12, and a final batch of 5 split 3 + 2: the
    # loss weighting must make the average the global batch's mean.
    args = ["mlp", "--limit", "400", "--epochs", "2", "--batch-size", "25", "--dropout", "0"]
    _train(1, tmp_path / "one", *args)
    proc = _train(2, tmp_path / "two", *args)
    one, two = _history(tmp_path / "one"), _history(tmp_path / "two")
    np.testing.assert_allclose(_curve(two), _curve(one), rtol=2e-5)
    assert [h["val_acc"] for h in two] == [h["val_acc"] for h in one]
    assert proc.stdout.count("epoch   1/2") == 1  # rank 0 alone prints
    assert "x 2 ranks" in proc.stdout


@needs_mpi
def test_two_ranks_reproduce_the_one_rank_curve_char_lstm(tmp_path):
    args = ["char-lstm", "--limit", "6000", "--epochs", "2", "--batch-size", "6",
            "--seq-len", "12", "--hidden", "24", "--embed", "8"]
    _train(1, tmp_path / "one", *args)
    _train(2, tmp_path / "two", *args)
    np.testing.assert_allclose(_curve(_history(tmp_path / "two")),
                               _curve(_history(tmp_path / "one")), rtol=2e-5)


@needs_mpi
def test_a_two_rank_checkpoint_resumes_with_one_rank_as_if_uninterrupted(tmp_path):
    args = ["logreg", "--limit", "300", "--batch-size", "32"]
    _train(1, tmp_path / "straight", *args, "--epochs", "3")
    _train(2, tmp_path / "split", *args, "--epochs", "2")
    assert (tmp_path / "split" / "last.ckpt").exists()
    proc = _mpirun(1, ["-m", "dl_kernels", "train", "--resume",
                       str(tmp_path / "split" / "last.ckpt"), "--epochs", "3", "--distributed",
                       "--no-plot"])
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_allclose(_curve(_history(tmp_path / "split")),
                               _curve(_history(tmp_path / "straight")), rtol=2e-5)


@needs_mpi
def test_different_options_on_the_ranks_are_refused_at_start(tmp_path):
    base = [sys.executable, "-m", "dl_kernels", "train", "mlp", "--distributed", "--limit",
            "200", "--epochs", "1", "--no-plot", "--out", str(tmp_path)]
    cmd = ["mpirun", "-np", "1", *base, "--dropout", "0.1", ":", "-np", "1", *base,
           "--dropout", "0.2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=_env(), check=False,
                          cwd=ROOT)
    assert proc.returncode != 0
    assert "configuration differs between ranks: rank 1 has 'dropout' = 0.2 where rank 0 " \
        "has 0.1" in proc.stderr


_FAULT = """
import os, sys, time
import numpy as np
from dl_kernels import distributed as dist
rank, world = dist.init()
if rank == 1:
    {fault}
a = np.ones(1000, dtype=np.float32)
dist.all_reduce(a)
print("rank", rank, "finished the all-reduce", flush=True)
"""


@needs_mpi
@pytest.mark.parametrize("fault,expect", [
    ("raise ValueError('bad batch on rank 1')", "ValueError: bad batch on rank 1; aborting"),
    ("os._exit(3)", "exited"),
    ("os.kill(os.getpid(), 9)", "signal 9"),
    ("time.sleep(60)", "rank 0: all_reduce(sum) of 1000 x float32 did not complete within 3 s"),
], ids=["raises", "exits", "killed", "stalls"])
def test_a_failing_rank_stops_the_job_instead_of_hanging(tmp_path, fault, expect):
    script = tmp_path / "fault.py"
    script.write_text(_FAULT.format(fault=fault))
    proc = _mpirun(2, [str(script)], timeout=60, DLK_DIST_TIMEOUT="3")
    assert proc.returncode != 0
    assert expect in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert "finished the all-reduce" not in proc.stdout
