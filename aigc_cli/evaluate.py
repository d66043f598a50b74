"""``aigc eval``: the metrics a model family defines, on the dataset's evaluation split."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from aigc_cli.data.sources import ImageSet, load_images
from aigc_cli.errors import InputError
from aigc_cli.inference import load_trained_model
from aigc_cli.metrics import METRICS


def evaluate(source: str | Path, split: str = "test", limit: int | None = None,
             metric_names: tuple[str, ...] | None = None, options: dict | None = None) -> dict:
    """One flat dict: where the numbers come from, then each metric's results.

    ``metric_names`` picks some of the family's metrics (default: all of them).
    """
    trained = load_trained_model(source)
    model, config = trained.model, trained.config
    for name in metric_names or ():
        if name not in model.metric_names:
            raise InputError(f"--metrics: {config.model.type} models report "
                             f"{', '.join(model.metric_names)}; '{name}' is not one of them")
    dataset = dataclasses.replace(config.dataset, split=split)
    data = load_images(dataset)
    data = ImageSet(data.images[:limit], None if data.labels is None else data.labels[:limit],
                    data.origin)
    result = {"run_dir": str(trained.run.root), "checkpoint": trained.checkpoint,
              "step": trained.step, "model": config.model.type, "dataset": dataset.type,
              "split": split if dataset.type != "folder" else "folder",
              "num_images": int(len(data.images))}
    options = {"dataset": dataset, **(options or {})}
    for name in metric_names or model.metric_names:
        result.update(METRICS.get(name)(model, data, options))
    return result
