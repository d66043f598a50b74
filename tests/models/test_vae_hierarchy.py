"""Two levels of latents (model.top_latent_dim): the bounds against a model whose
likelihood is known in closed form, and the ELBO of a real tiny model by hand."""

import json

import numpy as np
import pytest
import tensorflow as tf

from aigc_cli.config import OptimizerConfig, VAEConfig
from aigc_cli.data.sources import ImageSet
from aigc_cli.metrics.elbo import evaluate_elbo
from aigc_cli.models.latents import two_level_posterior
from aigc_cli.models.vae import build_vae

PRIOR_SLOPE, PRIOR_SCALE, PIXEL_SCALE = 0.8, 0.6, 0.5


class LinearTwoLevelModel:
    """p(z_top) = N(0, 1), p(z | z_top) = N(0.8 z_top, 0.6^2), p(x | z) = N(x; z, 0.5^2):
    x is Gaussian with variance 0.64 + 0.36 + 0.25. q is linear and deliberately not
    the true posterior; the noise-to-z map is the decoder's, as in the real model."""

    latent_dim = 2

    def encode(self, images):
        raise AssertionError("the bounds must sample through posterior()")

    @staticmethod
    def _prior(top, training=False):
        return PRIOR_SLOPE * top, tf.fill(tf.shape(top), float(np.log(PRIOR_SCALE ** 2)))

    @staticmethod
    def _low_posterior(inputs, training=False):
        features, top = inputs
        return 0.5 * features + 0.2 * top, tf.fill(tf.shape(top), -1.5)

    def posterior(self, images, epsilon, training=False):
        x = tf.reshape(images, (-1, 1))
        return two_level_posterior(0.3 * x, tf.fill(tf.shape(x), -1.0), x, epsilon,
                                   self._low_posterior, self._prior, 1)

    def decode_params(self, noise):
        mean, log_var = self._prior(noise[:, 1:])
        return tf.reshape(mean + tf.exp(0.5 * log_var) * noise[:, :1], (-1, 1, 1, 1))

    def log_likelihood(self, images, params):
        return tf.reduce_sum(-0.5 * ((images - params) / PIXEL_SCALE) ** 2
                             - np.log(PIXEL_SCALE) - 0.5 * np.log(2 * np.pi), axis=[1, 2, 3])


def test_two_level_bounds_reach_the_known_likelihood():
    from conftest import check_bounds_reach_a_gaussian_likelihood

    check_bounds_reach_a_gaussian_likelihood(
        LinearTwoLevelModel(), PRIOR_SLOPE ** 2 + PRIOR_SCALE ** 2 + PIXEL_SCALE ** 2)


def tiny_two_level_vae():
    config = VAEConfig(latent_dim=3, top_latent_dim=2, encoder_widths=(4, 8), hidden_units=16)
    return build_vae(config, {"vae": OptimizerConfig()}, (8, 8, 1), seed=0)


def _point_mass(network, name):
    layer = network.get_layer(name)
    kernel, bias = layer.get_weights()
    layer.set_weights([np.zeros_like(kernel), np.full_like(bias, -30.0)])


def test_two_level_elbo_of_a_tiny_model_matches_a_direct_computation():
    vae = tiny_two_level_vae()
    _point_mass(vae.encoder, "top_z_log_var")
    _point_mass(vae.low_posterior, "z_log_var")
    images = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 1)).astype(np.uint8)
    reported = evaluate_elbo(vae, ImageSet(images, None, "t"), {"importance_samples": 3})
    x = images.astype(np.float32) / 127.5 - 1.0
    top_mean, top_log_var, features = (t.numpy() for t in vae.encoder(x))
    q_mean, q_log_var = (t.numpy().astype(np.float64)
                         for t in vae.low_posterior([features, top_mean]))
    p_mean, p_log_var = (t.numpy().astype(np.float64) for t in vae.prior(top_mean))
    top_mean, top_log_var = top_mean.astype(np.float64), top_log_var.astype(np.float64)
    kl_top = 0.5 * np.sum(np.exp(top_log_var) + top_mean ** 2 - 1 - top_log_var, axis=1)
    kl_low = 0.5 * np.sum(p_log_var - q_log_var - 1
                          + (np.exp(q_log_var) + (q_mean - p_mean) ** 2) / np.exp(p_log_var),
                          axis=1)
    noise = np.concatenate([(q_mean - p_mean) / np.exp(0.5 * p_log_var), top_mean], axis=1)
    # the decoder's first step maps that noise back to the sampled z and z_top
    mapped = vae.decoder.layers[1](tf.constant(noise, tf.float32)).numpy()
    np.testing.assert_allclose(mapped, np.concatenate([q_mean, top_mean], 1), atol=1e-4)
    logits = vae.decode_params(tf.constant(noise, tf.float32)).numpy().astype(np.float64)
    targets = x.astype(np.float64) * 0.5 + 0.5
    log_px = np.sum(targets * -np.log1p(np.exp(-logits))
                    + (1 - targets) * -np.log1p(np.exp(logits)), axis=(1, 2, 3))
    assert reported["neg_elbo_nats"] == pytest.approx(np.mean(kl_top + kl_low - log_px),
                                                      rel=1e-4)


def test_two_level_train_step_reports_the_true_elbo_and_trains_every_network():
    vae = tiny_two_level_vae()
    images = tf.random.stateless_uniform((4, 8, 8, 1), (1, 2), -1.0, 1.0)
    before = [v.numpy().copy() for v in vae.low_posterior.trainable_variables
              + vae.prior.trainable_variables]
    metrics = {k: float(v) for k, v in vae.train_step(images).items()}
    assert metrics["neg_elbo"] == pytest.approx(metrics["reconstruction_loss"]
                                                + metrics["kl_loss"], rel=1e-6)
    after = vae.low_posterior.trainable_variables + vae.prior.trainable_variables
    assert all(not np.array_equal(b, a.numpy()) for b, a in zip(before, after))
    assert set(vae.inference_items()) == {"encoder", "decoder", "low_posterior"}
    assert vae.latent_dim == 5 and vae.generate(tf.zeros((2, 5))).shape == (2, 8, 8, 1)


@pytest.mark.slow
def test_a_trained_two_level_run_reloads_and_reports_each_levels_kl(idx_folder, tmp_path,
                                                                    runner):
    from aigc_cli.cli import main
    from aigc_cli.config import build_config
    from aigc_cli.inference.trained import load_trained_model
    from aigc_cli.training.loop import train
    from conftest import TINY_VAE, tiny_config_dict

    model = {**TINY_VAE, "top_latent_dim": 2, "free_bits": 0.1}
    config = build_config(tiny_config_dict(idx_folder, tmp_path / "run", model, steps=2))
    run_dir = train(config, quiet=True).run_dir
    trained = load_trained_model(run_dir).model
    assert trained.low_posterior is not None and trained.latent_dim == 6
    result = runner.invoke(main, ["eval", str(run_dir), "--json", "--limit", "8",
                                  "--metrics", "latent", "-q"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    per_group = report["kl_nats_per_group"]
    assert set(per_group) == {"z", "z_top"} and report["latent_dim"] == 6
    assert sum(per_group.values()) == pytest.approx(report["kl_nats"], rel=1e-5)


def test_two_level_train_step_under_mixed_bfloat16():
    import keras

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        vae = tiny_two_level_vae()
        metrics = vae.train_step(tf.random.stateless_uniform((4, 8, 8, 1), (3, 4), -1.0, 1.0))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert all(np.isfinite(float(value)) for value in metrics.values())
