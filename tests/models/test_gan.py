import numpy as np
import pytest
import tensorflow as tf

from aigc_cli.config import DCGANConfig, OptimizerConfig
from aigc_cli.models.gan import build_dcgan, non_saturating_losses

from conftest import TINY_MODEL

OPTIMIZERS = {"generator": OptimizerConfig(), "discriminator": OptimizerConfig()}


def tiny_dcgan(**settings) -> DCGANConfig:
    """The tests' tiny DCGAN config, with ``settings`` changed."""
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in TINY_MODEL.items()}
    return DCGANConfig(**{**fields, **settings})


TINY = tiny_dcgan()


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3), (64, 64, 1), (16, 16, 3)])
def test_generator_and_discriminator_shapes(shape):
    gan = build_dcgan(TINY, OPTIMIZERS, shape, seed=0)
    images = gan.generate(tf.zeros((2, TINY.latent_dim)))
    assert images.shape == (2, *shape)
    assert float(tf.reduce_max(tf.abs(images))) <= 1.0
    assert gan.discriminator(images).shape == (2, 1)


def test_default_networks_are_the_tensorflow_tutorial():
    # Parameter counts of the tutorial's make_generator_model / make_discriminator_model.
    gan = build_dcgan(DCGANConfig(), OPTIMIZERS, (28, 28, 1), seed=0)
    assert gan.generator.count_params() == 2_330_944
    assert gan.discriminator.count_params() == 212_865
    strides = [layer.strides for layer in gan.generator.layers if hasattr(layer, "strides")]
    assert strides == [(1, 1), (2, 2), (2, 2)]


def test_compiled_train_step_updates_both_networks_with_finite_losses():
    gan = build_dcgan(TINY, OPTIMIZERS, (16, 16, 1), seed=0)
    gan.build_optimizers()
    before_g = [v.numpy().copy() for v in gan.generator.trainable_variables]
    before_d = [v.numpy().copy() for v in gan.discriminator.trainable_variables]
    step = tf.function(gan.train_step)
    images = tf.random.uniform((8, 16, 16, 1), -1, 1, seed=1)
    for _ in range(2):
        losses = step(images)
    assert set(losses) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(np.isfinite(float(v)) for v in losses.values())
    assert step.experimental_get_tracing_count() == 1
    changed = lambda before, net: any(  # noqa: E731
        not np.array_equal(b, v.numpy()) for b, v in zip(before, net.trainable_variables))
    assert changed(before_g, gan.generator) and changed(before_d, gan.discriminator)


def test_non_saturating_losses_match_cross_entropy():
    real, fake = tf.constant([[2.0], [-1.0]]), tf.constant([[0.5], [-3.0]])
    d_loss, g_loss = non_saturating_losses(real, fake)
    bce = tf.keras.losses.BinaryCrossentropy(from_logits=True, reduction=None)
    expected_d = bce(tf.ones_like(real), real) + bce(tf.zeros_like(fake), fake)
    np.testing.assert_allclose(d_loss.numpy()[:, 0], expected_d.numpy(), rtol=1e-6)
    np.testing.assert_allclose(g_loss.numpy()[:, 0], bce(tf.ones_like(fake), fake).numpy(),
                               rtol=1e-6)
    # By hand for one logit: -log(sigmoid(0.5)) = log(1 + e^-0.5)
    assert float(g_loss[0, 0]) == pytest.approx(np.log1p(np.exp(-0.5)), rel=1e-6)


@pytest.mark.parametrize("name, expected_d, expected_g", [
    # real logit 2, fake logit -1, worked by hand
    ("hinge", max(0, 1 - 2) + max(0, 1 + -1), 1.0),
    ("least_squares", 0.5 * ((2 - 1) ** 2 + (-1) ** 2), 0.5 * (-1 - 1) ** 2),
    ("wasserstein", -1 - 2, 1.0),
    ("non_saturating", np.log1p(np.exp(-2)) + np.log1p(np.exp(-1)), np.log1p(np.exp(1))),
])
def test_each_gan_loss_by_hand(name, expected_d, expected_g):
    from aigc_cli.models.gan import GAN_LOSSES

    d_loss, g_loss = GAN_LOSSES[name](tf.constant([[2.0]]), tf.constant([[-1.0]]))
    assert float(d_loss[0, 0]) == pytest.approx(expected_d, rel=1e-6)
    assert float(g_loss[0, 0]) == pytest.approx(expected_g, rel=1e-6)


def _linear_discriminator(weights):
    import keras

    inputs = keras.Input((2, 2, 1))
    dense = keras.layers.Dense(1)
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    dense.set_weights([np.array(weights, np.float32).reshape(4, 1), np.zeros(1, np.float32)])
    return model


def test_r1_and_gradient_penalty_on_a_linear_discriminator():
    from aigc_cli.models.gan import gradient_penalty, r1_penalty

    # D(x) = w . x has gradient w everywhere: |w| = sqrt(1 + 4 + 4 + 16) = 5
    discriminator = _linear_discriminator([1.0, 2.0, -2.0, 4.0])
    real = tf.random.uniform((3, 2, 2, 1), seed=1)
    fake = tf.random.uniform((3, 2, 2, 1), seed=2)
    np.testing.assert_allclose(r1_penalty(discriminator, real, gamma=0.2).numpy(),
                               [0.5 * 0.2 * 25] * 3, rtol=1e-5)
    mix = tf.fill((3, 1, 1, 1), 0.3)
    np.testing.assert_allclose(gradient_penalty(discriminator, real, fake, 10.0, mix).numpy(),
                               [10.0 * (5 - 1) ** 2] * 3, rtol=1e-5)


@pytest.mark.parametrize("settings, penalty", [
    (dict(loss="wasserstein", gradient_penalty=10.0), "gradient_penalty"),
    (dict(loss="hinge", r1_gamma=1.0, spectral_norm=True,
          diff_augment=("color", "translation", "cutout")), "r1_penalty"),
])
@pytest.mark.slow
def test_penalties_run_inside_the_compiled_step(settings, penalty):
    config = tiny_dcgan(**settings)
    gan = build_dcgan(config, OPTIMIZERS, (16, 16, 1), seed=0)
    gan.build_optimizers()
    losses = tf.function(gan.train_step)(tf.random.uniform((4, 16, 16, 1), -1, 1, seed=3))
    assert penalty in losses and float(losses[penalty]) > 0
    assert all(np.isfinite(float(v)) for v in losses.values())


def test_ema_generator_update_and_use():
    config = tiny_dcgan(ema_decay=0.75)
    gan = build_dcgan(config, OPTIMIZERS, (16, 16, 1), seed=0)
    live = gan.generator.trainable_variables[0]
    average = gan.ema_generator.trainable_variables[0]
    np.testing.assert_array_equal(average.numpy(), live.numpy())  # starts as a copy
    before = average.numpy().copy()
    live.assign(live.numpy() + 1.0)
    tf.function(gan.after_step)()
    np.testing.assert_allclose(average.numpy(), 0.75 * before + 0.25 * live.numpy(), rtol=1e-6)
    z = tf.random.normal((2, config.latent_dim), seed=4)
    np.testing.assert_allclose(gan.generate(z).numpy(),
                               gan.ema_generator(z, training=False).numpy())
    assert not np.allclose(gan.generate(z).numpy(), gan.generator(z, training=False).numpy())
    assert set(gan.inference_items()) == {"generator", "ema_generator"}


def test_spectral_norm_keeps_the_discriminator_layers_near_unit_norm():
    config = tiny_dcgan(spectral_norm=True)
    gan = build_dcgan(config, OPTIMIZERS, (16, 16, 1), seed=0)
    images = tf.random.uniform((4, 16, 16, 1), -1, 1, seed=5)
    for _ in range(30):  # power iterations run in training mode
        gan.discriminator(images, training=True)
    wrapped = [layer for layer in gan.discriminator.layers
               if type(layer).__name__ == "SpectralNormalization"]
    assert len(wrapped) == len(config.discriminator_widths) + 1
    for layer in wrapped:
        kernel = layer.layer.kernel.numpy().reshape(-1, layer.layer.kernel.shape[-1])
        assert np.linalg.svd(kernel, compute_uv=False)[0] == pytest.approx(1.0, abs=0.05)


@pytest.mark.slow
def test_conditional_networks_take_labels_and_the_step_uses_them():
    config = tiny_dcgan(num_classes=3, r1_gamma=1.0)
    gan = build_dcgan(config, OPTIMIZERS, (16, 16, 1), seed=0)
    gan.build_optimizers()
    assert gan.uses_labels and gan.latent_dim == config.latent_dim
    latents = tf.random.normal((6, config.latent_dim), seed=4)
    by_class = [gan.generate(latents, tf.fill((6,), label)) for label in range(3)]
    assert not np.allclose(by_class[0], by_class[1])  # the label changes the image
    # Without labels every class is drawn in turn: image i has label i % 3.
    np.testing.assert_allclose(gan.generate(latents)[4], by_class[1][4], atol=1e-6)
    images = tf.random.uniform((6, 16, 16, 1), -1, 1, seed=5)
    logits = [gan.discriminator([images, tf.fill((6,), label)]) for label in range(2)]
    assert not np.allclose(logits[0], logits[1])  # the projection term sees the label
    losses = tf.function(gan.train_step)((images, tf.constant([0, 1, 2, 0, 1, 2])))
    assert {"r1_penalty", "d_loss"} <= set(losses)
    assert all(np.isfinite(float(v)) for v in losses.values())


@pytest.mark.slow
def test_averaged_generator_gets_its_own_batch_norm_statistics():
    config = tiny_dcgan(ema_decay=0.5)
    gan = build_dcgan(config, OPTIMIZERS, (16, 16, 1), seed=0)
    gan.build_optimizers()
    step = tf.function(gan.train_step)
    for seed in range(3):
        step(tf.random.uniform((8, 16, 16, 1), -1, 1, seed=seed))
        gan.after_step()
    latents = tf.random.normal((512, config.latent_dim), seed=9)

    def mismatch():  # inference-mode output vs the same batch with its own statistics
        ema = gan.ema_generator
        return float(tf.reduce_mean(tf.abs(ema(latents, training=False)
                                           - ema(latents, training=True))))

    before = mismatch()
    gan.prepare_inference()
    assert mismatch() < 0.25 * before


@pytest.mark.slow
def test_minibatch_std_channel_measures_the_batch_spread():
    from aigc_cli.models.layers import MinibatchStdDev

    features = np.zeros((2, 3, 3, 2), np.float32)
    features[1] = 2.0  # every feature is {0, 2} across the batch: std-dev 1
    out = MinibatchStdDev()(tf.constant(features)).numpy()
    assert out.shape == (2, 3, 3, 3)
    np.testing.assert_array_equal(out[..., :2], features)
    np.testing.assert_allclose(out[..., 2], 1.0, atol=1e-6)
    collapsed = MinibatchStdDev()(tf.ones((4, 3, 3, 2))).numpy()
    np.testing.assert_allclose(collapsed[..., 2], 0.0, atol=1e-3)
    # In the discriminator: a collapsed batch of fakes changes what each one scores.
    gan = build_dcgan(tiny_dcgan(minibatch_std=True), OPTIMIZERS, (16, 16, 1), seed=0)
    varied = tf.random.uniform((4, 16, 16, 1), -1, 1, seed=3)
    copies = tf.repeat(varied[:1], 4, axis=0)
    assert not np.allclose(gan.discriminator(varied)[0], gan.discriminator(copies)[0])
    gan.build_optimizers()
    losses = tf.function(gan.train_step)(varied)
    assert all(np.isfinite(float(v)) for v in losses.values())


@pytest.mark.slow
def test_mode_seeking_terms_by_hand():
    from aigc_cli.models.gan import mode_seeking_terms

    fakes = tf.reshape(tf.constant([0.0, 1.0, 0.0, 0.5]), (4, 1, 1, 1))
    latents = tf.constant([[0.0], [2.0], [0.0], [1.0]])
    # Unconditional: neighbours pair up: |0-1|/|0-2| and |0-0.5|/|0-1|, both 0.5.
    np.testing.assert_allclose(mode_seeking_terms(fakes, latents), [2.0, 2.0], rtol=1e-4)
    # Conditional: pairs within a label; images 0 and 2 are equal, so their term explodes.
    terms = mode_seeking_terms(fakes, latents, tf.constant([1, 0, 1, 0]))
    np.testing.assert_allclose(terms, [2.0, 1e5], rtol=1e-4)
    # Sorted neighbours that straddle two labels count 0; the last of an odd batch
    # has no partner; a single example gives one 0, not an empty (NaN) mean.
    terms = mode_seeking_terms(fakes[:3], latents[:3], tf.constant([0, 1, 1]))
    np.testing.assert_allclose(terms, [0.0])
    np.testing.assert_array_equal(mode_seeking_terms(fakes[:1], latents[:1]), [0.0])
    gan = build_dcgan(tiny_dcgan(num_classes=2, mode_seeking=1.0), OPTIMIZERS, (16, 16, 1), 0)
    gan.build_optimizers()
    losses = tf.function(gan.train_step)((tf.random.uniform((6, 16, 16, 1), -1, 1, seed=2),
                                          tf.constant([0, 1, 0, 1, 0, 1])))
    assert float(losses["mode_seeking"]) > 0 and np.isfinite(float(losses["g_loss"]))
