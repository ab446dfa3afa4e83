"""Sentiment models: the course's Keras model counts 386,438 parameters with 6 outputs, padding
never changes a sentence's logits (LSTM and CNN), pretrained vectors land in the right rows,
folds cover the data once (grouped folds keep a movie together), and the review file's plot
summaries are dropped."""

from __future__ import annotations

import bz2

import dl_kernels as dlk
import numpy as np
import pytest
from dl_kernels.data import DataError
from dl_kernels.data.reviews import read_rotten_tomatoes, read_rotten_tomatoes_plots
from dl_kernels.models.sentiment import (
    PAD,
    KimCNN,
    SentimentLSTM,
    fold_indices,
    load_word_vectors,
    pad_batch,
)


@pytest.fixture(autouse=True)
def _one_thread():
    before = dlk.get_num_threads()
    dlk.set_num_threads(1)
    yield
    dlk.set_num_threads(before)


def test_the_course_model_has_386438_parameters_with_6_outputs():
    # Embedding 5000·64 + two LSTM(64) layers 4·(64·128 + 64) each + Dense 64·6 + 6.
    model = SentimentLSTM(5000, 64, 64, layers=2, classes=6)
    assert sum(p.numel() for p in model.parameters()) == 386_438
    assert sum(p.numel() for p in SentimentLSTM().parameters()) == 386_438 - 4 * 65


def test_pad_batch_post_pads_and_reports_lengths():
    x, lengths = pad_batch([np.array([4, 5, 6]), np.array([7]), np.array([], np.int64)],
                           min_len=5)
    np.testing.assert_array_equal(x, [[4, 5, 6, 0, 0], [7, 0, 0, 0, 0], [0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(lengths, [3, 1, 1])
    x, lengths = pad_batch([np.arange(1, 9)], max_len=4)
    np.testing.assert_array_equal(x, [[1, 2, 3, 4]])
    assert PAD == 0


@pytest.mark.parametrize("make", [lambda: SentimentLSTM(30, 6, 5, classes=3),
                                  lambda: KimCNN(30, 6, filters=4, classes=3)],
                         ids=["lstm", "cnn"])
def test_padding_is_never_read_as_words(make):
    dlk.manual_seed(0)
    model = make()
    model.eval()
    rng = np.random.default_rng(0)
    sents = [rng.integers(1, 30, n) for n in (2, 9, 5, 1)]
    x, lengths = pad_batch(sents, min_len=5)
    batched = model(x, lengths).detach().numpy()
    for i, s in enumerate(sents):
        alone, ln = pad_batch([s], min_len=5)
        np.testing.assert_allclose(batched[i], model(alone, ln).detach().numpy()[0], atol=1e-6)
        # More padding, or other words where the padding was, changes nothing.
        longer = np.concatenate([alone, rng.integers(1, 30, (1, 7))], axis=1)
        np.testing.assert_allclose(batched[i], model(longer, ln).detach().numpy()[0], atol=1e-6)


def test_bad_lengths_are_refused():
    model = SentimentLSTM(30, 4, 4)
    with pytest.raises(ValueError, match=r"lengths must be in \[1, 3\]"):
        model(np.ones((2, 3), np.int64), np.array([3, 4]))
    with pytest.raises(ValueError, match=r"lengths must be \(2,\)"):
        model(np.ones((2, 3), np.int64), np.array([3]))
    with pytest.raises(ValueError, match="at least 5"):
        KimCNN(30, 4, filters=2)(np.ones((2, 3), np.int64))


def test_gradients_reach_every_parameter():
    for model in (SentimentLSTM(20, 4, 3), KimCNN(20, 4, filters=2)):
        x, lengths = pad_batch([np.array([1, 2, 3, 4, 5, 6]), np.array([7, 8])], min_len=5)
        model(x, lengths).sum().backward()
        for name, p in model.named_parameters():
            assert p.grad is not None, name


def test_word_vectors_fill_the_rows_of_known_words():
    model = SentimentLSTM(4, 3, 2)
    before = model.embedding.weight.detach().numpy().copy()
    itos = ["<pad>", "<unk>", "good", "bad"]
    vecs = np.array([[1.0, 2, 3], [4, 5, 6]], np.float32)
    assert load_word_vectors(model.embedding, itos, ["bad", "film"], vecs) == 1
    w = model.embedding.weight.detach().numpy()
    np.testing.assert_array_equal(w[3], [1, 2, 3])
    np.testing.assert_array_equal(w[:3], before[:3])
    with pytest.raises(ValueError, match="dimension 2"):
        load_word_vectors(model.embedding, itos, ["bad"], np.zeros((1, 2)))


def test_folds_partition_the_rows_and_grouped_folds_keep_a_group_together():
    folds = fold_indices(103, 10, seed=1)
    assert sorted(np.concatenate(folds).tolist()) == list(range(103))
    assert {len(f) for f in folds} == {10, 11}
    movies = [f"m{i % 17}" for i in range(103)]
    grouped = fold_indices(103, 5, movies, seed=1)
    assert sorted(np.concatenate(grouped).tolist()) == list(range(103))
    owner = {}
    for f, idx in enumerate(grouped):
        for i in idx:
            assert owner.setdefault(movies[i], f) == f
    with pytest.raises(ValueError, match="groups"):
        fold_indices(10, 5, ["a"] * 10)


def test_review_file_keeps_fresh_and_rotten_and_drops_plot_summaries(tmp_path):
    path = tmp_path / "rt.csv.bz2"
    rows = ("category,text,movie_name,has_plot_and_reviews\n"
            "plot,\"A man, a plan.\",film_a,True\n"
            "fresh,Wonderful!,film_a,True\n"
            "rotten,\"Dull, dull.\",film_b,False\n")
    path.write_bytes(bz2.compress(rows.encode()))
    data = read_rotten_tomatoes(path)
    assert data.texts == ("Wonderful!", "Dull, dull.")
    np.testing.assert_array_equal(data.labels, [1, 0])
    assert data.movies == ("film_a", "film_b")
    # The plot summaries are unlabelled in-domain text for word vectors, never a snippet.
    assert read_rotten_tomatoes_plots(path) == ("A man, a plan.",)
    bad = tmp_path / "bad.csv.bz2"
    bad.write_bytes(b"not bz2")
    with pytest.raises(DataError, match="cannot read"):
        read_rotten_tomatoes(bad)


def test_vectors_come_from_an_npz_of_words_or_a_word2vec_checkpoint(tmp_path):
    from dl_kernels.models.word2vec import Word2Vec
    from dl_kernels.tasks.sentiment import _vectors

    plain = tmp_path / "plain.npz"
    np.savez(plain, words=np.array(["good", "bad"]), vectors=np.eye(2, dtype=np.float32))
    words, vecs = _vectors(str(plain))
    assert words == ["good", "bad"] and vecs.shape == (2, 2)
    w2v = Word2Vec(dim=3, epochs=1, min_count=1, threads=1).fit([["good", "film", "good"]])
    ckpt = w2v.save(tmp_path / "w2v.npz")
    words, vecs = _vectors(str(ckpt))
    assert words == w2v.vocab.itos
    np.testing.assert_array_equal(vecs, w2v.vectors)
    np.savez(tmp_path / "other.npz", x=np.zeros(2))
    with pytest.raises(ValueError, match="expected arrays 'words' and 'vectors'"):
        _vectors(str(tmp_path / "other.npz"))


def test_embed_lr_scales_the_embedding_step_and_zero_freezes_it():
    from dl_kernels.tasks.sentiment import make_optimizer

    x, lengths = pad_batch([np.array([1, 2, 3]), np.array([4])])
    for embed_lr in (0.0, 0.5):
        dlk.manual_seed(0)
        model = SentimentLSTM(6, 3, 2)
        before = model.embedding.weight.detach().numpy().copy()
        opt = make_optimizer(model, 0.1, embed_lr)
        assert [g["lr"] for g in opt.param_groups] == ([0.1] if embed_lr == 0 else [0.1, 0.05])
        model(x, lengths).sum().backward()
        opt.step()
        moved = not np.array_equal(model.embedding.weight.detach().numpy(), before)
        assert moved == (embed_lr > 0)
        assert model.embedding.weight.requires_grad == (embed_lr > 0)
