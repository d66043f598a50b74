"""Rebuild a trained model from its run dir for ``sample``, ``eval``, ``denoise`` and ``export``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from aigc_cli.config import RunConfig
from aigc_cli.errors import InputError
from aigc_cli.models import MODEL_FAMILIES
from aigc_cli.models.base import GenerativeModel
from aigc_cli.models.precision import inference_precision
from aigc_cli.training.checkpoint import resolve_checkpoint, restore_for_inference
from aigc_cli.training.rundir import RunDir


@dataclass(frozen=True)
class TrainedModel:
    """A model with its inference weights restored, and where they came from."""

    model: GenerativeModel
    config: RunConfig
    run: RunDir
    checkpoint: str

    @property
    def step(self) -> int:
        return int(self.checkpoint.rsplit("-", 1)[-1])


def load_trained_model(source: str | Path, precision: str = "float32",
                       also: str | None = None, sampling: dict | None = None) -> TrainedModel:
    """The model a RUN_DIR (latest checkpoint) or CHECKPOINT prefix holds, computing in
    ``precision`` whatever precision it was trained in; ``also``: as resolve_checkpoint;
    ``sampling``: a diffusion model's ``steps``, ``sampler`` and ``guidance`` instead of
    its config's."""
    run, prefix = resolve_checkpoint(source, also)
    config = run.load_config()
    with inference_precision(precision):
        model = MODEL_FAMILIES.get(config.model.type)(
            config.model, config.optimizer, config.dataset.image_shape, config.training.seed)
    restore_for_inference(prefix, model.inference_items())
    if sampling:
        configure_sampling(model, config.model.type, sampling)
    return TrainedModel(model, config, run, prefix)


def configure_sampling(model: GenerativeModel, family: str, sampling: dict) -> None:
    """Set a diffusion model's sampler settings; an input error for other families."""
    option = {"steps": "--steps", "sampler": "--sampler", "guidance": "--guidance"}
    if not hasattr(model, "sampling"):
        raise InputError(f"{option[next(iter(sampling))]}: {family} models have no ODE "
                         "sampler (it is for diffusion runs)")
    if sampling.get("guidance", 1.0) != 1.0 and not model.uses_labels:
        raise InputError("--guidance: the model is not class-conditional (train it with "
                         "model.num_classes)")
    model.sampling = replace(model.sampling, **sampling)


def sampler_record(model: GenerativeModel) -> dict:
    """A diffusion model's sampler, steps, guidance and network evaluations per image
    (NFE), for results and provenance; {} for other families."""
    settings = getattr(model, "sampling", None)
    if settings is None:
        return {}
    return {"sampler": settings.sampler, "sample_steps": settings.steps,
            "nfe": settings.evaluations(model.uses_labels),
            **({"guidance": settings.guidance} if model.uses_labels else {})}
