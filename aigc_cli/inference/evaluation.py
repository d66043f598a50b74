"""``aigc eval``: the metrics a model family defines, on the dataset's evaluation split."""

from __future__ import annotations

import dataclasses
import platform
from pathlib import Path

import tensorflow as tf

from aigc_cli import __version__
from aigc_cli.data.sources import ImageSet, load_images
from aigc_cli.errors import InputError
from aigc_cli.metrics import METRICS


def evaluate(source: str | Path, split: str = "test", limit: int | None = None,
             metric_names: tuple[str, ...] | None = None, options: dict | None = None) -> dict:
    """One flat dict: where the numbers come from, then each metric's results.

    ``source`` is a run dir, a checkpoint or a built-in model name;
    ``metric_names`` picks some of the family's metrics (default: all of them).
    """
    options = options or {}
    model, result, dataset = _load(str(source), options.get("precision", "float32"),
                                   options.get("sampling"))
    for name in metric_names or ():
        if name not in model.metric_names:
            raise InputError(f"--metrics: {result['model']} models report "
                             f"{', '.join(model.metric_names)}; '{name}' is not one of them")
    names = metric_names or model.metric_names
    if options.get("clean") and hasattr(model, "denoise") and "denoising" not in names:
        names = ("denoising",)  # a diffusion model is also a Gaussian denoiser
    data = None
    if model.evaluates_on_split and "denoising" not in names:
        dataset = dataclasses.replace(dataset, split=split)
        full = load_images(dataset)
        labels = None if full.labels is None else full.labels[:limit]
        data = ImageSet(full.images[:limit], labels, full.origin)
        result.update({"dataset": dataset.type,
                       "split": split if dataset.type != "folder" else "folder",
                       "num_images": int(len(data.images))})
    options = {"dataset": dataset, "limit": limit, **options}
    for name in names:
        result.update(METRICS.get(name)(model, data, options))
    if options.get("cas"):  # on request: it trains a classifier (minutes)
        result.update(METRICS.get("cas")(model, data, options))
    return result


def _load(source: str, precision: str, sampling: dict | None = None):
    from aigc_cli.inference.trained import load_trained_model, sampler_record
    from aigc_cli.models.assets import (BUILTIN_DENOISERS, BUILTIN_NAMES, builtin_denoiser_path,
                                        load_model_asset)
    from aigc_cli.models.precision import resolve_inference_precision

    precision = resolve_inference_precision(precision)  # the report says what auto chose

    if source in BUILTIN_DENOISERS:
        path = builtin_denoiser_path(source, "aigc eval")
        model = load_model_asset(path, precision)
        return model, {"model": f"built-in {source} denoiser",
                       "compute_precision": precision}, None
    trained = load_trained_model(source, precision, also=BUILTIN_NAMES, sampling=sampling)
    manifest = trained.run.read_manifest()
    provenance = {key: manifest[key] for key in PROVENANCE if key in manifest}
    # A private run's guarantee travels with every number measured on it.
    privacy = {"privacy": manifest["privacy"]} if "privacy" in manifest else {}
    return trained.model, {"run_dir": str(trained.run.root), "checkpoint": trained.checkpoint,
                           "step": trained.step, "model": trained.config.model.type,
                           "compute_precision": precision, **sampler_record(trained.model),
                           **privacy,
                           "trained_with": provenance,
                           "evaluated_with": {"aigc": __version__,
                                              "tensorflow": tf.__version__,
                                              "python": platform.python_version()}}, \
        trained.config.dataset


#: What a result carries from the run's manifest, so a number can be traced to its run.
PROVENANCE = ("aigc", "tensorflow", "keras", "python", "config_sha256", "seed", "dataset_sha256")


#: ``aigc eval --dataset`` names and the image shape each is measured at.
NAMED_DATASETS = {"fashion_mnist": {}, "mnist": {}, "cifar10": {"image_size": 32, "channels": 3}}


def evaluate_samples(folder: str | Path, dataset_reference: str, options: dict) -> dict:
    """``aigc eval --samples FOLDER --dataset NAME|CONFIG``: any folder of images (this
    tool's or another's), fitted to the dataset's image size, against its test split:
    FID/KID/precision/recall and the memorization audit."""
    from aigc_cli.config import DatasetConfig, load_config
    from aigc_cli.data.sources import load_folder
    from aigc_cli.metrics.fid import evaluate_folder

    if dataset_reference in NAMED_DATASETS:
        dataset = DatasetConfig(type=dataset_reference, **NAMED_DATASETS[dataset_reference])
    elif Path(dataset_reference).is_file():
        dataset = load_config(dataset_reference).dataset
    else:
        raise InputError(f"--dataset {dataset_reference}: neither a dataset name "
                         f"({', '.join(NAMED_DATASETS)}) nor a config file")
    if dataset.type == "folder":
        raise InputError(f"--dataset {dataset_reference}: a folder dataset has no test split "
                         "to measure against; use a named dataset or a config of one")
    samples = load_folder(Path(folder), dataset.image_size, dataset.channels)
    if not len(samples.images):
        raise InputError(f"--samples {folder}: no readable images in it")
    return {"samples": str(folder), "dataset": dataset.type, "num_samples": len(samples.images),
            **evaluate_folder(samples.images, dataset, options)}
