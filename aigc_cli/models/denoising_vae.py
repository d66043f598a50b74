"""The denoising VAE: q(z | noisy image, noise level) over a spatial latent map,
p(clean | z) Gaussian. Denoising decodes the posterior mean.

Fully convolutional, so it denoises images of any size (in tiles, like the
denoiser family, whose inference interface it shares: ``denoise``, ``radius``,
``size_multiple``, a ``denoiser`` network taking [noisy, noise level]).
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import layers

from aigc_cli.config import DenoisingVAEConfig, OptimizerConfig
from aigc_cli.models.base import GenerativeModel
from aigc_cli.models.denoiser import Denoiser, noise_level_map
from aigc_cli.models.layers import conv_block
from aigc_cli.models.optimizers import build_optimizer
from aigc_cli.models.latents import gaussian_kl_per_dim
from aigc_cli.models.vae import free_bits_kl, gaussian_log_likelihood


def build_networks(config: DenoisingVAEConfig, channels: int):
    """(encoder: [noisy, level] → [z_mean, z_log_var], decoder: z → clean mean)."""
    noisy = keras.Input((None, None, channels), name="noisy")
    level = keras.Input((None, None, 1), name="noise_level")
    x = layers.Concatenate()([noisy, level])
    for width in config.widths:
        x = conv_block(x, width, config.kernel_size, 2, act=config.activation)
    stats = layers.Conv2D(2 * config.latent_channels, config.kernel_size, padding="same",
                          dtype="float32")(x)
    z_mean = stats[..., :config.latent_channels]  # [N, h, w, L]
    z_log_var = stats[..., config.latent_channels:]
    encoder = keras.Model([noisy, level], [z_mean, z_log_var], name="encoder")
    z = keras.Input((None, None, config.latent_channels), name="z")
    x = z
    for width in reversed(config.widths):
        x = conv_block(x, width, config.kernel_size, 2, transpose=True, act=config.activation)
    clean = layers.Conv2D(channels, config.kernel_size, padding="same", dtype="float32")(x)
    decoder = keras.Model(z, clean, name="decoder")
    return encoder, decoder


class DenoisingVAE(GenerativeModel):
    """Encoder, decoder, one optimizer; trains on (noisy, clean, sigma) batches."""

    metric_names = ("denoising",)
    selection_metric = ("denoising", "psnr", "max")
    serving = ("denoise",)
    evaluates_on_split = False
    private_networks = {"encoder": "model", "decoder": "model"}

    def __init__(self, encoder, decoder, optimizer, config: DenoisingVAEConfig, seed: int):
        super().__init__(name="denoising_vae")
        self.encoder = encoder
        self.decoder = decoder
        self.denoising_vae_optimizer = optimizer
        self.beta = config.beta
        self.free_bits = config.free_bits
        self.log_scale = math.log(config.reconstruction_scale)
        self.noise = tf.random.Generator.from_seed(seed)
        levels = self.levels = len(config.widths)
        self.latent_channels = config.latent_channels
        self.size_multiple = 2 ** levels
        # Half-width of what one output pixel sees, through every conv of both networks.
        reach = (config.kernel_size // 2) * (2 * (2 ** levels - 1) + 2 ** levels)
        self.radius = reach + self.size_multiple
        self.denoiser = encoder  # its inputs tell the tiler the channel count

    def _posterior(self, noisy, sigma, training=False):
        return self.encoder([noisy, noise_level_map(noisy, sigma)], training=training)

    def denoise(self, noisy, sigma, training=False):
        """The clean image decoded from the posterior mean of z."""
        return self.decoder(self._posterior(noisy, sigma)[0], training=training)

    def train_step(self, batch):
        noisy, clean, sigma = batch
        # The reparameterisation noise is drawn outside the loss, so a private step's
        # per-example map gives each example its own (see VAE.train_step).
        count, height, width = tf.unstack(tf.shape(noisy)[:3])
        for _ in range(self.levels):  # each level halves, rounding up ("same" padding)
            height, width = (height + 1) // 2, (width + 1) // 2
        epsilon = self.noise.normal(tf.stack([count, height, width, self.latent_channels]))

        def losses(noisy, clean, sigma, epsilon):
            z_mean, z_log_var = self._posterior(noisy, sigma, training=True)
            mean = self.decoder(z_mean + tf.exp(0.5 * z_log_var) * epsilon, training=True)
            reconstruction = -gaussian_log_likelihood(clean, mean, tf.fill(tf.shape(mean),
                                                                           self.log_scale))
            kl_per_channel = tf.reduce_sum(gaussian_kl_per_dim(z_mean, z_log_var), axis=[1, 2])
            kl = tf.reduce_sum(kl_per_channel, axis=-1)
            charged = kl
            if self.free_bits:  # one group per channel, its floor scaled by the positions;
                # the floor reads the batch's mean, one example's in a private run
                positions = tf.cast(tf.reduce_prod(tf.shape(z_mean)[1:3]), kl.dtype)
                charged = free_bits_kl(kl_per_channel, kl_per_channel.shape[-1],
                                       self.free_bits * positions)
            squared_error = tf.reduce_mean(tf.square(self.decoder(z_mean) - clean),
                                           axis=[1, 2, 3])
            psnr = -10.0 * tf.math.log(tf.maximum(squared_error, 1e-10)) / tf.math.log(10.0)
            return reconstruction + self.beta * charged, {"kl_loss": kl, "psnr": psnr}

        variables = self.encoder.trainable_variables + self.decoder.trainable_variables
        loss, _, outputs = self.minimize(self.denoising_vae_optimizer, losses,
                                         (noisy, clean, sigma, epsilon), variables)
        return {"loss": loss, **{name: self.batch_mean(value) for name, value in outputs.items()}}

    preview = Denoiser.preview

    def optimizers_by_network(self):
        return {"denoising_vae": self.denoising_vae_optimizer}

    def build_optimizers(self):
        self.denoising_vae_optimizer.build(self.encoder.trainable_variables
                                           + self.decoder.trainable_variables)

    def checkpoint_items(self):
        return {**self.inference_items(), "denoising_vae_optimizer": self.denoising_vae_optimizer,
                "noise": self.noise}

    def inference_items(self):
        return {"encoder": self.encoder, "decoder": self.decoder}


def build_denoising_vae(model_config: DenoisingVAEConfig,
                        optimizer_configs: dict[str, OptimizerConfig],
                        image_shape: tuple[int, int, int], seed: int) -> DenoisingVAE:
    """A denoising VAE for images with ``image_shape[-1]`` channels (see ``ModelBuilder``)."""
    encoder, decoder = build_networks(model_config, image_shape[-1])
    return DenoisingVAE(encoder, decoder,
                        build_optimizer(optimizer_configs["denoising_vae"],
                                        "denoising_vae_optimizer"), model_config, seed)
