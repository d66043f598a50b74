import json

import numpy as np
import pytest

from aigc_cli.config import build_config
from aigc_cli.errors import ConfigError
from aigc_cli.inference.evaluation import evaluate
from aigc_cli.training.checkpoint import resolve_checkpoint
from aigc_cli.training.loop import train
from conftest import tiny_config_dict

# End to end through subprocesses or whole runs: the full suite, not the fast lane.
pytestmark = pytest.mark.slow


def _eval_rows(run_dir):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [row for row in rows if "eval/fid" in row]


def test_gan_is_evaluated_during_training_and_the_best_checkpoint_kept(
        idx_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    config = build_config(tiny_config_dict(idx_folder, tmp_path / "run", steps=4, eval_every=2,
                                           eval_samples=16, checkpoint_every=100))
    run_dir = train(config, quiet=True).run_dir
    rows = _eval_rows(run_dir)
    assert [row["step"] for row in rows] == [2, 4]
    assert all(np.isfinite(row["eval/fid"]) and 0 <= row["eval/precision"] <= 1
               and "eval/fid_samples" not in row for row in rows)
    best = json.loads((run_dir / "checkpoints" / "best" / "best.json").read_text())
    winner = min(rows, key=lambda row: row["eval/fid"])
    assert best["step"] == winner["step"] and best["value"] == pytest.approx(winner["eval/fid"])
    _, prefix = resolve_checkpoint(run_dir / "checkpoints" / "best")
    assert prefix.endswith(f"best/ckpt-{winner['step']}")
    assert resolve_checkpoint(run_dir)[1].endswith("ckpt-4")  # the latest is still the default


def test_best_checkpoint_follows_the_metric_across_a_resume(idx_folder, tmp_path, monkeypatch):
    scores = iter([5.0, 3.0, 4.0, 2.5])
    monkeypatch.setattr("aigc_cli.metrics.fid.evaluate_fid",
                        lambda model, data, options: {"fid": next(scores)})
    settings = dict(eval_every=1, checkpoint_every=100)
    train(build_config(tiny_config_dict(idx_folder, tmp_path / "run", steps=3, **settings)),
          quiet=True)
    best_record = tmp_path / "run" / "checkpoints" / "best" / "best.json"
    assert json.loads(best_record.read_text())["step"] == 2  # 3.0 beat 5.0; 4.0 did not
    train(build_config(tiny_config_dict(idx_folder, tmp_path / "run", steps=4, **settings)),
          quiet=True)
    assert json.loads(best_record.read_text())["step"] == 4  # 2.5 beats the restored 3.0
    kept = sorted(p.name for p in best_record.parent.glob("ckpt-*.index"))
    assert kept == ["ckpt-4.index"]


def test_denoiser_is_evaluated_on_clean_images_by_psnr(tmp_path):
    from conftest import TINY_DENOISER, make_photo_folder

    data = make_photo_folder(tmp_path / "clean")

    def config(**training):
        return build_config({
            "model": dict(TINY_DENOISER),
            "dataset": {"type": "folder", "path": str(data), "channels": 1, "patch_size": 16,
                        "noise": {"sigma": 25}},
            "training": {"batch_size": 4, "steps": 2, "eval_every": 2, **training},
            "output": {"run_dir": str(tmp_path / "run")}})

    with pytest.raises(ConfigError, match="training.eval_images"):
        train(config(), quiet=True)
    assert not (tmp_path / "run" / "config.yaml").exists()  # refused before writing
    run_dir = train(config(eval_images=str(data), eval_sigma=15, seed=7), quiet=True).run_dir
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    evaluated = [row for row in rows if "eval/psnr" in row]
    assert len(evaluated) == 1 and evaluated[0]["eval/noisy_psnr"] == pytest.approx(24.6, abs=0.3)
    # the noise of aigc eval's default --seed 0, whatever the training seed
    report = evaluate(run_dir, options={"clean": str(data), "sigma": 15})
    assert evaluated[0]["eval/noisy_psnr"] == pytest.approx(report["noisy_psnr"], abs=1e-9)
    assert evaluated[0]["eval/psnr"] == pytest.approx(report["psnr"], abs=1e-4)
    assert "eval/sigma" not in evaluated[0]  # a setting, not a curve
    assert json.loads((run_dir / "checkpoints/best/best.json").read_text())["metric"] == "psnr"


def test_the_metric_is_loaded_when_training_starts_not_at_the_first_evaluation(
        tiny_denoiser_run, tmp_path, monkeypatch):
    import dataclasses

    from aigc_cli.inference.trained import load_trained_model
    from aigc_cli.metrics import METRICS
    from aigc_cli.training.evaluation import TrainingEvaluator

    trained = load_trained_model(tiny_denoiser_run)
    config = dataclasses.replace(trained.config, training=dataclasses.replace(
        trained.config.training, eval_images=trained.config.dataset.path, eval_sigma=25.0))
    evaluator = TrainingEvaluator(trained.model, config, trained.run,
                                  trained.model.checkpoint_items())

    def upgraded_under_us(name):  # the package on disk changed after the run started
        raise ImportError(f"cannot import {name} from a newer version")

    monkeypatch.setattr(METRICS, "get", upgraded_under_us)
    assert evaluator.evaluate(step=2)["eval/psnr"] > 0
