"""Orthogonal Procrustes alignment, a sign-stable PCA basis shared across snapshots and coordinates in it."""

from __future__ import annotations

import numpy as np

from embviz.errors import ConfigError, EmbvizError
from embviz.measure.checks import check_matrix, check_pair


def procrustes_rotation(source, target, allow_reflection: bool = True) -> np.ndarray:
    """Orthogonal matrix that best maps ``source`` onto ``target``.

    Parameters
    ----------
    source, target : array, shape [n, d]
        Matching rows (the same words) in two spaces.
    allow_reflection : bool
        When False the result is a proper rotation (determinant +1).

    Returns
    -------
    R : ndarray, shape [d, d]
        Orthogonal, minimising ``||source @ R - target||_F``.
    """
    source, target = check_pair(source, target, ("source", "target"))
    u, _, vt = np.linalg.svd(source.T @ target)
    if not allow_reflection and np.linalg.det(u @ vt) < 0:
        u[:, -1] = -u[:, -1]
    return u @ vt


def procrustes_align(source, target, allow_reflection: bool = True) -> np.ndarray:
    """``source`` rotated onto ``target``: ``source @ procrustes_rotation(source, target)``.

    Returns
    -------
    ndarray, shape [n, d]
    """
    rotation = procrustes_rotation(source, target, allow_reflection=allow_reflection)
    return np.asarray(source, dtype=np.float64) @ rotation


def procrustes_disparity(a, b) -> float:
    """Procrustes disparity, equal to ``scipy.spatial.procrustes(a, b)[2]``.

    Both matrices are centred and scaled to unit Frobenius norm; ``b`` is then rotated and
    scaled optimally onto ``a``. The remaining sum of squared differences is
    ``1 - (sum of singular values of a_std.T @ b_std) ** 2``.

    Parameters
    ----------
    a, b : array, shape [n, d]

    Returns
    -------
    float in [0, 1]
    """
    a, b = check_pair(a, b, ("a", "b"))
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
    if norm_a == 0 or norm_b == 0:
        raise EmbvizError("procrustes_disparity needs more than one distinct row in each matrix")
    singular = np.linalg.svd((a / norm_a).T @ (b / norm_b), compute_uv=False)
    return float(1.0 - singular.sum() ** 2)


def pca_basis(x, n_components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Principal axes of ``x`` with a deterministic orientation.

    Each component is flipped so that its largest-magnitude loading is positive (the first
    such loading on ties), so the same data, in any row order, always gives the same basis.

    Parameters
    ----------
    x : array, shape [n, d]
    n_components : int
        Number of axes k, 1 <= k <= d.

    Returns
    -------
    mean : ndarray, shape [d]
    components : ndarray, shape [k, d]
        Orthonormal rows, by decreasing explained variance.
    """
    x = check_matrix(x, "x")
    if not 1 <= n_components <= x.shape[1]:
        raise ConfigError(f"n_components must be between 1 and {x.shape[1]}, got {n_components}")
    mean = x.mean(axis=0)
    centred = x - mean
    _, vectors = np.linalg.eigh(centred.T @ centred)
    components = vectors[:, ::-1][:, :n_components].T.copy()
    lead = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(n_components), lead])
    components *= np.where(signs == 0, 1.0, signs)[:, None]
    return mean, components


def pca_coordinates(x, mean, components) -> np.ndarray:
    """Coordinates of the rows of ``x`` in a basis from :func:`pca_basis`.

    Parameters
    ----------
    x : array, shape [n, d]
    mean : array, shape [d]
    components : array, shape [k, d]

    Returns
    -------
    ndarray, shape [n, k]
    """
    x = check_matrix(x, "x")
    components = check_matrix(components, "components")
    mean = np.asarray(mean, dtype=np.float64)
    if mean.shape != (x.shape[1],) or components.shape[1] != x.shape[1]:
        raise EmbvizError(
            f"basis of shape mean {mean.shape}, components {components.shape} "
            f"does not fit data of shape {x.shape}"
        )
    return (x - mean) @ components.T
