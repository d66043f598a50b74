"""``aigc export``: a trained model as a SavedModel or .keras files."""

from __future__ import annotations

from pathlib import Path

import click

from aigc_cli.commands.options import sampler_options, start_tensorflow


@click.command(name="export",
               short_help="Export a trained model for serving (SavedModel, .keras).")
@click.argument("source", metavar="RUN_DIR|CHECKPOINT")
@click.option("--format", "fmt", type=click.Choice(["saved_model", "keras"]),
              default="saved_model", show_default=True,
              help="saved_model: serving signatures for TensorFlow Serving; keras: one .keras "
                   "file per network.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Output folder (default RUN_DIR/export/FORMAT).")
@click.option("--overwrite", is_flag=True, help="Replace an output folder that has files.")
@sampler_options
def export_model(source: str, fmt: str, out_dir: str | None, overwrite: bool,
                 sampling_options: dict) -> None:
    """Export a trained model for serving.

    \b
    SavedModel signatures (serving_default is the first):
      GAN:       generate     latents [N, latent_dim] (+ labels [N]) -> images in [-1, 1]
      diffusion: generate     the same, latent_dim = H*W*C; runs the ODE sampler
                              (--steps, --sampler, --guidance fix it; default: the config's)
      VAE:       reconstruct  images in [-1, 1] -> reconstructions; generate
      denoisers: denoise      noisy [N, H, W, C] in [0, 1], sigma [N] in [0, 1] -> denoised

    \b
    Examples:
      aigc export runs/fashion_mnist_gan
      aigc export runs/denoiser_gray --out serving/denoiser/1
      aigc export runs/fashion_mnist_vae --format keras --out vae_keras/
      aigc export runs/fashion_mnist_diffusion --steps 20 --sampler heun
    """
    start_tensorflow()
    from aigc_cli.inference.export import export
    from aigc_cli.inference.trained import load_trained_model

    trained = load_trained_model(source, sampling=sampling_options)
    out = Path(out_dir) if out_dir else trained.run.root / "export" / fmt
    written = export(trained, out, fmt, overwrite)
    click.echo(f"exported {trained.checkpoint} to {written}", err=True)
