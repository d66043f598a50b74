import json
import os
import subprocess
import sys

import yaml

from conftest import tiny_config_dict


def test_mirrored_strategy_over_two_cpu_devices_trains(idx_folder, tmp_path):
    run_dir = tmp_path / "run"
    data = tiny_config_dict(idx_folder, run_dir, steps=3, distribute="mirrored")
    data["model"]["ema_decay"] = 0.99  # the weight average updates in cross-replica context
    config = tmp_path / "mirrored.yaml"
    config.write_text(yaml.safe_dump(data))
    env = {**os.environ, "AIGC_CPU_DEVICES": "2"}
    done = subprocess.run([sys.executable, "-m", "aigc_cli.cli", "train", str(config), "-q"],
                          env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
    # Per-replica losses are scaled by 1/replicas and summed: a mean-sized loss, not 2x.
    assert 0.3 < records[0]["d_loss"] < 3.0
    assert (run_dir / "checkpoints" / "ckpt-3.index").is_file()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert (manifest["strategy"], manifest["replicas"]) == ("MirroredStrategy", 2)
