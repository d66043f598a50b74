import subprocess
import sys
from pathlib import Path

import pytest

from aigc_cli import __version__
from aigc_cli.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "configs"
COMMANDS = [[], ["train"], ["sample"], ["denoise"], ["eval"], ["bench"], ["export"], ["config"],
            ["config", "validate"], ["config", "show"], ["config", "keys"]]
DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "aigc")
def test_every_help_answers(runner, command):
    result = runner.invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output


def test_version_names_tensorflow_and_keras_without_importing_them():
    code = ("import sys; from aigc_cli.cli import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit:\n"
            "    print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    import keras
    import tensorflow as tf

    assert out == [f"aigc {__version__}", f"tensorflow {tf.__version__}",
                   f"keras {keras.__version__}", "False False"]


def test_help_lists_every_command_with_a_whole_one_line_description(runner):
    lines = runner.invoke(main, ["--help"]).output.split("Commands:\n")[1].splitlines()
    described = dict(line.split(None, 1) for line in lines if line.strip())
    assert set(described) == set(main.commands)
    assert all(not text.endswith("...") for text in described.values()), described


def test_config_reference_page_is_current():
    from aigc_cli.config.reference import reference_page

    # Regenerate with: aigc config keys --page > docs/config.md
    assert (DOCS / "config.md").read_text() == reference_page()


def test_validate_ok(runner):
    result = runner.invoke(main, ["config", "validate", str(FIXTURES / "valid.yaml")])
    assert result.exit_code == 0
    assert "valid (dcgan on fashion_mnist, 10 steps)" in result.output


@pytest.mark.parametrize("args", [
    ["config", "validate", str(FIXTURES / "unknown_key.yaml")],
    ["config", "show", str(FIXTURES / "valid.yaml"), "--set", "training.steps=-1"],
    ["train", str(FIXTURES / "wrong_type.yaml")],
    ["config", "validate", "missing.yaml"],
])
def test_config_errors_exit_2_with_one_line_and_no_traceback(runner, args):
    result = runner.invoke(main, args)
    assert result.exit_code == 2
    assert result.output.startswith("error: ")
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_debug_shows_the_exception(runner):
    result = runner.invoke(main, ["--debug", "config", "validate",
                                  str(FIXTURES / "unknown_key.yaml")])
    assert result.exit_code != 0
    assert type(result.exception).__name__ == "ConfigError"


def test_show_prints_every_default_with_overrides(runner):
    result = runner.invoke(main, ["config", "show", str(FIXTURES / "valid.yaml"),
                                  "--set", "training.seed=7"])
    assert result.exit_code == 0
    assert "seed: 7" in result.output
    assert "keep_checkpoints: 3" in result.output and "beta_2: 0.999" in result.output


def test_train_dry_run_applies_run_dir(runner, tmp_path):
    result = runner.invoke(main, ["train", str(FIXTURES / "valid.yaml"), "--dry-run",
                                  "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 0
    assert f"run_dir: {tmp_path / 'r'}" in result.output
    assert not (tmp_path / "r").exists()


def test_sample_refuses_a_folder_that_is_not_a_run_dir(runner, tmp_path):
    result = runner.invoke(main, ["sample", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "not a run dir" in result.output


def test_config_keys_lists_keys_that_set_accepts(runner):
    result = runner.invoke(main, ["config", "keys"])
    assert result.exit_code == 0
    rows = [line.split(" | ") for line in result.output.splitlines()[2:]]
    keys = {row[0].strip("| `"): row[2].strip("`") for row in rows
            if row[1] != "section"
            and not row[0].strip("| `").startswith(("dataset.noise.", "training.privacy."))}
    assert {"model.latent_dim", "training.max_seconds", "optimizer.generator.learning_rate",
            "dataset.path", "output.run_dir"} <= set(keys)
    overrides = [arg for key, default in keys.items() for arg in ("--set", f"{key}={default}")]
    validated = runner.invoke(main, ["config", "validate", str(FIXTURES / "valid.yaml"),
                                     *overrides])
    assert validated.exit_code == 0, validated.output


def test_the_tools_warnings_are_one_line_above_a_running_progress_bar(capsys):
    import logging

    from tqdm import tqdm

    from aigc_cli.cli import _WarningHandler

    with tqdm(total=3, file=sys.stderr, ascii=True) as bar:
        bar.update(1)
        record = logging.LogRecord("aigc", logging.WARNING, __file__, 1,
                                   "first part\n   second part", None, None)
        _WarningHandler().emit(record)
        bar.update(1)
    err = capsys.readouterr().err
    assert "\nwarning: first part second part\n" in err.replace("\r", "\n")
