import numpy as np
import pytest
from scipy.spatial import procrustes as scipy_procrustes
from scipy.stats import ortho_group

from embviz.errors import ConfigError, EmbvizError
from embviz.measure.align import (
    pca_basis,
    pca_coordinates,
    procrustes_align,
    procrustes_disparity,
    procrustes_rotation,
)


def _orthogonal(d, seed, det):
    q = ortho_group.rvs(d, random_state=seed)
    if np.sign(np.linalg.det(q)) != det:
        q[:, 0] = -q[:, 0]
    return q


@pytest.mark.parametrize("det", [1, -1])
def test_procrustes_recovers_a_known_orthogonal_map(det):
    rng = np.random.default_rng(0)
    source = rng.normal(size=(60, 6))
    q = _orthogonal(6, 1, det)
    rotation = procrustes_rotation(source, source @ q)
    np.testing.assert_allclose(rotation, q, atol=1e-10)
    np.testing.assert_allclose(procrustes_align(source, source @ q), source @ q, atol=1e-10)


def test_without_reflection_the_result_is_a_proper_rotation():
    rng = np.random.default_rng(1)
    source = rng.normal(size=(40, 5))
    reflected = source @ _orthogonal(5, 2, -1)
    rotation = procrustes_rotation(source, reflected, allow_reflection=False)
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(5), atol=1e-10)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    assert np.linalg.norm(source @ rotation - reflected) > 1e-3


def test_proper_rotation_is_recovered_with_reflection_disabled():
    rng = np.random.default_rng(2)
    source = rng.normal(size=(40, 5))
    q = _orthogonal(5, 3, 1)
    np.testing.assert_allclose(procrustes_rotation(source, source @ q, allow_reflection=False), q, atol=1e-10)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("shape", [(30, 2), (50, 8), (6, 10)])
def test_disparity_equals_scipy(seed, shape):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=shape)
    b = 0.5 * a + rng.normal(size=shape)
    assert procrustes_disparity(a, b) == pytest.approx(scipy_procrustes(a, b)[2], abs=1e-12)


def test_disparity_is_zero_for_a_rotated_scaled_shifted_copy():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(25, 4))
    assert procrustes_disparity(a, 3.0 * a @ _orthogonal(4, 4, 1) + 7.0) == pytest.approx(0.0, abs=1e-12)


def test_bad_shapes_raise():
    with pytest.raises(EmbvizError, match="shape"):
        procrustes_rotation(np.ones((4, 3)), np.ones((4, 2)))
    with pytest.raises(EmbvizError, match="2-D"):
        procrustes_disparity(np.ones(4), np.ones(4))
    with pytest.raises(EmbvizError, match="distinct"):
        procrustes_disparity(np.ones((4, 3)), np.arange(12.0).reshape(4, 3))


def _anisotropic(seed, n=200, d=6):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * np.arange(d, 0, -1) + rng.normal(size=d)


def test_pca_basis_is_orthonormal_and_ordered_by_variance():
    x = _anisotropic(0)
    mean, components = pca_basis(x, n_components=3)
    assert mean.shape == (6,) and components.shape == (3, 6)
    np.testing.assert_allclose(components @ components.T, np.eye(3), atol=1e-12)
    variances = pca_coordinates(x, mean, components).var(axis=0)
    assert np.all(np.diff(variances) < 0)
    lead = np.abs(components).argmax(axis=1)
    assert np.all(components[np.arange(3), lead] > 0)


def test_pca_basis_is_deterministic_and_ignores_row_order():
    x = _anisotropic(1)
    mean, components = pca_basis(x)
    again_mean, again = pca_basis(x.copy())
    np.testing.assert_array_equal(components, again)
    np.testing.assert_array_equal(mean, again_mean)
    perm = np.random.default_rng(2).permutation(len(x))
    perm_mean, permuted = pca_basis(x[perm])
    np.testing.assert_allclose(permuted, components, atol=1e-10)
    np.testing.assert_allclose(perm_mean, mean, atol=1e-12)


def test_pca_basis_of_negated_data_keeps_the_orientation():
    x = _anisotropic(3)
    mean, components = pca_basis(x)
    neg_mean, neg_components = pca_basis(-x)
    np.testing.assert_allclose(neg_components, components, atol=1e-10)
    np.testing.assert_allclose(pca_coordinates(-x, neg_mean, neg_components), -pca_coordinates(x, mean, components), atol=1e-10)


def test_pca_and_project_reject_bad_input():
    x = _anisotropic(4)
    with pytest.raises(ConfigError):
        pca_basis(x, n_components=7)
    mean, components = pca_basis(x)
    with pytest.raises(EmbvizError, match="does not fit"):
        pca_coordinates(x[:, :5], mean, components)
