"""Options and start-up steps the commands share."""

from __future__ import annotations

import functools

import click

EXIT_INTERRUPTED = 130


def start_tensorflow(initialize: bool = True) -> None:
    """Import TensorFlow for a command that needs it (quietly unless --debug)."""
    from aigc_cli.runtime import import_tensorflow

    import_tensorflow(quiet=not click.get_current_context().meta.get("aigc.debug"),
                      initialize=initialize)


def load_run_config(config_path: str, overrides: tuple[str, ...]):
    """The validated config of a YAML file with ``--set`` overrides applied."""
    from aigc_cli.config import load_config

    return load_config(config_path, overrides)


set_option = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                          help="Override a config key, typed as YAML (repeatable), "
                               "e.g. --set training.steps=500.")
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bar.")


ensemble_option = click.option(
    "--ensemble", type=click.Choice(["auto", "1", "2", "4", "8"]), default="auto",
    show_default=True,
    callback=lambda _context, _param, value: value if value == "auto" else int(value),
    help="Denoiser: average over N rotated/flipped copies (N times slower, a little better). "
         "auto: 4 with AMX-BF16 or a GPU, else 1 (the best that stays 20x faster than BM3D; "
         "with AVX512-BF16 only, the gray built-in runs as gray-slim).")

precision_option = click.option(
    "--precision", type=click.Choice(["float32", "bfloat16", "auto"]), default="auto",
    show_default=True,
    help="Compute precision of the network. bfloat16: ~3.6x faster on CPUs with AMX and on "
         "recent GPUs, PSNR within 0.01 dB; elsewhere much slower. auto: bfloat16 where it "
         "is native, else float32.")

verbose_option = click.option(
    "-v", "--verbose", is_flag=True,
    help="Say what auto chose on this machine and why, and each image's noise level.")



def sampler_options(function):
    """--steps, --sampler and --guidance of diffusion models, passed to ``function`` as
    one ``sampling_options`` dict of the options given."""
    @functools.wraps(function)  # also carries the click options already attached
    def gathered(*args, sample_steps=None, sampler=None, guidance=None, **kwargs):
        chosen = {"steps": sample_steps, "sampler": sampler, "guidance": guidance}
        return function(*args, sampling_options={k: v for k, v in chosen.items() if v is not None},
                        **kwargs)

    for option in (
            click.option("--guidance", type=click.FloatRange(min=0.0),
                         help="Class-conditional diffusion: classifier-free guidance weight "
                              "(0: unconditional, 1: conditional; default: model.guidance)."),
            click.option("--sampler", type=click.Choice(["heun", "euler", "dpmpp_2m"]),
                         help="Diffusion: the deterministic ODE sampler (default: "
                              "model.sampler)."),
            click.option("--steps", "sample_steps", type=click.IntRange(min=1),
                         help="Diffusion: noise levels the ODE sampler visits (default: "
                              "model.sample_steps).")):
        gathered = option(gathered)
    return gathered
