"""The shared word tokenizer and vocabulary (dl_kernels.data.words)."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from dl_kernels.data import DataError, words
from dl_kernels.data.words import Vocab, tokenize


def test_tokenize_keeps_inner_apostrophes_and_hyphens_and_drops_punctuation() -> None:
    assert tokenize("Don't stop -- well-known, UK's 2nd!") == [
        "don't", "stop", "well-known", "uk's", "2nd"]


def test_tokenize_can_keep_punctuation_and_case() -> None:
    assert tokenize("Great film!!", lower=False, punctuation=True) == ["Great", "film", "!", "!"]


def test_tokenize_treats_typographic_apostrophe_as_ascii() -> None:
    assert tokenize("it\u2019s") == ["it's"]


def test_tokenize_of_empty_or_blank_text_is_empty() -> None:
    assert tokenize("") == [] and tokenize("  \n ... ") == []


def test_tokenize_rejects_non_strings() -> None:
    with pytest.raises(DataError, match="str"):
        tokenize(b"bytes")  # type: ignore[arg-type]


def test_vocab_orders_by_frequency_then_alphabet_after_specials() -> None:
    v = Vocab.build([["b", "a", "c", "a"], ["b", "d"]], specials=("<pad>",))
    assert v.itos == ["<pad>", "<unk>", "a", "b", "c", "d"]
    assert v.counts.tolist() == [0, 0, 2, 2, 1, 1]


def test_vocab_min_count_and_max_size_send_the_rest_to_unk_with_their_counts() -> None:
    seqs = [["x"] * 5 + ["y"] * 3 + ["z"] * 2 + ["w"]]
    v = Vocab.build(seqs, min_count=2, max_size=3)
    assert v.itos == ["<unk>", "x", "y"]
    assert v.counts.tolist() == [3, 5, 3]  # z twice and w once went to <unk>
    assert v.counts.sum() == 11
    assert v.encode(["x", "z", "w"]).tolist() == [1, 0, 0]
    assert v["never-seen"] == v.unk_index == 0


def test_vocab_without_unk_raises_naming_unknown_words() -> None:
    v = Vocab.build([["a", "b"]], unk=None)
    with pytest.raises(DataError, match="'q'"):
        v.encode(["a", "q"])
    with pytest.raises(KeyError):
        v["q"]


def test_vocab_encode_decode_round_trip_and_bad_ids() -> None:
    v = Vocab.build([tokenize("the cat sat on the mat")])
    ids = v.encode(["the", "mat"])
    assert ids.dtype == np.int64
    assert v.decode(ids) == ["the", "mat"]
    with pytest.raises(DataError, match=r"\[0, 6\)"):
        v.decode([6])
    with pytest.raises(DataError):
        v.decode([-1])


def test_vocab_state_dict_round_trip() -> None:
    v = Vocab.build([["a", "b", "b"]], specials=("<pad>", "<s>"))
    assert Vocab.from_state_dict(v.state_dict()) == v
    with pytest.raises(DataError, match="missing"):
        Vocab.from_state_dict({"itos": []})


def test_vocab_rejects_bad_arguments() -> None:
    with pytest.raises(DataError, match="min_count"):
        Vocab.build([["a"]], min_count=0)
    with pytest.raises(DataError, match="max_size"):
        Vocab.build([["a"]], max_size=0)
    with pytest.raises(DataError, match="tokenize"):
        Vocab.build(["a string, not tokens"])
    with pytest.raises(DataError, match="empty"):
        Vocab.build([[]], unk=None)


def test_frequencies_sum_to_one() -> None:
    v = Vocab.build([["a", "a", "b"]])
    assert v.frequencies().sum() == pytest.approx(1.0)


def test_module_examples() -> None:
    assert doctest.testmod(words).failed == 0


def test_tokenize_lines_closes_every_non_blank_line_with_the_end_token() -> None:
    from dl_kernels.data.words import tokenize_lines

    text = "To be, or not to be:\n\n  That is the question.\n"
    assert tokenize_lines(text) == ["to", "be", ",", "or", "not", "to", "be", ":", "</s>",
                                    "that", "is", "the", "question", ".", "</s>"]
    assert tokenize_lines(text, eos=None, punctuation=False)[-3:] == ["is", "the", "question"]
    assert tokenize_lines(text, max_tokens=3) == ["to", "be", ","]
    assert tokenize_lines(text, max_tokens=10)[-1] == "that"
    with pytest.raises(DataError, match="str"):
        tokenize_lines(None)  # type: ignore[arg-type]
