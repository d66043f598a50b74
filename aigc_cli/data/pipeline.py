"""The tf.data training pipelines over decoded images."""

from __future__ import annotations

import itertools

import numpy as np
import tensorflow as tf

from aigc_cli.config import DatasetConfig
from aigc_cli.data.noise import add_noise
from aigc_cli.data.sources import ImageSet
from aigc_cli.errors import DataError


def training_dataset(images: ImageSet, config: DatasetConfig, batch_size: int,
                     seed: int, with_labels: bool = False,
                     start_batch: int = 0) -> tf.data.Dataset:
    """An endless stream of fixed-size batches.

    Elements: images [batch_size, H, W, C] in [-1, 1]; (images, labels) with
    ``with_labels``; with ``dataset.noise``, (noisy, clean, sigma) in [0, 1]
    units (the denoising convention). Fixed batch shapes (``drop_remainder``)
    mean the compiled step is traced once.

    Batch k is a pure function of (seed, k): the stream that starts at
    ``start_batch`` is the rest of the stream that starts at 0, so a resumed run
    sees exactly the batches an uninterrupted one would have.
    """
    if config.patch_size:
        dataset = _patch_batches(images, config, batch_size, seed, start_batch)
    else:
        dataset = _whole_image_batches(images, config, batch_size, seed, with_labels,
                                       start_batch)
    if config.noise is not None:
        dataset = dataset.enumerate(start_batch).map(
            lambda index, batch: add_noise((batch + 1.0) * 0.5, config.noise,
                                           tf.stack([tf.cast(seed, tf.int64), index])),
            num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = True
    # Multi-worker: every worker builds the same stream and keeps its share of each batch.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def _whole_image_batches(images: ImageSet, config: DatasetConfig, batch_size: int, seed: int,
                         with_labels: bool, start_batch: int) -> tf.data.Dataset:
    _check_whole_images(images, batch_size, with_labels)
    count = len(images.images)
    pixels = tf.constant(images.images)
    labels = tf.constant(images.labels.astype("int32")) if with_labels else None
    # Epoch e visits the images in the order of a permutation seeded by (seed, e); the
    # stream of indices is cut into batches across epoch boundaries.
    first_epoch, offset = divmod(start_batch * batch_size, count)
    indices = tf.data.Dataset.range(first_epoch, 2**62).flat_map(
        lambda epoch: tf.data.Dataset.from_tensor_slices(_epoch_order(count, seed, epoch)))
    if config.shuffle_buffer and config.shuffle_buffer < count:
        indices = indices.shuffle(config.shuffle_buffer, seed=seed)  # less random, on request
    indices = indices.skip(offset).batch(batch_size, drop_remainder=True)
    flip = config.horizontal_flip

    def gather(index, batch_indices):
        batch = tf.cast(tf.gather(pixels, batch_indices), tf.float32) / 127.5 - 1.0
        if flip:
            batch = tf.image.stateless_random_flip_left_right(
                batch, tf.stack([tf.cast(seed, tf.int64), index]))
        return (batch, tf.gather(labels, batch_indices)) if labels is not None else batch

    return indices.enumerate(start_batch).map(gather, num_parallel_calls=tf.data.AUTOTUNE)


#: Datasets up to this size may live on the training device (``dataset.on_device``).
DEVICE_BYTES = 2 * 2**30


class DeviceBatches:
    """Whole-image batches gathered inside the compiled step from one device-resident
    tensor; batch k equals batch k of ``training_dataset`` (same permutations, flips).

    Build it inside the strategy's scope (the images become a mirrored variable);
    call ``replica_batch(k)`` in replica context: each replica takes its slice of
    global batch k.
    """

    def __init__(self, images: ImageSet, config: DatasetConfig, batch_size: int, seed: int,
                 with_labels: bool):
        _check_whole_images(images, batch_size, with_labels)
        self.count, self.batch_size, self.seed = len(images.images), batch_size, seed
        self.flip = config.horizontal_flip
        self.pixels = tf.Variable(images.images, trainable=False, name="device_images")
        self.labels = (tf.Variable(images.labels.astype("int32"), trainable=False,
                                   name="device_labels") if with_labels else None)

    @staticmethod
    def eligible(images: ImageSet, config: DatasetConfig) -> bool:
        """Whether ``config`` asks for (or, when unset, an accelerator suggests) and allows
        the on-device path."""
        wanted = config.on_device
        if wanted is None:
            wanted = bool(tf.config.list_logical_devices("GPU")
                          or tf.config.list_logical_devices("TPU"))
        return (wanted and not config.patch_size and config.noise is None
                and isinstance(images.images, np.ndarray)
                and images.images.nbytes <= DEVICE_BYTES
                and (not config.shuffle_buffer or config.shuffle_buffer >= len(images.images)))

    def replica_batch(self, batch_number: tf.Tensor):
        """This replica's share of global batch ``batch_number``: images [b, H, W, C] in
        [-1, 1] (and labels [b])."""
        number = tf.cast(batch_number, tf.int64)
        positions = number * self.batch_size + tf.range(self.batch_size, dtype=tf.int64)
        first_epoch = positions[0] // self.count
        # A batch spans at most two epochs (count >= batch_size); most span one, and a
        # permutation of 60,000 indices costs ~0.7 ms, so the second is made only if needed.
        order = tf.cond(
            positions[-1] // self.count > first_epoch,
            lambda: tf.concat([_epoch_order(self.count, self.seed, first_epoch),
                               _epoch_order(self.count, self.seed, first_epoch + 1)], 0),
            lambda: _epoch_order(self.count, self.seed, first_epoch))
        indices = tf.gather(order, positions - first_epoch * self.count)
        batch = tf.cast(tf.gather(self.pixels, indices), tf.float32) / 127.5 - 1.0
        if self.flip:
            batch = tf.image.stateless_random_flip_left_right(
                batch, tf.stack([tf.cast(self.seed, tf.int64), number]))
        context = tf.distribute.get_replica_context()
        share = self.batch_size // context.num_replicas_in_sync
        start = context.replica_id_in_sync_group * share
        batch = batch[start:start + share]
        if self.labels is None:
            return batch
        return batch, tf.gather(self.labels, indices)[start:start + share]


def _check_whole_images(images: ImageSet, batch_size: int, with_labels: bool) -> None:
    count = len(images.images)
    if count < batch_size:
        raise DataError(f"{images.origin} has {count} images, fewer than training.batch_size "
                        f"{batch_size}; lower training.batch_size or add images")
    if with_labels and images.labels is None:
        raise DataError(f"{images.origin} has no labels; this model trains on a labelled "
                        "dataset (dataset.type fashion_mnist, mnist or cifar10)")


def _epoch_order(count: int, seed: int, epoch: tf.Tensor) -> tf.Tensor:
    """A permutation of range(count) that depends only on (seed, epoch)."""
    return tf.random.experimental.stateless_shuffle(
        tf.range(count, dtype=tf.int64), tf.stack([tf.cast(seed, tf.int64), epoch]))


def _patch_batches(images: ImageSet, config: DatasetConfig, batch_size: int,
                   seed: int, start_batch: int) -> tf.data.Dataset:
    """Random patch_size crops (with optional dihedral augmentation) of full images."""
    size = config.patch_size
    sources = [image for image in images.images if min(image.shape[:2]) >= size]
    if not sources:
        raise DataError(f"no image under {images.origin} is at least dataset.patch_size "
                        f"({size}) pixels on its short side")
    channels = sources[0].shape[-1]

    def batches():
        for index in itertools.count(start_batch):
            rng = np.random.default_rng([seed, index])  # batch k depends on (seed, k) only
            yield sample_patches(sources, size, batch_size, rng, config.random_rotations)

    dataset = tf.data.Dataset.from_generator(
        batches, output_signature=tf.TensorSpec((batch_size, size, size, channels), tf.uint8))
    return dataset.map(lambda batch: tf.cast(batch, tf.float32) / 127.5 - 1.0)


def sample_patches(sources: list, size: int, count: int, rng: np.random.Generator,
                   random_rotations: bool) -> np.ndarray:
    """``count`` random size x size crops, uint8 [count, size, size, C]."""
    patches = []
    for index in rng.integers(0, len(sources), count):
        image = sources[index]
        top = rng.integers(0, image.shape[0] - size + 1)
        left = rng.integers(0, image.shape[1] - size + 1)
        patch = image[top:top + size, left:left + size]
        if random_rotations:
            patch = np.rot90(patch, k=rng.integers(0, 4))
            if rng.integers(0, 2):
                patch = patch[:, ::-1]
        patches.append(patch)
    return np.stack(patches)


def preview_batch(images: ImageSet, config: DatasetConfig, count: int) -> np.ndarray:
    """A fixed uint8 batch for the preview grids: the first images (centre crops of
    patch_size when training on patches)."""
    if not config.patch_size:
        return images.images[:count]
    size = config.patch_size
    crops = []
    for image in images.images:
        if min(image.shape[:2]) >= size and len(crops) < count:
            top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
            crops.append(image[top:top + size, left:left + size])
    return np.stack(crops)
