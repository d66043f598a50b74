"""A NaN loss never reaches a checkpoint: training stops, or rolls back and slows down."""

import json

import pytest
import tensorflow as tf

from aigc_cli.config import build_config
from aigc_cli.errors import TrainingDiverged
from aigc_cli.models.gan import GAN
from aigc_cli.training.loop import train
from conftest import tiny_config_dict

# End to end through subprocesses or whole runs: the full suite, not the fast lane.
pytestmark = pytest.mark.slow


@pytest.fixture
def nan_at_step_3(monkeypatch):
    """The GAN's d_loss turns NaN on its 3rd update, unless the learning rate was lowered."""
    original = GAN.train_step

    def poisoned(self, batch):
        losses = original(self, batch)
        scale = self.d_optimizer._learning_rate.scale
        poison = tf.logical_and(tf.equal(self.d_optimizer.iterations, 3), tf.equal(scale, 1.0))
        losses["d_loss"] = losses["d_loss"] + tf.where(poison, float("nan"), 0.0)
        return losses

    monkeypatch.setattr(GAN, "train_step", poisoned)


def _config(idx_folder, tmp_path, **training):
    return build_config(tiny_config_dict(idx_folder, tmp_path / "run", steps=6,
                                         checkpoint_every=2, log_every=1, **training))


def test_nan_loss_stops_naming_the_step_and_the_last_good_checkpoint(
        nan_at_step_3, idx_folder, tmp_path):
    with pytest.raises(TrainingDiverged) as error:
        train(_config(idx_folder, tmp_path), quiet=True)
    message = str(error.value)
    assert "step 3" in message and "d_loss is nan" in message and "ckpt-2" in message
    saved = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("ckpt-*.index"))
    assert saved == ["ckpt-2.index"]  # nothing written after the NaN


def test_rollback_restores_the_checkpoint_halves_the_rate_and_finishes(
        nan_at_step_3, idx_folder, tmp_path):
    result = train(_config(idx_folder, tmp_path, on_nan="rollback"), quiet=True)
    assert result.step == 6 and result.stop_reason == "completed"
    records = [json.loads(line) for line in
               (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    rollback = next(r for r in records if "rollback_from_step" in r)
    assert (rollback["step"], rollback["rollback_from_step"]) == (2, 3)
    assert rollback["lr_scale/generator"] == rollback["lr_scale/discriminator"] == 0.5
    logged = [r for r in records if "d_loss" in r]
    assert all(r["d_loss"] == r["d_loss"] for r in logged)  # no NaN reached the log
    assert logged[-1]["lr/discriminator"] == pytest.approx(0.5 * 1e-4)
