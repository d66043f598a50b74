import numpy as np
import pytest

from aigc_cli.metrics.manifold import inception_score, knn_radii, precision_recall


def test_knn_radii_skip_the_point_itself():
    points = np.array([[0.0], [1.0], [3.0], [7.0]])
    # squared distance to the 1st and 2nd nearest other point
    np.testing.assert_allclose(knn_radii(points, 1), [1.0, 1.0, 4.0, 16.0])
    np.testing.assert_allclose(knn_radii(points, 2), [9.0, 4.0, 9.0, 36.0])


def test_precision_recall_on_hand_computed_manifolds():
    real = np.array([[0.0], [1.0], [2.0], [3.0]])  # k=1 balls: radius 1 around each point
    fake = np.array([[0.5], [10.0]])  # one sample on the real manifold, one far off it
    precision, recall = precision_recall(real, fake, k=1)
    assert precision == 0.5
    # the two fake points are each other's neighbour, so their balls (radius 9.5) cover all real
    assert recall == 1.0


def test_mode_collapse_keeps_precision_and_loses_recall():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(600, 8))
    # 600 samples near only 5 real images: every one realistic, little variety
    collapsed = np.repeat(real[:5], 120, axis=0) + 0.01 * rng.normal(size=(600, 8))
    precision, recall = precision_recall(real, collapsed, k=3)
    assert precision == 1.0 and recall < 0.05
    assert precision_recall(real, rng.normal(size=(600, 8)), k=3)[1] > 0.8


def test_chunking_does_not_change_the_result():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(50, 4))
    np.testing.assert_allclose(knn_radii(points, 3, chunk=7), knn_radii(points, 3, chunk=1000))


def test_precision_recall_needs_more_samples_than_k():
    with pytest.raises(ValueError):
        precision_recall(np.zeros((3, 2)), np.zeros((10, 2)), k=3)


def test_inception_score_closed_forms():
    classes = 10
    confident = np.full((1000, classes), -50.0)
    confident[np.arange(1000), np.arange(1000) % classes] = 50.0
    score, spread = inception_score(confident, splits=10)
    assert score == pytest.approx(classes, rel=1e-6) and spread < 1e-6
    assert inception_score(np.zeros((100, classes)))[0] == pytest.approx(1.0)
    one_class = np.zeros((100, classes))
    one_class[:, 3] = 50.0  # confident but always the same class: no diversity
    assert inception_score(one_class)[0] == pytest.approx(1.0, abs=1e-6)


def test_inception_score_of_two_equally_likely_soft_classes():
    # p(y|x) = (0.75, 0.25) or (0.25, 0.75) equally often: marginal (0.5, 0.5)
    probs = np.array([[0.75, 0.25], [0.25, 0.75]] * 50)
    kl = 0.75 * np.log(1.5) + 0.25 * np.log(0.5)
    assert inception_score(np.log(probs), splits=1)[0] == pytest.approx(np.exp(kl))
