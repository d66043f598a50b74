"""The denoiser family: a residual CNN that estimates the noise and subtracts it.

DnCNN (Zhang et al. 2017, https://arxiv.org/abs/1608.03981): Conv+ReLU, then
(depth - 2) x Conv+BN+ReLU, then Conv; the output is the noise, so the network
learns a residual close to zero-mean. FFDNet (Zhang et al. 2018,
https://arxiv.org/abs/1710.04026) adds a noise-level map as an input channel,
so one model serves every sigma, and can work on 2x2 pixel blocks at half
resolution. Images are in [0, 1] here, the denoising convention.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from aigc_cli.config import DenoiserConfig, OptimizerConfig
from aigc_cli.models.base import GenerativeModel
from aigc_cli.models.grow import grow_conv_stack
from aigc_cli.models.layers import PixelShuffle, conv_block
from aigc_cli.models.optimizers import build_optimizer
from aigc_cli.models.slim import slim_conv_stack

PREVIEW_SIGMA = 25.0 / 255.0


def build_denoiser_network(config: DenoiserConfig, channels: int) -> keras.Model:
    """(noisy [N, H, W, C], noise level map [N, H, W, 1]) → denoised [N, H, W, C].

    Fully convolutional: any H and W (even ones with ``half_resolution``).
    """
    noisy = keras.Input((None, None, channels), name="noisy")
    level = keras.Input((None, None, 1), name="noise_level")
    x, level_map = noisy, level
    if config.half_resolution:
        x = PixelShuffle(2, inverse=True)(x)  # [N, H/2, W/2, 4C]
        level_map = layers.AveragePooling2D(2)(level_map)
    if config.noise_map:
        x = layers.Concatenate()([x, level_map])
    x = conv_block(x, config.width, config.kernel_size, act="relu")
    for _ in range(config.depth - 2):
        x = conv_block(x, config.width, config.kernel_size, batch_norm=config.batch_norm,
                       act="relu")
    out_channels = channels * 4 if config.half_resolution else channels
    # Zero-initialised, so the untrained network is the identity (noise estimate 0): with
    # Glorot's random output layer the first hundreds of steps only unlearn that noise.
    noise = layers.Conv2D(out_channels, config.kernel_size, padding="same", dtype="float32",
                          kernel_initializer="zeros")(x)
    if config.half_resolution:
        noise = PixelShuffle(2, dtype="float32")(noise)
    # float32 at the output even under mixed precision: the residual is small and the
    # image must keep its full precision (bfloat16 holds ~3 significant digits)
    denoised = layers.Subtract(name="denoised", dtype="float32")([noisy, noise])
    return keras.Model([noisy, level], denoised, name="denoiser")


def noise_level_map(noisy: tf.Tensor, sigma: tf.Tensor) -> tf.Tensor:
    """The network's noise-level input [N, H, W, 1]: ``sigma`` [N] spread over each image,
    or, given as a map [N, H, W, 1] (noise that varies over the image), as it is."""
    if sigma.shape.rank == 4:
        return tf.cast(sigma, noisy.dtype)
    return tf.ones_like(noisy[..., :1]) * tf.reshape(tf.cast(sigma, noisy.dtype), (-1, 1, 1, 1))


def receptive_radius(config: DenoiserConfig) -> int:
    """Pixels of context on each side that one output pixel depends on."""
    radius = config.depth * (config.kernel_size // 2)
    return radius * 2 + 1 if config.half_resolution else radius


class Denoiser(GenerativeModel):
    """The network and its optimizer; trains on (noisy, clean, sigma) batches."""

    metric_names = ("denoising",)
    selection_metric = ("denoising", "psnr", "max")
    serving = ("denoise",)
    evaluates_on_split = False
    grows_from_smaller = True
    private_networks = {"denoiser": "model.batch_norm"}

    def __init__(self, network: keras.Model, optimizer: keras.optimizers.Optimizer,
                 config: DenoiserConfig):
        super().__init__(name="denoiser_model")
        self.denoiser = network
        self.denoiser_optimizer = optimizer
        self.radius = receptive_radius(config)
        self.size_multiple = 2 if config.half_resolution else 1  # tiles align to this

    def denoise(self, noisy: tf.Tensor, sigma: tf.Tensor, training: bool = False) -> tf.Tensor:
        """noisy [N, H, W, C] in [0, 1] units, sigma [N] or a map [N, H, W, 1] (std-dev in
        [0, 1] units)."""
        return self.denoiser([noisy, noise_level_map(noisy, sigma)], training=training)

    def train_step(self, batch):

        def losses(noisy, clean, sigma):
            denoised = self.denoise(noisy, sigma, training=True)
            return tf.reduce_mean(tf.square(denoised - clean), axis=[1, 2, 3]), {}  # [N]

        loss, squared_error, _ = self.minimize(self.denoiser_optimizer, losses, batch,
                                               self.denoiser.trainable_variables)
        psnr = -10.0 * tf.math.log(tf.maximum(squared_error, 1e-10)) / tf.math.log(10.0)
        return {"loss": loss, "psnr": self.batch_mean(psnr)}

    def preview(self, images, seed):
        clean = (images[:12] + 1.0) * 0.5  # 12 triplets: a 6-column grid, 2 per row
        sigma = tf.fill((tf.shape(clean)[0],), PREVIEW_SIGMA)
        noisy = clean + PREVIEW_SIGMA * tf.random.stateless_normal(tf.shape(clean), (seed, 0))
        triplets = tf.stack([noisy, self.denoise(noisy, sigma), clean], axis=1)
        triplets = tf.clip_by_value(triplets, 0.0, 1.0) * 2.0 - 1.0  # [N, 3, H, W, C]
        return {"noisy_denoised_clean": tf.reshape(triplets, (-1, *images.shape[1:]))}

    def optimizers_by_network(self):
        return {"denoiser": self.denoiser_optimizer}

    def checkpoint_items(self):
        return {"denoiser": self.denoiser, "denoiser_optimizer": self.denoiser_optimizer}

    def inference_items(self):
        return {"denoiser": self.denoiser}

    def adapt_weights(self, name, donor_weights):
        """A smaller trained denoiser grows into this one; a wider one of the same depth
        slims into it, keeping its strongest channels (both without batch norm, with the
        same kernel size, channels, noise map and resolution)."""
        shapes = [tuple(weight.shape) for weight in self.denoiser.weights]
        if shapes == [weight.shape for weight in donor_weights]:
            return donor_weights
        if len(shapes) == len(donor_weights) and shapes[0][3] < donor_weights[0].shape[3]:
            return slim_conv_stack(donor_weights, shapes)
        return grow_conv_stack(donor_weights, shapes)


def build_denoiser(model_config: DenoiserConfig, optimizer_configs: dict[str, OptimizerConfig],
                   image_shape: tuple[int, int, int], seed: int) -> Denoiser:
    """A denoiser for images with ``image_shape[-1]`` channels (see ``ModelBuilder``)."""
    return Denoiser(build_denoiser_network(model_config, image_shape[-1]),
                    build_optimizer(optimizer_configs["denoiser"], "denoiser_optimizer"),
                    model_config)
