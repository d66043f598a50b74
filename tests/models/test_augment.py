import numpy as np
import pytest
import tensorflow as tf

from aigc_cli.models.augment import color, cutout, diff_augment, translation


@pytest.mark.parametrize("transform", [color, translation, cutout])
def test_each_augmentation_keeps_shape_and_passes_gradients(transform):
    images = tf.random.uniform((4, 16, 12, 3), -1, 1, seed=1)
    rng = tf.random.Generator.from_seed(0)
    with tf.GradientTape() as tape:
        tape.watch(images)
        total = tf.reduce_sum(transform(images, rng))
    gradient = tape.gradient(total, images)
    assert transform(images, rng).shape == images.shape
    assert gradient is not None and float(tf.reduce_sum(tf.abs(gradient))) > 0


def test_translation_shifts_content_without_scaling_it():
    image = np.zeros((1, 16, 16, 1), np.float32)
    image[0, 8, 8, 0] = 1.0  # one bright pixel: it moves, and stays one pixel
    moved = translation(tf.constant(image), tf.random.Generator.from_seed(3)).numpy()
    assert moved.sum() in (0.0, 1.0) and set(np.unique(moved)) <= {0.0, 1.0}
    rows, columns = np.nonzero(moved[0, ..., 0])
    assert all(abs(r - 8) <= 2 and abs(c - 8) <= 2 for r, c in zip(rows, columns))


def test_cutout_zeroes_a_quarter_of_each_image():
    ones = tf.ones((8, 16, 16, 1))
    kept = cutout(ones, tf.random.Generator.from_seed(0)).numpy()
    np.testing.assert_allclose(kept.mean(axis=(1, 2, 3)), 0.75)


def test_diff_augment_applies_only_what_is_asked():
    images = tf.random.uniform((2, 8, 8, 1), -1, 1, seed=2)
    rng = tf.random.Generator.from_seed(0)
    np.testing.assert_array_equal(diff_augment(images, (), rng).numpy(), images.numpy())
    assert not np.allclose(diff_augment(images, ("color",), rng).numpy(), images.numpy())
