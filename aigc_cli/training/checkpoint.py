"""Checkpoints: tf.train.CheckpointManager over named trackables.

A checkpoint holds variable values and the object graph only; restoring one
never executes code from the file.
"""

from __future__ import annotations

import logging
from pathlib import Path

import tensorflow as tf

from aigc_cli.errors import CheckpointError, CheckpointWriteError
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
                f"cannot write checkpoint {step} to {self.directory}: {short_message(error)}; the "
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
                              f"({short_message(error)}); was it written by another "
                              "model?") from None
    except Exception as error:  # a damaged file surfaces as OpError, ValueError, IndexError...
        raise CheckpointError(f"cannot restore {prefix}: {type(error).__name__}: "
                              f"{short_message(error)}; the checkpoint is "
                              "damaged or from a different model (use a new --run-dir)") from None


def short_message(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text if len(text) < 240 else text[:237] + "..."
