"""Rebuild a trained model from its run dir for ``sample`` and ``eval``."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import keras

from aigc_cli.config import RunConfig
from aigc_cli.models import MODEL_FAMILIES
from aigc_cli.models.base import GenerativeModel
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


#: ``--precision`` names → Keras dtype policies. bfloat16 computes in bfloat16 with
#: float32 weights (and the denoiser's output layers in float32): measured 3.6x faster
#: on this project's AMX CPU at -0.005 dB (gray built-in, BSD68 sigma 25).
INFERENCE_PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16"}


@contextlib.contextmanager
def inference_precision(precision: str = "float32"):
    """Networks built inside compute in ``precision``; the global policy is restored after."""
    if precision not in INFERENCE_PRECISIONS:
        raise ValueError(f"precision {precision!r}: choose one of "
                         f"{', '.join(INFERENCE_PRECISIONS)}")
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(INFERENCE_PRECISIONS[precision])
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


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
