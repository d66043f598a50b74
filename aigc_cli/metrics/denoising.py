"""PSNR/SSIM of a denoiser on clean images with synthesized noise.

The published convention (../shared/data/README.md), the default: images in
[0, 1], white Gaussian noise of std-dev sigma/255 added and not clipped, PSNR
with peak 1.0 over the full image, averaged over the set. The realistic one
(``NoiseProtocol``'s other fields: ``aigc eval --eight-bit``, ``--poisson-gain``,
``--jpeg-quality``) degrades the image as a user's photo is (data/noise.py).
Outputs are clipped to [0, 1], as a saved image would be. SSIM is Wang et al.
2004 (11x11 Gaussian window, sigma 1.5), averaged over channels.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from aigc_cli.data.noise import degrade, equivalent_sigma
from aigc_cli.data.sources import ImageSet, list_image_files
from aigc_cli.errors import InputError
from aigc_cli.inference.denoising import TiledDenoiser
from aigc_cli.inference.noise_level import estimate_noise
from aigc_cli.io.images import read_image, to_array
from aigc_cli.io.progress import progress

log = logging.getLogger("aigc")


def psnr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for images in [0, 1] (peak 1.0)."""
    mse = np.mean((np.asarray(estimate, np.float64) - np.asarray(reference, np.float64)) ** 2)
    return float("inf") if mse == 0 else float(-10.0 * np.log10(mse))


def ssim(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Structural similarity of two [H, W, C] images in [0, 1]."""
    return float(tf.image.ssim(tf.constant(estimate, tf.float32),
                               tf.constant(reference, tf.float32), max_val=1.0))


@dataclass(frozen=True)
class NoiseProtocol:
    """How an evaluation degrades each clean image; the defaults are the published
    convention (Gaussian, not clipped)."""

    sigma_255: float = 25.0
    poisson_gain: float = 0.0  # a of the variance a·x + (sigma/255)^2
    eight_bit: bool = False  # clipped to [0, 1] and rounded to 256 levels
    jpeg_quality: int | None = None  # JPEG-compressed at this quality (implies 8 bits)

    def noisy(self, clean: np.ndarray, seed: int, index: int) -> np.ndarray:
        """The noisy copy of ``clean`` [H, W, C]; the same (seed, index), the same noise
        (the Gaussian draws of earlier versions, so published figures do not move)."""
        rng = np.random.default_rng([seed, index])
        unit = rng.standard_normal(clean.shape)
        sigma = tf.constant([self.sigma_255 / 255.0], tf.float64)
        noisy = degrade(
            tf.constant(clean[None], tf.float64), tf.constant(unit[None]), sigma,
            tf.constant([self.poisson_gain], tf.float64) if self.poisson_gain else None,
            tf.constant([True]) if self.eight_bit else None,
            tf.constant([self.jpeg_quality], tf.int32) if self.jpeg_quality else None)
        return noisy[0].numpy().astype(np.float32)

    def told_sigma(self, clean: np.ndarray) -> float:
        """The noise level in [0, 1] units the denoisers are told (BM3D too)."""
        gain = tf.constant([self.poisson_gain], tf.float64) if self.poisson_gain else None
        return float(equivalent_sigma(tf.constant(clean[None], tf.float64),
                                      tf.constant([self.sigma_255 / 255.0], tf.float64),
                                      gain)[0])

    def settings(self) -> dict:
        return {"sigma": self.sigma_255, "poisson_gain": self.poisson_gain,
                "eight_bit": self.eight_bit, "jpeg_quality": self.jpeg_quality}


def bm3d_denoiser():
    """BM3D/CBM3D (Dabov et al. 2007) from the optional ``bm3d`` package."""
    try:
        import bm3d
    except ImportError:
        raise InputError("--compare bm3d needs the bm3d package: pip install 'aigc[bm3d]'") \
            from None

    def run(noisy: np.ndarray, sigma: float) -> np.ndarray:
        if noisy.shape[-1] == 3:
            return bm3d.bm3d_rgb(noisy, sigma)
        return bm3d.bm3d(noisy[..., 0], sigma)[..., None]

    return run


def measure(denoise, clean_images: list, protocol: NoiseProtocol, seed: int,
            warm_up: bool = False, quiet: bool = True, desc: str = "denoise",
            noise_indices: list | None = None) -> dict:
    """Mean and per-image PSNR/SSIM of ``denoise(noisy, sigma01)`` and its speed.

    ``warm_up`` first runs ``denoise`` once untimed on the first image, so that a
    one-off cost (tracing a graph) is not charged to the per-image time.
    ``noise_indices`` (default 0, 1, ...) index each image's noise.
    """
    noise_indices = noise_indices or list(range(len(clean_images)))
    if len(noise_indices) != len(clean_images):
        raise ValueError(f"{len(noise_indices)} noise indices for {len(clean_images)} images")
    if warm_up and clean_images:
        first = clean_images[0]
        denoise(protocol.noisy(first, seed, noise_indices[0]), protocol.told_sigma(first))
    rows, seconds, pixels = [], 0.0, 0
    for index, clean in zip(noise_indices, progress(clean_images, desc, quiet, unit="img")):
        noisy, told = protocol.noisy(clean, seed, index), protocol.told_sigma(clean)
        started = time.perf_counter()
        estimate = np.clip(denoise(noisy, told), 0.0, 1.0)
        seconds += time.perf_counter() - started
        pixels += clean.shape[0] * clean.shape[1]
        rows.append({"noisy_psnr": psnr(noisy, clean), "psnr": psnr(estimate, clean),
                     "ssim": ssim(estimate, clean)})
    mean = {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}
    return {**mean, "seconds_per_image": seconds / len(rows),
            "megapixels_per_sec": pixels / 1e6 / max(seconds, 1e-9), "per_image": rows}


def _measure_blind(denoiser, clean: list, protocol: NoiseProtocol, seed: int, quiet: bool,
                   noise_indices: list) -> dict:
    """``measure`` with the model not told the noise level: it is estimated from each noisy
    image as ``aigc denoise`` does without --sigma (the estimate's time counts). Also the
    estimate's error against the told level, in 0-255 units."""
    errors = []

    def blind(noisy: np.ndarray, told: float) -> np.ndarray:
        estimate = estimate_noise(noisy)
        errors.append((estimate.sigma - told) * 255.0)
        return denoiser(noisy, estimate.level)

    report = measure(blind, clean, protocol, seed, quiet=quiet, desc="blind",
                     noise_indices=noise_indices)
    for row, error in zip(report["per_image"], errors):
        row["sigma_error"] = error
    return {**report, "sigma_error_mean": float(np.mean(errors)),
            "sigma_error_mean_abs": float(np.mean(np.abs(errors)))}


def evaluate_denoising(model, data: ImageSet, options: dict) -> dict:
    """The model (and, with ``compare: bm3d``, BM3D) on ``options['clean']`` images."""
    folder = options.get("clean")
    if not folder:
        raise InputError("denoiser evaluation needs --clean FOLDER (clean images; noise is "
                         "added with --sigma)")
    channels = model.denoiser.input_shape[0][-1]
    paths = list_image_files(Path(folder))
    if not paths:
        raise InputError(f"no images under --clean {folder}")
    # An image's noise is indexed by its place in the folder, so that a broken file leaves
    # the other images' noise (and so the published figures) as they are.
    clean, names, noise_indices = [], [], []
    for index, path in enumerate(paths):
        if len(clean) == options.get("limit"):  # the first N readable images
            break
        try:
            clean.append(to_array(read_image(path), channels).astype(np.float32) / 255.0)
        except Exception as error:  # Pillow raises many types on broken files
            log.warning("skipped %s: %s: %s", path, type(error).__name__, error)
            continue
        names.append(str(path.relative_to(folder)))
        noise_indices.append(index)
    if not clean:
        raise InputError(f"none of the images under --clean {folder} could be read")
    protocol = NoiseProtocol(float(options.get("sigma", 25.0)),
                             float(options.get("poisson_gain") or 0.0),
                             bool(options.get("eight_bit")), options.get("jpeg_quality"))
    seed, ensemble = int(options.get("seed", 0)), int(options.get("ensemble") or 1)
    result = {"clean": str(folder), **protocol.settings(), "noise_seed": seed,
              "images": len(clean), "channels": channels, "ensemble": ensemble}
    quiet = options.get("quiet", True)
    denoiser = TiledDenoiser(model, ensemble=ensemble)  # one graph for both: warmed up once
    result.update(measure(denoiser, clean, protocol, seed, warm_up=True, quiet=quiet,
                          noise_indices=noise_indices))
    if options.get("blind"):
        result["blind"] = _measure_blind(denoiser, clean, protocol, seed, quiet, noise_indices)
    if options.get("compare") == "bm3d":
        result["bm3d"] = measure(bm3d_denoiser(), clean, protocol, seed, quiet=quiet,
                                 desc="bm3d", noise_indices=noise_indices)
        # Both timed in this process, one after the other, on the same noisy images: the
        # side-by-side speed figure (the machine's speed drifts between runs).
        result["speedup_vs_bm3d"] = (result["bm3d"]["seconds_per_image"]
                                     / max(result["seconds_per_image"], 1e-9))
    for report in (result, result.get("bm3d"), result.get("blind")):
        for row, name in zip(report["per_image"] if report else (), names):
            row["image"] = name
    return result
