import json
import os
import subprocess
import sys

import pytest
import yaml

from conftest import tiny_config_dict

# End to end through subprocesses or whole runs: the full suite, not the fast lane.
pytestmark = pytest.mark.slow


def test_mirrored_strategy_over_two_cpu_devices_trains(idx_folder, tmp_path):
    run_dir = tmp_path / "run"
    data = tiny_config_dict(idx_folder, run_dir, steps=3, distribute="mirrored")
    data["model"]["ema_decay"] = 0.99  # the weight average updates in cross-replica context
    data["dataset"]["on_device"] = True  # each replica slices the gathered global batch
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
    # The checkpoint resumes under another strategy: here one device, in this process.
    from aigc_cli.config import build_config
    from aigc_cli.training.loop import train

    result = train(build_config({**data, "training": {**data["training"], "steps": 4,
                                                      "distribute": "default"}}), quiet=True)
    assert (result.start_step, result.step) == (3, 4)


def _free_ports(count):
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _denoiser_config(tmp_path, name, data, **training):
    from conftest import TINY_DENOISER

    config = tmp_path / f"{name}.yaml"
    config.write_text(yaml.safe_dump({
        # No batch norm and no random numbers in the step: replicas must add up exactly.
        "model": {**TINY_DENOISER, "batch_norm": False},
        "dataset": {"type": "folder", "path": str(data), "channels": 1, "patch_size": 16,
                    "noise": {"sigma": 25}},
        "optimizer": {"denoiser": {"learning_rate": 0.01}},
        "training": {"batch_size": 8, "steps": 3, "log_every": 1, **training},
        "output": {"run_dir": str(tmp_path / name)}}))
    return config


def _denoiser_weights(run_dir):
    from aigc_cli.inference.trained import load_trained_model

    return [v.numpy() for v in load_trained_model(run_dir).model.denoiser.variables]


def test_two_workers_on_localhost_match_one_device_on_the_same_global_batch(tmp_path):
    import numpy as np
    from conftest import make_photo_folder

    data = make_photo_folder(tmp_path / "clean")
    single = _denoiser_config(tmp_path, "single", data)
    done = subprocess.run([sys.executable, "-m", "aigc_cli.cli", "train", str(single), "-q"],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    multi = _denoiser_config(tmp_path, "multi", data, distribute="multi_worker")
    workers = [subprocess.Popen(
        [sys.executable, "-m", "aigc_cli.cli", "train", str(multi), "-q"],
        env={**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster,
                                                    "task": {"type": "worker", "index": i}})},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    for worker in workers:
        _, stderr = worker.communicate(timeout=300)
        assert worker.returncode == 0, stderr
    manifest = json.loads((tmp_path / "multi" / "manifest.json").read_text())
    # MultiWorkerMirroredStrategy's class is CollectiveAllReduceStrategy
    assert (manifest["strategy"], manifest["replicas"]) == ("CollectiveAllReduceStrategy", 2)
    records = (tmp_path / "multi" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["step"] for r in records] == [1, 2, 3]  # written once, by the chief
    for a, b in zip(_denoiser_weights(tmp_path / "single"), _denoiser_weights(tmp_path / "multi")):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_multi_worker_without_tf_config_is_a_clear_error(tmp_path):
    from conftest import make_photo_folder

    config = _denoiser_config(tmp_path, "run", make_photo_folder(tmp_path / "clean"),
                              distribute="multi_worker")
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    done = subprocess.run([sys.executable, "-m", "aigc_cli.cli", "train", str(config), "-q"],
                          env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 2 and "TF_CONFIG" in done.stderr
