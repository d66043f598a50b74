"""The ``aigc`` command line.

Commands parse and validate their arguments and the config here, then import
their worker inside the function body: ``aigc --help`` and every ``--help``
answer without importing TensorFlow.
"""

from __future__ import annotations

import json
import logging
import errno
import os
import sys
from pathlib import Path

import click

from aigc_cli import __version__
from aigc_cli.errors import AigcError, InputError

EXIT_INTERRUPTED = 130
#: Disk full, quota, read-only filesystem, permission: the storage, not a bug.
STORAGE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


class AigcGroup(click.Group):
    """Turns AigcError into one readable line and its exit code (2 input, 1 runtime)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AigcError as error:
            if ctx.meta.get("aigc.debug"):
                raise
            click.echo(f"error: {error}", err=True)
            ctx.exit(error.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:
            # `aigc ... | head`: the reader left; stop quietly as Unix tools do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except OSError as error:
            if ctx.meta.get("aigc.debug"):
                raise
            if error.errno in STORAGE_ERRORS:
                click.echo(f"error: cannot write {error.filename or 'a file'}: "
                           f"{error.strerror}; free space (or fix permissions) and run the "
                           "same command again: finished files and checkpoints are intact",
                           err=True)
            else:  # a path in the way (a file where a folder should be, ...)
                where = f"{error.filename}: " if error.filename else ""
                click.echo(f"error: {where}{error.strerror or error}; fix or move that path "
                           "and run the same command again", err=True)
            ctx.exit(1)
        except Exception as error:
            if ctx.meta.get("aigc.debug"):
                raise
            click.echo(f"error: {type(error).__name__}: {error}\n"
                       "(this is a bug or an environment problem; rerun with `aigc --debug ...` "
                       "for the traceback)", err=True)
            ctx.exit(1)


class _WarningHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"{record.levelname.lower()}: {record.getMessage()}", err=True)


@click.group(cls=AigcGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="aigc")
@click.option("--debug", is_flag=True, help="Show Python tracebacks and TensorFlow's own logs.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Train and run image generative models (GAN, VAE, denoiser) from YAML configs.

    \b
    Examples:
      aigc train configs/fashion_mnist_dcgan.yaml
      aigc sample runs/fashion_mnist_dcgan -n 64 --grid grid.png
      aigc config show configs/fashion_mnist_dcgan.yaml --set training.steps=100
    """
    ctx.meta["aigc.debug"] = debug
    logger = logging.getLogger("aigc")
    if not logger.handlers:
        logger.addHandler(_WarningHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _tensorflow(initialize: bool = True) -> None:
    """Import TensorFlow for a command that needs it (quietly unless --debug)."""
    from aigc_cli.tf_runtime import import_tensorflow

    import_tensorflow(quiet=not click.get_current_context().meta.get("aigc.debug"),
                      initialize=initialize)


def _load(config_path: str, overrides: tuple[str, ...]):
    from aigc_cli.config import load_config

    return load_config(config_path, overrides)


set_option = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                          help="Override a config key, typed as YAML (repeatable), "
                               "e.g. --set training.steps=500.")
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bar.")


@main.command()
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
    config = _load(config_path, overrides)
    if dry_run:
        from aigc_cli.config import dump_config

        click.echo(dump_config(config), nl=False)
        return
    _tensorflow(initialize=config.training.distribute != "multi_worker")
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


@main.command()
@click.argument("source", metavar="RUN_DIR|CHECKPOINT")
@click.option("-n", "--num", "count", type=click.IntRange(min=1), default=64, show_default=True,
              help="How many images (with --interpolate: how many rows).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Noise seed; the same seed gives byte-identical files.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Folder for one PNG per image (default RUN_DIR/generated/seed_S, unless "
                   "only --grid is given).")
@click.option("--grid", "grid_path", type=click.Path(dir_okay=False),
              help="Also write all images as one grid PNG here.")
@click.option("--temperature", type=click.FloatRange(min=0.0, min_open=True), default=1.0,
              show_default=True, help="Scale of the latent noise (below 1: safer, less varied).")
@click.option("--truncation", type=click.FloatRange(min=0.0, min_open=True),
              help="Redraw latent components beyond +-T (the truncation trick).")
@click.option("--class", "class_label", type=click.IntRange(min=0),
              help="Class-conditional models: generate images of this class (label N).")
@click.option("--interpolate", "steps", type=click.IntRange(min=2),
              help="Instead of samples: -n rows, each walking between two random latents in "
                   "this many images.")
@click.option("--reconstruct", "folder", type=click.Path(exists=True, file_okay=False),
              help="VAE: encode and decode every image in this folder; writes input|output "
                   "pairs under the same relative paths.")
@click.option("--batch-size", type=click.IntRange(min=1), default=250, show_default=True,
              help="Images generated per call.")
@click.option("--overwrite", is_flag=True, help="Write into an output folder that has files.")
@quiet_option
def sample(source: str, count: int, seed: int, out_dir: str | None, grid_path: str | None,
           temperature: float, truncation: float | None, class_label: int | None,
           steps: int | None, folder: str | None, batch_size: int, overwrite: bool,
           quiet: bool) -> None:
    """Generate images from a trained model (the dataset is not needed).

    \b
    Examples:
      aigc sample runs/fashion_mnist_dcgan -n 64 --grid grid.png
      aigc sample runs/fashion_mnist_dcgan/checkpoints/ckpt-5000 -n 1000 --out fakes/
      aigc sample runs/fashion_mnist_vae --temperature 0.8 --grid prior.png
      aigc sample runs/fashion_mnist_gan --class 7 -n 16 --grid sneakers.png
      aigc sample runs/fashion_mnist_vae -n 8 --interpolate 10 --grid walk.png
      aigc sample runs/fashion_mnist_vae --reconstruct my_images/ --out recon/
    """
    if steps and folder:
        raise click.UsageError("choose one of --interpolate and --reconstruct")
    if out_dir is None and grid_path is None:
        run_root = Path(source) if Path(source).is_dir() else Path(source).parent.parent
        kind = "reconstructions" if folder else "interpolations" if steps else "generated"
        out_dir = str(run_root / kind / f"seed_{seed}")
    out = Path(out_dir) if out_dir else None
    if out and out.is_dir() and any(out.iterdir()) and not overwrite:
        raise InputError(f"output folder {out} already has files; pass --overwrite or choose "
                         "another --out")
    if out and folder and out.resolve().is_relative_to(Path(folder).resolve()):
        raise InputError(f"--out {out} is inside the input folder {folder}; choose another")
    _tensorflow()
    from aigc_cli import sample as sampling

    grid = Path(grid_path) if grid_path else None
    if folder:
        result = sampling.reconstruct_folder(source, Path(folder), out, grid, batch_size, quiet)
    elif steps:
        result = sampling.interpolate(source, count, steps, seed, out, grid, batch_size, quiet,
                                      temperature, class_label)
    else:
        result = sampling.sample(source, count, seed, out, grid, batch_size, quiet, temperature,
                                 truncation, class_label)
    if result.files:
        rate = f" in {result.seconds:.1f} s ({len(result.files) / result.seconds:.0f} images/s)" \
            if result.seconds else ""
        click.echo(f"wrote {len(result.files)} images to {out}{rate}", err=True)
    if result.skipped:
        click.echo(f"warning: skipped {result.skipped} unreadable files", err=True)
    if result.grid:
        click.echo(f"wrote grid {result.grid}", err=True)


ensemble_option = click.option(
    "--ensemble", type=click.Choice(["1", "2", "4", "8"]), default="1", show_default=True,
    callback=lambda _context, _param, value: int(value),
    help="Denoiser: average over N rotated/flipped copies (N times slower, a little better).")

precision_option = click.option(
    "--precision", type=click.Choice(["float32", "bfloat16"]), default="float32",
    show_default=True,
    help="Compute precision of the network. bfloat16: ~3.6x faster on CPUs with AMX and on "
         "recent GPUs, PSNR within 0.01 dB here; elsewhere it may be slower.")


@main.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True))
@click.option("-o", "--output", type=click.Path(),
              help="Output folder (default: INPUT_denoised beside the input). Relative paths "
                   "and file formats are kept.")
@click.option("--model", "model_reference", metavar="RUN_DIR|CHECKPOINT|BUILTIN",
              help="A trained denoiser run, or a built-in: gray, color (default: the built-in "
                   "for each image's mode).")
@click.option("--sigma", type=click.FloatRange(min=0, max=255), default=None,
              help="Noise std-dev in 0-255 units (default: estimated per image).")
@click.option("--tile", type=click.IntRange(min=16), default=512, show_default=True,
              help="Tile size in pixels: bounds memory on large photos; the result is the whole-image "
                   "one within float rounding.")
@ensemble_option
@precision_option
@click.option("--overwrite", is_flag=True, help="Write into an output folder that has files.")
@quiet_option
def denoise(input_path: str, output: str | None, model_reference: str | None,
            sigma: float | None, tile: int, ensemble: int, precision: str, overwrite: bool,
            quiet: bool) -> None:
    """Remove noise from a photo or a folder of photos (PNG 8/16-bit, JPEG, TIFF, WebP, BMP).

    Gray and colour images; alpha channels pass through; inputs are never
    written over. Unreadable files are reported and skipped (exit code 2).

    \b
    Examples:
      aigc denoise noisy_photos/                       # -> noisy_photos_denoised/
      aigc denoise scan.png -o clean/ --sigma 15
      aigc denoise photos/ --model runs/my_denoiser
    """
    source = Path(input_path)
    _tensorflow()
    from aigc_cli.denoise import check_output, default_output, denoise_files

    target = Path(output) if output else default_output(source)
    check_output(source, target, overwrite)
    report = denoise_files(source, target, model_reference, sigma, tile=tile, quiet=quiet,
                           ensemble=ensemble, precision=precision)
    click.echo(f"wrote {len(report.written)} images to {target}", err=True)
    if report.failed:
        raise InputError(f"{len(report.failed)} of {len(report.failed) + len(report.written)} "
                         "files could not be denoised (listed above)")


@main.command(name="eval")
@click.argument("source", metavar="RUN_DIR|CHECKPOINT")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--split", type=click.Choice(["test", "train"]), default="test", show_default=True,
              help="Dataset split to evaluate on (folder datasets use the folder).")
@click.option("--limit", type=click.IntRange(min=1),
              help="Evaluate on the first N images only (denoisers: of --clean, by name).")
@click.option("--importance-samples", type=click.IntRange(min=1), default=100, show_default=True,
              help="VAE: samples per image for the importance-weighted NLL.")
@click.option("--metrics", "metric_names", metavar="NAME[,NAME]",
              help="Only these of the model's metrics (e.g. elbo, fid, accuracy).")
@click.option("--fid-samples", type=click.IntRange(min=2),
              help="Generated images for FID (default: as many as the split has).")
@click.option("--feature-extractor", type=click.Path(),
              help="A classifier run dir whose features FID uses, or 'inception' (InceptionV3, "
                   "ImageNet weights; looked for in ~/.keras/models and $AIGC_INCEPTION_WEIGHTS). "
                   "Default: the classifier shipped for the dataset.")
@click.option("--clean", "clean_folder", type=click.Path(exists=True, file_okay=False),
              help="Denoiser: folder of clean images to add noise to and restore.")
@click.option("--sigma", type=click.FloatRange(min=0, max=255), default=25.0, show_default=True,
              help="Denoiser: noise std-dev in 0-255 units.")
@click.option("--compare", type=click.Choice(["bm3d"]),
              help="Denoiser: also measure BM3D on the same noisy images (needs aigc[bm3d]).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the evaluation's own noise.")
@ensemble_option
@precision_option
@quiet_option
def evaluate(source: str, as_json: bool, split: str, limit: int | None,
             metric_names: str | None, importance_samples: int, fid_samples: int | None,
             feature_extractor: str | None, clean_folder: str | None, sigma: float,
             compare: str | None, seed: int, ensemble: int, precision: str,
             quiet: bool) -> None:
    """Report a trained model's metrics on the dataset's test split.

    \b
    GAN: fid (Frechet distance of generated to test images in the features of
         the project's Fashion-MNIST classifier, or --feature-extractor).
    VAE: neg_elbo_nats (negative ELBO) and nll_iw_nats (importance-weighted
         negative log-likelihood), nats per image; fid of prior samples.
    Classifier: accuracy.
    Denoiser (RUN_DIR or built-in gray/color): PSNR and SSIM on --clean images
         with --sigma noise (optionally beside BM3D, timed on the same images:
         speedup_vs_bm3d), seconds per image.

    \b
    Examples:
      aigc eval runs/fashion_mnist_vae --json
      aigc eval runs/fashion_mnist_vae --importance-samples 1000 --limit 1000
      aigc eval gray --clean ../shared/data/denoise/test/BSD68 --sigma 25 --compare bm3d
    """
    _tensorflow()
    from aigc_cli.evaluate import evaluate as run_evaluation

    from aigc_cli.utils.files import cache_dir

    chosen = tuple(n.strip() for n in metric_names.split(",")) if metric_names else None
    result = run_evaluation(source, split=split, limit=limit, metric_names=chosen, options={
        "importance_samples": importance_samples, "seed": seed, "fid_samples": fid_samples,
        "feature_extractor": feature_extractor, "cache_dir": cache_dir(), "clean": clean_folder,
        "sigma": sigma, "compare": compare, "ensemble": ensemble,
        "precision": precision, "quiet": quiet})
    if as_json:
        click.echo(json.dumps(result))
        return
    for key, value in result.items():
        if isinstance(value, (list, dict)):
            continue  # per-image rows and nested reports: use --json
        shown = f"{value:.4f}" if isinstance(value, float) else value
        click.echo(f"{key:<20} {shown}")


@main.command()
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
    config = _load(config_path, overrides)
    _tensorflow()
    from aigc_cli.bench import bench as run_bench

    result = run_bench(config, steps, warmup, quiet=quiet, rounds=rounds)
    if as_json:
        click.echo(json.dumps(result))
        return
    for key, value in result.items():
        if isinstance(value, dict):
            value = ", ".join(f"{name} {number}" for name, number in value.items())
        click.echo(f"{key:<20} {value}")


@main.command(name="export")
@click.argument("source", metavar="RUN_DIR|CHECKPOINT")
@click.option("--format", "fmt", type=click.Choice(["saved_model", "keras"]),
              default="saved_model", show_default=True,
              help="saved_model: serving signatures for TensorFlow Serving; keras: one .keras "
                   "file per network.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Output folder (default RUN_DIR/export/FORMAT).")
@click.option("--overwrite", is_flag=True, help="Replace an output folder that has files.")
def export_model(source: str, fmt: str, out_dir: str | None, overwrite: bool) -> None:
    """Export a trained model for serving.

    \b
    SavedModel signatures (serving_default is the first):
      GAN:       generate     latents [N, latent_dim] (+ labels [N]) -> images in [-1, 1]
      VAE:       reconstruct  images in [-1, 1] -> reconstructions; generate
      denoisers: denoise      noisy [N, H, W, C] in [0, 1], sigma [N] in [0, 1] -> denoised

    \b
    Examples:
      aigc export runs/fashion_mnist_gan
      aigc export runs/denoiser_gray --out serving/denoiser/1
      aigc export runs/fashion_mnist_vae --format keras --out vae_keras/
    """
    _tensorflow()
    from aigc_cli.export import export
    from aigc_cli.inference import load_trained_model

    trained = load_trained_model(source)
    out = Path(out_dir) if out_dir else trained.run.root / "export" / fmt
    written = export(trained, out, fmt, overwrite)
    click.echo(f"exported {trained.checkpoint} to {written}", err=True)


@main.group()
def config() -> None:
    """Check and print configs."""


@config.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path())
@set_option
def validate(config_path: str, overrides: tuple[str, ...]) -> None:
    """Check a config; exit 0 when valid, 2 with the key to fix otherwise."""
    loaded = _load(config_path, overrides)
    length = (f"{loaded.training.epochs:g} epochs" if loaded.training.epochs
              else f"{loaded.training.steps} steps")
    click.echo(f"{config_path}: valid ({loaded.model.type} on {loaded.dataset.type}, {length})")


@config.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path())
@set_option
def show(config_path: str, overrides: tuple[str, ...]) -> None:
    """Print the resolved config with every default filled in."""
    from aigc_cli.config import dump_config

    click.echo(dump_config(_load(config_path, overrides)), nl=False)


@config.command()
@click.option("--model", "model_type", default="dcgan", show_default=True,
              help="Model family whose keys to list.")
def keys(model_type: str) -> None:
    """List every config key with its type, default and meaning (Markdown table)."""
    from aigc_cli.config import MODEL_CONFIGS, reference_rows
    from aigc_cli.errors import ConfigError

    if model_type not in MODEL_CONFIGS:
        raise ConfigError(f"unknown model type '{model_type}' (choose one of: "
                          f"{', '.join(sorted(MODEL_CONFIGS))})")
    click.echo("| key | type | default | meaning |\n|---|---|---|---|")
    for key, kind, default, meaning in reference_rows(model_type):
        shown = "" if kind == "section" else f"`{json.dumps(default).strip(chr(34))}`"
        click.echo(f"| `{key}` | {kind} | {shown} | {meaning} |")


if __name__ == "__main__":
    main()
