"""The noise models against their definitions (aigc_cli/data/noise.py)."""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from aigc_cli.config import NoiseConfig, build_config
from aigc_cli.data.noise import add_noise, degrade
from aigc_cli.errors import ConfigError

SEED = tf.constant([5, 6], tf.int64)


def flat(levels, size=64, channels=1):
    """One flat image per intensity in ``levels``: [N, size, size, channels]."""
    return tf.constant(np.ones((len(levels), size, size, channels), np.float32)
                       * np.asarray(levels, np.float32)[:, None, None, None])


def test_gaussian_only_is_clean_plus_sigma_times_the_unit_noise():
    clean = flat([0.1, 0.9])
    unit = tf.random.stateless_normal(clean.shape, [1, 2])
    noisy = degrade(clean, unit, tf.constant([0.1, 0.2]))
    np.testing.assert_array_equal(noisy, clean + unit * tf.constant([0.1, 0.2])[:, None, None, None])


def test_poisson_gaussian_variance_grows_with_intensity_as_a_x_plus_b():
    intensities, a, sigma = [0.05, 0.3, 0.6, 0.95], 0.02, 10 / 255
    clean = flat(intensities, size=128)
    config = NoiseConfig(sigma=10.0, poisson_gain=a)
    noisy, _, told = add_noise(clean, config, SEED)
    measured = (noisy - clean).numpy().var(axis=(1, 2, 3))
    expected = a * np.asarray(intensities) + sigma ** 2
    np.testing.assert_allclose(measured, expected, rtol=0.05)
    # the level the model is told: white noise of the same power over the image
    np.testing.assert_allclose(told.numpy(), np.sqrt(expected), rtol=1e-5)


def test_poisson_part_is_drawn_per_image_with_its_probability():
    clean = flat([0.8] * 400, size=16)
    config = NoiseConfig(sigma=5.0, poisson_gain=0.02, poisson_probability=0.25)
    noisy, _, told = add_noise(clean, config, SEED)
    gaussian_only = np.isclose(told.numpy(), 5 / 255)
    assert 0.18 < (~gaussian_only).mean() < 0.32
    variance = (noisy - clean).numpy().reshape(400, -1).var(axis=1)
    np.testing.assert_allclose(variance[gaussian_only].mean(), (5 / 255) ** 2, rtol=0.05)
    np.testing.assert_allclose(variance[~gaussian_only].mean(), 0.02 * 0.8 + (5 / 255) ** 2,
                               rtol=0.05)


def test_level_map_is_the_map_blind_inference_reads_and_constant_without_poisson():
    from aigc_cli.inference.noise_level import NoiseFunction, noise_map

    rng = np.random.default_rng(1)
    shading = np.kron(rng.uniform(0.05, 0.95, (8, 6, 6, 3)), np.ones((1, 8, 8, 1)))
    clean = tf.constant(shading.astype(np.float32))  # 48x48 patches of 8x8 tiles
    config = NoiseConfig(sigma=10.0, poisson_gain=0.02, poisson_probability=0.5,
                         level_map=True)
    noisy, _, told = add_noise(clean, config, tf.constant([3, 4], tf.int64))
    assert told.shape == (8, 48, 48, 1)
    for image, level in zip(clean.numpy(), told.numpy()):
        poisson = level.max() > level.min() * 1.01
        expected = noise_map(image, NoiseFunction(0.02 if poisson else 0.0,
                                                  (10 / 255) ** 2, 0.0, 1.0))
        # inside the image (edges: inference replicates them, training averages fewer)
        np.testing.assert_allclose(level[3:-3, 3:-3], expected[3:-3, 3:-3], rtol=1e-5)
    assert len({bool(level.max() > level.min() * 1.01) for level in told.numpy()}) == 2
    without = add_noise(clean, NoiseConfig(sigma=10.0, level_map=True), SEED)[2]
    assert without.shape == (8,)  # Gaussian noise only: one sigma, as before


def test_eight_bit_storage_clips_and_rounds_to_256_levels():
    clean = flat([0.02, 0.5, 0.98], channels=3)
    noisy, _, sigma = add_noise(clean, NoiseConfig(sigma=25.0, quantize_8bit=1.0), SEED)
    values = noisy.numpy() * 255
    assert values.min() == 0 and values.max() == 255
    np.testing.assert_allclose(values, np.round(values), atol=1e-4)
    assert np.all(sigma.numpy() == np.float32(25 / 255))  # told the noise added, not less


def test_eight_bit_storage_is_drawn_per_image_with_its_probability():
    clean = flat([0.5] * 400, size=8)
    noisy, _, _ = add_noise(clean, NoiseConfig(sigma=25.0, quantize_8bit=0.3), SEED)
    values = noisy.numpy().reshape(400, -1) * 255
    stored = np.all(np.abs(values - np.round(values)) < 1e-4, axis=1)
    assert 0.22 < stored.mean() < 0.38
    assert np.all(values[~stored].max(axis=1) - values[~stored].min(axis=1) > 0)


def test_jpeg_matches_pillow_at_the_same_quality_and_is_seeded():
    rng = np.random.default_rng(0)
    clean = tf.constant(np.kron(rng.uniform(0.2, 0.8, (1, 8, 8, 1)),
                                np.ones((1, 8, 8, 1))).astype(np.float32))
    config = NoiseConfig(sigma=10.0, jpeg_probability=1.0, jpeg_quality=(50, 50))
    noisy, _, _ = add_noise(clean, config, SEED)
    stored = degrade(clean, tf.random.stateless_normal(
        clean.shape, tf.random.experimental.stateless_split(SEED, 2)[1]),
        tf.constant([10 / 255]), eight_bit=tf.constant([True]))
    buffer = io.BytesIO()
    Image.fromarray(np.uint8(np.round(stored.numpy()[0, ..., 0] * 255))).save(
        buffer, "JPEG", quality=50)
    pillow = np.asarray(Image.open(buffer), np.float32) / 255
    # Two libjpeg builds: the same codec at the same quality, within a level or two.
    assert np.abs(noisy.numpy()[0, ..., 0] - pillow).mean() < 1.5 / 255
    assert np.abs(noisy.numpy() - stored.numpy()).mean() > 1 / 255  # it did compress
    again, _, _ = add_noise(clean, config, SEED)
    np.testing.assert_array_equal(again, noisy)


@pytest.mark.parametrize("noise, fragment", [
    ({"sigma": 25, "poisson_gain": [0.02, 0.01]}, "dataset.noise.poisson_gain must be"),
    ({"sigma": 25, "jpeg_quality": 90}, "dataset.noise.jpeg_quality must be a list"),
    ({"sigma": 25, "jpeg_quality": [95, 60]}, "dataset.noise.jpeg_quality must be [low, high]"),
    ({"sigma": 25, "jpeg_quality": [0, 90]}, "dataset.noise.jpeg_quality must be >= 1"),
    ({"sigma": 25, "quantize_8bit": 2}, "dataset.noise.quantize_8bit must be <= 1.0"),
])
def test_bad_noise_settings_name_the_key(noise, fragment):
    with pytest.raises(ConfigError) as error:
        build_config({"model": {"type": "denoiser"}, "dataset": {"noise": noise}})
    assert fragment in str(error.value)


def test_a_realistic_mixture_is_a_valid_config():
    config = build_config({"model": {"type": "denoiser"}, "dataset": {"noise": {
        "sigma": [0, 55], "poisson_gain": [0, 0.02], "quantize_8bit": 0.5,
        "jpeg_probability": 0.2, "jpeg_quality": [70, 95]}}})
    assert config.dataset.noise.poisson_gain == (0.0, 0.02)


def test_eval_degrades_as_told_and_reports_the_protocol(tmp_path, runner):
    """aigc eval --eight-bit --poisson-gain: its noisy PSNR is that of an independent
    numpy computation of the same degradation."""
    import json

    from aigc_cli.cli import main
    from aigc_cli.metrics.denoising import psnr
    from conftest import make_photo_folder

    folder = make_photo_folder(tmp_path / "clean", count=2, size=32)
    args = ["eval", "gray", "--clean", str(folder), "--sigma", "15", "--json", "-q"]
    realistic = runner.invoke(main, args + ["--eight-bit", "--poisson-gain", "0.01"])
    assert realistic.exit_code == 0, realistic.output
    report = json.loads(realistic.stdout)
    assert (report["eight_bit"], report["poisson_gain"], report["jpeg_quality"]) == (True, 0.01,
                                                                                     None)
    expected = []
    for index, path in enumerate(sorted(folder.glob("*.png"))):
        clean = np.asarray(Image.open(path), np.float64)[..., None] / 255
        unit = np.random.default_rng([0, index]).standard_normal(clean.shape)
        noisy = np.round(np.clip(clean + unit * np.sqrt(0.01 * clean + (15 / 255) ** 2),
                                 0, 1) * 255) / 255
        expected.append(psnr(noisy.astype(np.float32), clean.astype(np.float32)))
    assert report["noisy_psnr"] == pytest.approx(np.mean(expected), abs=1e-4)
    published = json.loads(runner.invoke(main, args).stdout)
    assert published["eight_bit"] is False and published["noisy_psnr"] > report["noisy_psnr"]
    jpeg = json.loads(runner.invoke(main, args + ["--jpeg-quality", "40"]).stdout)
    assert jpeg["jpeg_quality"] == 40 and jpeg["noisy_psnr"] != published["noisy_psnr"]


def test_the_published_protocol_is_the_earlier_noise_bit_for_bit():
    from aigc_cli.metrics.denoising import NoiseProtocol

    clean = np.random.default_rng(3).uniform(0, 1, (20, 24, 3)).astype(np.float32)
    earlier = (clean + np.random.default_rng([0, 7]).standard_normal(clean.shape)
               * (25 / 255.0)).astype(np.float32)  # what noisy_copy computed before
    np.testing.assert_array_equal(NoiseProtocol(25).noisy(clean, seed=0, index=7), earlier)


def test_jpeg_compresses_the_8bit_image_not_a_darker_one():
    clean = flat([0.5] * 40, size=16)
    config = NoiseConfig(sigma=0.0, jpeg_probability=0.5, jpeg_quality=(90, 90))
    noisy, _, _ = add_noise(clean, config, SEED)
    values = noisy.numpy().reshape(40, -1)
    # sigma 0: a flat image stays flat whether compressed or not, and at its own level
    # (the codec's float-to-uint8 floor would have put it half a level lower).
    np.testing.assert_allclose(values, np.round(0.5 * 255) / 255 * np.ones_like(values),
                               atol=0.5 / 255)
