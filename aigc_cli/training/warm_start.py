"""``training.init_from``: a new run starting from another model's weights."""

from __future__ import annotations

from aigc_cli.errors import CheckpointError, ConfigError
from aigc_cli.inference.trained import load_trained_model
from aigc_cli.models.assets import (BUILTIN_DENOISERS, BUILTIN_NAMES, builtin_denoiser_path,
                                    load_model_asset)
from aigc_cli.training.checkpoint import resolve_checkpoint, restore_for_inference, short_message


def initialize_from(model, source: str) -> str:
    """Copy inference weights into a fresh ``model`` from a run dir, a checkpoint or a
    built-in model name; returns where they came from. Optimizer state starts anew.
    Weights of another shape go through the family's ``adapt_weights`` (a denoiser
    grows a smaller one), which needs the donor's run config to rebuild it."""
    if source in BUILTIN_DENOISERS:
        path = builtin_denoiser_path(source, "training.init_from")
        _adapt_into(model, source, load_model_asset(path))
        return str(path)
    _, prefix = resolve_checkpoint(source, also=BUILTIN_NAMES)
    try:
        restore_for_inference(prefix, _warm_started_items(model))
    except CheckpointError as mismatch:
        if not model.grows_from_smaller:
            raise
        try:
            donor = load_trained_model(prefix).model
        except (CheckpointError, ConfigError):
            raise mismatch from None  # no run config to rebuild the donor from
        _adapt_into(model, source, donor)
    return prefix


def _adapt_into(model, source: str, donor) -> None:
    donor_networks = donor.inference_items()
    for name, network in _warm_started_items(model).items():
        if name not in donor_networks:
            raise CheckpointError(f"training.init_from {source}: it holds no '{name}' network "
                                  f"(it has {', '.join(donor_networks)}); start from a model "
                                  "of the same type")
        try:
            network.set_weights(model.adapt_weights(name, donor_networks[name].get_weights()))
        except ValueError as error:
            raise CheckpointError(f"training.init_from {source}: its '{name}' network "
                                  f"does not fit this model ({short_message(error)})") from None


def _warm_started_items(model) -> dict:
    return {name: item for name, item in model.inference_items().items()
            if name not in model.refitted_items}
