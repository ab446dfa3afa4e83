"""The command line and the training loop refuse what they cannot honour with one clear line
and exit code 1: every numeric option is checked (NaN and inf included), a run whose loss stops
being finite is stopped keeping its last good checkpoint, and the error messages say what is
wrong (never inviting unsafe loading, never losing half the message)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import dl_kernels as dlk
import numpy as np
import pytest
from dl_kernels import train
from dl_kernels.__main__ import main
from dl_kernels.data import DataLoader
from dl_kernels.data._errors import DataError
from dl_kernels.nn import functional as F
from dl_kernels.train import TrainConfig, TrainError, fit


@pytest.fixture(autouse=True)
def _one_thread():
    before = dlk.get_num_threads()
    dlk.set_num_threads(1)
    yield
    dlk.set_num_threads(before)


def _error_line(capsys, argv: list[str]) -> str:
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    return err


def _small(tmp_path: Path, *extra: str) -> list[str]:
    return ["train", "logreg", "--limit", "60", "--epochs", "1", "--out", str(tmp_path / "run"),
            "--no-plot", "--no-progress", *extra]


@pytest.mark.parametrize("option,value,needle", [
    ("--lr", "inf", "--lr must be a finite number"),
    ("--lr", "nan", "--lr must be a finite number"),
    ("--lr", "-1", "--lr must be a finite number"),
    ("--weight-decay", "nan", "--weight-decay must be"),
    ("--weight-decay", "-0.5", "--weight-decay must be"),
    ("--dropout", "-0.1", "--dropout must be"),
    ("--dropout", "1", "--dropout must be"),
    ("--dropout", "nan", "--dropout must be"),
    ("--noise", "-1", "--noise must be"),
    ("--noise", "nan", "--noise must be"),
    ("--clip", "-1", "--clip must be"),
    ("--clip", "nan", "--clip must be"),
    ("--clip", "inf", "--clip must be"),
    ("--seed", "-3", "--seed must be"),
])
def test_train_refuses_a_non_finite_or_out_of_range_numeric_option(capsys, tmp_path, option,
                                                                   value, needle):
    line = _error_line(capsys, _small(tmp_path, f"{option}={value}"))
    assert needle in line and value.lstrip("-") in line
    assert not (tmp_path / "run").exists()  # refused before anything was written


@pytest.mark.parametrize("argv", [["selfcheck", "--n", "0"], ["selfcheck", "--n", "-5"],
                                  ["train", "--epochs", "0"]])
def test_integer_options_below_one_are_usage_errors(capsys, argv):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and "must be >= 1" in capsys.readouterr().err


@pytest.mark.parametrize("value", [1.5, True, "4", 0])
def test_dataloader_batch_size_must_be_a_positive_integer(value):
    with pytest.raises(DataError, match="batch_size must be >= 1 and an integer"):
        DataLoader(np.zeros((10, 2), np.float32), batch_size=value)


def test_a_run_whose_loss_becomes_nan_stops_and_keeps_its_last_good_checkpoint(tmp_path,
                                                                               monkeypatch):
    calls = {"n": 0}
    real = train._ImageTask.loss_and_stats

    def poisoned(self, model, batch):  # finite through epoch 1 (4 batches), NaN after
        loss, ls, c, k = real(self, model, batch)
        calls["n"] += model.training
        return loss, (math.nan if model.training and calls["n"] > 4 else ls), c, k

    monkeypatch.setattr(train._ImageTask, "loss_and_stats", poisoned)
    cfg = TrainConfig(model="logreg", limit=64, batch_size=16, epochs=3, out=str(tmp_path / "r"),
                      progress=False, plot=False, verbose=False)
    with pytest.raises(TrainError, match="training loss became nan at epoch 2.*last good "
                                         "checkpoint"):
        fit(cfg)
    blob = train.load_checkpoint(tmp_path / "r" / train.LAST)
    assert blob["epoch"] == 1
    assert all(np.isfinite(v).all() for v in blob["model"].values())
    assert not (tmp_path / "r" / train.FINAL).exists()  # no "test loss nan" model


def test_a_diverging_command_line_run_exits_non_zero(capsys, tmp_path):
    line = _error_line(capsys, ["train", "mlp", "--lr", "1e300", "--limit", "100", "--epochs",
                                "2", "--out", str(tmp_path / "run"), "--no-plot",
                                "--no-progress"])
    assert "diverged" in line and "--lr" in line


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n" + bytes(64), b"hello, world\n",
                                     b"\x93NUMPY\x01\x00v\x00{'descr': '|O'"])
def test_resume_from_a_file_that_is_not_a_checkpoint_never_suggests_pickle(capsys, tmp_path,
                                                                             content):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(content)
    line = _error_line(capsys, _small(tmp_path, "--resume", str(bad)))
    assert "not a dl_kernels checkpoint" in line
    assert "allow_pickle" not in line


def test_an_archive_holding_pickles_is_refused_without_suggesting_them(tmp_path):
    from dl_kernels.nn import serialization

    path = tmp_path / "p.npz"
    np.savez(path, __dlk__=np.array([{"format": 1}], dtype=object))
    with pytest.raises(serialization.CheckpointError) as e:
        serialization.load(path)
    assert "allow_pickle" not in str(e.value) and "pickled" in str(e.value)


def test_resume_from_a_final_model_names_the_checkpoint_to_use(capsys, tmp_path):
    assert main(_small(tmp_path)) == 0
    capsys.readouterr()
    line = _error_line(capsys, _small(tmp_path, "--resume", str(tmp_path / "run" / train.FINAL),
                                      "--epochs", "2"))
    assert "final model" in line and train.LAST in line and "'optimizer'" not in line


def test_an_idx_set_with_no_images_says_so(capsys, tmp_path):
    from dl_kernels.data.idx import write_idx

    d = tmp_path / "idx"
    d.mkdir()
    write_idx(d / "train-images-idx3-ubyte", np.zeros((0, 4, 4), np.uint8))
    write_idx(d / "train-labels-idx1-ubyte", np.zeros((0,), np.uint8))
    line = _error_line(capsys, _small(tmp_path, "--data", str(d)))
    assert "holds no images" in line and "concatenate" not in line


def test_max_pool2d_with_stride_zero_is_a_value_error_not_a_division():
    x = dlk.tensor(np.zeros((1, 1, 4, 4), np.float32))
    with pytest.raises(ValueError, match="stride must be in"):
        F.max_pool2d(x, 2, stride=0, ceil_mode=True)
    with pytest.raises(ValueError, match="kernel_size must be in"):
        F.avg_pool2d(x, 0)


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_sample_refuses_a_bad_temperature(capsys, tmp_path, value):
    line = _error_line(capsys, ["sample", "--checkpoint", str(tmp_path / "none.ckpt"),
                                f"--temperature={value}"])
    assert "--temperature must be a finite number >= 0" in line


def test_sample_on_an_image_checkpoint_gives_the_whole_message(capsys, tmp_path):
    assert main(_small(tmp_path)) == 0
    capsys.readouterr()
    line = _error_line(capsys, ["sample", "--checkpoint", str(tmp_path / "run" / train.FINAL)])
    assert "holds a logreg model" in line and "char-lstm" in line


def test_checkpoint_files_honour_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        assert main(_small(tmp_path)) == 0
    finally:
        os.umask(old)
    for name in (train.LAST, train.FINAL):
        assert (tmp_path / "run" / name).stat().st_mode & 0o777 == 0o640
