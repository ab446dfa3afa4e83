"""One-file checkpoints: a numpy ``.npz`` archive, no pickled code.

Layout: every array is a member ``a<k>.npy``; the member ``__dlk__.json`` holds a format tag
and the whole object tree (dicts, lists, tuples, numbers, strings, None) with each array
replaced by ``{"__array__": k}``, and each array's shape, dtype and CRC-32. Reading uses
``allow_pickle=False``, so a checkpoint can never run code, and checks every array against its
recorded shape, dtype and checksum (numpy does not verify the zip's own CRCs), so a flipped
or truncated byte is caught.

Writes are atomic: the archive is written to a temporary file in the same directory, flushed
to disk, then renamed over the target with ``os.replace`` and the directory itself is flushed
(so the rename survives a power cut, not only a crash); a crash leaves either the old file or
the new one, never half of one. The file gets the usual permissions (0666 less the umask), not
the temporary file's private 0600. A process killed mid-write leaves its temporary
``.tmp-<pid>-*.npz`` behind: ``remove_stale_temporaries`` (called when a training run starts)
removes those whose process is gone.
"""

from __future__ import annotations

import json
import os
import tempfile
import zlib
from typing import Any

import numpy as np

from dl_kernels.factories import from_numpy
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
        if isinstance(obj, Tensor):  # so dl_kernels.load can give a Tensor back
            return {"__array__": key, "tensor": True}
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


def _decode(obj: Any, arrays: Any, tensors: bool = False) -> Any:
    if isinstance(obj, list):
        return [_decode(v, arrays, tensors) for v in obj]
    if isinstance(obj, dict):
        if "__array__" in obj:
            a = arrays[obj["__array__"]]
            return from_numpy(a) if tensors and obj.get("tensor") else a
        if "__dict__" in obj:
            return {k: _decode(v, arrays, tensors) for k, v in obj["__dict__"]}
        if "__idict__" in obj:
            return {_decode(k, arrays, tensors): _decode(v, arrays, tensors)
                    for k, v in obj["__idict__"]}
        if "__tuple__" in obj:
            return tuple(_decode(v, arrays, tensors) for v in obj["__tuple__"])
        if "__float__" in obj:
            return float(obj["__float__"])
        raise CheckpointError(f"unknown entry in checkpoint metadata: {sorted(obj)}")
    return obj


def _umask() -> int:
    """The process's umask (read by setting and restoring it: there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` (a tree of dicts/lists/tuples/numbers/strings/Tensors/arrays) to ``path``.

    The file gets the permissions an ordinary new file would (0666 less the umask), not the
    0600 of the temporary file it is renamed from."""
    path = os.fspath(path)
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(obj, arrays)
    check = {k: [list(a.shape), a.dtype.str, zlib.crc32(a.tobytes())] for k, a in arrays.items()}
    meta = json.dumps({"format": FORMAT, "tree": tree, "arrays": check})
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-", suffix=".npz",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            meta_crc = np.array(zlib.crc32(meta.encode()), dtype=np.int64)
            np.savez(f, **{_META: np.array(meta), _META_CRC: meta_crc}, **arrays)
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            f.flush()
            if hasattr(os, "fchmod"):  # POSIX
                os.fchmod(f.fileno(), 0o666 & ~_umask())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


_TMP_PREFIX = ".tmp-"


def _umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read it is to set it
    os.umask(mask)
    return mask


def _fsync_directory(directory: str) -> None:
    """Flush the directory entry the rename changed (POSIX; a no-op where directories
    cannot be opened, as on Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(directory: str | os.PathLike) -> list[str]:
    """Delete the ``.tmp-<pid>-*.npz`` files that ``save`` left in ``directory`` when its
    process died mid-write (a live process's file is kept); returns the paths removed."""
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        if not (name.startswith(_TMP_PREFIX) and name.endswith(".npz")):
            continue
        pid_text = name[len(_TMP_PREFIX):].split("-", 1)[0]
        if pid_text.isdigit() and _pid_alive(int(pid_text)):
            continue
        path = os.path.join(os.fspath(directory), name)
        try:
            os.unlink(path)
            removed.append(path)
        except OSError:
            pass
    return removed


def load(path: str | os.PathLike, tensors: bool = False) -> Any:
    """Read what ``save`` wrote; arrays come back as numpy arrays (``tensors=True``: what was
    saved as a Tensor comes back as a Tensor). Raises CheckpointError."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist")
    try:  # a checkpoint is a zip archive; anything else is refused before numpy sees it
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path!r}: {exc}") from exc
    if magic[:2] != b"PK":
        raise CheckpointError(f"{path!r} is not a dl_kernels checkpoint (not an .npz archive)")
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
        if "allow_pickle" in str(exc):  # never invite the caller to load pickles
            raise CheckpointError(f"{path!r} is not a dl_kernels checkpoint: it holds pickled "
                                  "objects, which are never loaded (they could run code)") from None
        raise CheckpointError(
            f"checkpoint {path!r} is truncated or corrupted: {type(exc).__name__}: {exc}"
        ) from exc
    return _decode(meta["tree"], arrays, tensors)
