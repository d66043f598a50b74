"""Poisson-sampled training batches (what DP-SGD's accounting assumes): at every step
each training image is in the batch with probability q, independently. The batch
has a fixed shape (the plan's capacity, so the compiled step is traced once) and a
mask [capacity] saying which rows hold selected images.

The selection is keyed by a secret key (``dp_sgd.secret_key``), not by
``training.seed``: amplification by sampling needs a sample nobody can recompute.
"""

from __future__ import annotations

import itertools

import numpy as np
import tensorflow as tf

from aigc_cli.config import DatasetConfig
from aigc_cli.data.noise import add_noise
from aigc_cli.data.pipeline import sample_patches
from aigc_cli.data.sources import ImageSet


def poisson_indices(count: int, sampling_rate: float, capacity: int,
                    seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(indices [capacity], mask [capacity]): the images a Poisson sample of
    ``count`` selected, then padded with index 0 (mask 0) or cut to ``capacity``."""
    selected = tf.where(tf.random.stateless_uniform((count,), seed) < sampling_rate)[:, 0]
    selected = selected[:capacity]
    taken = tf.shape(selected)[0]
    padding = capacity - taken
    indices = tf.concat([selected, tf.zeros((padding,), tf.int64)], 0)
    mask = tf.concat([tf.ones((taken,)), tf.zeros((padding,))], 0)
    return indices, mask


def private_dataset(images: ImageSet, config: DatasetConfig, capacity: int,
                    sampling_rate: float, key: int, with_labels: bool,
                    start_batch: int = 0) -> tf.data.Dataset:
    """An endless stream of (batch, mask): the batch as ``training_dataset`` gives it
    (images, (images, labels) or (noisy, clean, sigma)) of ``capacity`` rows."""
    if config.patch_size:
        dataset = _patch_batches(images, config, capacity, sampling_rate, key, start_batch)
    else:
        dataset = _whole_image_batches(images, config, capacity, sampling_rate, key,
                                       with_labels, start_batch)
    if config.noise is not None:
        dataset = dataset.enumerate(start_batch).map(
            lambda index, batch: (add_noise((batch[0] + 1.0) * 0.5, config.noise,
                                            tf.stack([tf.constant(key, tf.int64), index])),
                                  batch[1]), num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = True
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def _whole_image_batches(images, config, capacity, sampling_rate, key, with_labels,
                         start_batch):
    pixels = tf.constant(images.images)
    labels = tf.constant(images.labels.astype("int32")) if with_labels else None
    count, flip = len(images.images), config.horizontal_flip

    def batch(index):
        seed = tf.stack([tf.constant(key, tf.int64), index])
        indices, mask = poisson_indices(count, sampling_rate, capacity, seed)
        batch = tf.cast(tf.gather(pixels, indices), tf.float32) / 127.5 - 1.0
        if flip:
            batch = tf.image.stateless_random_flip_left_right(batch, seed + 1)
        if labels is not None:
            return (batch, tf.gather(labels, indices)), mask
        return batch, mask

    return tf.data.Dataset.range(start_batch, 2**62).map(
        batch, num_parallel_calls=tf.data.AUTOTUNE)


def _patch_batches(images, config, capacity, sampling_rate, key, start_batch):
    """One random patch from each selected image (the unit of privacy is an image)."""
    size = config.patch_size
    sources = [image for image in images.images if min(image.shape[:2]) >= size]
    channels = sources[0].shape[-1]

    def batches():
        for index in itertools.count(start_batch):
            rng = np.random.default_rng([key, index])
            selected = np.flatnonzero(rng.random(len(sources)) < sampling_rate)[:capacity]
            patches = np.zeros((capacity, size, size, channels), np.uint8)
            if len(selected):
                patches[:len(selected)] = np.concatenate([
                    sample_patches([sources[i]], size, 1, rng, config.random_rotations)
                    for i in selected])
            mask = np.zeros(capacity, np.float32)
            mask[:len(selected)] = 1.0
            yield patches, mask

    dataset = tf.data.Dataset.from_generator(batches, output_signature=(
        tf.TensorSpec((capacity, size, size, channels), tf.uint8),
        tf.TensorSpec((capacity,), tf.float32)))
    return dataset.map(lambda batch, mask: (tf.cast(batch, tf.float32) / 127.5 - 1.0, mask))
