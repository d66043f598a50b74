"""Noise models that turn clean batches into (noisy, clean, sigma) training pairs.

Convention of published denoising results: images in [0, 1], additive white
Gaussian noise of std-dev sigma/255, the noisy image not clipped.
"""

from __future__ import annotations

import tensorflow as tf


def sigma_range(sigma: float | tuple[float, ...]) -> tuple[float, float]:
    """(low, high) in 0-255 units from ``dataset.noise.sigma``."""
    return (float(sigma), float(sigma)) if isinstance(sigma, (int, float)) else \
        (float(sigma[0]), float(sigma[1]))


def add_gaussian_noise(clean: tf.Tensor, sigma_255: tuple[float, float], seed: tf.Tensor):
    """clean [N, H, W, C] in [0, 1] → (noisy, clean, sigma [N] in [0, 1] units).

    Each image gets its own level drawn uniformly from ``sigma_255``;
    ``seed`` is a stateless seed pair, so a batch's noise is reproducible.
    """
    low, high = sigma_255
    seeds = tf.random.experimental.stateless_split(seed, 2)
    sigma = tf.random.stateless_uniform((tf.shape(clean)[0],), seeds[0], low, high) / 255.0
    if low == high:
        sigma = tf.fill((tf.shape(clean)[0],), low / 255.0)
    noise = tf.random.stateless_normal(tf.shape(clean), seeds[1])
    return clean + noise * sigma[:, None, None, None], clean, sigma
