import subprocess
import sys
import time


def test_cli_import_does_not_import_tensorflow():
    code = ("import sys, aigc_cli.cli, aigc_cli.config, aigc_cli.models; "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_help_is_fast():
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "aigc_cli.cli", "--help"], capture_output=True,
                   check=True)
    subprocess.run([sys.executable, "-m", "aigc_cli.cli", "train", "--help"],
                   capture_output=True, check=True)
    # Two interpreter starts; TensorFlow alone would take ~3 s each.
    assert time.perf_counter() - started < 1.0
