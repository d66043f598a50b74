"""``aigc sample``: images, interpolations and reconstructions from a trained model."""

from __future__ import annotations

from pathlib import Path

import click

from aigc_cli.commands.options import quiet_option, sampler_options, start_tensorflow
from aigc_cli.errors import InputError


@click.command(short_help="Generate images from a trained model (no dataset needed).")
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
@click.option("--pairs/--no-pairs", default=True, show_default=True,
              help="With --reconstruct: input|output pairs as PNG, or (--no-pairs) the "
                   "reconstructions alone, under the inputs' names and in their formats.")
@click.option("--between", nargs=2, type=click.Path(exists=True, dir_okay=False),
              metavar="IMAGE IMAGE",
              help="VAE, with --interpolate: one row walking from the first image's latent "
                   "(its posterior mean) to the second's, instead of random latents.")
@click.option("--batch-size", type=click.IntRange(min=1), default=250, show_default=True,
              help="Images generated per call.")
@click.option("--overwrite", is_flag=True, help="Write into an output folder that has files.")
@sampler_options
@quiet_option
def sample(source: str, count: int, seed: int, out_dir: str | None, grid_path: str | None,
           temperature: float, truncation: float | None, class_label: int | None,
           steps: int | None, folder: str | None, pairs: bool, between: tuple[str, str] | None,
           batch_size: int, overwrite: bool, quiet: bool, sampling_options: dict) -> None:
    """Generate images from a trained model (the dataset is not needed).

    \b
    Examples:
      aigc sample runs/fashion_mnist_dcgan -n 64 --grid grid.png
      aigc sample runs/fashion_mnist_dcgan/checkpoints/ckpt-5000 -n 1000 --out fakes/
      aigc sample runs/fashion_mnist_vae --temperature 0.8 --grid prior.png
      aigc sample runs/fashion_mnist_gan --class 7 -n 16 --grid sneakers.png
      aigc sample runs/fashion_mnist_vae -n 8 --interpolate 10 --grid walk.png
      aigc sample runs/fashion_mnist_vae --reconstruct my_images/ --out recon/
      aigc sample runs/fashion_mnist_vae --reconstruct my_images/ --no-pairs --out recon/
      aigc sample runs/fashion_mnist_vae --interpolate 10 --between a.png b.png --grid ab.png
      aigc sample runs/fashion_mnist_diffusion --steps 10 --sampler dpmpp_2m --grid grid.png
    """
    if steps and folder:
        raise click.UsageError("choose one of --interpolate and --reconstruct")
    if not pairs and not folder:
        raise click.UsageError("--no-pairs goes with --reconstruct FOLDER")
    if between and not steps:
        raise click.UsageError("--between needs --interpolate STEPS (how many images)")
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
    start_tensorflow()
    from aigc_cli.inference import sampling

    grid = Path(grid_path) if grid_path else None
    if sampling_options and (folder or between):
        raise click.UsageError("--steps, --sampler and --guidance go with prior samples and "
                               "--interpolate")
    if folder:
        result = sampling.reconstruct_folder(source, Path(folder), out, grid, batch_size, quiet,
                                             pairs)
    elif between:
        result = sampling.interpolate_between(source, Path(between[0]), Path(between[1]),
                                              steps, out, grid, quiet)
    elif steps:
        result = sampling.interpolate(source, count, steps, seed, out, grid, batch_size, quiet,
                                      temperature, class_label, sampling_options)
    else:
        result = sampling.sample(source, count, seed, out, grid, batch_size, quiet, temperature,
                                 truncation, class_label, sampling_options)
    if result.files:
        rate = f" in {result.seconds:.1f} s ({len(result.files) / result.seconds:.0f} images/s)" \
            if result.seconds else ""
        click.echo(f"wrote {len(result.files)} images to {out}{rate}", err=True)
    if result.skipped:
        click.echo(f"warning: skipped {result.skipped} unreadable files", err=True)
    if result.grid:
        click.echo(f"wrote grid {result.grid}", err=True)
