"""Checkpoint housekeeping: temporaries a killed writer left behind are removed when the next
run starts (a live writer's are kept), and the rename that publishes a checkpoint is itself
flushed to disk (the directory is fsynced after os.replace)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import dl_kernels as dlk
import numpy as np
from dl_kernels.nn import serialization
from dl_kernels.train import TrainConfig, fit


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_training_run_removes_temporaries_left_by_a_killed_writer(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    stale = [out / f".tmp-{_dead_pid()}-abc123.npz", out / ".tmp-k3x9_q2z.npz"]  # and old style
    live = out / f".tmp-{os.getppid()}-zzz.npz"  # a process that is still running
    other = out / "notes.npz"
    for p in [*stale, live, other]:
        p.write_bytes(b"PK partial")
    before = dlk.get_num_threads()
    dlk.set_num_threads(1)
    try:
        fit(TrainConfig(model="logreg", limit=40, epochs=1, out=str(out), progress=False,
                        plot=False, verbose=False))
    finally:
        dlk.set_num_threads(before)
    assert not any(p.exists() for p in stale)
    assert live.exists() and other.exists()


def test_save_fsyncs_the_directory_after_the_rename(tmp_path, monkeypatch):
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append("fsync-dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync-file")
        return real_fsync(fd)

    def replace(a, b):
        events.append("replace")
        return real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    serialization.save({"w": np.ones(3)}, tmp_path / "a.ckpt")
    assert events == ["fsync-file", "replace", "fsync-dir"]
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]


def test_a_failed_write_leaves_no_temporary(tmp_path):
    class Unsaveable:
        pass

    try:
        serialization.save({"x": np.ones(2), "bad": Unsaveable()}, tmp_path / "b.ckpt")
    except TypeError:
        pass
    assert os.listdir(tmp_path) == []
