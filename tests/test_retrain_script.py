"""scripts/retrain_builtin.sh chains the shipped models' stages: each one starts from
the previous one's run dir and the last one is shipped (aigc and python stubbed)."""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "retrain_builtin.sh"


def stub_path(tmp_path, aigc_body="exit 0"):
    """A PATH whose aigc and python log their arguments to tmp_path/calls.log."""
    stubs = tmp_path / "bin"
    stubs.mkdir(exist_ok=True)
    log = tmp_path / "calls.log"
    for name, body in (("aigc", aigc_body), ("python", "exit 0")):
        stub = stubs / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n{body}\n')
        stub.chmod(0o755)
    return {**os.environ, "PATH": f"{stubs}{os.pathsep}{os.environ['PATH']}"}, log


def run_script(tmp_path, *args, aigc_body="exit 0", cwd=None):
    env, log = stub_path(tmp_path, aigc_body)
    result = subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True,
                            text=True, cwd=cwd)
    return result, log.read_text().splitlines() if log.exists() else []


@pytest.mark.parametrize("model, stages, shipped", [
    ("gray", 7, {-2: "denoiser_gray", -1: "denoiser_gray_slim"}),
    ("color", 7, {-1: "denoiser_color"})])
def test_each_stage_starts_from_the_one_before_and_the_last_is_shipped(tmp_path, model, stages,
                                                                      shipped):
    (tmp_path / "here").mkdir()
    result, calls = run_script(tmp_path, model, "runs", cwd=tmp_path / "here")
    assert result.returncode == 0, result.stderr
    trains, ships = calls[:stages], calls[stages:]
    assert len(trains) == stages and all(call.startswith("aigc train configs/")
                                         for call in trains)
    run_dirs = [re.search(r"--run-dir (\S+)", call).group(1) for call in trains]
    # a relative RUNS_DIR is the caller's, not the repository's
    assert all(Path(run_dir).parent == tmp_path / "here" / "runs" for run_dir in run_dirs)
    assert len(set(run_dirs)) == stages
    for previous, call in zip(run_dirs, trains[1:]):
        assert re.search(r"training.init_from=(\S+)", call).group(1) == previous
    assert "init_from" not in trains[0]
    assert ships == [f"python scripts/ship_model.py {run_dirs[index]} {name} float16"
                     for index, name in shipped.items()]


@pytest.mark.parametrize("args", [["sepia"], []])
def test_a_wrong_call_is_refused_with_exit_code_2(tmp_path, args):
    result, calls = run_script(tmp_path, *args)
    assert result.returncode == 2 and "gray" in result.stderr and not calls


def test_an_interrupted_stage_stops_the_chain_before_anything_is_shipped(tmp_path):
    result, calls = run_script(tmp_path, "color", aigc_body="exit 130")  # aigc's Ctrl-C code
    assert result.returncode == 130 and len(calls) == 1 and calls[0].startswith("aigc train")


def test_sigterm_to_the_script_reaches_the_training(tmp_path):
    marker = tmp_path / "terminated"
    env, log = stub_path(tmp_path, f"trap 'touch {marker}; kill $!; exit 130' TERM\n"
                                   "sleep 30 & wait")
    script = subprocess.Popen(["bash", str(SCRIPT), "gray", str(tmp_path / "runs")], env=env)
    deadline = time.monotonic() + 10
    while not log.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # the stub's trap is set once it has logged
    script.send_signal(signal.SIGTERM)
    assert script.wait(timeout=10) == 130
    assert marker.exists()  # the training was told to stop (and checkpoint), not orphaned
    assert len(log.read_text().splitlines()) == 1  # and nothing after it ran
