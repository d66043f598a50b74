"""The VAE's latents: Gaussian densities and KLs, and the posterior of one level of
latents or of two (a global latent above the first, top-down).

Two levels (Ladder VAE, Sønderby et al. 2016, https://arxiv.org/abs/1602.02282;
NVAE, Vahdat & Kautz 2020): p(z_top) = N(0, I), p(z | z_top) = N(mu_p, sigma_p^2)
of z_top, and top-down inference q(z_top | x) q(z | x, z_top): z's posterior sees
the image's features and the top latent drawn first. The decoder takes noise
u = [e, z_top] with z = mu_p(z_top) + sigma_p(z_top) * e, so prior samples are
standard normal noise as with one level (sampling, interpolation and export are
unchanged); a posterior sample maps to u by the inverse. The ELBO's KL is closed
form per level: KL(q(z_top|x) || N(0, I)) + KL(q(z|x, z_top) || p(z|z_top)) at the
drawn z_top.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import keras
import tensorflow as tf
from keras import layers

from aigc_cli.config import VAEConfig
from aigc_cli.models.layers import dense_block


class Posterior(NamedTuple):
    """K posterior samples per image, in the decoder's input space."""

    latents: tf.Tensor  # [K, N, D] what the decoder takes
    kl_per_dim: tf.Tensor  # [K, N, D] closed-form KL of each dimension (given the path)
    log_q: tf.Tensor  # [K, N] log q(sample | x)
    log_prior: tf.Tensor  # [K, N] log p(sample)


LOG_2PI = math.log(2.0 * math.pi)


def diagonal_log_density(z, mean, log_var) -> tf.Tensor:
    """log N(z; mean, diag(exp(log_var))) summed over the last axis."""
    return -0.5 * tf.reduce_sum(tf.square(z - mean) * tf.exp(-log_var) + log_var + LOG_2PI,
                                axis=-1)


def standard_normal_log_density(z: tf.Tensor) -> tf.Tensor:
    """log N(z; 0, I) summed over the last axis."""
    return -0.5 * tf.reduce_sum(tf.square(z) + LOG_2PI, axis=-1)


def gaussian_kl_per_dim(z_mean: tf.Tensor, z_log_var: tf.Tensor) -> tf.Tensor:
    """KL(N(z_mean, exp(z_log_var)) || N(0, 1)) per example and dimension [N, D]."""
    return 0.5 * (tf.exp(z_log_var) + tf.square(z_mean) - 1.0 - z_log_var)


def gaussian_kl(z_mean: tf.Tensor, z_log_var: tf.Tensor) -> tf.Tensor:
    """KL(N(z_mean, exp(z_log_var)) || N(0, I)) per example [N], closed form."""
    return tf.reduce_sum(gaussian_kl_per_dim(z_mean, z_log_var), axis=-1)


def pair_kl_per_dim(q_mean, q_log_var, p_mean, p_log_var) -> tf.Tensor:
    """KL(N(q_mean, exp(q_log_var)) || N(p_mean, exp(p_log_var))) per dimension."""
    return 0.5 * (p_log_var - q_log_var - 1.0
                  + (tf.exp(q_log_var) + tf.square(q_mean - p_mean)) * tf.exp(-p_log_var))


def factorised_posterior(z_mean, z_log_var, epsilon) -> Posterior:
    """One level: z = z_mean + sigma * epsilon for noise epsilon [K, N, D], prior N(0, I)."""
    latents = z_mean + tf.exp(0.5 * z_log_var) * epsilon
    kl = gaussian_kl_per_dim(z_mean, z_log_var)
    return Posterior(latents, tf.broadcast_to(kl, tf.shape(latents)),
                     diagonal_log_density(latents, z_mean, z_log_var),
                     standard_normal_log_density(latents))


def build_prior(config: VAEConfig) -> keras.Model:
    """z_top [N, top_latent_dim] → (mean, log_var) of p(z | z_top), [N, latent_dim] each."""
    top = keras.Input((config.top_latent_dim,), name="z_top")
    x = dense_block(top, config.hidden_units or 256, act=config.activation)
    return keras.Model(top, _stats(x, config.latent_dim, "prior_z"), name="prior")


def build_low_posterior(config: VAEConfig, feature_units: int) -> keras.Model:
    """(image features [N, F], z_top) → (mean, log_var) of q(z | x, z_top)."""
    features = keras.Input((feature_units,), name="features")
    top = keras.Input((config.top_latent_dim,), name="z_top")
    x = dense_block(layers.Concatenate()([features, top]), config.hidden_units or 256,
                    act=config.activation)
    return keras.Model([features, top], _stats(x, config.latent_dim, "z"),
                       name="low_posterior")


def _stats(x, units: int, name: str):
    return (layers.Dense(units, name=f"{name}_mean", dtype="float32")(x),
            layers.Dense(units, name=f"{name}_log_var", dtype="float32")(x))


class NoiseToLatents(layers.Layer):
    """u = [e, z_top] → [mu_p(z_top) + sigma_p(z_top) * e, z_top]: the decoder's first step."""

    def __init__(self, prior: keras.Model, latent_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.prior, self.latent_dim = prior, latent_dim

    def call(self, noise):
        e, top = noise[:, :self.latent_dim], noise[:, self.latent_dim:]
        mean, log_var = self.prior(top)
        return tf.concat([mean + tf.exp(0.5 * log_var) * tf.cast(e, mean.dtype),
                          tf.cast(top, mean.dtype)], axis=-1)


def two_level_posterior(top_mean, top_log_var, features, epsilon, low_posterior: keras.Model,
                        prior: keras.Model, latent_dim: int,
                        training: bool = False) -> Posterior:
    """Top-down samples for noise epsilon [K, N, latent_dim + top_latent_dim]."""
    samples, count = tf.shape(epsilon)[0], tf.shape(epsilon)[1]
    e_low, e_top = epsilon[..., :latent_dim], epsilon[..., latent_dim:]
    z_top = top_mean + tf.exp(0.5 * top_log_var) * e_top  # [K, N, T]
    flat_top = tf.reshape(z_top, (samples * count, -1))
    flat_features = tf.tile(features, (samples, 1))  # k-major, as the reshape above
    q_mean, q_log_var = low_posterior([flat_features, flat_top], training=training)
    p_mean, p_log_var = prior(flat_top, training=training)
    q_mean, q_log_var, p_mean, p_log_var = (tf.reshape(t, (samples, count, latent_dim))
                                            for t in (q_mean, q_log_var, p_mean, p_log_var))
    z = q_mean + tf.exp(0.5 * q_log_var) * e_low
    noise = (z - p_mean) * tf.exp(-0.5 * p_log_var)  # what NoiseToLatents maps back to z
    kl_top = gaussian_kl_per_dim(top_mean, top_log_var)
    kl = tf.concat([pair_kl_per_dim(q_mean, q_log_var, p_mean, p_log_var),
                    tf.broadcast_to(kl_top, tf.shape(z_top))], axis=-1)
    log_q = (diagonal_log_density(z, q_mean, q_log_var)
             + diagonal_log_density(z_top, top_mean, top_log_var))
    log_prior = diagonal_log_density(z, p_mean, p_log_var) + standard_normal_log_density(z_top)
    return Posterior(tf.concat([noise, z_top], axis=-1), kl, log_q, log_prior)


def two_level_posterior_mean(top_mean, top_log_var, features, low_posterior: keras.Model,
                             prior: keras.Model) -> tuple[tf.Tensor, tf.Tensor]:
    """(mean, log_var) of the posterior in noise space at z_top = its posterior mean: the
    mean decodes to the posterior-mean reconstruction, and KL(this || N(0, I)) is the
    two levels' KL at that z_top (KL is unchanged by the affine map to noise)."""
    q_mean, q_log_var = low_posterior([features, top_mean], training=False)
    p_mean, p_log_var = prior(top_mean, training=False)
    return (tf.concat([(q_mean - p_mean) * tf.exp(-0.5 * p_log_var), top_mean], axis=-1),
            tf.concat([q_log_var - p_log_var, top_log_var], axis=-1))
