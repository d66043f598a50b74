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

import numpy as np

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


def estimate_sigma(pixels: np.ndarray) -> float:
    """Noise std-dev (in [0, 1] units) of an [H, W, C] image in [0, 1], read from its
    flattest unclipped blocks (see the module docstring); images under 10 pixels a
    side, too small for one block, by :func:`wavelet_sigma`."""
    if min(pixels.shape[:2]) < BLOCK + 2:
        return wavelet_sigma(pixels)
    pixels = np.asarray(pixels, np.float32)
    energies, means = _block_statistics(pixels)
    guess = _clip_safe_wavelet_sigma(pixels) if min(pixels.shape[:2]) >= 2 * BLOCK else None
    if guess is not None:
        unclipped = (means > CLIP_MARGIN * guess) & (means < 1 - CLIP_MARGIN * guess)
        if unclipped.sum() >= MIN_FLAT_BLOCKS:
            energies = energies[unclipped]
    share = min(0.5, max(FLAT_SHARE, MIN_FLAT_BLOCKS / len(energies)))
    reference = _unit_noise_block_energies()
    return float(np.sqrt(np.quantile(energies, share) / np.quantile(reference, share)))
