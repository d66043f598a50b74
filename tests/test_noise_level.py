"""The blind noise estimate against the sigma that made the noise: flat, textured and
8-bit clipped images of known noise."""

import numpy as np
import pytest

from aigc_cli.errors import InputError
from aigc_cli.inference.noise_level import estimate_sigma, wavelet_sigma

SIGMAS = (5, 15, 25, 50)


def piecewise_flat(rng, size=256, cell=32, channels=1, low=0.25, high=0.75):
    cells = rng.uniform(low, high, (size // cell, size // cell, channels))
    return np.kron(cells, np.ones((cell, cell, 1)))


def textured(rng, size=256, strength=0.08):
    """Fine texture over three quarters of the image (a gravel-like random field in half,
    stripes of four-pixel period in a quarter), flat regions in the rest: the content
    the wavelet MAD reads as noise."""
    image = piecewise_flat(rng, size)
    half, quarter = size // 2, size // 4
    image[:, :half] += rng.normal(0, strength, (size, half, 1))
    stripes = strength * np.where(np.arange(size) % 4 < 2, 1.0, -1.0)
    image[:, half:half + quarter] += stripes[:, None, None] * np.ones((1, quarter, 1))
    return image


def noisy(rng, clean, sigma, eight_bit=False):
    image = clean + rng.normal(0, sigma / 255, clean.shape)
    return np.round(np.clip(image, 0, 1) * 255) / 255 if eight_bit else image


@pytest.mark.parametrize("channels", [1, 3])
def test_flat_images_read_their_sigma(channels):
    rng = np.random.default_rng(0)
    clean = piecewise_flat(rng, channels=channels)  # channels independent, as synthesized
    for sigma in SIGMAS:
        assert estimate_sigma(noisy(rng, clean, sigma)) * 255 == pytest.approx(sigma, rel=0.06)


def test_texture_is_not_read_as_noise():
    rng = np.random.default_rng(1)
    clean = textured(rng)
    for sigma in (5, 15):
        image = noisy(rng, clean, sigma)
        estimate, wavelet = estimate_sigma(image) * 255, wavelet_sigma(image) * 255
        assert estimate == pytest.approx(sigma, rel=0.1)
        # the old estimate on the same image: several times as far off
        assert abs(wavelet - sigma) > 3 * abs(estimate - sigma)


def test_clipped_8bit_noise_reads_the_sigma_before_clipping():
    """Half the image near black or white, where clipping takes noise away: the estimate
    is the level of the noise added, which the denoisers are trained to be told."""
    rng = np.random.default_rng(2)
    clean = piecewise_flat(rng, low=0.02, high=0.98)
    clean[:128] = 0.02
    for sigma in (25, 50):
        image = noisy(rng, clean, sigma, eight_bit=True)
        assert estimate_sigma(image) * 255 == pytest.approx(sigma, rel=0.08)
        assert wavelet_sigma(image) * 255 < 0.9 * sigma  # clipping fooled the old one


def test_small_images_still_get_an_estimate_and_tiny_ones_a_clear_error():
    rng = np.random.default_rng(3)
    for size in (9, 24, 40):
        image = noisy(rng, np.full((size, size, 1), 0.5), 25)
        assert estimate_sigma(image) * 255 == pytest.approx(25, rel=0.35)
    with pytest.raises(InputError, match="1x5 image is too small.*--sigma"):
        estimate_sigma(np.zeros((5, 1, 3), np.float32))


def test_noise_free_images_read_about_zero():
    rng = np.random.default_rng(4)
    assert estimate_sigma(piecewise_flat(rng)) * 255 < 0.5


def test_bands_of_rows_give_the_whole_image_block_statistics():
    from aigc_cli.inference import noise_level

    rng = np.random.default_rng(5)
    for shape in [(1100, 700, 3), (523, 517, 1), (530, 20, 1)]:  # over one band of 512 rows
        image = rng.uniform(0, 1, shape).astype(np.float32)
        energies, means = noise_level._block_statistics(image)
        whole = noise_level._blocks(noise_level._laplacian_difference(image), 8)
        np.testing.assert_allclose(energies, (whole ** 2).mean(axis=1), rtol=1e-5)
        np.testing.assert_allclose(means, noise_level._block_means(image[1:-1, 1:-1], 8),
                                   rtol=1e-5)


def poisson_gaussian(rng, clean, gain, sigma):
    """Noise of variance gain * x + (sigma / 255)^2 on clean x, as a saved 8-bit file."""
    std = np.sqrt(gain * clean + (sigma / 255) ** 2)
    return np.round(np.clip(clean + std * rng.standard_normal(clean.shape), 0, 1) * 255) / 255


@pytest.mark.parametrize("gain, sigma", [(0.01, 5), (0.01, 15), (0.02, 10)])
def test_signal_dependent_noise_is_read_as_a_line_and_mapped(gain, sigma):
    from aigc_cli.inference.noise_level import estimate_noise, estimate_noise_function

    rng = np.random.default_rng(6)
    clean = piecewise_flat(rng, size=384, low=0.1, high=0.9)
    image = poisson_gaussian(rng, clean, gain, sigma)
    function = estimate_noise_function(image)
    assert function.gain == pytest.approx(gain, rel=0.25)
    assert np.sqrt(function.floor) * 255 == pytest.approx(sigma, abs=3.0)
    estimate = estimate_noise(image)
    assert estimate.level.shape == (384, 384, 1)
    # inside the cells (the box average away from their edges) the map is the true std-dev
    inner = (np.arange(384) % 32 >= 4) & (np.arange(384) % 32 < 28)
    truth = np.sqrt(gain * clean + (sigma / 255) ** 2)[inner][:, inner]
    np.testing.assert_allclose(estimate.level[inner][:, inner], truth, rtol=0.2)


@pytest.mark.parametrize("sigma", [5, 25])
def test_white_noise_keeps_one_sigma(sigma):
    from aigc_cli.inference.noise_level import estimate_noise

    rng = np.random.default_rng(7)
    for image in (piecewise_flat(rng, size=384, low=0.1, high=0.9), textured(rng, size=384)):
        estimate = estimate_noise(noisy(rng, image, sigma, eight_bit=True))
        assert np.ndim(estimate.level) == 0 and estimate.function.spread < 1.15
        assert estimate.sigma * 255 == pytest.approx(sigma, rel=0.1)
