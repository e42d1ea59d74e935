"""The argument checks every measure shares: a non-empty 2-D matrix, two matrices of one shape."""

from __future__ import annotations

import numpy as np

from embviz.errors import EmbvizError


def check_matrix(x, name: str, dtype=np.float64) -> np.ndarray:
    """Return ``x`` as an array of ``dtype`` (None keeps its own), raising unless non-empty 2-D [n, d]."""
    arr = np.asarray(x, dtype=dtype)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise EmbvizError(f"{name} must be a non-empty 2-D array, got shape {arr.shape}")
    return arr


def check_pair(a, b, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Return two float64 matrices of the same shape [n, d], raising on a mismatch."""
    a, b = check_matrix(a, names[0]), check_matrix(b, names[1])
    if a.shape != b.shape:
        raise EmbvizError(f"{names[0]} and {names[1]} differ in shape: {a.shape} vs {b.shape}")
    return a, b
