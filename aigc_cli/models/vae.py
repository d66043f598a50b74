"""The VAE family: convolutional encoder and decoder, one compiled step.

Images arrive in [-1, 1]; the likelihood is over pixel values in [0, 1]
(``targets = (images + 1) / 2``). Bernoulli treats each value as the
probability of a white pixel, as the Keras VAE example does; its
log-likelihood is summed over pixels, so losses are nats per image.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from aigc_cli.config import OptimizerConfig, VAEConfig
from aigc_cli.models.base import GenerativeModel
from aigc_cli.models.latent_prior import FittedLatentPrior, fit_gaussian_mixture, fit_subset
from aigc_cli.models.latents import (LOG_2PI, NoiseToLatents, Posterior, build_low_posterior,
                                     build_prior, factorised_posterior, two_level_posterior,
                                     two_level_posterior_mean)
from aigc_cli.models.layers import (MaskedConv2D, activation, conv_block, dense_block,
                                    residual_block)
from aigc_cli.models.optimizers import build_optimizer


def build_encoder(config: VAEConfig, image_shape: tuple[int, int, int]) -> keras.Model:
    """image [N, H, W, C] in [-1, 1] → z_mean, z_log_var [N, latent_dim] each; with a top
    latent, its mean and log-variance and the image features that z's posterior reads."""
    images = keras.Input(image_shape, name="images")
    x = images
    for width in config.encoder_widths:
        x = conv_block(x, width, config.kernel_size, 2, act=config.activation)
        for _ in range(config.residual_blocks):
            x = residual_block(x, config.kernel_size, config.activation)
    x = layers.Flatten()(x)
    if config.hidden_units:
        x = dense_block(x, config.hidden_units, act=config.activation)
    if config.top_latent_dim:
        top_mean = layers.Dense(config.top_latent_dim, name="top_z_mean", dtype="float32")(x)
        top_log_var = layers.Dense(config.top_latent_dim, name="top_z_log_var",
                                   dtype="float32")(x)
        return keras.Model(images, [top_mean, top_log_var, x], name="encoder")
    z_mean = layers.Dense(config.latent_dim, name="z_mean", dtype="float32")(x)
    z_log_var = layers.Dense(config.latent_dim, name="z_log_var", dtype="float32")(x)
    return keras.Model(images, [z_mean, z_log_var], name="encoder")


def build_decoder(config: VAEConfig, image_shape: tuple[int, int, int],
                  prior: keras.Model | None = None) -> keras.Model:
    """Latent noise [N, latent_dim (+ top_latent_dim)] → likelihood parameters
    [N, H, W, C] (Bernoulli logits), or [N, H, W, 2C] (Gaussian mean and log-scale)
    when the scale is learned. With a pixel head: its conditioning features instead,
    and with ``auxiliary_weight`` [features, factorised likelihood parameters]. With a
    top latent, ``prior`` maps the noise to z first (``latents.NoiseToLatents``)."""
    size, _, channels = image_shape
    base = size // 2 ** len(config.encoder_widths)
    latents = keras.Input((config.latent_dim + config.top_latent_dim,), name="latents")
    x = NoiseToLatents(prior, config.latent_dim)(latents) if prior else latents
    if config.hidden_units:
        x = dense_block(x, config.hidden_units, act=config.activation)
    x = dense_block(x, base * base * config.encoder_widths[-1], act=config.activation)
    x = layers.Reshape((base, base, config.encoder_widths[-1]))(x)  # [N, base, base, C]
    for width in reversed(config.encoder_widths):
        for _ in range(config.residual_blocks):
            x = residual_block(x, config.kernel_size, config.activation)
        x = conv_block(x, width, config.kernel_size, 2, transpose=True, act=config.activation)
    params = layers.Conv2D(_param_channels(config, channels), config.kernel_size,
                           padding="same", dtype="float32",
                           name="auxiliary_params" if config.autoregressive_layers
                           else "likelihood_params")
    if not config.autoregressive_layers:
        return keras.Model(latents, params(x), name="decoder")
    features = conv_block(x, config.autoregressive_width, config.kernel_size,
                          act=config.activation)
    outputs = [features, params(x)] if config.auxiliary_weight else features
    return keras.Model(latents, outputs, name="decoder")


def _param_channels(config: VAEConfig, channels: int) -> int:
    learned_scale = config.likelihood == "gaussian" and config.gaussian_scale is None
    return channels * (2 if learned_scale else 1)


def build_pixel_head(config: VAEConfig, image_shape: tuple[int, int, int]) -> keras.Model:
    """(targets [N, H, W, C] in [0, 1], decoder features) → likelihood parameters.

    Causal (masked) convolutions make pixel i's parameters depend on the
    decoder's features and on the pixels before i only, so log p(x|z) is still
    a sum of per-pixel terms, computed in one pass when x is known.
    """
    width = config.autoregressive_width
    # Any height and width: sampling runs the head on a few rows at a time.
    targets = keras.Input((None, None, image_shape[-1]), name="targets")
    features = keras.Input((None, None, width), name="features")
    x = MaskedConv2D(width, 7, mask_type="A")(targets)
    x = layers.Add()([x, layers.Conv2D(width, 1)(features)])
    for _ in range(config.autoregressive_layers - 1):
        h = MaskedConv2D(width, 3, mask_type="B")(activation(x, config.activation))
        h = layers.Add()([h, layers.Conv2D(width, 1)(features)])
        x = layers.Add()([x, h])
    params = MaskedConv2D(_param_channels(config, image_shape[-1]), 1, mask_type="B",
                          dtype="float32")(activation(x, config.activation))
    return keras.Model([targets, features], params, name="pixel_head")


def free_bits_kl(kl_per_dim: tf.Tensor, groups: int, floor: float) -> tf.Tensor:
    """The KL term of the free-bits objective per example [N] (Kingma et al. 2016, IAF,
    https://arxiv.org/abs/1606.04934, "free bits"): sum over ``groups`` equal groups of
    dimensions of max(floor, the group's KL averaged over the batch). A group under the
    floor costs the floor, with no gradient; the others cost their KL, so the batch
    mean of the result is the objective's term exactly."""
    per_group = tf.reduce_sum(tf.reshape(kl_per_dim, (tf.shape(kl_per_dim)[0], groups, -1)), -1)
    under = tf.reduce_mean(per_group, axis=0, keepdims=True) < floor  # [1, G]
    return tf.reduce_sum(tf.where(under, tf.cast(floor, per_group.dtype), per_group), axis=-1)


def bernoulli_log_likelihood(targets: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """sum over pixels of log Bernoulli(targets; sigmoid(logits)) [N], in nats."""
    per_pixel = -tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits)
    return tf.reduce_sum(per_pixel, axis=[1, 2, 3])


def gaussian_log_likelihood(targets: tf.Tensor, mean: tf.Tensor,
                            log_scale: tf.Tensor) -> tf.Tensor:
    """sum over pixels of log N(targets; mean, exp(log_scale)^2) [N], in nats."""
    per_pixel = -0.5 * (tf.square((targets - mean) * tf.exp(-log_scale)) + LOG_2PI) - log_scale
    return tf.reduce_sum(per_pixel, axis=[1, 2, 3])


class VAE(GenerativeModel):
    """Encoder, decoder, their one optimizer and the reparameterisation noise."""

    metric_names = ("elbo", "fid", "latent")
    selection_metric = ("elbo", "neg_elbo_nats", "min")
    serving = ("reconstruct", "generate")
    refitted_items = ("latent_prior",)
    # All read the training images (one per-example gradient over all of them); none
    # has batch normalisation.
    private_networks = {"encoder": "model", "decoder": "model", "pixel_head": "model",
                        "low_posterior": "model"}

    def __init__(self, encoder: keras.Model, decoder: keras.Model,
                 pixel_head: keras.Model | None, optimizer: keras.optimizers.Optimizer,
                 config: VAEConfig, seed: int, low_posterior: keras.Model | None = None,
                 prior: keras.Model | None = None,
                 latent_prior: FittedLatentPrior | None = None):
        super().__init__(name="vae")
        self.encoder = encoder
        self.decoder = decoder
        self.pixel_head = pixel_head
        self.low_posterior, self.prior = low_posterior, prior  # both or neither: two levels
        # Rows above a pixel that the head sees: 3 (7x7 mask A) + 1 per 3x3 mask-B layer.
        self.head_reach = 3 + max(config.autoregressive_layers - 1, 0)
        self.auxiliary_weight = config.auxiliary_weight
        self.vae_optimizer = optimizer
        self.latent_dim = config.latent_dim + config.top_latent_dim  # the decoder's noise
        #: Dimensions of each latent group, in the decoder's input order.
        self.latent_groups = {"z": config.latent_dim, **(
            {"z_top": config.top_latent_dim} if config.top_latent_dim else {})}
        self.likelihood = config.likelihood
        self.gaussian_scale = config.gaussian_scale
        self.beta = config.beta
        self.kl_warmup_steps = config.kl_warmup_steps
        self.free_bits = config.free_bits
        self.free_bits_groups = config.free_bits_groups or self.latent_dim
        self.noise = tf.random.Generator.from_seed(seed)
        self.seed = seed
        #: The density prior samples come from once fitted (``model.prior_components``).
        self.latent_prior = latent_prior

    @property
    def fits_to_data(self) -> bool:
        return self.latent_prior is not None

    @property
    def samples_through_prior(self) -> bool:
        """Whether ``generate`` maps its noise through a fitted prior (eager)."""
        return self.prior_record()["prior"] == "fitted_mixture"

    def prior_record(self) -> dict:
        """The density prior samples come from, for ``aigc eval``."""
        if self.latent_prior is None:
            return {"prior": "standard_normal"}
        return self.latent_prior.summary_record()

    def fit_to_data(self, images: np.ndarray, step: int, batch_size: int = 1000) -> None:
        """Fit ``latent_prior`` to the posterior means of the training images (those
        ``fit_subset`` picks), uint8 [N, H, W, C]."""
        chosen = fit_subset(len(images), self.seed)
        encode = tf.function(lambda batch: self.encode(batch)[0], reduce_retracing=True)
        means = np.concatenate([
            encode(tf.constant(images[chosen[start:start + batch_size]], tf.float32) / 127.5
                   - 1.0).numpy() for start in range(0, len(chosen), batch_size)])
        self.latent_prior.assign(*fit_gaussian_mixture(means, self.latent_prior.slots,
                                                       self.seed), step=step)

    def prior_latents(self, noise: tf.Tensor) -> tf.Tensor:
        """Standard normal noise → latents from the prior samples are drawn from: the
        fitted mixture when there is one, else the noise itself."""
        return self.latent_prior(noise) if self.latent_prior is not None else noise

    def encode(self, images: tf.Tensor):
        """(z_mean, z_log_var) of q(z|x) for images in [-1, 1], in the decoder's input
        space (with two levels: at the top latent's posterior mean)."""
        if not self.prior:
            return self.encoder(images, training=False)
        return two_level_posterior_mean(*self.encoder(images, training=False),
                                        self.low_posterior, self.prior)

    def posterior(self, images: tf.Tensor, epsilon: tf.Tensor,
                  training: bool = False) -> Posterior:
        """Samples of q(latents | images) for standard normal noise ``epsilon`` [K, N,
        latent_dim], with their KL per dimension and log densities."""
        if not self.prior:
            return factorised_posterior(*self.encoder(images, training=training), epsilon)
        return two_level_posterior(*self.encoder(images, training=training), epsilon,
                                   self.low_posterior, self.prior, self.latent_groups["z"],
                                   training)

    def decode_params(self, z: tf.Tensor) -> tf.Tensor:
        """The decoder's output for z: likelihood parameters, or the autoregressive
        head's conditioning features (see ``build_decoder``)."""
        return self.decoder(z, training=False)

    def log_likelihood(self, images: tf.Tensor, decoded) -> tf.Tensor:
        """log p(x|z) per image [N] for images in [-1, 1] and decoder outputs ``decoded``."""
        targets = (images + 1.0) * 0.5
        if not self.pixel_head:
            return self._log_likelihood_of(targets, decoded)
        features = decoded[0] if self.auxiliary_weight else decoded
        return self._log_likelihood_of(targets, self.pixel_head([targets, features]))

    def _log_likelihood_of(self, targets: tf.Tensor, params: tf.Tensor) -> tf.Tensor:
        if self.likelihood == "bernoulli":
            return bernoulli_log_likelihood(targets, params)
        mean, log_scale = self._gaussian_params(params)
        return gaussian_log_likelihood(targets, mean, log_scale)

    def _gaussian_params(self, params):
        if self.gaussian_scale is None:
            mean, log_scale = tf.split(params, 2, axis=-1)
            return mean, log_scale
        return params, tf.fill(tf.shape(params), math.log(self.gaussian_scale))

    def kl_weight(self) -> tf.Tensor:
        """beta, ramped up linearly over the first kl_warmup_steps updates."""
        if not self.kl_warmup_steps:
            return tf.constant(self.beta, tf.float32)
        progress = tf.cast(self.vae_optimizer.iterations + 1, tf.float32) / self.kl_warmup_steps
        return self.beta * tf.minimum(progress, 1.0)

    def train_step(self, images):
        # Drawn outside the loss, so that a private step's per-example map gets each
        # example's own noise.
        epsilon = self.noise.normal((1, tf.shape(images)[0], self.latent_dim))[0]

        def losses(images, epsilon):
            sample = self.posterior(images, epsilon[None], training=True)  # reparameterised
            z, kl_per_dim = sample.latents[0], sample.kl_per_dim[0]
            decoded = self.decoder(z, training=True)
            reconstruction = -self.log_likelihood(images, decoded)
            kl = tf.reduce_sum(kl_per_dim, axis=-1)
            charged = free_bits_kl(kl_per_dim, self.free_bits_groups, self.free_bits) \
                if self.free_bits else kl
            objective = reconstruction + self.kl_weight() * charged
            logs = {"reconstruction_loss": reconstruction, "kl_loss": kl,
                    "neg_elbo": reconstruction + kl}
            if self.auxiliary_weight:  # the factorised likelihood that z alone must serve
                logs["auxiliary_loss"] = -self._log_likelihood_of((images + 1.0) * 0.5,
                                                                  decoded[1])
                objective += self.auxiliary_weight * logs["auxiliary_loss"]
            return objective, logs

        loss, _, outputs = self.minimize(self.vae_optimizer, losses, (images, epsilon),
                                         self._trained_variables())
        return {"loss": loss, **{name: self.batch_mean(value) for name, value in outputs.items()}}

    def _mean(self, params: tf.Tensor) -> tf.Tensor:
        if self.likelihood == "bernoulli":
            return tf.sigmoid(params)
        return tf.clip_by_value(self._gaussian_params(params)[0], 0.0, 1.0)

    def decode_mean(self, z: tf.Tensor) -> tf.Tensor:
        """Mean image of p(x|z), in [-1, 1]; with ``auxiliary_weight``, of the factorised
        auxiliary likelihood.

        With the autoregressive head alone, pixels are filled in raster order, each
        set to its conditional mean given the pixels before it (greedy). Row r
        depends only on rows r - reach .. r (the masked kernels' height), so
        each head pass covers that window, not the whole image.
        """
        decoded = self.decode_params(z)
        if self.auxiliary_weight:  # the factorised mean image, in one pass
            return self._mean(decoded[1]) * 2.0 - 1.0
        if not self.pixel_head:
            return self._mean(decoded) * 2.0 - 1.0
        height, width = decoded.shape[1], decoded.shape[2]
        channels = self.pixel_head.input[0].shape[-1]
        targets = tf.zeros(tf.concat([tf.shape(decoded)[:3], [channels]], 0))
        for row in tf.range(height):
            top = tf.maximum(row - self.head_reach, 0)
            for column in tf.range(width):
                params = self.pixel_head([targets[:, top:row + 1], decoded[:, top:row + 1]],
                                         training=False)
                mean = self._mean(params[:, -1:, column:column + 1])  # [N, 1, 1, C]
                position = tf.reshape(tf.one_hot(row * width + column, height * width),
                                      (1, height, width, 1))
                targets += position * mean
        return targets * 2.0 - 1.0

    def generate(self, latents):
        """Images from standard normal noise, through the fitted prior when there is one."""
        return self.decode_mean(self.prior_latents(latents))

    def reconstruct(self, images: tf.Tensor) -> tf.Tensor:
        """Decode the posterior mean: images [N, H, W, C] in [-1, 1] → same shape."""
        return self.decode_mean(self.encode(images)[0])

    def preview(self, images, seed):
        count = tf.shape(images)[0]
        latents = tf.random.stateless_normal((count, self.latent_dim), seed=(seed, 0))
        originals = images[:32]
        pairs = tf.stack([originals, self.reconstruct(originals)], axis=1)  # [N, 2, H, W, C]
        return {"prior": self.generate(latents),
                "reconstruction": tf.reshape(pairs, (-1, *images.shape[1:]))}

    def optimizers_by_network(self):
        return {"vae": self.vae_optimizer}

    def _trained_variables(self):
        networks = [self.encoder, self.decoder, self.pixel_head, self.low_posterior]
        return [v for network in networks if network for v in network.trainable_variables]

    def build_optimizers(self):
        self.vae_optimizer.build(self._trained_variables())

    def checkpoint_items(self):
        return {**self.inference_items(), "vae_optimizer": self.vae_optimizer,
                "noise": self.noise}

    def inference_items(self):
        items = {"encoder": self.encoder, "decoder": self.decoder,
                 "pixel_head": self.pixel_head, "low_posterior": self.low_posterior,
                 "latent_prior": self.latent_prior}
        return {name: network for name, network in items.items() if network}


def build_vae(model_config: VAEConfig, optimizer_configs: dict[str, OptimizerConfig],
              image_shape: tuple[int, int, int], seed: int) -> VAE:
    """A VAE for ``image_shape`` with its optimizer (see ``ModelBuilder``)."""
    head = build_pixel_head(model_config, image_shape) if model_config.autoregressive_layers else None
    encoder = build_encoder(model_config, image_shape)
    prior = low_posterior = None
    if model_config.top_latent_dim:
        prior = build_prior(model_config)
        low_posterior = build_low_posterior(model_config, encoder.output[2].shape[-1])
    return VAE(encoder=encoder, decoder=build_decoder(model_config, image_shape, prior),
               pixel_head=head,
               optimizer=build_optimizer(optimizer_configs["vae"], "vae_optimizer"),
               config=model_config, seed=seed, low_posterior=low_posterior, prior=prior,
               latent_prior=FittedLatentPrior(model_config.prior_components,
                                              model_config.latent_dim
                                              + model_config.top_latent_dim)
               if model_config.prior_components else None)
