"""``aigc denoise``: clean noisy photos with a trained or built-in denoiser.

Large images run in overlapping tiles whose margins cover the network's
receptive field, so tiling changes only the memory it takes (and float rounding).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from aigc_cli.data.sources import list_image_files
from aigc_cli.errors import InputError
from aigc_cli.io.files import atomic_write_bytes
from aigc_cli.io.images import IMAGE_FORMATS
from aigc_cli.io.photos import encode_photo, format_of_name, read_photo
from aigc_cli.io.provenance import tool_record, with_edit
from aigc_cli.inference.noise_level import NoiseEstimate, estimate_noise
from aigc_cli.inference.provenance import checkpoint_sha256, files_sha256
from aigc_cli.io.progress import progress
from aigc_cli.models.assets import (BUILTIN_DENOISERS, BUILTIN_MAX_SIGMA,
                                    BUILTIN_NAMES, builtin_denoiser_path,
                                    has_builtin_denoiser, load_model_asset)
from aigc_cli.training.signals import StopRequest

log = logging.getLogger("aigc")

DEFAULT_TILE = 512


@dataclass
class DenoiseReport:
    written: list[Path] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)  # outputs already there (--skip-existing)


class DenoiseInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) during a folder: ``report`` says what was written before it.
    Every output is written whole (by rename) or not at all."""

    def __init__(self, report: DenoiseReport, total: int):
        super().__init__()
        self.report, self.total = report, total


# The eight rotations/flips of a square, ordered so that any prefix mixes both
# flips and rotations: the self-ensemble of N runs the first N.
SYMMETRIES = ((0, False), (2, True), (1, False), (3, True),
              (2, False), (0, True), (3, False), (1, True))
ENSEMBLE_SIZES = (1, 2, 4, 8)


class TiledDenoiser:
    """Runs a denoiser over whole images in tiles of at most ``tile`` pixels a side.

    With ``ensemble`` N > 1, the image is also denoised rotated/flipped N - 1
    other ways and the results, turned back, are averaged (geometric
    self-ensemble: N times slower, a little better).
    """

    def __init__(self, model, tile: int = DEFAULT_TILE, ensemble: int = 1):
        if ensemble not in ENSEMBLE_SIZES:
            raise InputError(f"--ensemble {ensemble}: choose one of "
                             f"{', '.join(map(str, ENSEMBLE_SIZES))}")
        self.model = model
        self.ensemble = ensemble
        self.channels = model.denoiser.input_shape[0][-1]
        multiple = model.size_multiple  # tiles start on this grid: the network's strides
        self.multiple = multiple
        self.margin = -(-model.radius // multiple) * multiple
        # A model with self-attention caps its tile (attention's memory is quadratic).
        tile = min(tile, getattr(model, "max_tile", None) or tile)
        self.tile = max(tile - tile % multiple, multiple)
        # One graph for every tile shape: traced once (each trace of a deep network costs
        # about a second), measured as fast as shape-specialised graphs.
        signature = [tf.TensorSpec([1, None, None, self.channels], tf.float32),
                     tf.TensorSpec([1], tf.float32)]
        self._run = tf.function(model.denoise, input_signature=signature)
        self._run_map = tf.function(model.denoise, input_signature=[  # noise that varies
            signature[0], tf.TensorSpec([1, None, None, 1], tf.float32)])
        # An image that fits one tile runs its whole self-ensemble in one graph: eight
        # calls from Python took 0.67 s per CBSD68 image, one graph 0.61 s (A/B, bf16).
        self._run_ensemble = tf.function(self._ensemble_in_graph, input_signature=signature)

    def __call__(self, pixels: np.ndarray, sigma: float | np.ndarray) -> np.ndarray:
        """pixels [H, W, C] in [0, 1] → denoised [H, W, C] (not clipped). ``sigma``: the
        noise std-dev in [0, 1] units, or a map of it [H, W, 1]."""
        if pixels.shape[-1] != self.channels:
            return self._channel_adapted(pixels, sigma)
        if np.ndim(sigma):
            return self._ensembled(np.concatenate([pixels, sigma], axis=-1))
        if self.ensemble > 1 and max(self._padded(size) for size in pixels.shape[:2]) <= self.tile:
            image = tf.constant(pixels[None], tf.float32)
            return self._run_ensemble(image, tf.constant([sigma], tf.float32))[0].numpy()
        return self._ensembled(pixels, sigma)

    def _ensembled(self, pixels: np.ndarray, sigma: float | None = None) -> np.ndarray:
        """The self-ensemble by tiles; without ``sigma``, the last channel is the noise
        map (turned with the image)."""
        channels = pixels.shape[-1] - (sigma is None)
        total = np.zeros((*pixels.shape[:2], channels), np.float32)
        for turns, flip in SYMMETRIES[:self.ensemble]:
            turned = np.rot90(pixels[:, ::-1] if flip else pixels, turns)
            restored = np.rot90(self._tiled(np.ascontiguousarray(turned), sigma), -turns)
            total += restored[:, ::-1] if flip else restored
        return total / self.ensemble

    def _padded(self, size: int) -> int:
        return -(-size // self.multiple) * self.multiple

    def _ensemble_in_graph(self, image: tf.Tensor, sigma: tf.Tensor) -> tf.Tensor:
        """What the loop in ``__call__`` computes for an image within one tile: each
        flipped/turned copy padded at its own bottom-right, as ``_tiled`` pads it."""
        total = tf.zeros_like(image)
        for turns, flip in SYMMETRIES[:self.ensemble]:
            turned = tf.image.rot90(tf.reverse(image, [2]) if flip else image, turns)
            height, width = tf.shape(turned)[1], tf.shape(turned)[2]
            padding = [[0, 0], [0, -height % self.multiple], [0, -width % self.multiple], [0, 0]]
            padded = tf.pad(turned, padding, mode="SYMMETRIC")
            restored = self.model.denoise(padded, sigma)[:, :height, :width]
            restored = tf.image.rot90(restored, (4 - turns) % 4)
            total += tf.reverse(restored, [2]) if flip else restored
        return total / self.ensemble

    def _tiled(self, pixels: np.ndarray, sigma: float | None) -> np.ndarray:
        height, width = pixels.shape[:2]
        pad_h, pad_w = -height % self.multiple, -width % self.multiple
        padded = np.pad(pixels, ((0, pad_h), (0, pad_w), (0, 0)), mode="symmetric")
        out = np.empty((*padded.shape[:2], self.channels), np.float32)
        for top in range(0, padded.shape[0], self.tile):
            for left in range(0, padded.shape[1], self.tile):
                self._denoise_tile(padded, out, top, left, sigma)
        return out[:height, :width]

    def _denoise_tile(self, image, out, top, left, sigma):
        bottom = min(top + self.tile, image.shape[0])
        right = min(left + self.tile, image.shape[1])
        y0, x0 = max(top - self.margin, 0), max(left - self.margin, 0)
        y1 = min(bottom + self.margin, image.shape[0])
        x1 = min(right + self.margin, image.shape[1])
        region = tf.constant(image[None, y0:y1, x0:x1], tf.float32)
        if sigma is None:  # the last channel is the noise map
            result = self._run_map(region[..., :-1], region[..., -1:])[0].numpy()
        else:
            result = self._run(region, tf.constant([sigma], tf.float32))[0].numpy()
        out[top:bottom, left:right] = result[top - y0:bottom - y0, left - x0:right - x0]

    def _channel_adapted(self, pixels, sigma):
        if self.channels == 1:  # a gray model on a colour image: channel by channel
            return np.concatenate([self(pixels[..., i:i + 1], sigma)
                                   for i in range(pixels.shape[-1])], axis=-1)
        colour = self(np.repeat(pixels, 3, axis=-1), sigma)
        return colour.mean(axis=-1, keepdims=True)


class LoadedDenoiser(NamedTuple):
    model: object
    max_sigma: float  # the highest noise level (0-255) it was trained on
    identity: dict  # which weights, for the outputs' provenance record


def load_denoiser(reference: str | None, channels: int, precision: str = "float32",
                  builtins: dict | None = None) -> LoadedDenoiser:
    """The model named by ``--model``: a run dir, a checkpoint or a built-in name;
    without one, the built-in model for the image's channels. ``builtins`` swaps a
    built-in for another (``DenoiseSettings.builtins``: the defaults for the machine)."""
    from aigc_cli.inference.trained import load_trained_model

    name = reference or ("gray" if channels == 1 else "color")
    if name in BUILTIN_DENOISERS:
        if reference is None and name == "color" and not has_builtin_denoiser("color") \
                and has_builtin_denoiser("gray"):
            log.warning("no built-in colour denoiser in this installation: colour images are "
                        "denoised channel by channel with the gray one")
            name = "gray"
        name = (builtins or {}).get(name, name)
        path = builtin_denoiser_path(name, "--model")
        return LoadedDenoiser(load_model_asset(path, precision), BUILTIN_MAX_SIGMA,
                              {"model": f"built-in {name}", "model_sha256": files_sha256([path])})
    trained = load_trained_model(name, precision, also=BUILTIN_NAMES)
    if trained.config.model.type not in ("denoiser", "denoising_vae", "diffusion"):
        raise InputError(f"--model {name} holds a {trained.config.model.type} model, not a "
                         "denoiser (or a diffusion model)")
    noise = trained.config.dataset.noise  # None for diffusion: trained on every level
    return LoadedDenoiser(trained.model, max(np.atleast_1d(noise.sigma)) if noise else 255.0,
                          {"model": trained.config.model.type,
                           "checkpoint_sha256": checkpoint_sha256(trained.checkpoint)})


def output_path(source: Path, input_root: Path, output_root: Path) -> Path:
    """Where the denoised copy of ``source`` goes: same relative path and format."""
    if input_root.is_file():
        return output_root / source.name
    return output_root / source.relative_to(input_root)


def denoise_files(input_path: Path, output_root: Path, model_reference: str | None,
                  sigma_255: float | None, tile: int = DEFAULT_TILE,
                  quiet: bool = False, ensemble: int = 1,
                  precision: str = "float32", skip_existing: bool = False,
                  verbose: bool = False, builtins: dict | None = None) -> DenoiseReport:
    """Denoise a file or every image under a folder into ``output_root``; with
    ``skip_existing``, outputs already there are kept (an interrupted folder resumes);
    ``verbose`` logs each image's noise level; ``builtins``: see ``load_denoiser``.
    Raises DenoiseInterrupted on Ctrl-C, with what was written."""
    files = [input_path] if input_path.is_file() else list_image_files(input_path)
    if not files:
        raise InputError(f"no images ({IMAGE_FORMATS}) under {input_path}")
    targets = [output_path(source, input_path, output_root) for source in files]
    _refuse_writing_over_inputs(files, targets)

    def loaded(channels: int) -> LoadedDenoiser:
        model = load_denoiser(model_reference, channels, precision, builtins)
        if sigma_255 is not None and sigma_255 > model.max_sigma:
            log.warning("--sigma %g is above the %g that %s was trained on: expect leftover "
                        "noise (train one with a wider dataset.noise.sigma)", sigma_255,
                        model.max_sigma, model_reference or "the built-in model")
        return model

    # A --model is the same for every image: loaded (and checked) before the first one.
    chosen = loaded(0) if model_reference else None
    report, runners = DenoiseReport(), {}
    # Ctrl-C or SIGTERM finishes the image at hand, then stops; a second one stops at once.
    with StopRequest() as stop:
        try:
            for source, target in progress(list(zip(files, targets)), "denoise", quiet,
                                           unit="img"):
                if stop.requested:
                    raise KeyboardInterrupt
                # Outputs appear by rename, whole; an empty one (a crash of the disk) is redone.
                if skip_existing and target.is_file() and target.stat().st_size > 0:
                    report.kept.append(target)
                    continue
                _denoise_one(source, target, report, runners, chosen, loaded, sigma_255, tile,
                             ensemble, verbose)
        except KeyboardInterrupt:
            for failure in report.failed:
                log.warning("skipped %s", failure)
            raise DenoiseInterrupted(report, len(files)) from None
    for failure in report.failed:
        log.warning("skipped %s", failure)
    return report


def _denoise_one(source: Path, target: Path, report: DenoiseReport, runners: dict, chosen,
                 loaded, sigma_255: float | None, tile: int, ensemble: int,
                 verbose: bool = False) -> None:
    try:
        photo = read_photo(source)
    except Exception as error:  # unreadable files are reported, not fatal
        report.failed.append(f"{source}: {type(error).__name__}: {error}")
        return
    channels = photo.pixels.shape[-1]
    if channels not in runners:
        denoiser = chosen or loaded(channels)
        runners[channels] = (TiledDenoiser(denoiser.model, tile, ensemble), denoiser.identity)
    runner, identity = runners[channels]
    try:
        estimate = NoiseEstimate(sigma_255 / 255.0, None) if sigma_255 is not None \
            else estimate_noise(photo.pixels)
    except InputError as error:
        report.failed.append(f"{source}: {error}")
        return
    if verbose:
        log.info("%s: %s, %s", source, photo.format, describe_noise(estimate, sigma_255))
    denoised = runner(photo.pixels, estimate.level)
    edit = {**tool_record(), "action": "denoise", **identity, "ensemble": ensemble,
            "noise": describe_noise(estimate, sigma_255)}
    # A mode the format cannot store fails here, with OSError too from Pillow ("cannot
    # write mode ... as ..."); encoding is in memory, so no OSError here is the disk's.
    try:
        encoded = encode_photo(denoised, replace(photo, xmp=with_edit(photo.xmp, edit)))
    except (ValueError, TypeError, KeyError, OSError) as error:
        report.failed.append(f"{source}: cannot write it back as {photo.format}: {error}")
        return
    named = format_of_name(source)
    if named and named != photo.format:
        log.warning("%s holds a %s image, not %s: its denoised copy %s is written as %s "
                    "under the same name", source, photo.format, named, target, photo.format)
    atomic_write_bytes(target, encoded, durable=False)
    report.written.append(target)


def describe_noise(estimate: NoiseEstimate, sigma_255: float | None) -> str:
    """The noise level as ``--verbose`` reports it, in 0-255 units."""
    if sigma_255 is not None:
        return f"noise sigma {sigma_255:.2f} (as given)"
    if np.ndim(estimate.level):
        function = estimate.function
        return (f"noise growing with intensity, sigma {255 * function.sigma(function.low):.2f} "
                f"to {255 * function.sigma(function.high):.2f} (estimated: variance "
                f"{function.gain:.4f} x + ({255 * np.sqrt(function.floor):.2f}/255)^2, a map)")
    return f"noise sigma {255 * estimate.sigma:.2f} (estimated)"


def _refuse_writing_over_inputs(sources: list[Path], targets: list[Path]) -> None:
    inputs = {source.resolve() for source in sources}
    for source, target in zip(sources, targets):
        if target.resolve() in inputs:
            raise InputError(f"denoising {source} would write over the input "
                             f"{target}; choose another -o")


def default_output(input_path: Path) -> Path:
    """``photos/`` → ``photos_denoised/``; ``a.png`` → ``a_denoised/`` beside it."""
    stem = input_path.name if input_path.is_dir() else input_path.stem
    return input_path.parent / f"{stem}_denoised"


def check_output(input_path: Path, output_root: Path, overwrite: bool) -> None:
    """Refuse outputs that would write over inputs or over an existing folder's files."""
    resolved_in, resolved_out = input_path.resolve(), output_root.resolve()
    if resolved_out == resolved_in:
        raise InputError(f"output {output_root} is the input; choose another -o")
    if input_path.is_dir() and resolved_out.is_relative_to(resolved_in):
        raise InputError(f"output {output_root} is inside the input {input_path}; choose "
                         "another -o")
    if output_root.exists() and not output_root.is_dir():
        raise InputError(f"-o {output_root} is a file; -o names the folder the denoised "
                         "images go to")
    if output_root.is_dir() and any(output_root.iterdir()) and not overwrite:
        raise InputError(f"output folder {output_root} already has files; pass --overwrite "
                         "or choose another -o")

