"""The optional CUDA module: ``dl_kernels._cuda`` when it was built and can load.

``import dl_kernels`` never needs it; ``is_available()`` says whether a GPU can be used.
"""

from __future__ import annotations

from types import ModuleType

_cuda: ModuleType | None
_import_error: str | None
try:
    from dl_kernels import _cuda  # type: ignore[attr-defined,no-redef]

    _import_error = None
except ImportError as exc:  # not built, or the CUDA driver library is missing
    _cuda = None
    _import_error = str(exc)


def is_built() -> bool:
    """True when the CUDA module was compiled into this install."""
    return _cuda is not None


def device_count() -> int:
    """Number of usable CUDA devices (0 without the module, a driver or a GPU)."""
    return _cuda.device_count() if _cuda is not None else 0


def is_available() -> bool:
    """True when a CUDA device can run our kernels."""
    return device_count() > 0


def module() -> ModuleType:
    """The compiled CUDA module; RuntimeError with the reason when there is none."""
    if _cuda is None:
        raise RuntimeError(f"dl_kernels was built without its CUDA module ({_import_error})")
    if not is_available():
        raise RuntimeError(f"no CUDA device is available ({_cuda.last_error_message()})")
    return _cuda


def synchronize() -> None:
    """Wait for every kernel and copy queued on the library's CUDA stream."""
    module().synchronize()


def memory_info() -> tuple[int, int]:
    """(free, total) bytes of GPU memory on the current device."""
    free, total = module().memory_info()
    return int(free), int(total)


def config() -> dict:
    if _cuda is None:
        return {"cuda_built": False, "cuda_import_error": _import_error}
    info = dict(_cuda.build_info())
    count = _cuda.device_count()
    return {
        "cuda_built": True,
        "cuda_archs": info["archs"],
        "cuda_compiler": info["compiler"],
        "cuda_device_count": count,
        "cuda_devices": [_cuda.device_name(i) for i in range(count)],
        "cuda_runtime": info.get("runtime", ""),
        "cuda_error": "" if count else _cuda.last_error_message(),
    }
