"""``aigc denoise``: clean a photo or a folder of photos."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from aigc_cli.commands.options import (EXIT_INTERRUPTED, ensemble_option, precision_option,
                                       quiet_option, start_tensorflow, verbose_option)
from aigc_cli.errors import InputError


@click.command(short_help="Remove noise from photos (built-in models need no data).")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True))
@click.option("-o", "--output", type=click.Path(),
              help="Output folder (default: INPUT_denoised beside the input). Relative paths "
                   "and file formats are kept.")
@click.option("--model", "model_reference", metavar="RUN_DIR|CHECKPOINT|BUILTIN",
              help="A trained denoiser run, or a built-in: gray, color, gray-slim (default: "
                   "the built-in for each image's mode).")
@click.option("--sigma", type=click.FloatRange(min=0, max=255), default=None,
              help="Noise std-dev in 0-255 units (default: estimated per image).")
@click.option("--tile", type=click.IntRange(min=16), default=512, show_default=True,
              help="Tile size in pixels: bounds memory on large photos; the result is the whole-image "
                   "one within float rounding.")
@ensemble_option
@precision_option
@click.option("--overwrite", is_flag=True, help="Write into an output folder that has files.")
@click.option("--skip-existing", is_flag=True,
              help="Keep outputs that are already there: resumes an interrupted folder "
                   "(outputs are written whole or not at all).")
@quiet_option
@verbose_option
def denoise(input_path: str, output: str | None, model_reference: str | None,
            sigma: float | None, tile: int, ensemble: int | str, precision: str,
            overwrite: bool, skip_existing: bool, quiet: bool, verbose: bool) -> None:
    """Remove noise from a photo or a folder of photos (PNG 8/16-bit, JPEG, TIFF, WebP, BMP).

    Gray and colour images; alpha channels pass through; inputs are never
    written over. Unreadable files are reported and skipped (exit code 2).

    \b
    Examples:
      aigc denoise noisy_photos/                       # -> noisy_photos_denoised/
      aigc denoise scan.png -o clean/ --sigma 15
      aigc denoise photos/ --model runs/my_denoiser
      aigc denoise photos/ -o clean/ --skip-existing    # resume after Ctrl-C
      aigc denoise photos/ -v                           # what auto chose, each image's sigma
    """
    source = Path(input_path)
    start_tensorflow()
    from aigc_cli.inference.defaults import resolve_denoise_settings
    from aigc_cli.inference.denoising import (DenoiseInterrupted, check_output, default_output,
                                              denoise_files)

    target = Path(output) if output else default_output(source)
    check_output(source, target, overwrite or skip_existing)
    settings = resolve_denoise_settings(precision, ensemble)
    if verbose:
        click.echo(settings.describe(), err=True)
    try:
        report = denoise_files(source, target, model_reference, sigma, tile=tile, quiet=quiet,
                               ensemble=settings.ensemble, precision=settings.precision,
                               skip_existing=skip_existing, verbose=verbose,
                               builtins=settings.builtins)
    except DenoiseInterrupted as stopped:
        done = len(stopped.report.written) + len(stopped.report.kept)
        # The same settings again, so that the rest is denoised as the first part was.
        ctx = click.get_current_context()
        flags = {"model_reference": "--model", "sigma": "--sigma", "tile": "--tile",
                 "ensemble": "--ensemble", "precision": "--precision"}
        given = [(flag, ctx.params[name]) for name, flag in flags.items()
                 if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT]
        again = ["aigc", "denoise", str(source), "-o", str(target),
                 *[str(part) for pair in given for part in pair], "--skip-existing"]
        click.echo(f"interrupted: wrote {len(stopped.report.written)} images to {target} "
                   f"({done} of {stopped.total} done); resume with: {shlex.join(again)}",
                   err=True)
        sys.exit(EXIT_INTERRUPTED)
    kept = f" (kept {len(report.kept)} already there)" if report.kept else ""
    click.echo(f"wrote {len(report.written)} images to {target}{kept}", err=True)
    if report.failed:
        raise InputError(f"{len(report.failed)} of {len(report.failed) + len(report.written)} "
                         "files could not be denoised (listed above)")
