"""The U-Net a diffusion model's denoiser runs: F(x; c_noise[, class]) at any image size.

As in DDPM++/ADM (Ho et al. 2020; Dhariwal & Nichol 2021; Karras et al. 2022's
``SongUNet``): residual blocks with group normalisation and SiLU, the noise level's
embedding added in every block, optional multi-head self-attention at chosen sizes,
strided-conv downsampling and nearest upsampling cropped to the skip's size, so sizes
that do not halve evenly (28 -> 14 -> 7 -> 4 -> 7) work. Fully convolutional apart
from attention: the same weights denoise whole photos (``aigc denoise``).
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import layers

from aigc_cli.config import DiffusionConfig

SKIP_SCALE = math.sqrt(0.5)  # keeps a residual sum's variance that of its inputs


def group_count(channels: int) -> int:
    """Up to 32 groups of at least 4 channels (EDM's ``GroupNorm``: min(32, C // 4)), so
    a narrow layer's norm is not per-channel instance norm, which would erase each
    channel's mean: the image's brightness and colour the denoiser must keep."""
    groups = max(min(32, channels // 4), 1)
    while channels % groups:
        groups -= 1
    return groups


class PositionalEmbedding(layers.Layer):
    """[N] noise conditions -> [N, dim] cosines and sines over geometric frequencies
    from 1 to 1/10000 (Vaswani et al. 2017; EDM's ``PositionalEmbedding``)."""

    def __init__(self, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim

    def call(self, values):
        half = self.dim // 2
        frequencies = tf.pow(1e-4, tf.range(half, dtype=tf.float32) / max(half - 1, 1))
        angles = tf.cast(values, tf.float32)[:, None] * frequencies[None]
        return tf.concat([tf.cos(angles), tf.sin(angles)], axis=-1)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}


class SpatialAttention(layers.Layer):
    """Multi-head self-attention over the positions of a feature map of any size."""

    def __init__(self, heads: int, **kwargs):
        super().__init__(**kwargs)
        self.heads = heads

    def build(self, input_shape):
        channels = input_shape[-1]
        self.norm = layers.GroupNormalization(group_count(channels), dtype=self.dtype_policy)
        self.attention = layers.MultiHeadAttention(self.heads, max(channels // self.heads, 1),
                                                   dtype=self.dtype_policy)
        self.norm.build(input_shape)
        tokens = (input_shape[0], None, channels)
        self.attention.build(tokens, tokens)

    def call(self, x):
        shape = tf.shape(x)
        tokens = tf.reshape(self.norm(x), (shape[0], shape[1] * shape[2], x.shape[-1]))
        attended = tf.reshape(self.attention(tokens, tokens), shape)
        return (x + attended) * SKIP_SCALE

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "heads": self.heads}


class UpsampleTo(layers.Layer):
    """Nearest 2x upsampling of ``x``, cropped to ``like``'s height and width."""

    def call(self, x, like):
        doubled = tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)
        return doubled[:, :tf.shape(like)[1], :tf.shape(like)[2]]

    def compute_output_shape(self, x_shape, like_shape):
        return (x_shape[0], like_shape[1], like_shape[2], x_shape[3])


def residual_block(x, embedding, channels: int, dropout: float):
    """GN -> SiLU -> conv, then GN modulated by the embedding (a per-channel scale and
    shift after the normalisation, as ADM's scale-shift norm: a shift before it would be
    removed by the norm when a group holds one channel), SiLU, dropout and a
    zero-initialised conv, so the block starts as its skip path."""
    h = layers.Activation("silu")(layers.GroupNormalization(group_count(x.shape[-1]))(x))
    h = layers.Conv2D(channels, 3, padding="same")(h)
    modulation = layers.Reshape((1, 1, 2 * channels))(layers.Dense(2 * channels)(embedding))
    scale, shift = modulation[..., :channels], modulation[..., channels:]
    h = layers.GroupNormalization(group_count(channels))(h) * (1.0 + scale) + shift
    h = layers.Activation("silu")(h)
    if dropout:
        h = layers.Dropout(dropout)(h)
    h = layers.Conv2D(channels, 3, padding="same", kernel_initializer="zeros")(h)
    skip = x if x.shape[-1] == channels else layers.Conv2D(channels, 1)(x)
    return (skip + h) * SKIP_SCALE


def level_sizes(image_size: int, levels: int) -> list[int]:
    """The feature map's size at each level: 28 -> [28, 14, 7, 4] (odd sizes round up)."""
    sizes = [image_size]
    for _ in range(levels - 1):
        sizes.append(math.ceil(sizes[-1] / 2))
    return sizes


def build_unet(config: DiffusionConfig, channels: int, image_size: int) -> keras.Model:
    """([N, H, W, C] scaled noisy images, [N] noise conditions[, [N] labels]) -> [N, H, W, C].

    Labels take values 0..num_classes, the last meaning "no label" (classifier-free
    guidance's unconditional model). ``image_size`` only places the attention.
    """
    images = keras.Input((None, None, channels), name="images")
    noise = keras.Input((), name="noise_condition")
    inputs = [images, noise]
    embedding_dim = config.embedding_dim or 4 * config.widths[0]
    embedding = PositionalEmbedding(config.widths[0])(noise)
    embedding = layers.Dense(embedding_dim, activation="silu")(embedding)
    embedding = layers.Dense(embedding_dim)(embedding)
    if config.num_classes:
        labels = keras.Input((), dtype="int32", name="labels")
        inputs.append(labels)
        embedding = embedding + layers.Embedding(config.num_classes + 1, embedding_dim)(labels)
    embedding = layers.Activation("silu")(embedding)
    sizes = level_sizes(image_size, len(config.widths))

    def maybe_attend(h, level):
        if sizes[level] in config.attention_resolutions:
            return SpatialAttention(config.attention_heads)(h)
        return h

    h = layers.Conv2D(config.widths[0], 3, padding="same")(images)
    skips = [h]
    for level, width in enumerate(config.widths):
        for _ in range(config.blocks_per_level):
            h = maybe_attend(residual_block(h, embedding, width, config.dropout), level)
            skips.append(h)
        if level < len(config.widths) - 1:
            h = layers.Conv2D(width, 3, strides=2, padding="same")(h)
            skips.append(h)
    deepest = len(config.widths) - 1
    h = residual_block(h, embedding, config.widths[-1], config.dropout)
    h = maybe_attend(h, deepest)
    h = residual_block(h, embedding, config.widths[-1], config.dropout)
    for level in reversed(range(len(config.widths))):
        for _ in range(config.blocks_per_level + 1):
            h = layers.Concatenate()([h, skips.pop()])
            h = maybe_attend(residual_block(h, embedding, config.widths[level],
                                            config.dropout), level)
        if level > 0:
            h = layers.Conv2D(config.widths[level], 3, padding="same")(UpsampleTo()(h, skips[-1]))
    h = layers.Activation("silu")(layers.GroupNormalization(group_count(h.shape[-1]))(h))
    # float32 out, zero-initialised: F starts at 0, so D(x) starts as c_skip x.
    out = layers.Conv2D(channels, 3, padding="same", kernel_initializer="zeros",
                        dtype="float32")(h)
    return keras.Model(inputs, out, name="unet")


def receptive_radius(config: DiffusionConfig) -> int:
    """Pixels of context on each side of an output pixel, without attention (which sees
    the whole image): each level's 3x3 convs count at that level's scale."""
    radius = 2  # the first and last convs
    for level in range(len(config.widths)):
        convs = 2 * config.blocks_per_level + 2 * (config.blocks_per_level + 1) + 2
        radius += convs * 2 ** level
    return radius
