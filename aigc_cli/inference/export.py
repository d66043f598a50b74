"""``aigc export``: a trained model as a SavedModel (TensorFlow Serving) or .keras files.

Each family names the serving functions it offers (``GenerativeModel.serving``;
the first is ``serving_default``):

- ``generate``: latents [N, latent_dim] (and labels [N] when class-conditional)
  → images [N, H, W, C] in [-1, 1];
- ``reconstruct``: images [N, H, W, C] in [-1, 1] → reconstructions, same range;
- ``denoise``: noisy [N, H, W, C] in [0, 1] and sigma [N] (0-1 units) → denoised.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Callable

import tensorflow as tf

from aigc_cli.errors import InputError
from aigc_cli.inference.trained import TrainedModel

FORMATS = ("saved_model", "keras")


def serving_functions(trained: TrainedModel) -> dict[str, Callable]:
    """The family's serving functions, as traced-on-demand ``tf.function``s with fixed
    input signatures, in the family's order."""
    model = trained.model
    height, width, channels = trained.config.dataset.image_shape
    builders = {"generate": _generate, "reconstruct": _reconstruct, "denoise": _denoise}
    return {name: builders[name](model, (height, width, channels)) for name in model.serving}


def _generate(model, image_shape):
    latents = tf.TensorSpec([None, model.latent_dim], tf.float32, name="latents")
    if getattr(model, "uses_labels", False):
        @tf.function(input_signature=[latents, tf.TensorSpec([None], tf.int32, name="labels")])
        def generate_with_labels(latents, labels):
            return {"images": model.generate(latents, labels)}
        return generate_with_labels

    @tf.function(input_signature=[latents])
    def generate(latents):
        return {"images": model.generate(latents)}
    return generate


def _reconstruct(model, image_shape):
    @tf.function(input_signature=[tf.TensorSpec([None, *image_shape], tf.float32, name="images")])
    def reconstruct(images):
        return {"reconstructions": model.reconstruct(images)}
    return reconstruct


def _denoise(model, image_shape):
    channels = image_shape[-1]
    multiple = getattr(model, "size_multiple", 1)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, channels], tf.float32,
                                                name="noisy"),
                                  tf.TensorSpec([None], tf.float32, name="sigma")])
    def denoise(noisy, sigma):
        # Half-resolution networks need even sides: mirror-pad, denoise, crop back.
        height, width = tf.shape(noisy)[1], tf.shape(noisy)[2]
        padded = tf.pad(noisy, [[0, 0], [0, (-height) % multiple], [0, (-width) % multiple],
                                [0, 0]], mode="SYMMETRIC")
        return {"denoised": model.denoise(padded, sigma)[:, :height, :width]}
    return denoise


def export(trained: TrainedModel, out_dir: Path, fmt: str, overwrite: bool = False) -> Path:
    """Write ``trained`` to ``out_dir`` (built in a temporary sibling, then renamed)."""
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise InputError(f"{out_dir} already has files; pass --overwrite or choose another --out")
    if not trained.model.serving:
        raise InputError(f"{trained.config.model.type} models have nothing to export")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        if fmt == "saved_model":
            _save_saved_model(trained, staging)
        else:
            for name, network in trained.model.inference_items().items():
                network.save(staging / f"{name}.keras")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def _save_saved_model(trained: TrainedModel, directory: Path) -> None:
    functions = serving_functions(trained)
    root = tf.Module()
    # Tracking the networks makes their variables part of the SavedModel.
    root.networks = list(trained.model.inference_items().values())
    for name, function in functions.items():
        setattr(root, name, function)
    signatures = {"serving_default": next(iter(functions.values())), **functions}
    tf.saved_model.save(root, str(directory), signatures=signatures)
