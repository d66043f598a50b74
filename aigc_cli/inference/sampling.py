"""``aigc sample``: images from a trained model, without the dataset.

Prior samples for every generator; latent interpolations; and, for models
with an encoder (VAE), reconstructions of a folder of images.
"""

from __future__ import annotations

import time

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import tensorflow as tf
from PIL import Image
from tqdm import tqdm

from aigc_cli.data.sources import list_image_files
from aigc_cli.errors import InputError
from aigc_cli.inference.provenance import generation_record
from aigc_cli.inference.trained import TrainedModel, load_trained_model, sampler_record
from aigc_cli.io.files import write_new_files
from aigc_cli.io.photos import Photo, encode_photo
from aigc_cli.io.provenance import generated_packet
from aigc_cli.io.images import encode_png, fit_square, make_grid, read_image, save_png, to_uint8


#: Formats a reconstruction is written back in (with ``pairs=False``); others become PNG.
WRITABLE_FORMATS = ("PNG", "JPEG", "BMP", "WEBP", "GIF", "TIFF")


@dataclass(frozen=True)
class SampleResult:
    checkpoint: str
    files: list[Path]
    grid: Path | None
    skipped: int = 0
    seconds: float = 0.0  # generating and writing, after the model is loaded


def sample_latents(count: int, latent_dim: int, seed: int, temperature: float = 1.0,
                   truncation: float | None = None) -> np.ndarray:
    """Normal latents [count, latent_dim] with std ``temperature``; same seed, same latents.

    ``truncation`` redraws every component beyond +-truncation (the truncation
    trick, Brock et al. 2019): less variety, fewer failures.
    """
    rng = np.random.default_rng(seed)
    latents = rng.standard_normal((count, latent_dim))
    if truncation is not None:
        outside = np.abs(latents) > truncation
        while outside.any():
            latents[outside] = rng.standard_normal(int(outside.sum()))
            outside = np.abs(latents) > truncation
    return (latents * temperature).astype(np.float32)


def interpolation_latents(pairs: int, steps: int, latent_dim: int, seed: int,
                          temperature: float = 1.0) -> np.ndarray:
    """[pairs * steps, latent_dim]: each row walks from one random latent to another.

    Spherical interpolation (slerp) keeps intermediate points at the norm a
    Gaussian latent typically has; a straight line would pass through the
    unusually short vectors near the origin (White 2016, "Sampling Generative
    Networks").
    """
    ends = sample_latents(2 * pairs, latent_dim, seed, temperature).reshape(pairs, 2, latent_dim)
    start, end = ends[:, 0], ends[:, 1]
    cosine = np.sum(start * end, -1) / (np.linalg.norm(start, axis=-1)
                                        * np.linalg.norm(end, axis=-1))
    omega = np.arccos(np.clip(cosine, -1.0, 1.0))[:, None, None]  # [pairs, 1, 1]
    t = np.linspace(0.0, 1.0, steps)[None, :, None]  # [1, steps, 1]
    sin_omega = np.maximum(np.sin(omega), 1e-6)
    path = (np.sin((1 - t) * omega) * start[:, None] + np.sin(t * omega) * end[:, None]) / sin_omega
    return path.reshape(pairs * steps, latent_dim).astype(np.float32)


def _batched(function: Callable, inputs: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    compiled = tf.function(function, reduce_retracing=True)
    for start in range(0, len(inputs), batch_size):
        yield to_uint8(compiled(tf.constant(inputs[start:start + batch_size])).numpy())


def _write_all(batches: Iterator[np.ndarray], total: int, out_dir: Path | None,
               names: Callable[[int], str], quiet: bool,
               packets: Callable[[int], bytes]) -> tuple[list[Path], np.ndarray]:
    """Write each image as ``out_dir/names(i)``, with the XMP packet ``packets(i)``,
    while the next batch computes."""
    files, kept, pending = [], [], []
    # One writer task per batch: PNG encoding (Pillow releases the GIL) and file writes
    # run while TensorFlow generates the next batch.
    with ThreadPoolExecutor(max_workers=2) as writers, \
            tqdm(total=total, unit="img", disable=quiet, desc="sample") as bar:
        for images in batches:
            kept.append(images)
            if out_dir is not None:
                indices = range(len(files), len(files) + len(images))
                paths = [out_dir / names(i) for i in indices]
                pending.append(writers.submit(_write_batch, images, paths,
                                              [packets(i) for i in indices]))
                files.extend(paths)
            bar.update(len(images))
        for future in pending:
            future.result()
    return files, np.concatenate(kept)


def _write_batch(images: np.ndarray, paths: list[Path], packets: list[bytes]) -> None:
    write_new_files([(path, encode_png(image, packet))
                     for image, path, packet in zip(images, paths, packets)])


def _packets(trained: TrainedModel, **fields) -> Callable[..., bytes]:
    """index -> the XMP packet of image ``index`` (``fields`` and the index in its
    record); called with no index, the packet of a grid of them all."""
    record = {**generation_record(trained), **{k: v for k, v in fields.items()
                                                if v is not None}}
    return lambda index=None: generated_packet(
        record if index is None else {**record, "index": index})


def _require_latents(trained: TrainedModel) -> None:
    if not trained.model.latent_dim:
        raise InputError(f"{trained.run.root} holds a {trained.config.model.type} model, which "
                         "does not generate images from noise")


def _generator(trained: TrainedModel, class_label: int | None) -> Callable:
    """latents → images, with every image of class ``class_label`` when one is given."""
    model = trained.model
    if class_label is None:
        return model.generate
    classes = getattr(model, "num_classes", 0)
    if not classes:
        raise InputError(f"--class: {trained.run.root} is not a class-conditional model "
                         "(train one with model.num_classes)")
    if class_label >= classes:
        raise InputError(f"--class {class_label}: the model knows classes 0-{classes - 1}")
    return lambda latents: model.generate(latents, tf.fill(tf.shape(latents)[:1], class_label))


def sample(source: str | Path, count: int, seed: int, out_dir: Path | None,
           grid_path: Path | None, batch_size: int = 250, quiet: bool = False,
           temperature: float = 1.0, truncation: float | None = None,
           class_label: int | None = None, sampling: dict | None = None) -> SampleResult:
    """Generate ``count`` images from the prior; write PNG files and/or one grid.
    ``sampling``: a diffusion model's steps, sampler and guidance (see TrainedModel)."""
    trained = load_trained_model(source, sampling=sampling)
    _require_latents(trained)
    latents = sample_latents(count, trained.model.latent_dim, seed, temperature, truncation)
    generate = _generator(trained, class_label)
    packets = _packets(trained, seed=seed, temperature=temperature, truncation=truncation,
                       **{"class": class_label}, **sampler_record(trained.model))
    started = time.perf_counter()
    files, images = _write_all(_batched(generate, latents, batch_size), count,
                               out_dir, lambda i: f"sample_{i:06d}.png", quiet, packets)
    seconds = time.perf_counter() - started
    if grid_path:
        save_png(make_grid(images), grid_path, xmp=packets())
    return SampleResult(trained.checkpoint, files, grid_path, seconds=seconds)


def interpolate(source: str | Path, pairs: int, steps: int, seed: int, out_dir: Path | None,
                grid_path: Path | None, batch_size: int = 250, quiet: bool = False,
                temperature: float = 1.0, class_label: int | None = None,
                sampling: dict | None = None) -> SampleResult:
    """``pairs`` rows of ``steps`` images walking between random latents."""
    trained = load_trained_model(source, sampling=sampling)
    _require_latents(trained)
    latents, generate = walk(trained, pairs, steps, seed, temperature, class_label)
    packets = _packets(trained, seed=seed, temperature=temperature, interpolation_steps=steps,
                       **{"class": class_label}, **sampler_record(trained.model))
    files, images = _write_all(
        _batched(generate, latents, batch_size), len(latents), out_dir,
        lambda i: f"interpolation_{i // steps:04d}_{i % steps:03d}.png", quiet, packets)
    if grid_path:
        save_png(make_grid(images, columns=steps), grid_path, xmp=packets())
    return SampleResult(trained.checkpoint, files, grid_path)


def walk(trained: TrainedModel, pairs: int, steps: int, seed: int, temperature: float = 1.0,
         class_label: int | None = None) -> tuple[np.ndarray, Callable]:
    """The inputs of ``interpolate``'s rows [pairs * steps, D] and the function that makes
    images of them."""
    model = trained.model
    if getattr(model, "samples_through_prior", False):
        # A fitted prior maps noise to latents piecewise: walk the latent space itself, on
        # straight lines between two of its samples, as --between does.
        ends = model.prior_latents(tf.constant(sample_latents(
            2 * pairs, model.latent_dim, seed, temperature))).numpy()
        return _straight_lines(ends, steps), model.decode_mean
    return (interpolation_latents(pairs, steps, model.latent_dim, seed, temperature),
            _generator(trained, class_label))


def reconstruct_folder(source: str | Path, folder: Path, out_dir: Path | None,
                       grid_path: Path | None, batch_size: int = 250, quiet: bool = False,
                       pairs: bool = True) -> SampleResult:
    """Encode and decode every image under ``folder``.

    With ``pairs``, each output is input|output side by side, as PNG under the
    input's relative path; without, the reconstruction alone under the input's
    relative path and name, in its format (by content: a JPEG stays a JPEG).
    Unreadable files are skipped and counted.
    """
    trained = load_trained_model(source)
    _require_encoder(trained, "--reconstruct")
    paths, inputs, formats, skipped = [], [], [], 0
    for path in list_image_files(folder):
        try:
            image_format, image = _format_of(path), _fitted(trained, path)
        except Exception:  # Pillow raises many types on broken files
            skipped += 1
            continue
        formats.append(image_format)
        inputs.append(image)
        paths.append(path.relative_to(folder))
    if not inputs:
        raise InputError(f"no readable images under {folder}")
    originals = np.stack(inputs)
    outputs = np.concatenate(list(_batched(trained.model.reconstruct, _scaled(originals),
                                           batch_size)))
    record = generation_record(trained)
    packets = [generated_packet({**record, "reconstruction_of": str(path)}) for path in paths]
    if pairs:
        shown = np.concatenate([originals, outputs], axis=2)  # input | output, side by side
        files, _ = _write_all(iter([shown]), len(shown), out_dir,
                              lambda i: str(paths[i].with_suffix(".png")), quiet,
                              packets.__getitem__)
    else:
        shown = outputs
        files = [out_dir / path for path in paths] if out_dir else []
        write_new_files([(target, _encode_as(image, image_format, packet))
                         for target, image, image_format, packet
                         in zip(files, outputs, formats, packets)])
    if grid_path:
        save_png(make_grid(shown), grid_path, xmp=generated_packet(record))
    return SampleResult(trained.checkpoint, files, grid_path, skipped)


def interpolate_between(source: str | Path, first: Path, second: Path, steps: int,
                        out_dir: Path | None, grid_path: Path | None,
                        quiet: bool = False) -> SampleResult:
    """``steps`` images on the straight line between the posterior means of two images:
    the first and last are their reconstructions."""
    trained = load_trained_model(source)
    _require_encoder(trained, "--between")
    ends = _scaled(np.stack([_readable(trained, Path(path)) for path in (first, second)]))
    latents = _straight_lines(trained.model.encode(tf.constant(ends))[0].numpy(), steps)
    packets = _packets(trained, between=[Path(first).name, Path(second).name])
    files, images = _write_all(_batched(trained.model.decode_mean, latents, steps), steps,
                               out_dir,
                               lambda i: f"between_{i:03d}.png", quiet, packets)
    if grid_path:
        save_png(make_grid(images, columns=steps), grid_path, xmp=packets())
    return SampleResult(trained.checkpoint, files, grid_path)


def _straight_lines(ends: np.ndarray, steps: int) -> np.ndarray:
    """[pairs * steps, D]: ``steps`` evenly spaced points from each even row of ``ends``
    [2 * pairs, D] to the next, ends included."""
    start, end = ends[0::2, None], ends[1::2, None]  # [pairs, 1, D]
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :, None]
    return ((1.0 - t) * start + t * end).reshape(-1, ends.shape[1]).astype(np.float32)


def _require_encoder(trained: TrainedModel, option: str) -> None:
    if not hasattr(trained.model, "reconstruct"):
        raise InputError(f"{trained.config.model.type} models have no encoder; {option} "
                         "needs a VAE run")


def _fitted(trained: TrainedModel, path: Path) -> np.ndarray:
    """The image at ``path`` as the model sees it: uint8 [size, size, channels]."""
    data = trained.config.dataset
    return fit_square(read_image(path, draft_size=data.image_size), data.image_size,
                      data.channels)


def _readable(trained: TrainedModel, path: Path) -> np.ndarray:
    try:
        return _fitted(trained, path)
    except Exception as error:  # Pillow raises many types on broken files
        raise InputError(f"--between: cannot read {path} as an image "
                         f"({type(error).__name__}: {error})") from None


def _scaled(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / 127.5 - 1.0


def _format_of(path: Path) -> str:
    """The file's format by its content; formats Pillow reads but cannot write become PNG."""
    with Image.open(path) as image:
        image_format = {"MPO": "JPEG"}.get(image.format, image.format)
    return image_format if image_format in WRITABLE_FORMATS else "PNG"


def _encode_as(image: np.ndarray, image_format: str, packet: bytes) -> bytes:
    """uint8 [H, W, C] as a file of ``image_format``, as ``aigc denoise`` writes one."""
    pixels = image.astype(np.float32) / 255.0
    return encode_photo(pixels, Photo(pixels, None, 8, image_format, xmp=packet))
