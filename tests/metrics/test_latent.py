import numpy as np
import pytest
import tensorflow as tf

from aigc_cli.config import DatasetConfig
from aigc_cli.data.sources import ImageSet
from aigc_cli.metrics.latent import active_units, evaluate_latent, psnr_uint8

POSTERIOR_VARIANCE = 0.25


class FlatImageVAE:
    """A known posterior: z_0 ~ N(image mean, 0.25), z_1 = the prior N(0, 1); decodes
    z to an image filled with z_0 (every image's class average, as it were)."""

    def encode(self, x):
        mean = tf.reduce_mean(x, axis=[1, 2, 3])
        z_mean = tf.stack([mean, tf.zeros_like(mean)], axis=1)
        log_variance = tf.fill(tf.shape(mean), float(np.log(POSTERIOR_VARIANCE)))
        return z_mean, tf.stack([log_variance, tf.zeros_like(mean)], axis=1)

    def decode_mean(self, z):
        return tf.ones((tf.shape(z)[0], 28, 28, 1)) * tf.reshape(z[:, 0], (-1, 1, 1, 1))


class IdentityVAE:
    def encode(self, x):
        flat = tf.reshape(x, (tf.shape(x)[0], -1))
        return flat, tf.zeros_like(flat)

    def decode_mean(self, z):
        return tf.reshape(z, (-1, 28, 28, 1))


def textured_images(count=64, seed=0):
    rng = np.random.default_rng(seed)
    brightness = rng.uniform(40, 215, (count, 1, 1, 1))
    texture = rng.normal(0, 30, (count, 28, 28, 1)) * (np.arange(28) % 7 < 3)[None, :, None, None]
    return np.clip(brightness + texture, 0, 255).round().astype(np.uint8)


def test_active_units_count_dimensions_whose_posterior_mean_varies():
    rng = np.random.default_rng(0)
    means = np.stack([rng.normal(0, 1.0, 5000), rng.normal(3, 0.05, 5000),  # var 1, 0.0025
                      rng.normal(0, 0.2, 5000), np.full(5000, 7.0)], axis=1)  # var 0.04, 0
    assert active_units(means) == 2
    assert active_units(means, threshold=1e-3) == 3


def test_psnr_per_image_against_a_direct_computation_and_capped_when_exact():
    a = np.array([[[[10]], [[20]]], [[[0]], [[255]]]], np.uint8)  # two 2x1 images
    b = np.array([[[[13]], [[20]]], [[[0]], [[255]]]], np.uint8)
    values = psnr_uint8(a, b)
    assert values[0] == pytest.approx(10 * np.log10(255 ** 2 / (9 / 2)))
    assert values[1] == 100.0


def test_latent_report_of_a_known_posterior():
    images = textured_images()
    report = evaluate_latent(FlatImageVAE(), ImageSet(images, None, "test"),
                             {"dataset": DatasetConfig(type="fashion_mnist")})
    scaled = images.astype(np.float64) / 127.5 - 1.0
    mean = scaled.mean(axis=(1, 2, 3))
    kl = 0.5 * (POSTERIOR_VARIANCE + mean ** 2 - 1 - np.log(POSTERIOR_VARIANCE))
    assert report["kl_nats"] == pytest.approx(kl.mean(), rel=1e-4)
    assert report["active_units"] == 1 and report["latent_dim"] == 2
    flat = np.clip(np.round((mean + 1) * 127.5), 0, 255)[:, None, None, None]
    mse = np.mean((np.broadcast_to(flat, images.shape) - images) ** 2, axis=(1, 2, 3))
    assert report["reconstruction_psnr"] == pytest.approx(
        np.mean(10 * np.log10(255 ** 2 / mse)), abs=0.05)
    assert report["reconstruction_fid"] > 1.0  # flat images lost the stripes


def test_an_exact_reconstruction_has_no_reconstruction_fid():
    images = textured_images(seed=1)
    report = evaluate_latent(IdentityVAE(), ImageSet(images, None, "test"),
                             {"dataset": DatasetConfig(type="fashion_mnist")})
    assert report["reconstruction_fid"] == pytest.approx(0.0, abs=1e-6)
    assert report["reconstruction_psnr"] == 100.0
    assert report["active_units"] == 28 * 28  # every pixel varies across images
