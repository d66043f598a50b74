"""Feature extractors for FID/KID: the project's own classifiers.

A classifier trained by ``aigc train`` (``model.type: classifier``) is used
either from its run dir or from a shipped asset (``aigc_cli/models/assets.py``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import tensorflow as tf

from aigc_cli.config import DatasetConfig
from aigc_cli.errors import InputError
from aigc_cli.models.assets import ASSETS, load_model_asset

@dataclass(frozen=True)
class FeatureExtractor:
    """Maps uint8 images [N, H, W, C] (any size; resized) to features [N, D] float64."""

    name: str
    fingerprint: str
    image_shape: tuple[int, int, int]
    network: Callable

    def __post_init__(self):
        # One compiled function per extractor, not per call: tracing costs seconds.
        object.__setattr__(self, "_compiled", tf.function(self._features,
                                                          reduce_retracing=True))

    def __call__(self, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
        compiled = self._compiled
        return np.concatenate([compiled(tf.constant(images[i:i + batch_size])).numpy()
                               for i in range(0, len(images), batch_size)]).astype(np.float64)

    def _features(self, images):
        x = tf.cast(images, tf.float32) / 127.5 - 1.0
        height, width, channels = self.image_shape
        if x.shape[1:3] != (height, width):
            x = tf.image.resize(x, (height, width), antialias=True)
        if x.shape[-1] != channels:
            x = tf.image.rgb_to_grayscale(x) if channels == 1 else tf.image.grayscale_to_rgb(x)
        return self.network(x, training=False)[0]


def shipped_asset(dataset_type: str) -> Path:
    return ASSETS / f"{dataset_type}_classifier.npz"


def load_feature_extractor(dataset: DatasetConfig, source: str | None = None) -> FeatureExtractor:
    """The extractor from a classifier run dir (``source``) or the one shipped for the dataset."""
    if source:
        from aigc_cli.inference import load_trained_model

        trained = load_trained_model(source)
        if trained.config.model.type != "classifier":
            raise InputError(f"--feature-extractor {source} is a {trained.config.model.type} "
                             "run; it must be a classifier run")
        network = trained.model.classifier
        return FeatureExtractor(f"classifier:{trained.checkpoint}", _fingerprint(network),
                                tuple(network.input_shape[1:]), network)
    path = shipped_asset(dataset.type)
    if not path.is_file():
        raise InputError(
            f"no shipped feature extractor for dataset '{dataset.type}' (looked for {path}); "
            "train one (see configs/fashion_mnist_classifier.yaml) and pass "
            "--feature-extractor RUN_DIR")
    network = load_model_asset(path).classifier
    return FeatureExtractor(f"aigc {path.stem}", _fingerprint(network),
                            tuple(network.input_shape[1:]), network)


def _fingerprint(network) -> str:
    digest = hashlib.sha1()
    for weight in network.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()[:16]
