"""Precision and recall of generated images (Kynkäänniemi et al. 2019,
https://arxiv.org/abs/1904.06991) and a classifier-based Inception Score
(Salimans et al. 2016, with the project's classifier in place of Inception).

Precision: the share of generated samples inside the real manifold, the union
of balls around each real feature reaching its k-th nearest real neighbour.
Recall: the share of real samples inside the generated manifold.
"""

from __future__ import annotations

import numpy as np


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise squared Euclidean distances [len(a), len(b)], float64."""
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(squared, 0.0)


def knn_radii(features: np.ndarray, k: int, chunk: int = 1000) -> np.ndarray:
    """Squared distance from each row to its k-th nearest other row [N]."""
    features = np.asarray(features, np.float64)
    radii = np.empty(len(features))
    for start in range(0, len(features), chunk):
        block = _squared_distances(features[start:start + chunk], features)
        # Index k, not k - 1: the nearest row to each point is itself, at distance 0.
        radii[start:start + chunk] = np.partition(block, k, axis=1)[:, k]
    return radii


def coverage_share(manifold: np.ndarray, radii: np.ndarray, queries: np.ndarray,
                   chunk: int = 1000) -> float:
    """Share of ``queries`` inside at least one ball (manifold[i], radii[i])."""
    manifold = np.asarray(manifold, np.float64)
    inside = 0
    for start in range(0, len(queries), chunk):
        block = _squared_distances(np.asarray(queries[start:start + chunk], np.float64), manifold)
        inside += int(np.any(block <= radii[None, :], axis=1).sum())
    return inside / len(queries)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """(precision, recall) of ``fake`` features against ``real`` features."""
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples per set")
    precision = coverage_share(real, knn_radii(real, k), fake)
    recall = coverage_share(fake, knn_radii(fake, k), real)
    return precision, recall


def inception_score(logits: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """(mean, std) over ``splits`` of exp(E_x KL(p(y|x) || p(y)))."""
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    scores = []
    for part in np.array_split(log_probs, splits):
        log_marginal = np.log(np.exp(part).mean(axis=0))
        kl = (np.exp(part) * (part - log_marginal)).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))
