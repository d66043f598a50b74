"""``aigc train``: train the model a config describes, or resume its run."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from aigc_cli.commands.options import (EXIT_INTERRUPTED, load_run_config, quiet_option,
                                       set_option, start_tensorflow)


@click.command(short_help="Train a model from a YAML config; resume a run dir.")
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=True))
@set_option
@click.option("--run-dir", type=click.Path(file_okay=False),
              help="Write the run here (overrides output.run_dir). A run dir that holds a "
                   "checkpoint is resumed.")
@click.option("--dry-run", is_flag=True, help="Print the resolved config and exit.")
@quiet_option
def train(config_path: str, overrides: tuple[str, ...], run_dir: str | None, dry_run: bool,
          quiet: bool) -> None:
    """Train the model a YAML config describes; resume when the run dir has a checkpoint.

    CONFIG is a YAML file, or a run dir (its config.yaml is used and the run
    resumed there).

    \b
    Examples:
      aigc train configs/fashion_mnist_dcgan.yaml
      aigc train configs/fashion_mnist_dcgan.yaml --set training.steps=20000
      aigc train runs/fashion_mnist_dcgan          # resume where it stopped
    """
    if Path(config_path).is_dir():
        run_dir = run_dir or config_path
        config_path = str(Path(config_path) / "config.yaml")
    if run_dir:
        overrides = (*overrides, f"output.run_dir={run_dir}")
    config = load_run_config(config_path, overrides)
    if dry_run:
        from aigc_cli.config import dump_config

        click.echo(dump_config(config), nl=False)
        return
    start_tensorflow(initialize=config.training.distribute != "multi_worker")
    from aigc_cli.training.loop import train as run_training

    result = run_training(config, quiet=quiet)
    resume = f"aigc train {result.run_dir}"
    if result.stop_reason == "already_complete":
        length = "epochs" if config.training.epochs else "steps"
        click.echo(f"{result.run_dir} is already at step {result.step}; raise training.{length} "
                   f"with --set training.{length}=N to continue", err=True)
    elif result.stop_reason in ("SIGINT", "SIGTERM"):
        click.echo(f"{result.stop_reason}: stopped at step {result.step}, checkpoint "
                   f"{result.checkpoint}; resume with: {resume}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    elif result.stop_reason == "max_seconds":
        click.echo(f"stopped at step {result.step} after training.max_seconds; checkpoint "
                   f"{result.checkpoint}; continue with: {resume}", err=True)
    else:
        click.echo(f"trained to step {result.step}; run dir {result.run_dir}", err=True)
