"""model.prior_components: the EM fit against known mixtures, the noise-to-latent map
against the mixture it must draw, and the fit a trained run stores."""

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from aigc_cli.cli import main
from aigc_cli.config import build_config
from aigc_cli.data.sources import load_images
from aigc_cli.errors import ConfigError
from aigc_cli.inference.sampling import sample_latents, walk
from aigc_cli.inference.trained import load_trained_model
from aigc_cli.io.images import to_uint8
from aigc_cli.models.latent_prior import (MixtureSample, fit_gaussian_mixture,
                                          mixture_log_density)
from aigc_cli.training.loop import train
from conftest import TINY_VAE, make_idx_dataset, tiny_config_dict

WEIGHTS = np.array([0.5, 0.3, 0.2])
MEANS = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
SCALE_TRILS = np.array([[[1.0, 0.0], [0.0, 0.5]], [[0.7, 0.0], [0.6, 0.4]],
                        [[1.2, 0.0], [-0.5, 0.8]]])


def draw_mixture(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    components = rng.choice(3, count, p=WEIGHTS)
    noise = rng.standard_normal((count, 2))
    return MEANS[components] + np.einsum("nij,nj->ni", SCALE_TRILS[components], noise)


def by_nearest_mean(latents: np.ndarray) -> np.ndarray:
    return np.argmin(np.linalg.norm(latents[:, None] - MEANS[None], axis=-1), axis=1)


def test_em_recovers_a_known_mixture():
    weights, means, scale_trils = fit_gaussian_mixture(draw_mixture(9000, 0), 3, seed=1)
    order = by_nearest_mean(means)
    assert sorted(order) == [0, 1, 2]
    np.testing.assert_allclose(weights[np.argsort(order)], WEIGHTS, atol=0.02)
    np.testing.assert_allclose(means[np.argsort(order)], MEANS, atol=0.1)
    covariances = scale_trils @ np.swapaxes(scale_trils, 1, 2)
    np.testing.assert_allclose(covariances[np.argsort(order)],
                               SCALE_TRILS @ np.swapaxes(SCALE_TRILS, 1, 2), atol=0.12)


def test_the_mixture_density_sums_its_sampled_components():
    points = np.array([[0.3, -0.2], [7.5, 0.4], [1.0, 9.0], [40.0, -30.0]])
    expected = np.zeros(len(points))
    for weight, mean, scale_tril in zip(WEIGHTS, MEANS, SCALE_TRILS):
        covariance = scale_tril @ scale_tril.T
        centred = points - mean
        mahalanobis = np.einsum("ni,ij,nj->n", centred, np.linalg.inv(covariance), centred)
        expected += weight * np.exp(-0.5 * mahalanobis) / (2 * np.pi
                                                            * np.sqrt(np.linalg.det(covariance)))
    # A component of weight 0 (fitted, never sampled) is not part of the density.
    weights = np.append(WEIGHTS, 0.0)
    means, scale_trils = np.vstack([MEANS, [[40.0, -30.0]]]), np.vstack([SCALE_TRILS, [np.eye(2)]])
    density = mixture_log_density(points, weights, means, scale_trils)
    np.testing.assert_allclose(density[:3], np.log(expected[:3]), rtol=1e-10)
    assert np.isfinite(density[3]) and density[3] < -500  # far from all: no underflow to -inf


def test_components_that_describe_a_handful_of_images_are_dropped():
    rng = np.random.default_rng(0)
    outliers = rng.normal(20.0, 0.1, (30, 2))  # a tight group of 30 far from the rest
    points = np.concatenate([rng.standard_normal((2000, 2)), outliers])
    weights, means, _ = fit_gaussian_mixture(points, 8, seed=0, min_points=100)
    kept = weights > 0
    assert np.isclose(weights.sum(), 1.0)
    assert np.all(weights[kept] * len(points) >= 100)
    # A component was fitted to the group (so it did not stretch the others) but is
    # never sampled; the rest of the mixture stays.
    on_group = np.linalg.norm(means - 20.0, axis=1) < 5
    assert on_group.any() and not np.any(on_group & kept)
    assert np.count_nonzero(kept) >= 5
    # One image, or identical ones: a single component, no singular covariance.
    single = fit_gaussian_mixture(np.ones((1, 3)), 5, seed=0)
    assert single[0].tolist() == [1.0] and np.all(np.isfinite(single[2]))
    # Never more components than the points can fill.
    assert len(fit_gaussian_mixture(points[:250], 50, seed=0)[0]) == 2


def test_the_noise_map_draws_the_mixture_and_is_the_identity_until_fitted():
    layer = MixtureSample(4, 2)
    noise = tf.random.stateless_normal((120_000, 2), seed=(3, 4))
    np.testing.assert_array_equal(layer(noise).numpy(), noise.numpy())

    layer.assign(WEIGHTS.astype(np.float32), MEANS.astype(np.float32),
                 SCALE_TRILS.astype(np.float32), step=7)
    latents = layer(noise).numpy()
    components = by_nearest_mean(latents)
    np.testing.assert_allclose(np.bincount(components, minlength=4)[:3] / len(latents), WEIGHTS,
                               atol=0.006)
    for k in range(3):  # each component whole: its first noise value is drawn afresh
        chosen = latents[components == k]
        np.testing.assert_allclose(chosen.mean(axis=0), MEANS[k], atol=0.03)
        np.testing.assert_allclose(np.cov(chosen.T), SCALE_TRILS[k] @ SCALE_TRILS[k].T,
                                   atol=0.04)


@pytest.fixture(scope="module")
def fitted_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("prior")
    data = make_idx_dataset(folder / "data", count=300)
    config = build_config(tiny_config_dict(data, folder / "run",
                                           {**TINY_VAE, "prior_components": 3}, steps=4))
    return train(config, quiet=True).run_dir, data


@pytest.mark.slow
def test_a_finished_run_stores_the_fit_of_its_training_codes(fitted_run):
    run_dir, data = fitted_run
    trained = load_trained_model(run_dir)
    model = trained.model
    record = model.prior_record()
    assert record["prior"] == "fitted_mixture" and record["prior_fitted_step"] == 4
    images = load_images(trained.config.dataset).images
    codes = model.encode(tf.constant(images, tf.float32) / 127.5 - 1.0)[0].numpy()
    weights, means, _ = fit_gaussian_mixture(codes, 3, seed=model.seed)
    stored = model.latent_prior.mixture
    np.testing.assert_allclose(stored.mixture_weights.numpy()[:len(weights)], weights, atol=1e-4)
    np.testing.assert_allclose(stored.means.numpy()[:len(means)], means, atol=1e-3)
    assert record["prior_components"] == np.count_nonzero(weights) <= 3


@pytest.mark.slow
def test_a_walk_goes_straight_between_two_samples_of_the_fitted_prior(fitted_run, tmp_path,
                                                                     runner):
    run_dir, _ = fitted_run
    trained = load_trained_model(run_dir)
    latents, decode = walk(trained, pairs=1, steps=3, seed=5)
    model = trained.model
    ends = model.prior_latents(tf.constant(sample_latents(2, model.latent_dim, 5))).numpy()
    np.testing.assert_allclose(latents, [ends[0], ends.mean(axis=0), ends[1]], atol=1e-6)
    assert decode == model.decode_mean  # the latents themselves, not mapped again
    result = runner.invoke(main, ["sample", str(run_dir), "-n", "1", "--interpolate", "3",
                                  "--seed", "5", "--out", str(tmp_path / "walk"), "-q"])
    assert result.exit_code == 0, result.output
    written = np.asarray(Image.open(tmp_path / "walk" / "interpolation_0000_001.png"))
    middle = to_uint8(model.decode_mean(tf.constant(latents[1:2])).numpy())
    np.testing.assert_array_equal(written.reshape(middle.shape), middle)


@pytest.mark.slow
def test_a_run_without_a_prior_can_start_one_that_fits_it(tiny_vae_run, idx_folder, tmp_path):
    config = build_config(tiny_config_dict(idx_folder, tmp_path / "run",
                                           {**TINY_VAE, "prior_components": 2}, steps=1,
                                           init_from=str(tiny_vae_run)))
    run_dir = train(config, quiet=True).run_dir
    assert load_trained_model(run_dir).model.prior_record()["prior"] == "fitted_mixture"


class SignalledAtOnce:
    """A StopRequest whose SIGTERM has already arrived."""
    requested = "SIGTERM"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.slow
def test_a_signal_saves_the_checkpoint_and_leaves_the_fit_to_the_resumed_run(
        fitted_run, tmp_path, monkeypatch):
    _, data = fitted_run
    config = build_config(tiny_config_dict(data, tmp_path / "run",
                                           {**TINY_VAE, "prior_components": 2}, steps=6))
    from aigc_cli.training import loop
    with monkeypatch.context() as patch:
        patch.setattr(loop, "StopRequest", SignalledAtOnce)
        stopped = train(config, quiet=True)
    assert stopped.stop_reason == "SIGTERM" and stopped.checkpoint
    assert load_trained_model(stopped.run_dir).model.prior_record()["prior"].startswith(
        "standard_normal")
    resumed = train(config, quiet=True)
    assert resumed.stop_reason == "completed"
    assert load_trained_model(resumed.run_dir).model.prior_record()["prior_fitted_step"] == 6


def test_a_private_run_cannot_fit_a_prior(tmp_path):
    config = tiny_config_dict(Path(tmp_path), tmp_path / "run", {**TINY_VAE,
                                                                  "prior_components": 5})
    config["training"]["privacy"] = {"clip_norm": 1.0, "noise_multiplier": 1.2}
    with pytest.raises(ConfigError, match="model.prior_components"):
        build_config(config)
