"""``aigc privacy``: what a private config will spend, before any training (no
TensorFlow)."""

from __future__ import annotations

import json

import click

from aigc_cli.commands.options import load_run_config, set_option


@click.command(short_help="The epsilon a private config will spend (no training).")
@click.argument("config_path", metavar="CONFIG", type=click.Path())
@set_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def privacy(config_path: str, overrides: tuple[str, ...], as_json: bool) -> None:
    """Print the epsilon CONFIG's training.privacy will spend over its steps (or the
    noise multiplier its target epsilon needs), the delta, the sampling rate and the
    steps the budget allows. Reads the dataset to count its images.

    \b
    Examples:
      aigc privacy configs/fashion_mnist_gan_private.yaml
      aigc privacy my.yaml --set training.privacy.target_epsilon=1 --json
    """
    from aigc_cli.data.sources import load_images
    from aigc_cli.errors import ConfigError
    from aigc_cli.privacy.plan import plan_privacy
    from aigc_cli.runtime import silence_python_loggers

    if not click.get_current_context().meta.get("aigc.debug"):
        silence_python_loggers()

    config = load_run_config(config_path, overrides)
    if config.training.privacy is None:
        raise ConfigError(f"{config_path} has no training.privacy section: the run would not "
                          "be private (see docs/privacy.md)", key="training.privacy")
    plan = plan_privacy(config, len(load_images(config.dataset).images))
    spend = plan.spend(plan.allowed_steps)
    report = {**spend.as_dict(), "total_delta": plan.total_delta,
              "target_epsilon": plan.target_epsilon, "planned_steps": plan.steps,
              "expected_batch_size": plan.expected_batch_size,
              "batch_capacity": plan.batch_capacity, "training_images": plan.example_count}
    if as_json:
        click.echo(json.dumps(report))
        return
    calibrated = " (calibrated to the target)" if config.training.privacy.noise_multiplier \
        is None else ""
    stop = ("" if plan.allowed_steps == plan.steps else
            f"; the budget stops it at step {plan.allowed_steps} of {plan.steps}")
    click.echo(f"epsilon {spend.epsilon:.3f} at delta {spend.delta:.3g} ({spend.accountant} "
               f"accountant) after {spend.steps} steps{stop}\n"
               f"noise multiplier {spend.noise_multiplier:.4g}{calibrated}, clip norm "
               f"{spend.clip_norm:g}, sampling rate {spend.sampling_rate:.4g} "
               f"({plan.expected_batch_size:.0f} of {plan.example_count} images a step, "
               f"batches of {plan.batch_capacity} rows with a mask)")
