"""One-file checkpoints: a numpy ``.npz`` archive, no pickled code.

Layout: every array is a member ``a<k>.npy``; the member ``__dlk__.json`` holds a format tag
and the whole object tree (dicts, lists, tuples, numbers, strings, None) with each array
replaced by ``{"__array__": k}``, and each array's shape, dtype and CRC-32. Reading uses
``allow_pickle=False``, so a checkpoint can never run code, and checks every array against its
recorded shape, dtype and checksum (numpy does not verify the zip's own CRCs), so a flipped
or truncated byte is caught.

Writes are atomic: the archive is written to a temporary file in the same directory, flushed
to disk, then renamed over the target with ``os.replace``; a crash leaves either the old file
or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
import zlib
from typing import Any

import numpy as np

from dl_kernels.tensor import Tensor

FORMAT = "dl_kernels-checkpoint-v1"
_META = "__dlk__"
_META_CRC = "__dlk_crc__"  # the metadata's own checksum


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, corrupted or does not fit the model."""


def _to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.detach().to("cpu").numpy()
    return np.asarray(x)


def _encode(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(obj, (Tensor, np.ndarray)):
        key = f"a{len(arrays)}"
        arrays[key] = np.ascontiguousarray(_to_numpy(obj))
        return {"__array__": key}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {"__dict__": [[k, _encode(v, arrays)] for k, v in obj.items()]}
        return {"__idict__": [[_encode(k, arrays), _encode(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, arrays) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        if isinstance(obj, float) and not np.isfinite(obj):
            return {"__float__": repr(obj)}
        return obj
    raise TypeError(f"cannot save an object of type {type(obj).__name__} in a checkpoint")


def _decode(obj: Any, arrays: Any) -> Any:
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    if isinstance(obj, dict):
        if "__array__" in obj:
            return arrays[obj["__array__"]]
        if "__dict__" in obj:
            return {k: _decode(v, arrays) for k, v in obj["__dict__"]}
        if "__idict__" in obj:
            return {_decode(k, arrays): _decode(v, arrays) for k, v in obj["__idict__"]}
        if "__tuple__" in obj:
            return tuple(_decode(v, arrays) for v in obj["__tuple__"])
        if "__float__" in obj:
            return float(obj["__float__"])
        raise CheckpointError(f"unknown entry in checkpoint metadata: {sorted(obj)}")
    return obj


def save(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` (a tree of dicts/lists/tuples/numbers/strings/Tensors/arrays) to ``path``."""
    path = os.fspath(path)
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(obj, arrays)
    check = {k: [list(a.shape), a.dtype.str, zlib.crc32(a.tobytes())] for k, a in arrays.items()}
    meta = json.dumps({"format": FORMAT, "tree": tree, "arrays": check})
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            meta_crc = np.array(zlib.crc32(meta.encode()), dtype=np.int64)
            np.savez(f, **{_META: np.array(meta), _META_CRC: meta_crc}, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path: str | os.PathLike) -> Any:
    """Read what ``save`` wrote; arrays come back as numpy arrays. Raises CheckpointError."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if _META not in archive.files:
                raise CheckpointError(f"{path!r} is not a dl_kernels checkpoint "
                                      f"(no {_META} member)")
            text = str(archive[_META][()])
            if _META_CRC not in archive.files or \
                    int(archive[_META_CRC][()]) != zlib.crc32(text.encode()):
                raise ValueError("the metadata fails its checksum")
            meta = json.loads(text)
            if meta.get("format") != FORMAT:
                raise CheckpointError(f"{path!r} has format {meta.get('format')!r}, "
                                      f"expected {FORMAT!r}")
            arrays = {name: archive[name] for name in archive.files
                      if name not in (_META, _META_CRC)}
        expected = meta["arrays"]
        if sorted(expected) != sorted(arrays):
            raise ValueError(f"the archive holds arrays {sorted(arrays)}, "
                             f"the metadata lists {sorted(expected)}")
        for name, (shape, dtype, crc) in expected.items():
            a = arrays[name]
            if list(a.shape) != shape or a.dtype.str != dtype or zlib.crc32(a.tobytes()) != crc:
                raise ValueError(f"array {name} fails its shape/dtype/checksum check")
    except CheckpointError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, EOFError, bad CRC, bad JSON, ...
        raise CheckpointError(
            f"checkpoint {path!r} is truncated or corrupted: {type(exc).__name__}: {exc}"
        ) from exc
    return _decode(meta["tree"], arrays)
