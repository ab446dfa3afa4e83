"""Threads and build configuration."""

from __future__ import annotations

import platform
import sys

import numpy as np

from dl_kernels import _C, cuda


def set_num_threads(n: int) -> None:
    """Threads every CPU kernel uses from now on (the default follows OMP_NUM_THREADS)."""
    _C.set_num_threads(int(n))


def get_num_threads() -> int:
    """The number of threads the CPU kernels use (set_num_threads, or OMP_NUM_THREADS)."""
    return _C.get_num_threads()


def set_follow_free_cores(on: bool) -> None:
    """With ``True`` (the default) the CPU kernels use fewer threads than set_num_threads while
    other processes hold cores (sampled every 10 ms from the machine's runnable-thread count):
    on a shared machine a thread waiting for a busy core would make a step slower than one
    thread. ``False`` keeps the thread count exact."""
    if not isinstance(on, (bool, np.bool_)):
        raise TypeError(f"set_follow_free_cores: expected True or False, got {on!r}")
    _C.set_follow_free_cores(bool(on))


def get_follow_free_cores() -> bool:
    return bool(_C.get_follow_free_cores())


def use_deterministic_algorithms(mode: bool) -> None:
    """With ``True``, every CPU kernel gives bitwise the same result whatever the thread count
    (as ``torch.use_deterministic_algorithms``): conv2d's grad-weight then sums its per-task
    partials in a fixed grouping instead of one per thread. Results are already the same from
    run to run at a fixed thread count either way; the cost is in README.md."""
    if not isinstance(mode, (bool, np.bool_)):
        raise TypeError(f"use_deterministic_algorithms: expected True or False, got {mode!r}")
    _C.set_deterministic_algorithms(bool(mode))


def are_deterministic_algorithms_enabled() -> bool:
    return bool(_C.get_deterministic_algorithms())


def config() -> dict:
    """What was built and what this machine offers, as a dict (show_config prints it)."""
    info = dict(_C.build_info())
    info["gemm_rung"] = _C.get_gemm_rung()
    info["deterministic"] = are_deterministic_algorithms_enabled()
    info["python"] = sys.version.split()[0]
    info["numpy"] = np.__version__
    info["machine"] = platform.machine()
    info.update(cuda.config())
    return info


def show_config() -> None:
    """Print the build: SIMD paths compiled and chosen, threads, CUDA, versions."""
    info = config()
    rows = [
        ("dl_kernels", info["version"]),
        ("compiler", info["compiler"]),
        ("SIMD paths compiled", info["simd_compiled"]),
        ("SIMD path chosen on this CPU", info["simd_selected"]),
        ("GEMM rung in use", info["gemm_rung"]),
        ("OpenMP threads", info["openmp_threads"]),
        ("large blocks kept for reuse", "yes" if info["malloc_tuned"] else "no (DLK_MALLOC_TUNING=0)"),
        ("CUDA module built", "yes" if info["cuda_built"] else "no"),
    ]
    if info["cuda_built"]:
        rows += [
            ("CUDA architectures", info["cuda_archs"]),
            ("CUDA compiler", info["cuda_compiler"]),
            ("CUDA devices", info["cuda_device_count"]),
        ]
        rows += [(f"  device {i}", name) for i, name in enumerate(info["cuda_devices"])]
        if info.get("cuda_error"):
            rows.append(("CUDA status", info["cuda_error"]))
    rows += [("python", info["python"]), ("numpy", info["numpy"]), ("pybind11", info["pybind11"])]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
