"""Input transforms: standardisation, random-shift augmentation, Gaussian input noise.

Each is a callable ``t(x_batch, rng) -> x_batch`` so it plugs into DataLoader's
``transform`` hook and draws its randomness from the loader's Generator.

From the notes:

- "we want our variables to have mean zero and equal variance"; whitening
  ``x~_pi = (x_pi - mu_i) / sigma_i`` with mu_i and sigma_i^2 = (1/n) sum_p (x_pi - mu_i)^2
  measured on the training set and applied unchanged to validation and test (Standardizer).
- data augmentation: "adding noisy or transformed versions of training data", careful with
  transforms that change the class (6 vs 9), so only small translations here (RandomShift);
- adding noise to the input regularises, "caution: not too much noise" (GaussianNoise).

Shift raw images (their background is 0) before standardising them, e.g.
``Compose([RandomShift(2), standardizer, GaussianNoise(0.1)])`` for training batches and
``standardizer`` alone for evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dl_kernels.data._errors import DataError

_MODES = ("feature", "channel", "global")


class Standardizer:
    """Zero mean, unit variance, with statistics fitted on the training set only.

    ``per="feature"`` (the notes' whitening): one mean and standard deviation per input
    element (per pixel for images); ``"channel"``: one per channel of (N, C, ...) inputs;
    ``"global"``: one for everything. The standard deviation is the population one (1/n).
    Features that are constant on the training set (a digit's blank border) get sigma = 1,
    so they become 0 instead of dividing by zero.
    """

    def __init__(self, per: str = "feature", eps: float = 1e-6) -> None:
        if per not in _MODES:
            raise DataError(f"per must be one of {', '.join(_MODES)}, got {per!r}")
        self.per = per
        self.eps = float(eps)
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def _axes(self, x: np.ndarray) -> tuple[int, ...]:
        if self.per == "feature":
            return (0,)
        if self.per == "channel":
            if x.ndim < 3:
                raise DataError(f"per='channel' needs (N, C, ...) inputs, got shape {x.shape}")
            return (0,) + tuple(range(2, x.ndim))
        return tuple(range(x.ndim))

    def fit(self, x: np.ndarray) -> Standardizer:
        x = np.asarray(x, dtype=np.float64)
        if len(x) == 0:
            raise DataError("cannot fit a Standardizer on 0 samples")
        axes = self._axes(x)
        mean = x.mean(axis=axes, keepdims=True)
        std = np.sqrt(((x - mean) ** 2).mean(axis=axes, keepdims=True))
        std[std < self.eps] = 1.0
        # Kept in float64: a feature with a large mean and a small spread would lose its
        # digits if its mean were rounded to float32 first.
        self.mean, self.std = mean, std
        return self

    def _check(self, x: np.ndarray) -> None:
        if self.mean is None or self.std is None:
            raise DataError("Standardizer is not fitted: call fit(x_train) first")
        expected = self.mean.shape[1:]
        ok = x.ndim == self.mean.ndim and all(
            m == 1 or m == a for m, a in zip(expected, x.shape[1:])
        )
        if not ok:
            raise DataError(
                f"Standardizer was fitted on samples of shape {expected} (1 = any), "
                f"got {x.shape[1:]}"
            )

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        self._check(x)
        return ((x - self.mean) / self.std).astype(np.float32)

    def inverse_transform(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        self._check(x)
        return (x * self.std + self.mean).astype(np.float32)

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        return self.fit(x).transform(x)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return self.transform(x)

    def state_dict(self) -> dict:
        return {"per": self.per, "eps": self.eps, "mean": self.mean, "std": self.std}

    def load_state_dict(self, state: dict) -> None:
        self.per, self.eps = state["per"], float(state["eps"])
        self.mean = None if state["mean"] is None else np.asarray(state["mean"], np.float64)
        self.std = None if state["std"] is None else np.asarray(state["std"], np.float64)

    def __repr__(self) -> str:
        fitted = "fitted" if self.mean is not None else "not fitted"
        return f"Standardizer(per={self.per!r}, {fitted})"


class RandomShift:
    """Translate each image by its own random (dy, dx), each uniform in
    [-max_shift, max_shift], filling the uncovered border with ``fill``.

    Accepts (N, H, W), (N, C, H, W), or flat (N, D) batches when ``image_shape`` (H, W) or
    (C, H, W) says how to view them; returns the same shape and dtype.
    """

    def __init__(
        self, max_shift: int = 2, fill: float = 0.0, image_shape: Sequence[int] | None = None
    ) -> None:
        if int(max_shift) < 0:
            raise DataError(f"max_shift must be >= 0, got {max_shift}")
        self.max_shift = int(max_shift)
        self.fill = float(fill)
        self.image_shape = None if image_shape is None else tuple(int(s) for s in image_shape)

    def shift(self, x: np.ndarray, shifts: np.ndarray) -> np.ndarray:
        """``x`` with sample n moved down by shifts[n, 0] rows and right by shifts[n, 1]."""
        x = np.asarray(x)
        flat_shape = x.shape
        if self.image_shape is not None:
            x = x.reshape((len(x),) + self.image_shape)
        if x.ndim < 3:
            raise DataError(
                f"RandomShift needs (N, H, W) or (N, C, H, W) images, got shape {flat_shape}; "
                "pass image_shape for flat inputs"
            )
        shifts = np.asarray(shifts, dtype=np.int64).reshape(len(x), 2)
        m = int(np.abs(shifts).max()) if shifts.size else 0
        h, w = x.shape[-2:]
        pad = [(0, 0)] * (x.ndim - 2) + [(m, m), (m, m)]
        padded = np.pad(x, pad, mode="constant", constant_values=self.fill)
        out = np.empty_like(x)
        pairs, group = np.unique(shifts, axis=0, return_inverse=True)
        for g, (dy, dx) in enumerate(pairs):
            rows = np.flatnonzero(group.reshape(-1) == g)
            out[rows] = padded[rows, ..., m - dy : m - dy + h, m - dx : m - dx + w]
        return out.reshape(flat_shape)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.max_shift == 0:
            return np.asarray(x)
        shifts = rng.integers(-self.max_shift, self.max_shift + 1, size=(len(x), 2))
        return self.shift(x, shifts)

    def __repr__(self) -> str:
        return f"RandomShift(max_shift={self.max_shift}, fill={self.fill})"


class GaussianNoise:
    """Add independent N(0, std^2) noise to every input element (training only)."""

    def __init__(self, std: float = 0.1) -> None:
        if not float(std) >= 0.0:
            raise DataError(f"std must be >= 0, got {std}")
        self.std = float(std)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = np.asarray(x)
        dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(np.float32)
        noise = rng.standard_normal(x.shape, dtype=dtype)
        return x.astype(dtype) + dtype.type(self.std) * noise

    def __repr__(self) -> str:
        return f"GaussianNoise(std={self.std})"


class Compose:
    """Apply transforms left to right, each given the same Generator."""

    def __init__(self, transforms: Sequence) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        for t in self.transforms:
            x = t(x, rng)
        return x

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"
