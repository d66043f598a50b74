import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from conftest import tiny_config_dict

# End to end through subprocesses or whole runs: the full suite, not the fast lane.
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_a_checkpoint_and_exits_130(idx_folder, tmp_path, signum):
    run_dir = tmp_path / "run"
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config_dict(
        idx_folder, run_dir, steps=100000, log_every=5, checkpoint_every=100000,
        sample_every=100000)))
    process = subprocess.Popen([sys.executable, "-m", "aigc_cli.cli", "train", str(config), "-q"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = run_dir / "metrics.jsonl"
    deadline = time.monotonic() + 60
    while not (metrics.exists() and metrics.read_text().strip()):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "training did not start"
        time.sleep(0.2)
    os.kill(process.pid, signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    name = signal.Signals(signum).name
    assert f"{name}: stopped at step" in stderr and f"aigc train {run_dir}" in stderr
    checkpoints = sorted(run_dir.glob("checkpoints/ckpt-*.index"))
    assert len(checkpoints) == 1 and "Traceback" not in stderr
