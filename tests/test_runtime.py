"""Start-up: TensorFlow missing, and TensorFlow's C++ log lines kept off the terminal."""

import subprocess
import sys

import pytest

from aigc_cli.log_forwarder import NATIVE_LOG_RECORD

# An interpreter where TensorFlow and Keras are not installed, as after a bare `pip install .`.
BLOCK_TENSORFLOW = """
import sys
class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("tensorflow", "keras"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NotInstalled())
"""


@pytest.mark.parametrize("args", [["denoise", "photos"], ["sample", "run"], ["eval", "gray"],
                                  ["export", "run"]])
def test_a_command_without_tensorflow_says_what_to_install(tmp_path, args):
    (tmp_path / "photos").mkdir()
    code = BLOCK_TENSORFLOW + f"from aigc_cli.cli import main; main({args!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert 'pip install "aigc[cpu]"' in done.stderr and 'pip install "aigc[gpu]"' in done.stderr
    assert "bug" not in done.stderr and "Traceback" not in done.stderr


def test_config_commands_work_without_tensorflow(tmp_path):
    code = BLOCK_TENSORFLOW + "from aigc_cli.cli import main; main(['config', 'keys'])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and "model.latent_dim" in done.stdout


@pytest.mark.parametrize("line", [
    b"E0000 00:00:1733094512.123456   12345 meta_optimizer.cc:967] remapper failed: "
    b"INVALID_ARGUMENT: Mutation::Apply error: fanout 'x' exist for missing node 'y'.",
    b"2026-12-01 21:26:23.123456: I tensorflow/core/util/port.cc:153] oneDNN custom "
    b"operations are on.",
    b"W0000 00:00:1733094512.1 777 cpu_feature_guard.cc:210] This TensorFlow binary is "
    b"optimized",
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
])
def test_native_log_records_are_recognised(line):
    assert NATIVE_LOG_RECORD.match(line)


@pytest.mark.parametrize("line", [b"warning: skipped 2 unreadable files",
                                  b"error: config.yaml: unknown key 'model.widht'",
                                  b"train:  50%|#####     | 1/2 [00:01<00:01, 1.00step/s]",
                                  b"Traceback (most recent call last):"])
def test_the_tools_own_lines_are_not_native_records(line):
    assert not NATIVE_LOG_RECORD.match(line)


def test_the_filter_drops_native_records_and_keeps_everything_else():
    # Native code writes file descriptor 2 directly; Python writes sys.stderr.
    code = "\n".join([
        "import os, sys",
        "from aigc_cli.runtime import NativeLogFilter",
        "NativeLogFilter.install()",
        "os.write(2, b'E0000 00:00:1.5 1 meta_optimizer.cc:967] remapper failed: x\\n')",
        "os.write(2, b'  its indented continuation\\n')",
        "os.write(2, b'a native line that is no log record\\n')",
        "os.write(2, b'F0000 00:00:1.5 1 op.cc:1] Check failed: fatal stays\\n')",
        "print('warning: the tool speaks', file=sys.stderr)",
    ])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True)
    lines = done.stderr.decode().splitlines()
    assert sorted(lines) == sorted(["a native line that is no log record",
                                    "F0000 00:00:1.5 1 op.cc:1] Check failed: fatal stays",
                                    "warning: the tool speaks"])


def test_a_fatal_record_written_just_before_an_abort_still_reaches_the_terminal():
    # A failed CHECK in TensorFlow writes its F record and aborts at once: the forwarder,
    # a process of its own, still passes it on.
    code = "\n".join([
        "import os",
        "from aigc_cli.runtime import NativeLogFilter",
        "NativeLogFilter.install()",
        "os.write(2, b'F0000 00:00:1.5 1 op.cc:1] Check failed: x == y\\n')",
        "os.abort()",
    ])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
    assert done.returncode != 0
    assert b"Check failed: x == y" in done.stderr
