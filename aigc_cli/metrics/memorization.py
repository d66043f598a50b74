"""Does a generator copy its training images? Two audits in a feature space.

Data-copying statistic C_T (Meehan, Chaudhuri & Dasgupta 2020,
https://arxiv.org/abs/2004.05675): the training features are cut into k-means cells;
in each cell, the distances from generated samples to their nearest training image
are compared with those from held-out test images by a Mann-Whitney U test, and the
cells' Z-scores are averaged, weighted by their share of the test images. Near 0:
samples are as far from the training set as new real images are; far below 0 (e.g.
< -3): samples sit closer to training images than new data would: copying. Cells
with fewer than ``min_cell_fraction`` of the samples are left out, as in the paper.

Copied fraction (Yoon et al. 2023, https://openreview.net/forum?id=shciCbSk9h): the
share of generated samples whose nearest training image is much nearer than the
second nearest, d1 / d2 < 1/3.
"""

from __future__ import annotations

import numpy as np

from aigc_cli.metrics.manifold import _squared_distances

COPY_RATIO = 1.0 / 3.0


def nearest_two(queries: np.ndarray, reference: np.ndarray,
                chunk: int = 1000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distance to the nearest reference row, to the second nearest, index of the
    nearest) for each query row."""
    queries, reference = np.asarray(queries, np.float64), np.asarray(reference, np.float64)
    first, second = np.empty(len(queries)), np.empty(len(queries))
    index = np.empty(len(queries), np.int64)
    for start in range(0, len(queries), chunk):
        block = _squared_distances(queries[start:start + chunk], reference)
        two = np.argpartition(block, 1, axis=1)[:, :2]
        pair = np.take_along_axis(block, two, axis=1)
        order = np.argsort(pair, axis=1)
        pair, two = np.take_along_axis(pair, order, 1), np.take_along_axis(two, order, 1)
        first[start:start + chunk], second[start:start + chunk] = pair[:, 0], pair[:, 1]
        index[start:start + chunk] = two[:, 0]
    return np.sqrt(first), np.sqrt(second), index


def kmeans_cells(features: np.ndarray, cells: int, seed: int = 0,
                 iterations: int = 30) -> np.ndarray:
    """Centroids [cells, D] of Lloyd's k-means, started from k-means++ seeds."""
    features = np.asarray(features, np.float64)
    rng = np.random.default_rng(seed)
    centroids = [features[rng.integers(len(features))]]
    nearest = _squared_distances(features, np.asarray(centroids))[:, 0]
    for _ in range(cells - 1):
        pick = rng.choice(len(features), p=nearest / nearest.sum()) if nearest.sum() > 0 \
            else rng.integers(len(features))
        centroids.append(features[pick])
        nearest = np.minimum(nearest, _squared_distances(features, features[pick:pick + 1])[:, 0])
    centroids = np.asarray(centroids)
    for _ in range(iterations):
        assignment = assign_cells(features, centroids)
        for cell in range(cells):
            members = features[assignment == cell]
            if len(members):
                centroids[cell] = members.mean(0)
    return centroids


def assign_cells(features: np.ndarray, centroids: np.ndarray, chunk: int = 5000) -> np.ndarray:
    features = np.asarray(features, np.float64)
    return np.concatenate([np.argmin(_squared_distances(features[s:s + chunk], centroids), 1)
                           for s in range(0, len(features), chunk)])


def mann_whitney_z(generated: np.ndarray, held_out: np.ndarray) -> float:
    """Z-score of U = #{(g, t): g > t} + ties / 2, under the null that both samples come
    from one distribution (normal approximation, no tie correction)."""
    from scipy.stats import rankdata  # dp-accounting's dependency: installed with aigc

    m, n = len(generated), len(held_out)
    ranks = rankdata(np.concatenate([generated, held_out]))  # ties share their mean rank
    u = ranks[:m].sum() - m * (m + 1) / 2.0
    return float((u - m * n / 2.0) / np.sqrt(m * n * (m + n + 1) / 12.0))


def data_copying_statistic(train: np.ndarray, test: np.ndarray, generated: np.ndarray,
                           cells: int | None = None, min_cell_fraction: float = 0.0025,
                           seed: int = 0, generated_distance: np.ndarray | None = None) -> float:
    """C_T of ``generated`` against ``train``, with ``test`` as the held-out reference
    (features [N, D] each); ``generated_distance``: each sample's distance to its
    nearest training row, where already known."""
    cells = cells or max(2, min(50, len(test) // 20))
    centroids = kmeans_cells(train, cells, seed)
    test_distance = nearest_two(test, train)[0]
    if generated_distance is None:
        generated_distance = nearest_two(generated, train)[0]
    test_cell, generated_cell = assign_cells(test, centroids), assign_cells(generated, centroids)
    scores, weights = [], []
    for cell in range(cells):
        in_test, in_generated = test_cell == cell, generated_cell == cell
        if in_test.sum() == 0 or in_generated.mean() < min_cell_fraction:
            continue
        scores.append(mann_whitney_z(generated_distance[in_generated], test_distance[in_test]))
        weights.append(in_test.mean())
    return float(np.average(scores, weights=weights)) if scores else float("nan")


def copied_fraction(generated: np.ndarray, train: np.ndarray, ratio: float = COPY_RATIO,
                    nearest: tuple | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """(share of samples with d1/d2 < ``ratio``, each sample's d1/d2, each one's nearest
    training index); ``nearest``: :func:`nearest_two` of (generated, train), if known."""
    first, second, index = nearest or nearest_two(generated, train)
    ratios = first / np.maximum(second, 1e-12)
    return float(np.mean(ratios < ratio)), ratios, index


def memorization(train: np.ndarray, test: np.ndarray, generated: np.ndarray,
                 nearest: tuple | None = None) -> dict:
    """Both audits, as ``aigc eval`` reports them (one nearest-neighbour search of the
    samples, ``nearest`` where already made, serves both)."""
    nearest = nearest or nearest_two(generated, train)
    share, _, _ = copied_fraction(generated, train, nearest=nearest)
    return {"memorization_ct": data_copying_statistic(train, test, generated,
                                                      generated_distance=nearest[0]),
            "memorization_copied_fraction": share}


def closest_pairs_grid(samples: np.ndarray, train_images: np.ndarray, nearest: tuple,
                       pairs: int = 32) -> np.ndarray:
    """A uint8 grid of the ``pairs`` samples nearest to a training image, each beside
    that image (sample left, training image right; nearest first), for a person to judge."""
    from aigc_cli.io.images import make_grid

    first, _, index = nearest
    closest = np.argsort(first)[:pairs]
    tiles = np.stack([image for i in closest for image in (samples[i], train_images[index[i]])])
    return make_grid(tiles, columns=8)
