import keras
import numpy as np
import pytest
import tensorflow as tf

from aigc_cli.config import OptimizerConfig, VAEConfig
from aigc_cli.models.latents import gaussian_kl
from aigc_cli.models.vae import bernoulli_log_likelihood, build_vae

OPTIMIZERS = {"vae": OptimizerConfig()}
TINY = dict(latent_dim=4, encoder_widths=(4, 8), hidden_units=16)


def test_kl_matches_its_closed_form_on_known_inputs():
    z_mean = tf.constant([[1.0, 2.0], [0.0, 0.0]])
    z_log_var = tf.constant([[0.0, np.log(4.0)], [0.0, 0.0]])
    # 0.5 * [(1 + 1 - 1 - 0) + (4 + 4 - 1 - ln 4)] and exactly 0 for the prior itself
    expected = [0.5 * (1.0 + 7.0 - np.log(4.0)), 0.0]
    np.testing.assert_allclose(gaussian_kl(z_mean, z_log_var).numpy(), expected, rtol=1e-6)


def test_kl_agrees_with_a_monte_carlo_estimate():
    rng = np.random.default_rng(0)
    mean, log_var = np.array([0.5, -1.0, 2.0]), np.array([-1.0, 0.5, 0.0])
    z = mean + np.exp(0.5 * log_var) * rng.standard_normal((400_000, 3))
    log_q = -0.5 * np.sum((z - mean) ** 2 / np.exp(log_var) + log_var, axis=1)
    log_p = -0.5 * np.sum(z ** 2, axis=1)
    closed = float(gaussian_kl(tf.constant([mean], tf.float32),
                               tf.constant([log_var], tf.float32))[0])
    assert closed == pytest.approx(np.mean(log_q - log_p), abs=0.02)


def test_bernoulli_log_likelihood_sums_over_pixels():
    targets = tf.constant([0.0, 1.0, 0.25, 0.5], shape=(1, 2, 2, 1))
    logits = tf.constant([0.0, 2.0, -1.0, 0.0], shape=(1, 2, 2, 1))
    p = 1 / (1 + np.exp(-np.array([0.0, 2.0, -1.0, 0.0])))
    x = np.array([0.0, 1.0, 0.25, 0.5])
    expected = np.sum(x * np.log(p) + (1 - x) * np.log(1 - p))
    assert float(bernoulli_log_likelihood(targets, logits)[0]) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("shape, likelihood, scale, param_channels", [
    ((28, 28, 1), "bernoulli", None, 1),
    ((32, 32, 3), "gaussian", None, 6),
    ((16, 16, 3), "gaussian", 0.1, 3),
])
def test_shapes_for_each_likelihood(shape, likelihood, scale, param_channels):
    config = VAEConfig(**TINY, likelihood=likelihood, gaussian_scale=scale, residual_blocks=1)
    vae = build_vae(config, OPTIMIZERS, shape, seed=0)
    z_mean, z_log_var = vae.encode(tf.zeros((2, *shape)))
    assert z_mean.shape == z_log_var.shape == (2, 4)
    assert vae.decode_params(z_mean).shape == (2, *shape[:2], param_channels)
    images = vae.generate(z_mean)
    assert images.shape == (2, *shape) and float(tf.reduce_max(tf.abs(images))) <= 1.0
    log_px = vae.log_likelihood(tf.zeros((2, *shape)), vae.decode_params(z_mean))
    assert log_px.shape == (2,) and np.isfinite(log_px.numpy()).all()


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_compiled_train_step_is_finite_and_learns(likelihood):
    vae = build_vae(VAEConfig(**TINY, likelihood=likelihood), {"vae": OptimizerConfig(
        learning_rate=3e-3)}, (16, 16, 1), seed=0)
    vae.build_optimizers()
    step = tf.function(vae.train_step)
    images = tf.random.uniform((16, 16, 16, 1), -1, 1, seed=2)
    first = step(images)
    for _ in range(30):
        last = step(images)
    assert set(first) == {"loss", "reconstruction_loss", "kl_loss", "neg_elbo"}
    assert all(np.isfinite(float(v)) for v in last.values())
    assert float(last["loss"]) < float(first["loss"])
    assert step.experimental_get_tracing_count() == 1


def test_kl_warmup_ramps_the_weight_to_beta():
    vae = build_vae(VAEConfig(**TINY, beta=2.0, kl_warmup_steps=4), OPTIMIZERS, (16, 16, 1), 0)
    vae.build_optimizers()
    weights = []
    for iteration in range(6):
        vae.vae_optimizer.iterations.assign(iteration)
        weights.append(float(vae.kl_weight()))
    assert weights == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.0, 2.0])


def test_autoregressive_head_is_causal():
    vae = build_vae(VAEConfig(**TINY, autoregressive_layers=3, autoregressive_width=8),
                    OPTIMIZERS, (8, 8, 1), seed=0)
    features = vae.decode_params(tf.zeros((1, 4)))
    base = np.random.default_rng(0).uniform(0, 1, (1, 8, 8, 1)).astype(np.float32)
    changed = base.copy()
    changed[0, 3, 4, 0] = 1.0 - changed[0, 3, 4, 0]  # flip pixel (row 3, column 4)
    before = vae.pixel_head([tf.constant(base), features]).numpy()[0, ..., 0]
    after = vae.pixel_head([tf.constant(changed), features]).numpy()[0, ..., 0]
    moved = np.abs(after - before) > 1e-7
    # Only pixels after (3, 4) in raster order may react; (3, 4) itself may not.
    order = np.arange(64).reshape(8, 8)
    assert not moved[order <= 3 * 8 + 4].any() and moved[order > 3 * 8 + 4].any()


def test_the_autoregressive_head_runs_in_bfloat16_as_aigc_eval_builds_it():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        vae = build_vae(VAEConfig(**TINY, autoregressive_layers=2, autoregressive_width=8),
                        OPTIMIZERS, (8, 8, 1), seed=0)
        images = tf.random.uniform((2, 8, 8, 1), -1.0, 1.0)
        log_px = vae.log_likelihood(images, vae.decode_params(tf.zeros((2, 4))))
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert log_px.shape == (2,) and np.isfinite(log_px.numpy()).all()


def test_autoregressive_decoding_fills_every_pixel_consistently():
    vae = build_vae(VAEConfig(**TINY, autoregressive_layers=2, autoregressive_width=8),
                    OPTIMIZERS, (8, 8, 1), seed=0)
    z = tf.random.normal((2, 4), seed=1)
    images = tf.function(vae.decode_mean)(z)
    assert images.shape == (2, 8, 8, 1) and float(tf.reduce_max(tf.abs(images))) <= 1.0
    # A greedy decode is a fixed point: re-predicting from the result changes nothing.
    targets = (images + 1) / 2
    again = tf.sigmoid(vae.pixel_head([targets, vae.decode_params(z)]))
    np.testing.assert_allclose(again.numpy(), targets.numpy(), atol=1e-5)


def test_windowed_autoregressive_decoding_equals_the_whole_image_recurrence():
    vae = build_vae(VAEConfig(**TINY, autoregressive_layers=3, autoregressive_width=8),
                    OPTIMIZERS, (8, 8, 1), seed=0)
    z = tf.random.normal((2, 4), seed=3)
    decoded = vae.decode_params(z)
    targets = np.zeros((2, 8, 8, 1), np.float32)
    for row in range(8):  # the definition: every pass sees the whole image
        for column in range(8):
            probabilities = tf.sigmoid(vae.pixel_head([tf.constant(targets), decoded])).numpy()
            targets[:, row, column] = probabilities[:, row, column]
    windowed = tf.function(vae.decode_mean)(z).numpy()
    np.testing.assert_allclose((windowed + 1) / 2, targets, atol=1e-5)


def test_free_bits_charge_each_group_at_least_the_floor_on_the_batch_average():
    from aigc_cli.models.vae import free_bits_kl

    # Two examples, four dimensions in two groups: group 0 holds 0.1 + 0.3 and 0.2 + 0.2
    # (batch mean 0.4, under the 0.5 floor), group 1 holds 1 + 0 and 0.5 + 0.5 (mean 1.0).
    kl = tf.Variable([[0.1, 0.3, 1.0, 0.0], [0.2, 0.2, 0.5, 0.5]])
    with tf.GradientTape() as tape:
        charged = free_bits_kl(kl, groups=2, floor=0.5)
        objective = tf.reduce_mean(charged)
    np.testing.assert_allclose(charged.numpy(), [0.5 + 1.0, 0.5 + 1.0], rtol=1e-6)
    # By hand: sum_g max(0.5, mean_batch KL_g) = 0.5 + 1.0, the batch mean of the result.
    assert float(tf.reduce_mean(charged)) == pytest.approx(max(0.5, 0.4) + max(0.5, 1.0))
    gradient = tape.gradient(objective, kl).numpy()
    np.testing.assert_allclose(gradient, [[0, 0, 0.5, 0.5], [0, 0, 0.5, 0.5]])  # no push under
    per_dim = free_bits_kl(kl, groups=4, floor=0.2)  # each dimension its own group
    # dimension means 0.15, 0.25, 0.75, 0.25: only the first is under the floor
    np.testing.assert_allclose(per_dim.numpy(), [0.2 + 0.3 + 1.0 + 0.0, 0.2 + 0.2 + 0.5 + 0.5],
                               rtol=1e-6)


def test_free_bits_change_the_objective_but_not_the_reported_elbo():
    from aigc_cli.models.vae import build_vae

    images = tf.random.stateless_uniform((4, 8, 8, 1), (1, 2), -1.0, 1.0)
    results = {}
    for free_bits in (0.0, 5.0):
        config = VAEConfig(**TINY, free_bits=free_bits)
        vae = build_vae(config, OPTIMIZERS, (8, 8, 1), seed=0)
        results[free_bits] = {k: float(v) for k, v in vae.train_step(images).items()}
    plain, floored = results[0.0], results[5.0]
    # the reported ELBO stays the true one: reconstruction plus the KL actually held
    assert floored["neg_elbo"] == pytest.approx(
        floored["reconstruction_loss"] + floored["kl_loss"], rel=1e-6)
    # an untrained encoder's KL is far under 4 x 5 nats: the objective charges the floor
    assert floored["loss"] == pytest.approx(floored["reconstruction_loss"] + 4 * 5.0, rel=1e-5)
    assert plain["loss"] == pytest.approx(plain["neg_elbo"], rel=1e-5)


def test_the_auxiliary_likelihood_guides_training_and_makes_the_images():
    config = VAEConfig(**TINY, autoregressive_layers=1, autoregressive_width=4,
                       auxiliary_weight=0.5)
    vae = build_vae(config, OPTIMIZERS, (8, 8, 1), seed=0)
    images = tf.random.stateless_uniform((4, 8, 8, 1), (1, 2), -1.0, 1.0)
    z = tf.random.stateless_normal((4, 4), (3, 4))
    features, auxiliary_logits = vae.decoder(z)
    # images come from the factorised likelihood's mean, in one pass, not the head
    np.testing.assert_allclose(vae.decode_mean(z).numpy(),
                               tf.sigmoid(auxiliary_logits).numpy() * 2 - 1, atol=1e-6)
    head_only = vae.log_likelihood(images, [features, auxiliary_logits])
    np.testing.assert_allclose(  # the ELBO's likelihood is the head's, as without it
        head_only.numpy(),
        bernoulli_log_likelihood((images + 1) / 2, vae.pixel_head([(images + 1) / 2,
                                                                   features])).numpy(),
        rtol=1e-6)
    logs = {k: float(v) for k, v in vae.train_step(images).items()}
    assert logs["neg_elbo"] == pytest.approx(logs["reconstruction_loss"] + logs["kl_loss"],
                                             rel=1e-6)
    assert logs["loss"] == pytest.approx(logs["neg_elbo"] + 0.5 * logs["auxiliary_loss"],
                                         rel=1e-5)
    assert logs["auxiliary_loss"] > 0
