import json

import numpy as np
import pytest
import tensorflow as tf

from aigc_cli.cli import main
from aigc_cli.data.sources import ImageSet, load_idx_dataset
from aigc_cli.inference.trained import load_trained_model
from aigc_cli.metrics.elbo import evaluate_elbo


def _point_mass_posterior(vae):
    """Make q(z|x) (almost) a point mass, so the ELBO has no sampling noise."""
    layer = vae.encoder.get_layer("z_log_var")
    kernel, bias = layer.get_weights()
    layer.set_weights([np.zeros_like(kernel), np.full_like(bias, -30.0)])


@pytest.mark.slow
def test_reported_elbo_matches_a_direct_computation(tiny_vae_run, idx_folder):
    vae = load_trained_model(tiny_vae_run).model
    _point_mass_posterior(vae)
    images = load_idx_dataset("fashion_mnist", "test", str(idx_folder), False).images[:10]
    reported = evaluate_elbo(vae, ImageSet(images, None, "t"), {"importance_samples": 3})
    # By hand, in float64: Bernoulli over pixels in [0, 1] at the posterior mean, plus KL.
    x = images.astype(np.float64) / 255.0
    z_mean, z_log_var = (t.numpy().astype(np.float64) for t in vae.encode(x * 2 - 1))
    logits = vae.decode_params(z_mean.astype(np.float32)).numpy().astype(np.float64)
    log_px = np.sum(x * -np.log1p(np.exp(-logits)) + (1 - x) * -np.log1p(np.exp(logits)),
                    axis=(1, 2, 3))
    kl = 0.5 * np.sum(np.exp(z_log_var) + z_mean ** 2 - 1 - z_log_var, axis=1)
    assert reported["neg_elbo_nats"] == pytest.approx(np.mean(kl - log_px), rel=1e-4)
    assert reported["likelihood"] == "bernoulli" and reported["importance_samples"] == 3


class LinearGaussianModel:
    """p(z) = N(0, 1), p(x|z) = N(x; z, s^2): so p(x) = N(0, 1 + s^2) exactly.

    q(z|x) is deliberately not the true posterior, so the ELBO has a gap."""

    scale = 0.5

    def encode(self, images):
        x = tf.reshape(images, (-1, 1))
        return 0.5 * x, tf.fill(tf.shape(x), -1.0)

    def decode_params(self, z):
        return tf.reshape(z, (-1, 1, 1, 1))

    def log_likelihood(self, images, params):
        return tf.reduce_sum(-0.5 * ((images - params) / self.scale) ** 2
                             - np.log(self.scale) - 0.5 * np.log(2 * np.pi), axis=[1, 2, 3])


def test_bounds_on_a_model_with_a_known_likelihood():
    from conftest import check_bounds_reach_a_gaussian_likelihood

    check_bounds_reach_a_gaussian_likelihood(LinearGaussianModel(),
                                             1 + LinearGaussianModel.scale ** 2)


def test_eval_json_on_the_test_split(tiny_vae_run, runner):
    result = runner.invoke(main, ["eval", str(tiny_vae_run), "--json", "--limit", "12",
                                  "--importance-samples", "5", "--metrics", "elbo"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["num_images"] == 12 and report["split"] == "test" and report["step"] == 3
    assert np.isfinite(report["nll_iw_nats"]) and report["neg_elbo_nats"] > 0
    assert report["model"] == "vae" and report["importance_samples"] == 5


def test_eval_reports_what_the_latent_holds(tiny_vae_run, runner):
    result = runner.invoke(main, ["eval", str(tiny_vae_run), "--json", "--limit", "12",
                                  "--metrics", "latent"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["kl_nats"] > 0 and 0 <= report["active_units"] <= report["latent_dim"]
    assert 0 < report["reconstruction_psnr"] < 100 and report["reconstruction_fid"] > 0


def test_unknown_metric_for_the_family_is_an_input_error(tiny_vae_run, runner):
    result = runner.invoke(main, ["eval", str(tiny_vae_run), "--metrics", "accuracy"])
    assert result.exit_code == 2 and "vae models report elbo, fid" in result.output


def test_gan_json_keeps_the_compute_precision_apart_from_the_manifold_precision(
        tiny_config, runner):
    from aigc_cli.training.loop import train

    run = train(tiny_config(steps=2), quiet=True).run_dir
    result = runner.invoke(main, ["eval", str(run), "--json", "--fid-samples", "60",
                                  "--limit", "60", "-q", "--precision", "float32"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["compute_precision"] == "float32"
    assert isinstance(report["precision"], float) and 0.0 <= report["precision"] <= 1.0
