"""Rebuild a trained model from its run dir for ``sample``, ``eval``, ``denoise`` and ``export``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aigc_cli.config import RunConfig
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
                       also: str | None = None) -> TrainedModel:
    """The model a RUN_DIR (latest checkpoint) or CHECKPOINT prefix holds, computing in
    ``precision`` whatever precision it was trained in; ``also``: as resolve_checkpoint."""
    run, prefix = resolve_checkpoint(source, also)
    config = run.load_config()
    with inference_precision(precision):
        model = MODEL_FAMILIES.get(config.model.type)(
            config.model, config.optimizer, config.dataset.image_shape, config.training.seed)
    restore_for_inference(prefix, model.inference_items())
    return TrainedModel(model, config, run, prefix)
