"""The diffusion family: one noise-conditional denoiser D(x; sigma) that generates (by
solving EDM's probability-flow ODE from noise) and denoises (one evaluation at the
photo's noise level). Formulas in ``aigc_cli.models.edm``; the network in
``aigc_cli.models.unet``.

Images are in [-1, 1] (sigma_data 0.5 by default). ``generate`` takes latents of
``H*W*C`` standard normals, so a seed fixes the samples byte for byte and ``aigc
sample``'s ``--temperature`` and ``--truncation`` act on the starting noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf

from aigc_cli.config import DiffusionConfig, OptimizerConfig
from aigc_cli.models import edm
from aigc_cli.models.base import GenerativeModel, update_average
from aigc_cli.models.optimizers import build_optimizer
from aigc_cli.models.unet import build_unet, level_sizes, receptive_radius


@dataclass(frozen=True)
class SamplingSettings:
    """How ``generate`` samples: ``aigc sample --steps --sampler --guidance`` set them."""

    sampler: str
    steps: int
    guidance: float

    def evaluations(self, conditional: bool) -> int:
        """Network evaluations per image: guidance other than 0 (the unconditional
        model alone) and 1 (the conditional alone) evaluates both at each level."""
        doubled = conditional and self.guidance not in (0.0, 1.0)
        return edm.evaluations(self.sampler, self.steps) * (2 if doubled else 1)


class Diffusion(GenerativeModel):
    """The U-Net, its weight average, its optimizer and the training noise source."""

    metric_names = ("fid",)
    selection_metric = ("fid", "fid", "min")
    serving = ("generate",)
    # Group normalisation only: nothing mixes the examples of a batch.
    private_networks = {"denoiser": "model"}

    def __init__(self, network: keras.Model, optimizer: keras.optimizers.Optimizer,
                 config: DiffusionConfig, image_shape: tuple[int, int, int], seed: int):
        super().__init__(name="diffusion")
        self.config = config
        self.denoiser = network
        self.denoiser_optimizer = optimizer
        self.ema_denoiser = None
        if config.ema_decay:
            self.ema_denoiser = keras.models.clone_model(network)
            self.ema_denoiser.set_weights(network.get_weights())
        self.image_shape = tuple(image_shape)
        self.latent_dim = int(image_shape[0] * image_shape[1] * image_shape[2])
        self.num_classes = config.num_classes
        self.uses_labels = config.num_classes > 0
        self.noise = tf.random.Generator.from_seed(seed)
        self.sampling = SamplingSettings(config.sampler, config.sample_steps, config.guidance)
        self.radius = receptive_radius(config)
        # Tiles of ``aigc denoise`` start on the grid of the deepest level's stride.
        self.size_multiple = 2 ** (len(config.widths) - 1)
        self.max_tile = attention_tile_limit(config, image_shape[0], self.radius)

    # -- the denoiser ------------------------------------------------------------------

    def denoised(self, x: tf.Tensor, sigma: tf.Tensor, labels: tf.Tensor | None = None,
                 network: keras.Model | None = None, training: bool = False) -> tf.Tensor:
        """D(x; sigma) (EDM eq. 7): x [N, H, W, C], sigma [N] or a scalar; labels [N] with
        ``num_classes`` meaning "no label" (None: no label for every image)."""
        network = network or self.inference_network
        x = tf.cast(x, tf.float32)
        sigma = tf.broadcast_to(tf.cast(sigma, tf.float32), tf.shape(x)[:1])
        c_skip, c_out, c_in, c_noise = edm.preconditioning(sigma, self.config.sigma_data)
        inputs = [x * c_in[:, None, None, None], c_noise]
        if self.uses_labels:
            if labels is None:
                labels = tf.fill(tf.shape(x)[:1], self.num_classes)
            inputs.append(tf.cast(labels, tf.int32))
        output = tf.cast(network(inputs, training=training), tf.float32)
        return c_skip[:, None, None, None] * x + c_out[:, None, None, None] * output

    @property
    def inference_network(self) -> keras.Model:
        return self.ema_denoiser or self.denoiser

    def guided(self, x, sigma, labels, guidance: float):
        """Classifier-free guidance (Ho & Salimans 2022): D_u + w (D_c - D_u), both
        halves in one batch; w = 1 is the conditional model alone, w = 0 the
        unconditional one."""
        if labels is None or guidance == 1.0:
            return self.denoised(x, sigma, labels)
        if guidance == 0.0:
            return self.denoised(x, sigma, None)
        count = tf.shape(x)[0]
        unlabelled = tf.fill(tf.shape(labels), self.num_classes)
        both = self.denoised(tf.concat([x, x], 0), sigma,
                             tf.concat([tf.cast(unlabelled, tf.int32),
                                        tf.cast(labels, tf.int32)], 0))
        unconditional, conditional = both[:count], both[count:]
        return unconditional + guidance * (conditional - unconditional)

    # -- training ----------------------------------------------------------------------

    def train_step(self, batch):
        images, labels = batch if self.uses_labels else (batch, None)
        images = tf.cast(images, tf.float32)
        count = tf.shape(images)[0]
        # Drawn outside the loss, so a private run gives each example its own.
        sigma = tf.exp(self.config.p_mean + self.config.p_std * self.noise.normal((count,)))
        noise = self.noise.normal(tf.shape(images))
        inputs = (images, sigma, noise)
        if self.uses_labels:
            dropped = self.noise.uniform((count,)) < self.config.label_dropout
            inputs += (tf.where(dropped, self.num_classes, tf.cast(labels, tf.int32)),)

        def losses(images, sigma, noise, *labels):
            noisy = images + sigma[:, None, None, None] * noise
            denoised = self.denoised(noisy, sigma, labels[0] if labels else None,
                                     self.denoiser, training=True)
            weight = edm.loss_weight(sigma, self.config.sigma_data)
            return weight * tf.reduce_mean(tf.square(denoised - images), axis=[1, 2, 3]), {}

        loss, _, _ = self.minimize(self.denoiser_optimizer, losses, inputs,
                                   self.denoiser.trainable_variables)
        return {"loss": loss}

    def after_step(self):
        if not self.ema_denoiser:
            return
        # tf.train.ExponentialMovingAverage's num_updates rule: the average forgets fast
        # early on, so the first steps' far-from-trained weights do not linger in it (at
        # 0.999 from the start, 13% of a 3,000-step run's average is its first 1,000 steps and
        # the initial weights).
        step = tf.cast(self.denoiser_optimizer.iterations, tf.float32)
        decay = tf.minimum(self.config.ema_decay, (1.0 + step) / (10.0 + step))
        update_average(self.ema_denoiser, self.denoiser, decay)

    # -- sampling and denoising --------------------------------------------------------

    def generate(self, latents, labels=None):
        """Images [N, H, W, C] in [-1, 1] from latents [N, H*W*C] (the starting noise over
        sigma_max); a conditional model takes labels [N] (default: classes in turn)."""
        settings, config = self.sampling, self.config
        if self.uses_labels and labels is None:
            labels = tf.range(tf.shape(latents)[0]) % self.num_classes
        x = tf.reshape(tf.cast(latents, tf.float32), (-1, *self.image_shape)) * config.sigma_max
        sigmas = edm.sigma_schedule(settings.steps, config.sigma_min, config.sigma_max,
                                    config.rho)
        images = edm.sample(lambda x, sigma: self.guided(x, sigma, labels, settings.guidance),
                            x, sigmas, settings.sampler)
        return tf.clip_by_value(images, -1.0, 1.0)

    def denoise(self, noisy: tf.Tensor, sigma: tf.Tensor, training: bool = False) -> tf.Tensor:
        """``aigc denoise``'s interface: noisy [N, H, W, C] in [0, 1], sigma [N] (or a map
        [N, H, W, 1], averaged per image) as a [0, 1]-units std-dev. One evaluation of D
        at twice the level (the model's images span [-1, 1])."""
        if sigma.shape.rank == 4:
            sigma = tf.reduce_mean(sigma, axis=[1, 2, 3])
        sigma = tf.maximum(2.0 * tf.cast(sigma, tf.float32), self.config.sigma_min)
        return (self.denoised(2.0 * tf.cast(noisy, tf.float32) - 1.0, sigma) + 1.0) * 0.5

    def preview(self, images, seed):
        count = tf.shape(images)[0]
        latents = tf.random.stateless_normal((count, self.latent_dim), seed=(seed, 0))
        return {"generated": self.generate(latents)}

    # -- state -------------------------------------------------------------------------

    def optimizers_by_network(self):
        return {"denoiser": self.denoiser_optimizer}

    def checkpoint_items(self):
        return {**self.inference_items(), "denoiser_optimizer": self.denoiser_optimizer,
                "noise": self.noise}

    def inference_items(self):
        items = {"denoiser": self.denoiser}
        return {**items, "ema_denoiser": self.ema_denoiser} if self.ema_denoiser else items


#: Positions one self-attention may attend over when denoising a photo: its memory grows
#: with their square (a 1024 px tile at a 7 px model's 7x7 level measured 14 GB).
MAX_ATTENTION_TOKENS = 64 * 64


def attention_tile_limit(config: DiffusionConfig, image_size: int, radius: int) -> int | None:
    """The largest ``aigc denoise`` tile (its margins of ``radius`` added) whose finest
    attended level holds at most MAX_ATTENTION_TOKENS positions; None without attention."""
    sizes = level_sizes(image_size, len(config.widths))
    attended = [level for level, size in enumerate(sizes) if size in config.attention_resolutions]
    if not attended:
        return None
    side = int(MAX_ATTENTION_TOKENS ** 0.5) * 2 ** min(attended)
    return max(side - 2 * radius, 32)


def build_diffusion(model_config: DiffusionConfig,
                    optimizer_configs: dict[str, OptimizerConfig],
                    image_shape: tuple[int, int, int], seed: int) -> Diffusion:
    """A diffusion model for ``image_shape`` (see ``ModelBuilder``)."""
    network = build_unet(model_config, image_shape[-1], image_shape[0])
    return Diffusion(network, build_optimizer(optimizer_configs["denoiser"], "denoiser_optimizer"),
                     model_config, image_shape, seed)
