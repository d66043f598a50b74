"""scripts/retrain_builtin.sh chains the shipped models' stages: each one starts from
the previous one's run dir and the last one is shipped (aigc and python stubbed)."""

import os
import re
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "retrain_builtin.sh"


def run_script(tmp_path, *args, aigc_status=0):
    stubs = tmp_path / "bin"
    stubs.mkdir(exist_ok=True)
    log = tmp_path / "calls.log"
    for name in ("aigc", "python"):
        stub = stubs / name
        status = aigc_status if name == "aigc" else 0
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\nexit {status}\n')
        stub.chmod(0o755)
    env = {**os.environ, "PATH": f"{stubs}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True,
                            text=True)
    return result, log.read_text().splitlines() if log.exists() else []


@pytest.mark.parametrize("model, stages", [("gray", 4), ("color", 6)])
def test_each_stage_starts_from_the_one_before_and_the_last_is_shipped(tmp_path, model, stages):
    runs = tmp_path / "runs"
    result, calls = run_script(tmp_path, model, str(runs))
    assert result.returncode == 0, result.stderr
    trains, ship = calls[:-1], calls[-1]
    assert len(trains) == stages and all(call.startswith("aigc train configs/")
                                         for call in trains)
    run_dirs = [re.search(r"--run-dir (\S+)", call).group(1) for call in trains]
    assert all(Path(run_dir).parent == runs for run_dir in run_dirs)
    assert len(set(run_dirs)) == stages
    for previous, call in zip(run_dirs, trains[1:]):
        assert re.search(r"training.init_from=(\S+)", call).group(1) == previous
    assert "init_from" not in trains[0]
    assert ship.startswith(f"python scripts/ship_model.py {run_dirs[-1]} denoiser_{model}")


def test_an_unknown_model_is_refused(tmp_path):
    result, calls = run_script(tmp_path, "sepia")
    assert result.returncode == 2 and "gray or color" in result.stderr and not calls


def test_an_interrupted_stage_stops_the_chain_before_anything_is_shipped(tmp_path):
    result, calls = run_script(tmp_path, "color", aigc_status=130)  # aigc train's Ctrl-C code
    assert result.returncode == 130 and len(calls) == 1 and calls[0].startswith("aigc train")
