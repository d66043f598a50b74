"""Negative ELBO and importance-weighted NLL of a latent-variable model, in nats.

For each image x, with K samples z_k ~ q(z|x):
  neg_elbo = -E_q[log p(x|z)] + KL(q(z|x) || p(z))       (KL in closed form)
  nll_iw   = -log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x)  (Burda et al. 2016, IWAE)
``nll_iw`` is a tighter upper bound on -log p(x); it approaches it as K grows.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import tensorflow as tf

from aigc_cli.data.sources import ImageSet
from aigc_cli.io.progress import progress
from aigc_cli.models.vae import (diagonal_normal_log_density, gaussian_kl,
                                 standard_normal_log_density)


class LatentVariableModel(Protocol):
    """What the bounds need: q(z|x), the decoder and log p(x|z)."""

    def encode(self, images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]: ...

    def decode_params(self, z: tf.Tensor) -> tf.Tensor: ...

    def log_likelihood(self, images: tf.Tensor, params: tf.Tensor) -> tf.Tensor: ...


def bounds_per_image(model: LatentVariableModel, images: np.ndarray, importance_samples: int,
                     seed: int = 0, decoder_batch: int = 2000,
                     quiet: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(neg_elbo, nll_iw) per image, nats, for uint8 images [N, H, W, C]."""
    samples = importance_samples
    chunk = max(1, decoder_batch // samples)

    @tf.function(reduce_retracing=True)
    def bounds(x, index):
        z_mean, z_log_var = model.encode(x)  # [B, D]
        shape = (samples, tf.shape(z_mean)[0], tf.shape(z_mean)[1])
        epsilon = tf.random.stateless_normal(shape, seed=tf.stack([seed, index]))
        z = z_mean + tf.exp(0.5 * z_log_var) * epsilon  # [K, B, D]
        flat_z = tf.reshape(z, (-1, shape[2]))
        repeated = tf.tile(x, (samples, 1, 1, 1))  # [K*B, H, W, C], k-major like flat_z
        log_px = tf.reshape(model.log_likelihood(repeated, model.decode_params(flat_z)),
                            shape[:2])  # [K, B]
        log_w = (log_px + standard_normal_log_density(z)
                 - diagonal_normal_log_density(z, z_mean, z_log_var))
        neg_elbo = -tf.reduce_mean(log_px, axis=0) + gaussian_kl(z_mean, z_log_var)
        nll_iw = -(tf.reduce_logsumexp(log_w, axis=0) - math.log(samples))
        return neg_elbo, nll_iw

    neg_elbos, nll_iws = [], []
    starts = range(0, len(images), chunk)
    for index, start in enumerate(progress(starts, "elbo", quiet, unit="batch")):
        x = tf.constant(images[start:start + chunk], tf.float32) / 127.5 - 1.0
        neg_elbo, nll_iw = bounds(x, tf.constant(index, tf.int32))
        neg_elbos.append(neg_elbo.numpy())
        nll_iws.append(nll_iw.numpy())
    return np.concatenate(neg_elbos), np.concatenate(nll_iws)


def evaluate_elbo(model: LatentVariableModel, data: ImageSet, options: dict) -> dict:
    """Mean ``neg_elbo_nats`` and ``nll_iw_nats`` over the images (see module doc)."""
    samples = int(options.get("importance_samples", 100))
    neg_elbo, nll_iw = bounds_per_image(model, data.images, samples, int(options.get("seed", 0)),
                                        quiet=options.get("quiet", True))
    return {"neg_elbo_nats": float(np.mean(neg_elbo, dtype=np.float64)),
            "nll_iw_nats": float(np.mean(nll_iw, dtype=np.float64)),
            "importance_samples": samples,
            "likelihood": getattr(model, "likelihood", "bernoulli")}
