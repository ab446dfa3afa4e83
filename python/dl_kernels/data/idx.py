"""MNIST-format IDX files: read, write, and find the four standard files in a directory.

An IDX file is two zero bytes, a type code, the number of dimensions, each dimension as a
big-endian uint32, then the values in row-major order, big-endian. Files ending in ``.gz``
(or starting with the gzip magic bytes) are decompressed on the fly.
"""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path
from typing import Union

import numpy as np

from dl_kernels.data._errors import DataError

PathLike = Union[str, "os.PathLike[str]"]

# IDX type code -> big-endian numpy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dt.newbyteorder("=").str: code for code, dt in _IDX_DTYPES.items()}
_IDX_CODES.update({np.dtype("u1").str: 0x08, np.dtype("i1").str: 0x09})


def _read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(f"cannot read IDX file {path}: {e.strerror}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DataError(f"IDX file {path} is a damaged gzip file: {e}") from None
    return raw


def read_idx(path: PathLike) -> np.ndarray:
    """The array stored in an IDX file (``.gz`` or not), in native byte order.

    Its dtype is the stored one (uint8 for MNIST images and labels). Raises DataError
    naming the path and what was expected for a file that is not valid IDX.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(
            f"{path} is not an IDX file: expected the header 00 00 <type> <ndim>, "
            f"got {raw[:4].hex(' ') or 'an empty file'}"
        )
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise DataError(
            f"{path}: unknown IDX type code 0x{code:02X}; expected one of "
            + ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: IDX header declares {ndim} dimensions but the file is truncated")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header
    if actual != expected:
        raise DataError(
            f"{path}: IDX shape {shape} of {dtype.newbyteorder('=').name} needs {expected} "
            f"bytes of data, the file has {actual}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file (gzip-compressed when ``path`` ends in ``.gz``).

    Supported dtypes: uint8, int8, int16, int32, float32, float64.
    """
    array = np.asarray(array)
    key = array.dtype.newbyteorder("=").str if array.dtype.itemsize > 1 else array.dtype.str
    if key not in _IDX_CODES:
        raise DataError(
            f"IDX cannot store dtype {array.dtype}; expected uint8, int8, int16, int32, "
            "float32 or float64"
        )
    if array.ndim > 255:
        raise DataError(f"IDX stores at most 255 dimensions, got {array.ndim}")
    code = _IDX_CODES[key]
    payload = (
        bytes([0, 0, code, array.ndim])
        + np.asarray(array.shape, dtype=">u4").tobytes()
        + np.ascontiguousarray(array, dtype=_IDX_DTYPES[code]).tobytes()
    )
    path = Path(path)
    if path.suffix == ".gz":
        payload = gzip.compress(payload, compresslevel=6)
    path.write_bytes(payload)


def images_to_float(images: np.ndarray, path: PathLike = "<array>") -> np.ndarray:
    """IDX images (N, H, W) or (N, C, H, W) as float32 NCHW; integer pixels are divided by
    the largest value of their type (255 for uint8) so they lie in [0, 1]."""
    if images.ndim == 3:
        images = images[:, None, :, :]
    elif images.ndim != 4:
        raise DataError(
            f"{path}: expected images of shape (N, H, W) or (N, C, H, W), got {images.shape}"
        )
    if np.issubdtype(images.dtype, np.integer):
        scale = float(np.iinfo(images.dtype).max)
        return (images.astype(np.float32) / np.float32(scale)).astype(np.float32)
    return images.astype(np.float32)


def labels_to_int64(labels: np.ndarray, path: PathLike = "<array>") -> np.ndarray:
    if labels.ndim != 1:
        raise DataError(f"{path}: expected labels of shape (N,), got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path}: expected integer labels, got {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise DataError(f"{path}: labels must be >= 0, found {labels.min()}")
    return labels.astype(np.int64)


def load_idx(images_path: PathLike, labels_path: PathLike | None = None):
    """Images (float32, NCHW, [0, 1]) and labels (int64) from a pair of IDX files.

    Without ``labels_path`` the labels file is found beside the images file by the MNIST
    naming rule (``images-idx3`` -> ``labels-idx1``).
    """
    images_path = Path(images_path)
    if labels_path is None:
        name = images_path.name
        guess = name.replace("images", "labels").replace("idx3", "idx1")
        if guess == name:
            raise DataError(
                f"cannot tell the labels file of {images_path}: its name has no 'images' "
                "part; pass labels_path"
            )
        labels_path = images_path.with_name(guess)
    labels_path = Path(labels_path)
    for p in (images_path, labels_path):
        if not p.is_file():
            raise DataError(f"no such IDX file: {p}")
    x = images_to_float(read_idx(images_path), images_path)
    y = labels_to_int64(read_idx(labels_path), labels_path)
    if len(x) != len(y):
        raise DataError(f"{images_path} has {len(x)} images but {labels_path} has {len(y)} labels")
    if len(x) == 0:
        raise DataError(f"{images_path} holds no images (its IDX header declares 0)")
    return x, y


_STANDARD = re.compile(r"(train|t10k|test)[-_.](images|labels)[-_.]idx([13])[-_.]ubyte(\.gz)?$")


def find_idx_files(directory: PathLike) -> dict:
    """The standard MNIST files in ``directory``: a dict with keys among
    ``train-images``, ``train-labels``, ``test-images``, ``test-labels`` mapping to paths
    (``t10k`` counts as test; ``.gz`` or not; a prefix such as ``emnist-letters-`` is allowed).
    """
    directory = Path(directory)
    found: dict = {}
    for p in sorted(directory.iterdir()):
        m = _STANDARD.search(p.name)
        if not m or not p.is_file():
            continue
        split = "train" if m.group(1) == "train" else "test"
        kind = m.group(2)
        if (kind == "images") != (m.group(3) == "3"):
            continue
        key = f"{split}-{kind}"
        if key in found:
            raise DataError(
                f"{directory} holds two candidates for {key}: {found[key].name} and {p.name}"
            )
        found[key] = p
    return found


def load_idx_dir(directory: PathLike):
    """``((x_train, y_train), (x_test, y_test))`` from a directory of the four standard MNIST
    files; ``(x_test, y_test)`` is None when the directory holds only the training pair."""
    directory = Path(directory)
    found = find_idx_files(directory)
    if "train-images" not in found or "train-labels" not in found:
        present = ", ".join(sorted(p.name for p in directory.iterdir())[:8]) or "nothing"
        raise DataError(
            f"{directory} is not an MNIST-format directory: expected train-images-idx3-ubyte"
            "[.gz], train-labels-idx1-ubyte[.gz] (and t10k-images-idx3-ubyte[.gz], "
            f"t10k-labels-idx1-ubyte[.gz]); found {present}"
        )
    train = load_idx(found["train-images"], found["train-labels"])
    if ("test-images" in found) != ("test-labels" in found):
        missing = "test-images" if "test-images" not in found else "test-labels"
        raise DataError(f"{directory}: the test pair is incomplete, {missing} is missing")
    test = None
    if "test-images" in found:
        test = load_idx(found["test-images"], found["test-labels"])
        if test[0].shape[1:] != train[0].shape[1:]:
            raise DataError(
                f"{directory}: train images are {train[0].shape[1:]}, "
                f"test images are {test[0].shape[1:]}"
            )
    return train, test
