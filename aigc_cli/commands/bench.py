"""``aigc bench``: training, sampling and denoising speed of a config."""

from __future__ import annotations

import json
from pathlib import Path

import click

from aigc_cli.commands.options import (load_run_config, quiet_option, set_option,
                                       start_tensorflow)


@click.command(short_help="Training, sampling and denoising speed on this machine.")
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=True))
@set_option
@click.option("--steps", type=click.IntRange(min=2), default=50, show_default=True,
              help="Timed training steps (after warm-up).")
@click.option("--warmup", type=click.IntRange(min=1), default=5, show_default=True,
              help="Untimed steps first (tracing, first-call costs).")
@click.option("--rounds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Timed windows per loop, taken in turns; medians are compared.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@quiet_option
def bench(config_path: str, overrides: tuple[str, ...], steps: int, warmup: int, rounds: int,
          as_json: bool, quiet: bool) -> None:
    """Measure training, sampling and denoising speed of a config on this machine.

    Training runs through the tool's loop (pipeline, logging, grids and a
    checkpoint, in a temporary run dir) and through a plain loop of the same
    compiled step over batches in memory; `tool_over_reference` is their ratio.

    \b
    Examples:
      aigc bench configs/reference_dcgan.yaml
      aigc bench configs/denoiser_gray.yaml --steps 20 --json
    """
    if Path(config_path).is_dir():
        config_path = str(Path(config_path) / "config.yaml")
    config = load_run_config(config_path, overrides)
    start_tensorflow()
    from aigc_cli.training.bench import bench as run_bench

    result = run_bench(config, steps, warmup, quiet=quiet, rounds=rounds)
    if as_json:
        click.echo(json.dumps(result))
        return
    for key, value in result.items():
        if isinstance(value, dict):
            value = ", ".join(f"{name} {number}" for name, number in value.items())
        click.echo(f"{key:<20} {value}")
