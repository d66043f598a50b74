"""Crash safety: a killed or damaged run loses nothing that was checkpointed."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from aigc_cli.config import build_config
from aigc_cli.training.loop import train
from conftest import tiny_config_dict

# End to end through subprocesses or whole runs: the full suite, not the fast lane.
pytestmark = pytest.mark.slow


def test_kill_9_mid_training_then_rerun_resumes_and_finishes(idx_folder, tmp_path):
    run_dir = tmp_path / "run"
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(tiny_config_dict(
        idx_folder, run_dir, steps=100000, checkpoint_every=5, log_every=5, sample_every=50)))
    process = subprocess.Popen([sys.executable, "-m", "aigc_cli.cli", "train", str(config), "-q"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    state = run_dir / "checkpoints" / "checkpoint"  # names a checkpoint once it is whole
    while not (state.is_file() and 'model_checkpoint_path: "ckpt-1' in state.read_text()):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)  # no handler runs: as a power cut would
    process.wait()
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
               if line.strip()]  # every line that is there parses: appends are whole lines
    resumed = train(build_config(tiny_config_dict(
        idx_folder, run_dir, steps=records[-1]["step"] + 12, checkpoint_every=5)), quiet=True)
    assert resumed.start_step >= 10 and resumed.stop_reason == "completed"
    assert resumed.checkpoint.endswith(f"ckpt-{resumed.step}")


def test_damaged_latest_checkpoint_falls_back_to_the_previous_one(idx_folder, tmp_path, aigc_log):
    def config(steps):
        return build_config(tiny_config_dict(idx_folder, tmp_path / "run", steps=steps,
                                             checkpoint_every=2, keep_checkpoints=3))

    train(config(4), quiet=True)
    data = next((tmp_path / "run" / "checkpoints").glob("ckpt-4.data-*"))
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 3])  # a truncated write
    result = train(config(6), quiet=True)
    assert result.start_step == 2 and result.step == 6
    assert "ckpt-4 could not be restored" in aigc_log.text and "ckpt-2" in aigc_log.text


def test_manifest_and_eval_record_versions_config_hash_seed_and_data(tiny_vae_run, runner):
    from aigc_cli.cli import main

    manifest = json.loads((tiny_vae_run / "manifest.json").read_text())
    assert {"aigc", "tensorflow", "python", "seed"} <= manifest.keys()
    assert len(manifest["config_sha256"]) == 64 and len(manifest["dataset_sha256"]) == 64
    result = runner.invoke(main, ["eval", str(tiny_vae_run), "--json", "--metrics", "elbo",
                                  "--importance-samples", "2", "--limit", "8"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["trained_with"]["config_sha256"] == manifest["config_sha256"]
    assert report["trained_with"]["dataset_sha256"] == manifest["dataset_sha256"]
    assert report["evaluated_with"]["aigc"]


def test_deterministic_resume_equals_one_uninterrupted_run(idx_folder, tmp_path):
    import numpy as np

    from aigc_cli.training.loop import build_session
    from aigc_cli.training.rundir import RunDir

    def config(name, steps):
        # dropout 0.3 and horizontal flips: random state in the model and in the data
        data = tiny_config_dict(idx_folder, tmp_path / name, steps=steps,
                                deterministic=True, batch_size=24)
        data["dataset"]["horizontal_flip"] = True
        return build_config(data)

    train(config("straight", 7), quiet=True)  # 64 images, batch 24: crosses epochs
    train(config("resumed", 3), quiet=True)
    train(config("resumed", 7), quiet=True)

    def weights(name):
        session = build_session(config(name, 7), RunDir(tmp_path / name), 7)
        networks = (session.model.generator, session.model.discriminator)
        return [v.numpy() for network in networks for v in network.variables]

    for a, b in zip(weights("straight"), weights("resumed")):
        np.testing.assert_array_equal(a, b)
