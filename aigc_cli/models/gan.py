"""The GAN family: DCGAN networks and one compiled step that updates both.

With the defaults this is the TensorFlow DCGAN tutorial exactly
(https://www.tensorflow.org/tutorials/generative/dcgan): Dense 7·7·256 →
BN/LeakyReLU → Conv2DTranspose 128 (stride 1), 64, 1 with 5x5 kernels; a
discriminator of two stride-2 5x5 convs (64, 128) with dropout 0.3; the
non-saturating cross-entropy loss; both networks updated from one forward pass.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from aigc_cli.config import DCGANConfig, OptimizerConfig, upsampling_plan
from aigc_cli.models.augment import diff_augment
from aigc_cli.models.base import GenerativeModel, replica_mean, update_average
from aigc_cli.models.layers import MinibatchStdDev, conv_block, dense_block, spectral
from aigc_cli.models.optimizers import build_optimizer, loss_scale, minimize


def build_generator(config: DCGANConfig, image_shape: tuple[int, int, int]) -> keras.Model:
    """latent [N, latent_dim] → image [N, H, W, C] in [-1, 1] (tanh)."""
    size, _, channels = image_shape
    base, doublings = upsampling_plan(size, len(config.generator_widths))
    hidden = config.generator_widths[1:]
    # The last hidden layers upsample; earlier ones keep the size (as the
    # tutorial's first 128-channel layer does at 7x7).
    first_upsampling = len(hidden) - (doublings - 1)
    block = dict(batch_norm=config.batch_norm, slope=config.leaky_relu_slope)

    latents = keras.Input((config.latent_dim,), name="latents")
    inputs, x = latents, latents
    if config.num_classes:
        labels = keras.Input((), dtype="int32", name="labels")
        x = layers.Concatenate()([latents, layers.Embedding(config.num_classes,
                                                            config.latent_dim)(labels)])
        inputs = [latents, labels]
    x = dense_block(x, base * base * config.generator_widths[0], **block)
    x = layers.Reshape((base, base, config.generator_widths[0]))(x)  # [N, base, base, C0]
    for index, width in enumerate(hidden):
        strides = 2 if index >= first_upsampling else 1
        x = conv_block(x, width, config.kernel_size, strides, transpose=True, **block)
    images = layers.Conv2DTranspose(channels, config.kernel_size, strides=2, padding="same",
                                    use_bias=False, activation="tanh", dtype="float32")(x)
    return keras.Model(inputs, images, name="generator")


def build_discriminator(config: DCGANConfig, image_shape: tuple[int, int, int]) -> keras.Model:
    """image [N, H, W, C] (and label [N] when conditional) → one real/fake logit [N, 1].

    Class-conditional discriminators use the projection of Miyato & Koyama 2018:
    logit = w.h + embed(label).h, with h the image features.
    """
    images = keras.Input(image_shape, name="images")
    x = images
    for width in config.discriminator_widths:
        x = conv_block(x, width, config.kernel_size, 2, slope=config.leaky_relu_slope,
                       dropout=config.dropout, spectral_norm=config.spectral_norm)
    if config.minibatch_std:
        x = MinibatchStdDev()(x)
    x = layers.Flatten()(x)
    logits = spectral(layers.Dense(1, dtype="float32"), config.spectral_norm)(x)
    if not config.num_classes:
        return keras.Model(images, logits, name="discriminator")
    labels = keras.Input((), dtype="int32", name="labels")
    class_embedding = layers.Embedding(config.num_classes, x.shape[-1])(labels)
    logits = layers.Add(dtype="float32")([logits, layers.Dot(axes=1)([x, class_embedding])])
    return keras.Model([images, labels], logits, name="discriminator")


def non_saturating_losses(real_logits: tf.Tensor, fake_logits: tf.Tensor):
    """Per-example (d_loss, g_loss) of the non-saturating GAN (Goodfellow et al. 2014).

    softplus(-x) is the cross-entropy of label 1 and softplus(x) of label 0,
    written this way because it is stable for large logits.
    """
    d_loss = tf.nn.softplus(-real_logits) + tf.nn.softplus(fake_logits)
    g_loss = tf.nn.softplus(-fake_logits)
    return d_loss, g_loss


def hinge_losses(real_logits, fake_logits):
    """Hinge loss (Lim & Ye 2017; used by SAGAN and BigGAN)."""
    d_loss = tf.nn.relu(1.0 - real_logits) + tf.nn.relu(1.0 + fake_logits)
    return d_loss, -fake_logits


def least_squares_losses(real_logits, fake_logits):
    """Least-squares GAN (Mao et al. 2017): targets 1 for real, 0 for fake."""
    d_loss = 0.5 * (tf.square(real_logits - 1.0) + tf.square(fake_logits))
    return d_loss, 0.5 * tf.square(fake_logits - 1.0)


def wasserstein_losses(real_logits, fake_logits):
    """Wasserstein GAN critic and generator losses (Arjovsky et al. 2017)."""
    return fake_logits - real_logits, -fake_logits


GAN_LOSSES = {"non_saturating": non_saturating_losses, "hinge": hinge_losses,
              "least_squares": least_squares_losses, "wasserstein": wasserstein_losses}


def input_gradient_norms(critic, images: tf.Tensor, scale=None) -> tf.Tensor:
    """|d D(x) / d x| per example [N]: the quantity R1 and WGAN-GP penalise.

    ``critic`` maps images to logits (a discriminator, or one with labels bound).
    ``scale`` (mixed_float16's loss scale) keeps the float16 backward pass from
    underflowing; the gradient is unscaled before use.
    """
    with tf.GradientTape() as tape:
        tape.watch(images)
        total = tf.reduce_sum(critic(images))  # per-example (up to minibatch_std's batch term)
    if scale is None:
        gradients = tape.gradient(total, images)
    else:
        scale = tf.cast(scale, total.dtype)
        gradients = tape.gradient(total, images, output_gradients=scale) / scale
    return tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=[1, 2, 3]) + 1e-12)


def r1_penalty(critic, real_images, gamma: float, scale=None) -> tf.Tensor:
    """gamma/2 |grad D(x)|^2 on real images, per example (Mescheder et al. 2018)."""
    return 0.5 * gamma * tf.square(input_gradient_norms(critic, real_images, scale))


def gradient_penalty(critic, real_images, fake_images, weight: float,
                     mix: tf.Tensor, scale=None) -> tf.Tensor:
    """weight (|grad D(x_hat)| - 1)^2 with x_hat = mix real + (1 - mix) fake, per example
    (Gulrajani et al. 2017); ``mix`` is [N, 1, 1, 1] uniform in [0, 1]."""
    points = mix * real_images + (1.0 - mix) * fake_images
    return weight * tf.square(input_gradient_norms(critic, points, scale) - 1.0)


def mode_seeking_terms(fakes: tf.Tensor, latents: tf.Tensor, labels=None) -> tf.Tensor:
    """Per-pair 1 / (|G(z1) - G(z2)| / |z1 - z2|) (mean absolute differences), the
    mode-seeking term of Mao et al. 2019 (MSGAN), [max(N // 2, 1)]: small when two
    latents give different images.

    Taken per pair rather than as the paper's one batch-level ratio, so a single
    collapsed pair weighs in fully. Conditional batches are sorted by label and
    neighbours paired: after an odd-sized class a pair can straddle two labels;
    such pairs count 0 (and stay in the mean). A batch under 2 gives one 0.
    """
    count = tf.shape(fakes)[0] // 2 * 2
    order = tf.range(count) if labels is None else tf.argsort(labels, stable=True)[:count]
    first, second = order[0::2], order[1::2]
    image_gap = tf.reduce_mean(tf.abs(tf.gather(fakes, first) - tf.gather(fakes, second)),
                               axis=[1, 2, 3])
    latent_gap = tf.reduce_mean(tf.abs(tf.gather(latents, first) - tf.gather(latents, second)),
                                axis=1)
    terms = 1.0 / (image_gap / (latent_gap + 1e-8) + 1e-5)  # finite for equal latents too
    if labels is not None:
        same = tf.equal(tf.gather(labels, first), tf.gather(labels, second))
        terms *= tf.cast(same, terms.dtype)
    # A replica holding one example has no pair: a 0 instead of the NaN mean of nothing.
    return tf.concat([terms, tf.zeros([1 - tf.minimum(tf.size(terms), 1)], terms.dtype)], 0)


class GAN(GenerativeModel):
    """Generator, discriminator, their optimizers and the noise source."""

    metric_names = ("fid",)
    selection_metric = ("fid", "fid", "min")
    serving = ("generate",)
    # The generator sees data only through the discriminator (post-processing).
    private_networks = {"discriminator": "model.minibatch_std"}

    def __init__(self, generator: keras.Model, discriminator: keras.Model,
                 g_optimizer: keras.optimizers.Optimizer, d_optimizer: keras.optimizers.Optimizer,
                 loss: str, seed: int, gradient_penalty_weight: float = 0.0,
                 r1_gamma: float = 0.0, ema_decay: float | None = None,
                 augmentations: tuple[str, ...] = (), num_classes: int = 0,
                 mode_seeking: float = 0.0):
        super().__init__(name="gan")
        self.num_classes = num_classes
        self.uses_labels = num_classes > 0  # (images, labels) batches; labels condition both nets
        self.augmentations = tuple(augmentations)
        self.ema_decay = ema_decay
        # The averaged generator (Karras et al. 2018; Yazici et al. 2019): smoother
        # samples than the last iterate, at no training cost.
        self.ema_generator = None
        if ema_decay:
            self.ema_generator = keras.models.clone_model(generator)
            self.ema_generator.set_weights(generator.get_weights())
        self.gradient_penalty_weight = gradient_penalty_weight
        self.r1_gamma = r1_gamma
        self.mode_seeking = mode_seeking
        self.generator = generator
        self.discriminator = discriminator
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.latent_dim = int(generator.input_shape[0][-1] if num_classes
                              else generator.input_shape[-1])
        self.gan_losses = GAN_LOSSES[loss]
        self.noise = tf.random.Generator.from_seed(seed)

    def train_step(self, batch):
        # Fakes share the real batch's labels, so both follow the data's class balance.
        images, labels = batch if self.uses_labels else (batch, None)
        batch_size = tf.shape(images)[0]
        latents = self.noise.normal((batch_size, self.latent_dim))
        if self.privacy is not None:
            return self._private_step(images, labels, latents)

        def critic(x):
            return self.discriminator(x if labels is None else [x, labels], training=True)

        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fakes = self._run_generator(self.generator, latents, labels, training=True)
            real_logits = critic(self._augment(images))
            fake_logits = critic(self._augment(fakes))
            d_losses, g_losses = self.gan_losses(real_logits, fake_logits)
            penalties = self._penalties(critic, images, fakes)
            d_losses = d_losses[:, 0] + sum(penalties.values(), tf.zeros_like(d_losses[:, 0]))
            d_loss, g_loss = replica_mean(d_losses), replica_mean(g_losses)
            if self.mode_seeking:
                penalties["mode_seeking"] = mode_seeking_terms(fakes, latents, labels)
                g_loss += self.mode_seeking * replica_mean(penalties["mode_seeking"])
        self._apply(g_tape, g_loss, self.generator, self.g_optimizer)
        self._apply(d_tape, d_loss, self.discriminator, self.d_optimizer)
        return {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_real": replica_mean(tf.sigmoid(real_logits)),  # D(x): 1 means "real"
            "d_fake": replica_mean(tf.sigmoid(fake_logits)),
            **{name: replica_mean(value) for name, value in penalties.items()},
        }

    def _private_step(self, images, labels, latents):
        """DP-SGD on the discriminator: each row's loss pairs a real image with a fake
        (rows the Poisson sample left empty count for neither); the generator's update
        reads the discriminator only, as in DP-GAN (Xie et al. 2018).

        Fakes take uniformly drawn labels, not the batch's: which labels the sample
        holds is private data, and the generator's update is outside the clipped sum.
        The generator learns on the expected batch size (its rows hold no data, so the
        padding of the fixed-shape batch would only cost time)."""
        def critic(x, row_labels):
            return self.discriminator(x if row_labels is None else [x, row_labels],
                                      training=True)

        capacity = tf.shape(images)[0]
        if labels is not None:
            labels = tf.cast(labels, tf.int32)
            fake_labels = self.noise.uniform((capacity,), 0, self.num_classes, tf.int32)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        rows = tf.minimum(capacity, int(-(-self.privacy.expected_batch_size // replicas)))
        g_latents, g_labels = latents[:rows], None if labels is None else fake_labels[:rows]
        with tf.GradientTape() as g_tape:
            g_fakes = self._run_generator(self.generator, g_latents, g_labels, training=True)
            fake_logits = critic(self._augment(g_fakes), g_labels)
            # Every loss's generator term reads the fake logits only.
            g_loss = replica_mean(self.gan_losses(fake_logits, fake_logits)[1])
            if self.mode_seeking:
                g_loss += self.mode_seeking * replica_mean(
                    mode_seeking_terms(g_fakes, g_latents, g_labels))
        self._apply(g_tape, g_loss, self.generator, self.g_optimizer)
        # The discriminator's rows beyond the generator's: fakes made before its update.
        fakes = tf.concat([g_fakes, self._run_generator(
            self.generator, latents[rows:], None if labels is None else fake_labels[rows:],
            training=True)], 0)

        def d_losses(real, fake, *row_labels):
            real_labels, fake_labels = row_labels if row_labels else (None, None)
            real_logits = critic(self._augment(real), real_labels)
            fake_logits = critic(self._augment(fake), fake_labels)
            losses = self.gan_losses(real_logits, fake_logits)[0][:, 0]
            penalties = self._penalties(lambda x: critic(x, real_labels), real, fake)
            losses += sum(penalties.values(), tf.zeros_like(losses))
            return losses, {"d_real": tf.sigmoid(real_logits), "d_fake": tf.sigmoid(fake_logits),
                            **penalties}

        inputs = (images, tf.stop_gradient(fakes)) + (
            (labels, fake_labels) if labels is not None else ())
        d_loss, _, outputs = self.minimize(self.d_optimizer, d_losses, inputs,
                                           self.discriminator.trainable_variables)
        return {"d_loss": d_loss, "g_loss": g_loss,
                **{name: self.batch_mean(value) for name, value in outputs.items()}}

    def _augment(self, images):
        if not self.augmentations:
            return images
        return diff_augment(images, self.augmentations, self.noise)

    def _penalties(self, critic, images, fakes) -> dict[str, tf.Tensor]:
        """Per-example discriminator penalties the config asks for (none by default)."""
        penalties, scale = {}, loss_scale(self.d_optimizer)
        if self.r1_gamma:
            penalties["r1_penalty"] = r1_penalty(critic, images, self.r1_gamma, scale)
        if self.gradient_penalty_weight:
            mix = self.noise.uniform((tf.shape(images)[0], 1, 1, 1))
            penalties["gradient_penalty"] = gradient_penalty(
                critic, images, tf.stop_gradient(fakes),
                self.gradient_penalty_weight, mix, scale)
        return penalties

    @staticmethod
    def _apply(tape, loss, network, optimizer):
        minimize(optimizer, tape, loss, network.trainable_variables)

    def preview(self, images, seed):
        count = tf.shape(images)[0]
        latents = tf.random.stateless_normal((count, self.latent_dim), seed=(seed, 0))
        return {"generated": self.generate(latents)}

    def generate(self, latents, labels=None):
        """Images from latents; a conditional model takes labels [N] (default: the
        classes in turn, 0, 1, ..., so every class is equally represented)."""
        if self.uses_labels and labels is None:
            labels = tf.range(tf.shape(latents)[0]) % self.num_classes
        return self._run_generator(self.ema_generator or self.generator, latents, labels,
                                   training=False)

    def _run_generator(self, generator, latents, labels, training: bool):
        if not self.uses_labels:
            return generator(latents, training=training)
        return generator([latents, tf.cast(labels, tf.int32)], training=training)

    def after_step(self):
        if not self.ema_generator:
            return
        update_average(self.ema_generator, self.generator, self.ema_decay)

    def prepare_inference(self, batches: int = 10, batch_size: int = 256):
        """Standing batch-norm statistics for the averaged generator (as BigGAN does):
        the live generator's running statistics do not match the averaged weights'
        activations (measured: FID 43.5 with them, 37.5 with its own)."""
        if not self.ema_generator:
            return
        norms = [layer for layer in self.ema_generator.layers
                 if isinstance(layer, layers.BatchNormalization)]
        if not norms:
            return
        momenta = [layer.momentum for layer in norms]
        for index in range(batches):
            for layer in norms:
                layer.momentum = index / (index + 1)  # running mean over the batches
            latents = tf.random.stateless_normal((batch_size, self.latent_dim), (index, 7))
            labels = tf.range(batch_size) % self.num_classes if self.uses_labels else None
            self._run_generator(self.ema_generator, latents, labels, training=True)
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum

    def optimizers_by_network(self):
        return {"generator": self.g_optimizer, "discriminator": self.d_optimizer}

    def checkpoint_items(self):
        return {**self.inference_items(), "discriminator": self.discriminator,
                "g_optimizer": self.g_optimizer, "d_optimizer": self.d_optimizer,
                "noise": self.noise}

    def inference_items(self):
        items = {"generator": self.generator}
        return {**items, "ema_generator": self.ema_generator} if self.ema_generator else items


def build_dcgan(model_config: DCGANConfig, optimizer_configs: dict[str, OptimizerConfig],
                image_shape: tuple[int, int, int], seed: int) -> GAN:
    """A DCGAN for ``image_shape`` with its two optimizers (see ``ModelBuilder``)."""
    return GAN(generator=build_generator(model_config, image_shape),
               discriminator=build_discriminator(model_config, image_shape),
               g_optimizer=build_optimizer(optimizer_configs["generator"], "g_optimizer"),
               d_optimizer=build_optimizer(optimizer_configs["discriminator"], "d_optimizer"),
               loss=model_config.loss, seed=seed,
               gradient_penalty_weight=model_config.gradient_penalty,
               r1_gamma=model_config.r1_gamma, ema_decay=model_config.ema_decay,
               augmentations=model_config.diff_augment, num_classes=model_config.num_classes,
               mode_seeking=model_config.mode_seeking)
