"""Evaluation during training (``training.eval_every``) and the best checkpoint by it.

The family names its metric (``GenerativeModel.selection_metric``); this module
runs it through the same registry ``aigc eval`` uses, so numbers agree, and
keeps the best-scoring checkpoint in ``checkpoints/best/`` beside the latest.
"""

from __future__ import annotations

import json
import math

from aigc_cli.config import RunConfig
from aigc_cli.data.sources import ImageSet, load_images
from aigc_cli.errors import ConfigError
from aigc_cli.io.files import atomic_write_text, cache_dir
from aigc_cli.metrics import METRICS, SETTING_KEYS
from aigc_cli.models.base import GenerativeModel
from aigc_cli.training.checkpoint import Checkpointer
from aigc_cli.training.rundir import RunDir

BEST_RECORD = "best.json"


class TrainingEvaluator:
    """Measures the family's selection metric and saves a checkpoint when it improves."""

    def __init__(self, model: GenerativeModel, config: RunConfig, run: RunDir,
                 checkpoint_items: dict[str, object]):
        if model.selection_metric is None:
            raise ConfigError(f"training.eval_every: {config.model.type} models have no metric "
                              "to evaluate during training; set it to 0", key="training.eval_every")
        self.metric, self.key, self.direction = model.selection_metric
        # Imported now, not at the first evaluation N steps in: a package upgraded under a
        # running training would otherwise mix two versions' modules in one process.
        self.measure = METRICS.get(self.metric)
        self.model = model
        self.data, self.options = _inputs(model, config)
        self.best_dir = run.checkpoints / "best"
        self.best_checkpointer = Checkpointer(self.best_dir, checkpoint_items, max_to_keep=1)
        record = self.best_dir / BEST_RECORD
        self.best = json.loads(record.read_text()) if record.is_file() else None

    def evaluate(self, step: int) -> dict:
        """The metric's results as ``eval/<key>`` scalars; saves the best checkpoint."""
        results = self.measure(self.model, self.data, self.options)
        scalars = {f"eval/{key}": float(value) for key, value in results.items()
                   if isinstance(value, (int, float)) and not isinstance(value, bool)
                   and key not in SETTING_KEYS}
        score = float(results[self.key])
        if math.isfinite(score) and self._improves(score):
            path = self.best_checkpointer.save(step)
            self.best = {"step": step, "metric": self.key, "value": score, "checkpoint": path}
            atomic_write_text(self.best_dir / BEST_RECORD, json.dumps(self.best, indent=2) + "\n")
        return scalars

    def _improves(self, score: float) -> bool:
        if self.best is None:
            return True
        best = self.best["value"]
        return score < best if self.direction == "min" else score > best


def _inputs(model: GenerativeModel, config: RunConfig) -> tuple[ImageSet | None, dict]:
    """The evaluation data and the metric's options, as ``aigc eval`` would build them."""
    training = config.training
    # aigc eval's default seed, not the training seed: runs trained with other seeds are
    # measured on the same noisy images (and samples), and agree with `aigc eval`.
    # The memorization audit (training features, nearest-neighbour search) is for
    # `aigc eval`; a checkpoint is chosen by FID alone.
    options = {"dataset": config.dataset, "cache_dir": cache_dir(), "seed": 0,
               "fid_samples": training.eval_samples, "importance_samples": 1,
               "memorization": False}
    if not model.evaluates_on_split:
        if not training.eval_images:
            raise ConfigError("training.eval_images: training.eval_every needs a folder of "
                              "clean images to measure the denoiser on", key="training.eval_images")
        return None, {**options, "clean": training.eval_images, "sigma": training.eval_sigma}
    split = "test" if config.dataset.type != "folder" else "train"
    images = load_images(config.dataset, split=split)
    limit = None if model.selection_metric[0] == "fid" else training.eval_samples
    labels = None if images.labels is None else images.labels[:limit]
    return ImageSet(images.images[:limit], labels, images.origin), options
