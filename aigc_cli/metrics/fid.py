"""Fréchet and kernel distances (FID, Heusel et al. 2017; KID, Binkowski et al. 2018)
between real and generated images, in the project's extractors' features.

FID = |mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2)), in float64.
Tr((S_r S_g)^(1/2)) is the sum of square roots of the eigenvalues of
S_r^(1/2) S_g S_r^(1/2), a symmetric PSD matrix, so only symmetric
eigendecompositions are needed (stable, no complex round-off to discard).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from aigc_cli.data.sources import ImageSet, load_images
from aigc_cli.io.files import atomic_path
from aigc_cli.io.images import save_png, to_uint8
from aigc_cli.io.progress import progress
from aigc_cli.metrics.features import FeatureExtractor, load_feature_extractor
from aigc_cli.metrics.manifold import inception_score, precision_recall
from aigc_cli.metrics.memorization import closest_pairs_grid, memorization, nearest_two


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [D] and covariance [D, D] of features [N, D], float64."""
    features = np.asarray(features, dtype=np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Squared Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    root1 = _psd_sqrt(np.asarray(sigma1, np.float64))
    middle = root1 @ np.asarray(sigma2, np.float64) @ root1
    trace_sqrt = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)))
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)


def kernel_inception_distance(real: np.ndarray, fake: np.ndarray, subsets: int = 100,
                              subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """(mean, std) of the unbiased MMD^2 with the cubic polynomial kernel
    k(x, y) = (x.y / d + 1)^3 over random subsets (Binkowski et al. 2018)."""
    rng = np.random.default_rng(seed)
    size = min(subset_size, len(real), len(fake))
    dim = real.shape[1]
    estimates = []
    for _ in range(subsets):
        x = real[rng.choice(len(real), size, replace=False)].astype(np.float64)
        y = fake[rng.choice(len(fake), size, replace=False)].astype(np.float64)
        k_xx, k_yy = (x @ x.T / dim + 1) ** 3, (y @ y.T / dim + 1) ** 3
        k_xy = (x @ y.T / dim + 1) ** 3
        off_diagonal = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (size * (size - 1))
        estimates.append(off_diagonal - 2 * k_xy.mean())
    return float(np.mean(estimates)), float(np.std(estimates))


def reference_statistics(extractor: FeatureExtractor, images: np.ndarray,
                         cache_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """Statistics of real images, cached by extractor and image content."""
    key = hashlib.sha1(images.tobytes()).hexdigest()[:16]
    path = cache_dir / f"fid_{extractor.fingerprint}_{key}.npz" if cache_dir else None
    if path and path.is_file():
        with np.load(path, allow_pickle=False) as cached:
            return cached["mu"], cached["sigma"]
    mu, sigma = statistics(extractor(images))
    if path:
        with atomic_path(path) as temporary:
            with open(temporary, "wb") as stream:
                np.savez(stream, mu=mu, sigma=sigma)
    return mu, sigma


class GeneratedSamples(NamedTuple):
    """Prior samples through a feature extractor, and the time their generation took."""

    features: np.ndarray
    logits: np.ndarray
    images: np.ndarray | None  # uint8, only when kept
    seconds: float  # in the model's generate alone, not the extractor


def generated_features(model, extractor: FeatureExtractor, count: int, seed: int,
                       batch_size: int = 500, quiet: bool = True,
                       keep_images: bool = False) -> GeneratedSamples:
    """Features and class logits of ``count`` prior samples of ``model`` (latents from
    ``seed``), and with ``keep_images`` the uint8 samples too."""
    generate = tf.function(model.generate, reduce_retracing=True)
    rng = np.random.default_rng(seed)
    features, logits, kept, seconds = [], [], [], 0.0
    for start in progress(range(0, count, batch_size), "fid samples", quiet, unit="batch"):
        latents = rng.standard_normal((min(batch_size, count - start), model.latent_dim))
        started = time.perf_counter()
        images = to_uint8(generate(tf.constant(latents, tf.float32)).numpy())
        seconds += time.perf_counter() - started
        batch_features, batch_logits = extractor.features_and_logits(images)
        features.append(batch_features)
        logits.append(batch_logits)
        kept.extend([images] if keep_images else [])
    return GeneratedSamples(np.concatenate(features), np.concatenate(logits),
                            np.concatenate(kept) if keep_images else None, seconds)


def sample_quality(model, extractor: FeatureExtractor, real_images: np.ndarray, count: int,
                   seed: int, cache_dir: Path | None = None, nearest: int = 3,
                   quiet: bool = True, train_images: np.ndarray | None = None,
                   pairs_path: Path | None = None) -> dict:
    """FID, KID, precision/recall and Inception Score of ``count`` samples vs ``real_images``;
    with ``train_images``, the memorization audits too (``real_images`` held out), and
    with ``pairs_path`` a PNG grid of the closest (sample, training image) pairs. The
    generation's wall time (``sampling_seconds``, the first batch's tracing included) is
    what these samples cost."""
    generated = generated_features(model, extractor, count, seed, quiet=quiet,
                                   keep_images=pairs_path is not None)
    quality = feature_quality(extractor, real_images, generated.features, generated.logits,
                              cache_dir, nearest, train_images, pairs_path, generated.images)
    return {**quality, "sampling_seconds": generated.seconds}


def feature_quality(extractor: FeatureExtractor, real_images: np.ndarray,
                    fake_features: np.ndarray, fake_logits: np.ndarray,
                    cache_dir: Path | None = None, nearest: int = 3,
                    train_images: np.ndarray | None = None, pairs_path: Path | None = None,
                    samples: np.ndarray | None = None) -> dict:
    """:func:`sample_quality` of samples already through ``extractor`` (``samples``: their
    uint8 images, for the pairs grid)."""
    real_stats = reference_statistics(extractor, real_images, cache_dir)
    real_features = extractor(real_images)
    kid, kid_std = kernel_inception_distance(real_features, fake_features)
    precision, recall = precision_recall(real_features, fake_features, nearest)
    score, score_std = inception_score(fake_logits)
    audit = {}
    if train_images is not None:
        train_features = extractor(train_images)
        neighbours = nearest_two(fake_features, train_features)
        audit = memorization(train_features, real_features, fake_features, neighbours)
        if pairs_path is not None and samples is not None:
            save_png(closest_pairs_grid(samples, train_images, neighbours), pairs_path)
    return {"fid": frechet_distance(*real_stats, *statistics(fake_features)),
            "kid": kid, "kid_std": kid_std, "precision": precision, "recall": recall,
            "inception_score": score, "inception_score_std": score_std, **audit}


def training_images(dataset, options: dict) -> np.ndarray | None:
    """The training split for ``aigc eval``'s memorization audit, where the evaluation
    is on another (held-out) split and the dataset has one (a folder has not), unless
    turned off."""
    if not options.get("memorization", True) or dataset.type == "folder" \
            or dataset.split == "train":
        return None
    return load_images(dataset, "train").images


def evaluate_fid(model, data: ImageSet, options: dict) -> dict:
    """Sample-quality metrics of ``fid_samples`` prior samples against the evaluation split."""
    extractor = load_feature_extractor(options["dataset"], options.get("feature_extractor"))
    count = int(options.get("fid_samples") or len(data.images))
    result = sample_quality(model, extractor, data.images, count, int(options.get("seed", 0)),
                            options.get("cache_dir"), quiet=options.get("quiet", True),
                            train_images=training_images(options["dataset"], options),
                            pairs_path=options.get("closest_pairs"))
    return {**result, "fid_feature_extractor": extractor.name, "fid_samples": count,
            "fid_reference_images": int(len(data.images)), "precision_recall_k": 3}


def evaluate_folder(samples: np.ndarray, dataset, options: dict) -> dict:
    """``aigc eval --samples``: uint8 images [N, H, W, C] from anywhere, against the
    dataset's test split (and its training split for the memorization audit)."""
    extractor = load_feature_extractor(dataset, options.get("feature_extractor"))
    test = load_images(dataset, "test").images
    features, logits = extractor.features_and_logits(samples)
    result = feature_quality(extractor, test, features, logits, options.get("cache_dir"),
                             train_images=training_images(
                                 dataclasses.replace(dataset, split="test"), options),
                             pairs_path=options.get("closest_pairs"), samples=samples)
    return {**result, "fid_feature_extractor": extractor.name, "fid_samples": len(samples),
            "fid_reference_images": int(len(test)), "precision_recall_k": 3}
