import numpy as np
import pytest
from scipy import linalg

from aigc_cli.metrics.fid import frechet_distance, statistics


def random_covariance(rng, dim):
    a = rng.standard_normal((dim, dim))
    return a @ a.T / dim + 0.1 * np.eye(dim)


def test_fid_matches_an_independent_scipy_computation():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.standard_normal(16), rng.standard_normal(16)
    s1, s2 = random_covariance(rng, 16), random_covariance(rng, 16)
    root = linalg.sqrtm(s1 @ s2).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * root)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def test_fid_of_diagonal_gaussians_has_a_closed_form():
    mu1, mu2 = np.array([0.0, 1.0]), np.array([3.0, 1.0])
    var1, var2 = np.array([1.0, 4.0]), np.array([9.0, 1.0])
    # |mu1 - mu2|^2 + sum (sqrt(var1) - sqrt(var2))^2 = 9 + (1 - 3)^2 + (2 - 1)^2
    assert frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(14.0)


def test_fid_of_samples_from_one_gaussian_is_near_zero_and_grows_with_shift():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((20000, 4)), rng.standard_normal((20000, 4))
    same = frechet_distance(*statistics(a), *statistics(b))
    shifted = frechet_distance(*statistics(a), *statistics(b + 1.0))
    assert same < 0.01 and shifted == pytest.approx(4.0, abs=0.05)
    assert statistics(a)[1].dtype == np.float64


def test_kid_matches_a_direct_unbiased_mmd_and_vanishes_for_one_distribution():
    from aigc_cli.metrics.fid import kernel_inception_distance

    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 3)) + 0.5
    k = lambda a, b: (a @ b / 3 + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(6) for j in range(6) if i != j) / 30
    yy = sum(k(y[i], y[j]) for i in range(6) for j in range(6) if i != j) / 30
    xy = sum(k(x[i], y[j]) for i in range(6) for j in range(6)) / 36
    kid, spread = kernel_inception_distance(x, y, subsets=3, subset_size=6)
    assert kid == pytest.approx(xx + yy - 2 * xy) and spread == pytest.approx(0, abs=1e-9)
    a, b = rng.standard_normal((3000, 8)), rng.standard_normal((3000, 8))
    assert abs(kernel_inception_distance(a, b, subsets=10)[0]) < 0.01
    assert kernel_inception_distance(a, b + 1.0, subsets=10)[0] > 0.5
