"""A Gaussian mixture fitted to a trained VAE's posterior means, that prior samples
come from (``model.prior_components``).

A VAE trained against N(0, I) does not fill N(0, I): its aggregate posterior, the
codes of the training images, is narrower in some directions and clustered, and
decoding standard normal noise lands between those codes. Fitting a density to the
codes once the networks are trained and sampling it instead is ex-post density
estimation (Ghosh et al. 2020, https://arxiv.org/abs/1903.12436), a light version of
Dai & Wipf 2019's second-stage VAE. The ELBO and every likelihood figure stay those of
the model as trained, under N(0, I).
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

#: A component that ends holding less responsibility than this many training images is
#: never sampled: no sampled component may describe a handful of images (their codes'
#: average would decode close to a copy of each), nor rest on too few to estimate a
#: full covariance.
MIN_IMAGES_PER_COMPONENT = 100
EM_ITERATIONS = 40
#: Posterior means fitted at most; more change the fit little and cost EM time.
MAX_FIT_POINTS = 30_000


def fit_subset(count: int, seed: int) -> np.ndarray:
    """Indices (sorted) of the at most ``MAX_FIT_POINTS`` of ``count`` training images
    whose codes a fit reads."""
    return np.sort(np.random.default_rng(seed).permutation(count)[:MAX_FIT_POINTS])


def fit_gaussian_mixture(points: np.ndarray, components: int, seed: int,
                         iterations: int = EM_ITERATIONS,
                         min_points: float = MIN_IMAGES_PER_COMPONENT):
    """Maximum-likelihood mixture of full-covariance Gaussians for ``points`` [N, D] by EM
    (Dempster et al. 1977), started from ``components`` distinct points drawn at random
    with the data's covariance. Returns (weights [K], means [K, D], scale_trils [K, D, D]:
    lower Cholesky factors of the covariances). Components that end holding less than
    ``min_points`` points get weight 0: they are never sampled, but they were fitted, so
    the points they explain (outliers, rare images) did not stretch the others."""
    points = np.asarray(points, np.float64)
    count, dims = points.shape
    components = max(1, min(components, int(count // min_points)))
    rng = np.random.default_rng(seed)
    # A floor under every covariance's eigenvalues: posterior means of unused latent
    # dimensions barely vary, and EM would shrink a component onto them.
    floor = 1e-3 * np.mean(np.var(points, axis=0)) + 1e-8
    means = points[rng.choice(count, components, replace=False)]
    spread = np.cov(points.T, bias=True).reshape(dims, dims) + floor * np.eye(dims)
    covariances = np.repeat(spread[None], components, axis=0)
    weights = np.full(components, 1.0 / components)
    for _ in range(iterations):
        log_densities = _log_gaussians(points, means, np.linalg.cholesky(covariances))
        responsibilities = _softmax(log_densities + np.log(np.maximum(weights, 1e-300)))
        totals = responsibilities.sum(axis=0)  # [K]
        weights = totals / count
        means = responsibilities.T @ points / np.maximum(totals, 1e-12)[:, None]
        for k in range(components):
            centred = points - means[k]
            covariances[k] = ((responsibilities[:, k, None] * centred).T @ centred
                              / max(totals[k], 1e-12) + floor * np.eye(dims))
    sampled = weights * count >= min_points
    if not sampled.any():  # one component can always hold every point
        sampled[np.argmax(weights)] = True
    weights = np.where(sampled, weights, 0.0) / weights[sampled].sum()
    return (weights.astype(np.float32), means.astype(np.float32),
            np.linalg.cholesky(covariances).astype(np.float32))


def _log_gaussians(points: np.ndarray, means: np.ndarray, scale_trils: np.ndarray) -> np.ndarray:
    """log N(points; means[k], L_k L_k^T) [N, K]."""
    dims = points.shape[1]
    columns = []
    for mean, scale_tril in zip(means, scale_trils):  # one [N, D] at a time: N may be large
        whitened = (points - mean) @ np.linalg.inv(scale_tril).T  # [N, D]
        columns.append(-0.5 * np.einsum("nd,nd->n", whitened, whitened)
                       - np.sum(np.log(np.diagonal(scale_tril))))
    return np.stack(columns, axis=1) - 0.5 * dims * math.log(2 * math.pi)


def mixture_log_density(points: np.ndarray, weights: np.ndarray, means: np.ndarray,
                        scale_trils: np.ndarray) -> np.ndarray:
    """log of the mixture's density at ``points`` [N, D] → [N] (components of weight 0,
    never sampled, are left out, as sampling leaves them)."""
    used = np.asarray(weights) > 0
    log_densities = _log_gaussians(np.asarray(points, np.float64), np.asarray(means[used],
                                   np.float64), np.asarray(scale_trils[used], np.float64))
    weighted = log_densities + np.log(np.asarray(weights[used], np.float64))
    top = weighted.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(weighted - top).sum(axis=1, keepdims=True)))[:, 0]


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


@keras.saving.register_keras_serializable(package="aigc")
class MixtureSample(keras.layers.Layer):
    """Standard normal noise [N, D] → latents [N, D] distributed as the fitted mixture;
    the noise unchanged until ``assign`` is called.

    The map is exact and uses no other randomness, so every interface that takes
    standard normal noise (sampling seeds, ``generate``, export) keeps working: u =
    Phi(noise[:, 0]) picks component k by the cumulative weights, the position of u
    inside k's interval is again uniform, and Phi^-1 of it replaces noise[:, 0];
    then z = mean_k + L_k noise. With temperature T < 1 the noise is narrower, which
    also favours the components in the middle of the weight order.
    """

    def __init__(self, components: int, latent_dim: int, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.components, self.latent_dim = components, latent_dim
        self.mixture_weights = self.add_weight(
            shape=(components,), initializer="zeros", trainable=False, name="mixture_weights")
        self.means = self.add_weight(shape=(components, latent_dim), initializer="zeros",
                                     trainable=False, name="means")
        self.scale_trils = self.add_weight(
            shape=(components, latent_dim, latent_dim), initializer="zeros", trainable=False,
            name="scale_trils")
        self.fitted_step = self.add_weight(shape=(), initializer=keras.initializers.Constant(-1),
                                           dtype="int64", trainable=False, name="fitted_step")

    def get_config(self):
        return {**super().get_config(), "components": self.components,
                "latent_dim": self.latent_dim}

    def assign(self, weights: np.ndarray, means: np.ndarray, scale_trils: np.ndarray,
               step: int) -> None:
        """Store a fit (``fit_gaussian_mixture``'s output) made at training step ``step``;
        fewer components than the layer holds leave the rest at weight 0."""
        slots = self.mixture_weights.shape[0]
        padding = slots - len(weights)
        self.mixture_weights.assign(np.pad(weights, (0, padding)))
        self.means.assign(np.pad(means, ((0, padding), (0, 0))))
        identity = np.repeat(np.eye(means.shape[1], dtype=np.float32)[None], padding, axis=0)
        self.scale_trils.assign(np.concatenate([scale_trils, identity]) if padding
                                else scale_trils)
        self.fitted_step.assign(step)

    def call(self, noise):
        noise = tf.cast(noise, tf.float32)
        # The component choice in float64: u is within 1e-16 of 1 for noise beyond ~8.
        first = tf.cast(noise[:, 0], tf.float64)
        u = 0.5 * tf.math.erfc(-first / math.sqrt(2.0))
        weights = tf.cast(self.mixture_weights, tf.float64)
        upper = tf.math.cumsum(weights)
        upper = upper / upper[-1]
        k = tf.minimum(tf.searchsorted(upper[None], u[None], side="right")[0],
                       tf.shape(weights)[0] - 1)
        lower = tf.gather(upper, k) - tf.gather(weights / tf.reduce_sum(weights), k)
        within = (u - lower) / tf.maximum(tf.gather(upper, k) - lower, 1e-300)
        within = tf.clip_by_value(within, 1e-12, 1.0 - 1e-12)
        redrawn = tf.cast(tf.math.ndtri(within), tf.float32)
        fresh = tf.concat([redrawn[:, None], noise[:, 1:]], axis=1)
        latents = tf.gather(self.means, k) + tf.einsum("nij,nj->ni",
                                                       tf.gather(self.scale_trils, k), fresh)
        return tf.where(self.fitted_step >= 0, latents, noise)


class FittedLatentPrior(keras.Model):
    """The mixture as a network of its own (one ``MixtureSample`` layer), so that it is
    checkpointed, exported and stored in assets like the others."""

    def __init__(self, components: int, latent_dim: int):
        noise = keras.Input((latent_dim,), name="noise")
        sample = MixtureSample(components, latent_dim, name="mixture")
        super().__init__(noise, sample(noise), name="latent_prior")
        self.mixture = sample

    @property
    def slots(self) -> int:
        return self.mixture.components

    def assign(self, weights: np.ndarray, means: np.ndarray, scale_trils: np.ndarray,
               step: int) -> None:
        """See ``MixtureSample.assign``."""
        self.mixture.assign(weights, means, scale_trils, step)

    def summary_record(self) -> dict:
        """What ``aigc eval`` reports about the prior samples come from."""
        step = int(keras.ops.convert_to_numpy(self.mixture.fitted_step))
        if step < 0:
            return {"prior": "standard_normal (mixture not fitted yet: it is fitted at the "
                             "end of training)"}
        weights = keras.ops.convert_to_numpy(self.mixture.mixture_weights)
        return {"prior": "fitted_mixture", "prior_components": int(np.count_nonzero(weights)),
                "prior_fitted_step": step}
