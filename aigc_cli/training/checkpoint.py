"""Checkpoints: tf.train.CheckpointManager over named trackables.

A checkpoint holds variable values and the object graph only; restoring one
never executes code from the file.
"""

from __future__ import annotations

import logging
from pathlib import Path

import tensorflow as tf

from aigc_cli.errors import CheckpointError, CheckpointWriteError, ConfigError
from aigc_cli.training.rundir import RunDir

log = logging.getLogger("aigc")


class Checkpointer:
    """Save and restore everything training needs, numbered by step."""

    def __init__(self, directory: Path, items: dict[str, object], max_to_keep: int):
        self.directory = Path(directory)
        self.checkpoint = tf.train.Checkpoint(**items)
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(directory),
                                                  max_to_keep=max_to_keep)

    @property
    def latest(self) -> str | None:
        return self.manager.latest_checkpoint

    def restore_latest(self, directory: Path | None = None) -> str | None:
        """Restore the newest readable checkpoint (of ``directory``, default this
        manager's), if any; returns its path.

        A damaged newest checkpoint (a truncated file, a disk error) falls back to the
        one before it, with a warning; when none restores, the newest one's error is raised.
        """
        candidates = list(reversed(_checkpoint_paths(directory or self.directory)))
        errors = []
        for path in candidates:
            try:
                _restore(self.checkpoint, path, partial=False)
            except CheckpointError as error:
                errors.append(error)
                continue
            if errors:
                log.warning("checkpoint %s could not be restored (%s); resumed from %s instead",
                            candidates[0], errors[0], path)
            return path
        if errors:
            raise errors[0]
        return None

    def save(self, step: int) -> str:
        """Write a checkpoint numbered ``step`` and prune old ones.

        TensorFlow writes to temporary files and renames them, so a failed write (a
        full disk) leaves the previous checkpoints as they were.
        """
        try:
            return self.manager.save(checkpoint_number=step)
        except (tf.errors.OpError, OSError) as error:
            kept = self.latest or "none"
            raise CheckpointWriteError(
                f"cannot write checkpoint {step} to {self.directory}: {_short(error)}; the "
                f"previous checkpoint ({kept}) is intact; free space and rerun `aigc train` "
                "to resume") from None


def _checkpoint_paths(directory: Path) -> list[str]:
    """The checkpoints the folder's state file lists, oldest first."""
    state = tf.train.get_checkpoint_state(str(directory))
    return list(state.all_model_checkpoint_paths) if state else []


def latest_step(directory: Path) -> int:
    """Step number of the newest checkpoint in ``directory`` (0 when none)."""
    path = tf.train.latest_checkpoint(str(directory))
    return int(path.rsplit("-", 1)[-1]) if path else 0


def resolve_checkpoint(source: str | Path, also: str | None = None) -> tuple[RunDir, str]:
    """(run dir, checkpoint prefix) from a RUN_DIR, a checkpoint folder (RUN_DIR/checkpoints,
    RUN_DIR/checkpoints/best) or a CHECKPOINT path; ``also`` names what else the caller
    accepts, for the error."""
    source = Path(source)
    if source.is_dir():
        is_run_dir = (source / "config.yaml").is_file() or source.name not in CHECKPOINT_FOLDERS
        run_dir = RunDir(source) if is_run_dir else RunDir(_run_root(source))
        folder = run_dir.checkpoints if is_run_dir else source
        if not folder.is_dir():
            raise CheckpointError(f"{source} is not a run dir: it has no checkpoints/ folder "
                                  "(run dirs are written by `aigc train`)")
        prefix = tf.train.latest_checkpoint(str(folder))
        if not prefix:
            raise CheckpointError(f"no checkpoint in {folder}; train with "
                                  f"`aigc train CONFIG --run-dir {run_dir.root}` first")
        return run_dir, prefix
    if Path(f"{source}.index").is_file():
        return RunDir(_run_root(source.parent)), str(source)
    accepted = f"a run dir, a checkpoint nor {also}" if also else "a run dir nor a checkpoint"
    raise CheckpointError(f"{source} is neither {accepted} (a checkpoint is given by its "
                          "prefix, like RUN_DIR/checkpoints/ckpt-1000)")


CHECKPOINT_FOLDERS = ("checkpoints", "best")


def _run_root(folder: Path) -> Path:
    """The run dir above a checkpoint folder (checkpoints/ or checkpoints/best/)."""
    for candidate in (folder, *list(folder.parents)[:2]):
        if (candidate / "config.yaml").is_file():
            return candidate
    return folder.parent


def restore_for_inference(prefix: str, items: dict[str, object]) -> None:
    """Restore ``items`` (e.g. just the generator) from a training checkpoint."""
    _restore(tf.train.Checkpoint(**items), prefix, partial=True)


def _restore(checkpoint: tf.train.Checkpoint, prefix: str, partial: bool) -> None:
    """Restore, insisting every object we built found its values in the file.

    ``partial`` allows the file to hold more (an inference restore reads only
    the generator of a training checkpoint).
    """
    try:
        status = checkpoint.restore(prefix)
        if partial:
            status.expect_partial()
        status.assert_existing_objects_matched()
    except AssertionError as error:
        raise CheckpointError(f"{prefix} does not hold the weights this config describes "
                              f"({_short(error)}); was it written by another model?") from None
    except Exception as error:  # a damaged file surfaces as OpError, ValueError, IndexError...
        raise CheckpointError(f"cannot restore {prefix}: {type(error).__name__}: "
                              f"{_short(error)}; the checkpoint is "
                              "damaged or from a different model (use a new --run-dir)") from None


def _short(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text if len(text) < 240 else text[:237] + "..."


def initialize_from(model, source: str) -> str:
    """Copy inference weights into a fresh ``model`` from a run dir, a checkpoint or a
    built-in model name; returns where they came from. Optimizer state starts anew.
    Weights of another shape go through the family's ``adapt_weights`` (a denoiser
    grows a smaller one), which needs the donor's run config to rebuild it."""
    from aigc_cli.inference import load_trained_model
    from aigc_cli.models.assets import (BUILTIN_DENOISERS, BUILTIN_NAMES, builtin_denoiser_path,
                                        load_model_asset)

    if source in BUILTIN_DENOISERS:
        path = builtin_denoiser_path(source, "training.init_from")
        _adapt_into(model, source, load_model_asset(path))
        return str(path)
    _, prefix = resolve_checkpoint(source, also=BUILTIN_NAMES)
    try:
        restore_for_inference(prefix, model.inference_items())
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
    for name, network in model.inference_items().items():
        if name not in donor_networks:
            raise CheckpointError(f"training.init_from {source}: it holds no '{name}' network "
                                  f"(it has {', '.join(donor_networks)}); start from a model "
                                  "of the same type")
        try:
            network.set_weights(model.adapt_weights(name, donor_networks[name].get_weights()))
        except ValueError as error:
            raise CheckpointError(f"training.init_from {source}: its '{name}' network "
                                  f"does not fit this model ({_short(error)})") from None
