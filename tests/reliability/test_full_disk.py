"""A full or unwritable disk: one clear line, exit 1, the previous checkpoint intact."""

import errno

import pytest
import tensorflow as tf
import yaml

from aigc_cli.cli import main
from aigc_cli.inference.trained import load_trained_model
from conftest import tiny_config_dict

# End to end through subprocesses or whole runs: the full suite, not the fast lane.
pytestmark = pytest.mark.slow


def _config(idx_folder, tmp_path, steps):
    path = tmp_path / f"config_{steps}.yaml"
    path.write_text(yaml.safe_dump(tiny_config_dict(idx_folder, tmp_path / "run", steps=steps,
                                                    checkpoint_every=2)))
    return str(path)


def test_checkpoint_write_on_a_full_disk(idx_folder, tmp_path, runner, monkeypatch):
    assert runner.invoke(main, ["train", _config(idx_folder, tmp_path, 2), "-q"]).exit_code == 0
    original = tf.train.CheckpointManager.save

    def full_disk(self, *args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")

    monkeypatch.setattr(tf.train.CheckpointManager, "save", full_disk)
    result = runner.invoke(main, ["train", _config(idx_folder, tmp_path, 4), "-q"])
    assert result.exit_code == 1
    assert "cannot write checkpoint 4" in result.output and "No space left" in result.output
    assert "ckpt-2) is intact" in result.output and "Traceback" not in result.output
    monkeypatch.setattr(tf.train.CheckpointManager, "save", original)
    assert load_trained_model(tmp_path / "run").step == 2  # restores as before


@pytest.mark.parametrize("error, message", [
    (OSError(errno.ENOSPC, "No space left on device"), "cannot write {}: No space left"),
    (NotADirectoryError(errno.ENOTDIR, "Not a directory"), "{}: Not a directory; fix or move"),
])
def test_other_files_that_cannot_be_written_are_one_line(idx_folder, tmp_path, runner,
                                                         monkeypatch, error, message):
    def refuse(path, line):
        raise type(error)(error.errno, error.strerror, str(path))

    monkeypatch.setattr("aigc_cli.training.rundir.append_line", refuse)
    result = runner.invoke(main, ["train", _config(idx_folder, tmp_path, 2), "-q"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert message.format(tmp_path / "run" / "metrics.jsonl") in result.output
    assert len(result.output.strip().splitlines()) == 1
