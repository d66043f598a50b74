"""``aigc config``: check, print and document configs (no TensorFlow)."""

from __future__ import annotations

import click

from aigc_cli.commands.options import load_run_config, set_option


@click.group(short_help="Validate, show and document configs (no TensorFlow).")
def config() -> None:
    """Check and print configs."""


@config.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path())
@set_option
def validate(config_path: str, overrides: tuple[str, ...]) -> None:
    """Check a config; exit 0 when valid, 2 with the key to fix otherwise."""
    loaded = load_run_config(config_path, overrides)
    length = (f"{loaded.training.epochs:g} epochs" if loaded.training.epochs
              else f"{loaded.training.steps} steps")
    click.echo(f"{config_path}: valid ({loaded.model.type} on {loaded.dataset.type}, {length})")


@config.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path())
@set_option
def show(config_path: str, overrides: tuple[str, ...]) -> None:
    """Print the resolved config with every default filled in."""
    from aigc_cli.config import dump_config

    click.echo(dump_config(load_run_config(config_path, overrides)), nl=False)


@config.command()
@click.option("--model", "model_type", default="dcgan", show_default=True,
              help="Model family whose keys to list.")
@click.option("--page", is_flag=True,
              help="The whole reference page instead: every family (docs/config.md).")
def keys(model_type: str, page: bool) -> None:
    """List every config key with its type, default and meaning (Markdown).

    \b
    Examples:
      aigc config keys --model vae
      aigc config keys --page > docs/config.md
    """
    from aigc_cli.config import MODEL_CONFIGS
    from aigc_cli.config.reference import markdown_table, reference_page, reference_rows
    from aigc_cli.errors import ConfigError

    if page:
        click.echo(reference_page(), nl=False)
        return
    if model_type not in MODEL_CONFIGS:
        raise ConfigError(f"unknown model type '{model_type}' (choose one of: "
                          f"{', '.join(sorted(MODEL_CONFIGS))})")
    click.echo(markdown_table(reference_rows(model_type)), nl=False)
