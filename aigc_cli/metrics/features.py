"""Feature extractors for FID/KID/precision/recall/Inception Score.

A classifier trained by ``aigc train`` (``model.type: classifier``) is used
either from its run dir or from a shipped asset (``aigc_cli/models/assets.py``);
``inception`` is Keras' InceptionV3 with ImageNet weights, found on disk first.
"""

from __future__ import annotations

import hashlib
import os
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
        return self.features_and_logits(images, batch_size)[0]

    def features_and_logits(self, images: np.ndarray,
                            batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
        """Features [N, D] and class logits [N, K], float64."""
        parts = [self._compiled(tf.constant(images[i:i + batch_size]))
                 for i in range(0, len(images), batch_size)]
        return tuple(np.concatenate([part[j].numpy() for part in parts]).astype(np.float64)
                     for j in (0, 1))

    def _features(self, images):
        x = tf.cast(images, tf.float32) / 127.5 - 1.0
        height, width, channels = self.image_shape
        if x.shape[1:3] != (height, width):
            x = tf.image.resize(x, (height, width), antialias=True)
        if x.shape[-1] != channels:
            x = tf.image.rgb_to_grayscale(x) if channels == 1 else tf.image.grayscale_to_rgb(x)
        features, logits = self.network(x, training=False)
        return features, logits


def shipped_asset(dataset_type: str) -> Path:
    return ASSETS / f"{dataset_type}_classifier.npz"


INCEPTION = "inception"
INCEPTION_WEIGHTS = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
INCEPTION_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
                 + INCEPTION_WEIGHTS)


def load_feature_extractor(dataset: DatasetConfig, source: str | None = None) -> FeatureExtractor:
    """The extractor from a classifier run dir (``source``), ``inception``, or the one
    shipped for the dataset."""
    if source == INCEPTION:
        return inception_extractor()
    if source:
        from aigc_cli.inference.trained import load_trained_model

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


def inception_weight_candidates() -> list[Path]:
    """Where the InceptionV3 ImageNet weights are looked for, in order."""
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    candidates = [keras_home / "models" / INCEPTION_WEIGHTS]
    if os.environ.get("AIGC_INCEPTION_WEIGHTS"):
        candidates.insert(0, Path(os.environ["AIGC_INCEPTION_WEIGHTS"]))
    return candidates


def find_inception_weights() -> Path:
    """A local copy of the weights, else Keras' download (into ~/.keras/models)."""
    candidates = inception_weight_candidates()
    for path in candidates:
        if path.is_file():
            return path
    import keras

    try:
        return Path(keras.utils.get_file(INCEPTION_WEIGHTS, INCEPTION_URL,
                                         cache_subdir="models"))
    except Exception as error:  # no network: urllib/HTTP errors of many kinds
        looked = ", ".join(str(path) for path in candidates)
        raise InputError(
            f"InceptionV3 ImageNet weights not found (looked in {looked}; download from "
            f"{INCEPTION_URL} failed: {type(error).__name__}); copy {INCEPTION_WEIGHTS} to one "
            "of those places or set AIGC_INCEPTION_WEIGHTS=FILE") from None


def inception_extractor(weights: Path | None = None) -> FeatureExtractor:
    """InceptionV3: 2048-d pool features, 1000-class log-probabilities, 299x299 RGB input."""
    import keras

    weights = weights or find_inception_weights()
    network = keras.applications.InceptionV3(include_top=True, weights=None)
    try:
        network.load_weights(str(weights))  # HDF5 arrays only: nothing is executed
    except Exception as error:
        raise InputError(f"{weights} is not a readable InceptionV3 weights file: "
                         f"{type(error).__name__}: {error}") from None
    pooled = network.get_layer("avg_pool").output
    log_probs = keras.ops.log(keras.ops.maximum(network.output, 1e-12))
    extractor = keras.Model(network.input, [pooled, log_probs], name="inception_features")
    return FeatureExtractor("inception_v3 imagenet", _file_fingerprint(weights),
                            (299, 299, 3), extractor)


def _file_fingerprint(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]
