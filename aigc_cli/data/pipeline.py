"""The tf.data training pipeline over decoded images."""

from __future__ import annotations

import tensorflow as tf

from aigc_cli.config import DatasetConfig
from aigc_cli.data.sources import ImageSet
from aigc_cli.errors import DataError


def training_dataset(images: ImageSet, config: DatasetConfig, batch_size: int,
                     seed: int, with_labels: bool = False) -> tf.data.Dataset:
    """An endless stream of shuffled batches [batch_size, H, W, C] in [-1, 1]
    (with ``with_labels``: (images, labels [batch_size] int32) pairs).

    Batches have a fixed size (``drop_remainder``), so the compiled step is
    traced once. The data are small and already decoded, so they live in
    memory and the host only shuffles indices' worth of work per step.
    """
    count = len(images.images)
    if count < batch_size:
        raise DataError(f"{images.origin} has {count} images, fewer than training.batch_size "
                        f"{batch_size}; lower training.batch_size or add images")
    buffer = min(config.shuffle_buffer or count, count)
    if with_labels and images.labels is None:
        raise DataError(f"{images.origin} has no labels; this model trains on a labelled "
                        "dataset (dataset.type fashion_mnist or mnist)")
    elements = (images.images, images.labels.astype("int32")) if with_labels else images.images
    dataset = tf.data.Dataset.from_tensor_slices(elements)
    dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=True).repeat()
    dataset = dataset.batch(batch_size, drop_remainder=True)
    flip = config.horizontal_flip

    def to_float(batch, *labels):
        batch = tf.cast(batch, tf.float32) / 127.5 - 1.0
        if flip:
            batch = tf.image.random_flip_left_right(batch, seed=seed)
        return (batch, *labels) if labels else batch

    dataset = dataset.map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = True
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)
