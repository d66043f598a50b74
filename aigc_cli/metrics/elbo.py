"""Negative ELBO and importance-weighted NLL of a latent-variable model, in nats.

For each image x, with K samples z_k ~ q(z|x):
  neg_elbo = -E_q[log p(x|z)] + KL(q(z|x) || p(z))       (KL in closed form)
  nll_iw   = -log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x)  (Burda et al. 2016, IWAE)
``nll_iw`` is a tighter upper bound on -log p(x); it approaches it as K grows.
With two levels of latents the KL is closed form per level given the sample's top
latent (``models.latents``), and z_k is both levels' sample.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import tensorflow as tf

from aigc_cli.data.sources import ImageSet
from aigc_cli.io.progress import progress
from aigc_cli.models.latents import Posterior, factorised_posterior


class LatentVariableModel(Protocol):
    """What the bounds need: q(z|x), the decoder and log p(x|z). A model with
    ``posterior(images, epsilon) -> Posterior`` (and ``latent_dim``) is sampled through
    it; otherwise ``encode``'s diagonal Gaussian against a N(0, I) prior."""

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
        sample = posterior_samples(model, x, samples, tf.stack([seed, index]))
        flat_z = tf.reshape(sample.latents, (-1, tf.shape(sample.latents)[2]))
        repeated = tf.tile(x, (samples, 1, 1, 1))  # [K*B, H, W, C], k-major like flat_z
        log_px = tf.reshape(model.log_likelihood(repeated, model.decode_params(flat_z)),
                            (samples, -1))  # [K, B]
        log_w = log_px + sample.log_prior - sample.log_q
        kl = tf.reduce_mean(tf.reduce_sum(sample.kl_per_dim, axis=-1), axis=0)
        neg_elbo = -tf.reduce_mean(log_px, axis=0) + kl
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


def posterior_samples(model: LatentVariableModel, x: tf.Tensor, samples: int,
                      seed: tf.Tensor) -> Posterior:
    """``samples`` draws of q(z|x) per image from the stateless ``seed``."""
    if hasattr(model, "posterior"):
        shape = (samples, tf.shape(x)[0], model.latent_dim)
        return model.posterior(x, tf.random.stateless_normal(shape, seed=seed))
    z_mean, z_log_var = model.encode(x)  # [B, D]
    shape = (samples, tf.shape(z_mean)[0], tf.shape(z_mean)[1])
    return factorised_posterior(z_mean, z_log_var, tf.random.stateless_normal(shape, seed=seed))


def evaluate_elbo(model: LatentVariableModel, data: ImageSet, options: dict) -> dict:
    """Mean ``neg_elbo_nats`` and ``nll_iw_nats`` over the images (see module doc)."""
    samples = int(options.get("importance_samples", 100))
    neg_elbo, nll_iw = bounds_per_image(model, data.images, samples, int(options.get("seed", 0)),
                                        quiet=options.get("quiet", True))
    return {"neg_elbo_nats": float(np.mean(neg_elbo, dtype=np.float64)),
            "nll_iw_nats": float(np.mean(nll_iw, dtype=np.float64)),
            "importance_samples": samples,
            "likelihood": getattr(model, "likelihood", "bernoulli")}
