"""``aigc sample``: images from a trained generator, without the dataset."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from aigc_cli.errors import InputError
from aigc_cli.imaging import make_grid, save_png, to_uint8
from aigc_cli.models import MODEL_FAMILIES
from aigc_cli.models.base import GenerativeModel
from aigc_cli.training.checkpoint import resolve_checkpoint, restore_for_inference


@dataclass(frozen=True)
class SampleResult:
    checkpoint: str
    files: list[Path]
    grid: Path | None


def load_generator(source: str | Path) -> tuple[GenerativeModel, str]:
    """The model of a run dir (or checkpoint), its inference weights restored."""
    run, prefix = resolve_checkpoint(source)
    config = run.load_config()
    image_shape = (config.dataset.image_size, config.dataset.image_size, config.dataset.channels)
    model = MODEL_FAMILIES.get(config.model.type)(config.model, config.optimizer, image_shape,
                                                  config.training.seed)
    if not model.latent_dim:
        raise InputError(f"{run.root} holds a {config.model.type} model, which does not "
                         "generate images from noise")
    restore_for_inference(prefix, model.inference_items())
    return model, prefix


def sample_latents(count: int, latent_dim: int, seed: int) -> np.ndarray:
    """Standard-normal latents [count, latent_dim]; the same seed, the same latents."""
    return np.random.default_rng(seed).standard_normal((count, latent_dim)).astype(np.float32)


def sample(source: str | Path, count: int, seed: int, out_dir: Path | None,
           grid_path: Path | None, batch_size: int = 250, quiet: bool = False) -> SampleResult:
    """Generate ``count`` images; write them as PNG files and/or one grid."""
    model, prefix = load_generator(source)
    latents = sample_latents(count, model.latent_dim, seed)
    generate = tf.function(model.generate, reduce_retracing=True)
    files, grid_images = [], []
    # PNG encoding runs in threads (Pillow releases the GIL) while TF generates.
    with ThreadPoolExecutor(max_workers=4) as writers, \
            tqdm(total=count, unit="img", disable=quiet, desc="sample") as bar:
        pending = []
        for start in range(0, count, batch_size):
            images = to_uint8(generate(tf.constant(latents[start:start + batch_size])).numpy())
            if grid_path:
                grid_images.append(images)
            if out_dir:
                for offset, image in enumerate(images):
                    path = out_dir / f"sample_{start + offset:06d}.png"
                    pending.append(writers.submit(save_png, image, path, False))
                    files.append(path)
            bar.update(len(images))
        for future in pending:
            future.result()
    grid = None
    if grid_path:
        save_png(make_grid(np.concatenate(grid_images)), grid_path)
        grid = grid_path
    return SampleResult(prefix, files, grid)
