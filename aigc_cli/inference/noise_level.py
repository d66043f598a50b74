"""Blind noise-level estimation: the sigma ``aigc denoise`` tells its model when the
user gives none.

Two estimators, each from a high-pass of the noisy image whose response to noise is
known, so that its statistics divide out to sigma:

- :func:`wavelet_sigma`, the median absolute finest diagonal Haar coefficient
  (Donoho & Johnstone 1994). Simple, but every textured pixel (grass, gravel,
  fabric) counts as noise, and 8-bit clipping removes noise it then misses.
- :func:`estimate_sigma` (the default): Immerkær's (1996) Laplacian-difference
  mask, which cancels anything linear along each axis, measured in 8x8 blocks, of
  which only the flattest few per cent speak (the weak-texture idea of Liu,
  Tanaka & Okutomi 2013): texture raises some blocks' energy, noise all of them.
  Blocks whose mean lies within 2 sigma of black or white are left out, since
  clipping removed part of their noise. The low quantile is divided by the same
  quantile of pure unit noise, simulated once. Measured on BSD68 (every image,
  ``benchmarks/noise_estimate.py``), the mean over-read at sigma 5 falls from +2.3
  (wavelet) to +0.8, and at sigma 50 on 8-bit files the under-read from -4.4 to -0.9.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from aigc_cli.data.noise import LEVEL_MAP_BOX
from aigc_cli.errors import InputError

BLOCK = 8
#: The share of (flattest) blocks the estimate reads; more where an image has few blocks.
FLAT_SHARE = 0.05
MIN_FLAT_BLOCKS = 20
#: Blocks within this many sigma of 0 or 1 are left out (clipped noise).
CLIP_MARGIN = 2.0
MAD_TO_SIGMA = 0.6745  # the median of |N(0, 1)|


def _too_small(pixels: np.ndarray, needed: int) -> None:
    if pixels.shape[0] < needed or pixels.shape[1] < needed:
        raise InputError(f"a {pixels.shape[1]}x{pixels.shape[0]} image is too small to estimate "
                         "its noise level; pass --sigma")


def _haar_diagonal(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The finest diagonal Haar coefficients [H/2, W/2, C] (unit gain on white noise) and
    the 2x2 means they belong to."""
    even = pixels[:pixels.shape[0] // 2 * 2, :pixels.shape[1] // 2 * 2]
    a, b, c, d = even[0::2, 0::2], even[0::2, 1::2], even[1::2, 0::2], even[1::2, 1::2]
    return (a - b - c + d) / 2, (a + b + c + d) / 4


def wavelet_sigma(pixels: np.ndarray) -> float:
    """Noise std-dev (in [0, 1] units) of an [H, W, C] image from the median absolute
    finest diagonal Haar coefficient, pooled over the channels (averaging the channels
    first would divide independent per-channel noise by sqrt(3))."""
    _too_small(pixels, 2)
    diagonal, _ = _haar_diagonal(pixels)
    return float(np.median(np.abs(diagonal)) / MAD_TO_SIGMA)


def _clip_safe_wavelet_sigma(pixels: np.ndarray) -> float:
    """:func:`wavelet_sigma` over 2x2 cells whose 8x8 neighbourhood is clear of the
    bounds: the first guess that decides which blocks are near clipping."""
    diagonal, means = _haar_diagonal(pixels)
    guess = float(np.median(np.abs(diagonal)) / MAD_TO_SIGMA)
    neighbourhood = _block_means(means, BLOCK // 2)
    cells = _blocks(diagonal, BLOCK // 2)
    keep = (neighbourhood > CLIP_MARGIN * guess) & (neighbourhood < 1 - CLIP_MARGIN * guess)
    if keep.sum() < MIN_FLAT_BLOCKS:
        return guess
    return float(np.median(np.abs(cells[keep])) / MAD_TO_SIGMA)


def _blocks(values: np.ndarray, size: int) -> np.ndarray:
    """[H, W, C] → [blocks, size*size]: non-overlapping squares, each channel its own."""
    height, width = values.shape[0] // size * size, values.shape[1] // size * size
    cut = values[:height, :width]
    squares = cut.reshape(height // size, size, width // size, size, cut.shape[2])
    return squares.transpose(0, 2, 4, 1, 3).reshape(-1, size * size)


def _block_means(values: np.ndarray, size: int) -> np.ndarray:
    return _blocks(values, size).mean(axis=1)


def _laplacian_difference(pixels: np.ndarray) -> np.ndarray:
    """Immerkær's mask [1 -2 1] x [1 -2 1] / 6 over the valid region: unit gain on white
    noise (the mask's squares sum to 36), zero on planes and on anything linear along
    either axis."""
    rows = pixels[:-2] - 2 * pixels[1:-1] + pixels[2:]
    return (rows[:, :-2] - 2 * rows[:, 1:-1] + rows[:, 2:]) / 6.0


@functools.lru_cache(maxsize=1)
def _unit_noise_block_energies() -> np.ndarray:
    """Sorted block energies of the mask on N(0, 1) noise: the quantiles the image's
    are divided by (simulated once, seeded: the mask's outputs are correlated, so no
    chi-square formula applies)."""
    noise = np.random.default_rng(0).standard_normal((1026, 1026, 1))
    return np.sort((_blocks(_laplacian_difference(noise), BLOCK) ** 2).mean(axis=1))


def _block_statistics(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per 8x8 block of the mask's output (each channel its own): its mean energy, and
    the mean of the pixels under it. In bands of rows, so that a 24-megapixel photo
    needs little memory beyond its own."""
    energies, means = [], []
    band = BLOCK * 64
    for top in range(0, (pixels.shape[0] - 2) // BLOCK * BLOCK, band):
        strip = pixels[top:top + band + 2]
        energies.append((_blocks(_laplacian_difference(strip), BLOCK) ** 2).mean(axis=1))
        means.append(_block_means(strip[1:-1, 1:-1], BLOCK))
    return np.concatenate(energies), np.concatenate(means)


class _BlockStatistics(NamedTuple):
    energies: np.ndarray  # per unclipped 8x8 block (each channel its own): the mask's energy
    means: np.ndarray  # and the mean of the pixels under it
    clipped_left_out: bool  # False where too few blocks were clear of black and white


def _unclipped_statistics(pixels: np.ndarray) -> _BlockStatistics:
    """The blocks' statistics, without those within 2 sigma (a first guess) of 0 or 1
    where enough others remain."""
    energies, means = _block_statistics(pixels)
    if min(pixels.shape[:2]) >= 2 * BLOCK:
        guess = _clip_safe_wavelet_sigma(pixels)
        unclipped = (means > CLIP_MARGIN * guess) & (means < 1 - CLIP_MARGIN * guess)
        if unclipped.sum() >= MIN_FLAT_BLOCKS:
            return _BlockStatistics(energies[unclipped], means[unclipped], True)
    return _BlockStatistics(energies, means, False)


def _flat_sigma(energies: np.ndarray) -> float:
    """sigma from the flattest blocks' energies (see the module docstring)."""
    share = min(0.5, max(FLAT_SHARE, MIN_FLAT_BLOCKS / len(energies)))
    reference = _unit_noise_block_energies()
    return float(np.sqrt(np.quantile(energies, share) / np.quantile(reference, share)))


def estimate_sigma(pixels: np.ndarray) -> float:
    """Noise std-dev (in [0, 1] units) of an [H, W, C] image in [0, 1], read from its
    flattest unclipped blocks (see the module docstring); images under 10 pixels a
    side, too small for one block, by :func:`wavelet_sigma`."""
    if min(pixels.shape[:2]) < BLOCK + 2:
        return wavelet_sigma(pixels)
    return _flat_sigma(_unclipped_statistics(np.asarray(pixels, np.float32)).energies)

#: Intensity bands (equal block counts) in which the noise level function is read.
INTENSITY_BANDS = 8
#: The noise map replaces one sigma where the estimated noise grows this much over the
#: image's intensities (10th to 90th percentile). Measured on BSD68[:20], 8-bit: with
#: Poisson-Gaussian noise (gain 0.01, sigma 15) +0.35 dB over one sigma, +1.0 at sigma 5;
#: on Gaussian noise, texture mistaken for growth costs 0.05 dB at sigma 5, 0.01 at 15,
#: nothing from 25 (a threshold of 1.3 would save 0.01 dB of those and lose 0.27 of the
#: 0.35: the images that cost are far over any threshold).
MAP_SPREAD = 1.15
SMOOTHING = LEVEL_MAP_BOX  # box side, pixels: as training's level maps read it


class NoiseFunction(NamedTuple):
    """Noise variance as a function of the clean intensity x in [0, 1]: gain * x + floor
    (Poisson-Gaussian; gain 0 is white Gaussian noise of std-dev sqrt(floor))."""

    gain: float
    floor: float
    low: float  # the image's 10th and 90th percentiles of intensity (unclipped blocks)
    high: float

    def sigma(self, x):
        """Noise std-dev at intensity ``x`` (scalar or array)."""
        return np.sqrt(self.gain * np.clip(x, 0.0, 1.0) + self.floor)

    @property
    def spread(self) -> float:
        """How much the noise grows over the image's intensities: sigma(high) / sigma(low)."""
        return float(self.sigma(self.high) / max(self.sigma(self.low), 1e-6))


def estimate_noise_function(pixels: np.ndarray) -> NoiseFunction | None:
    """The noise level function of an [H, W, C] image in [0, 1], a line through the
    variance of its flattest blocks in each intensity band (the flat-block estimate of
    :func:`estimate_sigma`, band by band; the bands hold equal numbers of blocks), fitted
    with gain, floor >= 0; bands that texture lifted well above the line are dropped
    once (texture only ever adds energy). None where the image has too few blocks."""
    if min(pixels.shape[:2]) < 2 * BLOCK:
        return None
    return _noise_function(_unclipped_statistics(np.asarray(pixels, np.float32)))


def _noise_function(stats: _BlockStatistics) -> NoiseFunction | None:
    energies, means = stats.energies, stats.means
    if not stats.clipped_left_out or len(energies) < INTENSITY_BANDS * MIN_FLAT_BLOCKS:
        return None
    reference = _unit_noise_block_energies()
    centres, variances = [], []
    for band in np.array_split(np.argsort(means), INTENSITY_BANDS):
        share = min(0.5, max(FLAT_SHARE, MIN_FLAT_BLOCKS / len(band)))
        threshold = np.quantile(energies[band], share)
        centres.append(float(np.mean(means[band][energies[band] <= threshold])))
        variances.append(float(threshold / np.quantile(reference, share)))
    centres, variances = np.array(centres), np.array(variances)
    gain, floor = _nonnegative_line(centres, variances)
    lifted = variances > 1.5 * (gain * centres + floor)
    if lifted.any() and (~lifted).sum() >= 3:
        gain, floor = _nonnegative_line(centres[~lifted], variances[~lifted])
    low, high = np.quantile(means, [0.1, 0.9])
    return NoiseFunction(gain, floor, float(low), float(high))


def _nonnegative_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares (slope, intercept) of y on x, both >= 0."""
    slope, intercept = np.polyfit(x, y, 1)
    if slope < 0:
        return 0.0, float(max(np.mean(y), 0.0))
    if intercept < 0:
        return float(max(np.dot(x, y) / np.dot(x, x), 0.0)), 0.0
    return float(slope), float(intercept)


class NoiseEstimate(NamedTuple):
    """What ``aigc denoise`` tells its model without ``--sigma``."""

    level: float | np.ndarray  # one sigma, or a map of it [H, W, 1]; [0, 1] units
    function: NoiseFunction | None  # the noise level function, where one was read

    @property
    def sigma(self) -> float:
        """One number for the level: the white noise of the same power (the map's RMS)."""
        return float(np.sqrt(np.mean(np.square(self.level))))


def estimate_noise(pixels: np.ndarray) -> NoiseEstimate:
    """One sigma (:func:`estimate_sigma`) or, where the noise grows with intensity
    (Poisson-Gaussian: its level function's spread at least ``MAP_SPREAD``), a map
    [H, W, 1] of that function at the locally averaged intensity."""
    if min(pixels.shape[:2]) < 2 * BLOCK:
        return NoiseEstimate(estimate_sigma(pixels), None)
    pixels = np.asarray(pixels, np.float32)
    stats = _unclipped_statistics(pixels)  # read once, for both
    function = _noise_function(stats)
    if function is None or function.spread < MAP_SPREAD:
        return NoiseEstimate(_flat_sigma(stats.energies), function)
    return NoiseEstimate(noise_map(pixels, function), function)


def noise_map(pixels: np.ndarray, function: NoiseFunction) -> np.ndarray:
    """[H, W, 1]: the noise std-dev ``function`` gives at each pixel's local intensity
    (the channels' mean, box-averaged so that the noise itself averages out)."""
    intensity = _box_mean(np.asarray(pixels, np.float32).mean(axis=-1), SMOOTHING)
    return function.sigma(intensity)[..., None].astype(np.float32)


def _box_mean(image: np.ndarray, side: int) -> np.ndarray:
    """Mean over a side x side box around each pixel of [H, W] (edges replicated)."""
    reach = side // 2
    for axis in (0, 1):
        padded = np.pad(image, [(reach + 1, reach) if a == axis else (0, 0) for a in (0, 1)],
                        mode="edge")
        sums = np.cumsum(padded, axis=axis, dtype=np.float64)
        ahead = np.take(sums, range(side, sums.shape[axis]), axis=axis)
        behind = np.take(sums, range(0, sums.shape[axis] - side), axis=axis)
        image = ((ahead - behind) / side).astype(np.float32)
    return image
