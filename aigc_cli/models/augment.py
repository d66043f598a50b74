"""Differentiable augmentation for GAN training (DiffAugment, Zhao et al. 2020,
https://arxiv.org/abs/2006.10738).

The same kinds of random transforms go on real and generated images before
the discriminator sees them, and gradients flow through them to the
generator: the discriminator cannot memorise a small dataset, and the
generator is not taught to produce augmented images.
"""

from __future__ import annotations

import tensorflow as tf

AUGMENTATIONS = ("color", "translation", "cutout")


def color(images: tf.Tensor, rng: tf.random.Generator) -> tf.Tensor:
    """Random brightness, saturation and contrast per image (images in [-1, 1])."""
    n = tf.shape(images)[0]
    images = images + rng.uniform((n, 1, 1, 1), -0.5, 0.5)
    gray = tf.reduce_mean(images, axis=-1, keepdims=True)
    images = (images - gray) * rng.uniform((n, 1, 1, 1), 0.0, 2.0) + gray
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return (images - mean) * rng.uniform((n, 1, 1, 1), 0.5, 1.5) + mean


def translation(images: tf.Tensor, rng: tf.random.Generator, ratio: float = 0.125) -> tf.Tensor:
    """Shift each image by up to ``ratio`` of its size, filling with zeros."""
    n, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    pad_y, pad_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    padded = tf.pad(images, [[0, 0], [pad_y, pad_y], [pad_x, pad_x], [0, 0]])
    dy = rng.uniform((n,), 0, 2 * pad_y + 1, dtype=tf.int32)
    dx = rng.uniform((n,), 0, 2 * pad_x + 1, dtype=tf.int32)
    rows = dy[:, None] + tf.range(height)[None]  # [N, H]
    columns = dx[:, None] + tf.range(width)[None]  # [N, W]
    shifted = tf.gather(padded, rows, axis=1, batch_dims=1)  # [N, H, W + 2px, C]
    return tf.gather(shifted, columns, axis=2, batch_dims=1)


def cutout(images: tf.Tensor, rng: tf.random.Generator, ratio: float = 0.5) -> tf.Tensor:
    """Zero one random square of ``ratio`` times the image size per image."""
    n, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    size_y, size_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    top = rng.uniform((n, 1, 1), 0, height - size_y + 1, dtype=tf.int32)
    left = rng.uniform((n, 1, 1), 0, width - size_x + 1, dtype=tf.int32)
    rows = tf.range(height)[None, :, None]
    columns = tf.range(width)[None, None, :]
    inside = (rows >= top) & (rows < top + size_y) & (columns >= left) & (columns < left + size_x)
    return images * tf.cast(~inside, images.dtype)[..., None]


def diff_augment(images: tf.Tensor, kinds: tuple[str, ...], rng: tf.random.Generator):
    """Apply each named augmentation in ``AUGMENTATIONS`` order."""
    transforms = {"color": color, "translation": translation, "cutout": cutout}
    for kind in AUGMENTATIONS:
        if kind in kinds:
            images = transforms[kind](images, rng)
    return images
