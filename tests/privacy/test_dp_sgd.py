"""DP-SGD's pieces against direct computations: per-example gradients equal a loop
over single examples; clipping bounds each example; the noise has the std it claims."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from aigc_cli.privacy.dp_sgd import PrivateUpdate, clipped_sum, global_norms, per_example_gradients


def _network(kind: str) -> keras.Model:
    if kind == "embedding":
        tokens = keras.Input((), dtype="int32")
        x = layers.Embedding(7, 5)(tokens)
        return keras.Model(tokens, layers.Dense(1)(x))
    images = keras.Input((6, 6, 2))
    if kind == "dense":
        x = layers.Dense(3, activation="tanh")(layers.Flatten()(images))
    elif kind == "conv":
        x = layers.Conv2D(4, 3, strides=2, padding="same", activation="tanh")(images)
    elif kind == "conv_transpose":
        x = layers.Conv2DTranspose(3, 3, strides=2, padding="same", activation="tanh")(images)
    else:  # group normalisation after a conv: per example, unlike batch norm
        x = layers.GroupNormalization(2)(layers.Conv2D(4, 3, padding="same")(images))
    return keras.Model(images, layers.Dense(1)(layers.Flatten()(x)))


def _inputs(kind: str, count: int):
    rng = np.random.default_rng(0)
    if kind == "embedding":
        return tf.constant(rng.integers(0, 7, count), tf.int32)
    return tf.constant(rng.normal(size=(count, 6, 6, 2)), tf.float32)


def _losses(network, inputs):
    return tf.reduce_sum(tf.square(network(inputs, training=True)), axis=-1)  # [N]


@pytest.mark.parametrize("kind", ["dense", "conv", "conv_transpose", "group_norm", "embedding"])
def test_per_example_gradients_equal_one_example_at_a_time(kind):
    keras.utils.set_random_seed(1)
    network = _network(kind)
    inputs = _inputs(kind, 5)
    batched, losses, _ = per_example_gradients(lambda x: (_losses(network, x), {}), (inputs,),
                                               network.trainable_variables)
    np.testing.assert_allclose(losses.numpy(), _losses(network, inputs).numpy(), rtol=1e-5)
    for index in range(5):
        with tf.GradientTape() as tape:
            loss = _losses(network, inputs[index:index + 1])[0]
        for got, expected in zip(batched, tape.gradient(loss, network.trainable_variables)):
            expected = tf.convert_to_tensor(expected)  # an embedding's gradient is sparse
            np.testing.assert_allclose(got[index].numpy(), expected.numpy(), atol=1e-5)


def test_every_clipped_gradient_is_within_the_clip_norm():
    rng = np.random.default_rng(2)
    gradients = [tf.constant(rng.normal(size=(6, 3, 2)) * scale, tf.float32)
                 for scale in (0.01, 10.0)]
    mask = tf.constant([1, 1, 1, 1, 0, 1], tf.float32)
    norms = global_norms(gradients).numpy()
    np.testing.assert_allclose(norms, np.sqrt(sum(np.sum(g.numpy() ** 2, axis=(1, 2))
                                                  for g in gradients)), rtol=1e-5)
    for index in range(6):  # one example at a time: its clipped contribution alone
        alone = tf.one_hot(index, 6) * mask
        clipped = clipped_sum(gradients, 0.5, alone)
        norm = np.sqrt(sum(np.sum(c.numpy() ** 2) for c in clipped))
        expected = 0.0 if index == 4 else min(0.5, norms[index])
        assert norm == pytest.approx(expected, rel=1e-5)


def test_noise_has_the_std_of_multiplier_times_clip_norm():
    # A zero gradient: what the update returns is the noise alone, divided by q·N.
    weight = tf.Variable(tf.zeros((200, 50)))
    update = PrivateUpdate(clip_norm=2.0, noise_multiplier=1.5, expected_batch_size=4.0, key=7)
    update.mask = tf.ones(8)
    zero_loss = lambda x: (x * tf.reduce_sum(weight), {})  # noqa: E731 (x is 0)
    inputs = (tf.zeros(8),)
    first = update.gradients(zero_loss, inputs, [weight], tf.constant(0, tf.int64))[0][0].numpy()
    assert first.mean() == pytest.approx(0.0, abs=0.01)
    assert first.std() * 4.0 == pytest.approx(1.5 * 2.0, rel=0.03)
    second = update.gradients(zero_loss, inputs, [weight], tf.constant(1, tf.int64))[0][0].numpy()
    assert abs(np.corrcoef(first.ravel(), second.ravel())[0, 1]) < 0.05  # fresh each step


def test_the_noise_key_is_not_the_seed():
    assert PrivateUpdate(1.0, 1.0, 1.0).key != PrivateUpdate(1.0, 1.0, 1.0).key
