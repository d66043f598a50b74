"""The provenance record of what a trained model writes: which weights, which recipe,
and what a private run had spent when they were saved (see ``aigc_cli.io.provenance``
for where it goes in the file)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from aigc_cli.config.run import config_hash
from aigc_cli.inference.trained import TrainedModel
from aigc_cli.io.provenance import tool_record

_CHUNK = 1 << 20


def files_sha256(paths: list[Path]) -> str:
    """SHA-256 of the files' bytes one after the other (``cat FILES | sha256sum``)."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def checkpoint_sha256(prefix: str | Path) -> str:
    """SHA-256 of a TensorFlow checkpoint: its data shards, then its index, in name order
    (``cat ckpt-N.* | sha256sum`` in its folder)."""
    prefix = Path(prefix)
    return files_sha256(sorted(prefix.parent.glob(prefix.name + ".*")))


def privacy_at(settings: dict | None, step: int) -> dict | None:
    """A private run's guarantee for weights saved at ``step``: epsilon spent by then,
    with delta, the accountant and the mechanism's parameters (None: not private)."""
    if not settings:
        return None
    keys = ("delta", "accountant", "noise_multiplier", "clip_norm", "sampling_rate")
    record = {key: settings[key] for key in keys if key in settings}
    if settings.get("steps") == step and "epsilon" in settings:
        return {**record, "epsilon": settings["epsilon"], "steps": step}
    from aigc_cli.privacy.accounting import epsilon

    spent = epsilon(settings["noise_multiplier"], settings["sampling_rate"], step,
                    settings["delta"], settings["accountant"])
    return {**record, "epsilon": spent, "steps": step}


def generation_record(trained: TrainedModel) -> dict:
    """What every image from ``trained`` carries (callers add seed, index, class)."""
    manifest = trained.run.read_manifest()
    record = {**tool_record(), "model": trained.config.model.type,
              "checkpoint": Path(trained.checkpoint).name, "step": trained.step,
              "checkpoint_sha256": checkpoint_sha256(trained.checkpoint),
              "config_sha256": manifest.get("config_sha256") or config_hash(trained.config)}
    privacy = privacy_at(manifest.get("privacy"), trained.step)
    return {**record, "privacy": privacy} if privacy else record
