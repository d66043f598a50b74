"""``aigc eval``: a trained model's metrics."""

from __future__ import annotations

import json

import click

from aigc_cli.commands.options import (ensemble_option, precision_option, quiet_option,
                                       sampler_options, start_tensorflow)


@click.command(name="eval",
               short_help="A trained model's metrics: FID, ELBO, PSNR/SSIM, accuracy.")
@click.argument("source", metavar="RUN_DIR|CHECKPOINT", required=False)
@click.option("--samples", "samples_folder", type=click.Path(exists=True, file_okay=False),
              help="Instead of a model: a folder of images (this tool's or another's) to "
                   "measure against --dataset's test split (FID, KID, precision/recall, "
                   "memorization).")
@click.option("--dataset", "dataset_reference", metavar="NAME|CONFIG",
              help="With --samples: fashion_mnist, mnist, cifar10, or a config file whose "
                   "dataset section to use.")
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
@click.option("--closest-pairs", type=click.Path(dir_okay=False),
              help="Generators: write a PNG grid of the 32 samples nearest to a training "
                   "image, each beside it (the memorization audit's evidence).")
@click.option("--cas", is_flag=True,
              help="Class-conditional generators: Classification Accuracy Score, the test "
                   "accuracy of the project's classifier trained on generated labelled "
                   "images alone (minutes on a CPU).")
@click.option("--cas-samples", type=click.IntRange(min=10), default=30000, show_default=True,
              help="Generated images the --cas classifier trains on (the classes in turn).")
@click.option("--clean", "clean_folder", type=click.Path(exists=True, file_okay=False),
              help="Denoiser: folder of clean images to add noise to and restore.")
@click.option("--sigma", type=click.FloatRange(min=0, max=255), default=25.0, show_default=True,
              help="Denoiser: noise std-dev in 0-255 units.")
@click.option("--eight-bit", is_flag=True,
              help="Denoiser: the noisy image clipped and rounded to 8 bits, as a saved photo "
                   "is (default: the published convention, not clipped).")
@click.option("--poisson-gain", type=click.FloatRange(min=0, max=1), default=0.0,
              show_default=True,
              help="Denoiser: Poisson-Gaussian noise, variance A*x + (sigma/255)^2 for a pixel "
                   "of intensity x in [0, 1]; models are told the equivalent white sigma.")
@click.option("--jpeg-quality", type=click.IntRange(min=1, max=100),
              help="Denoiser: the noisy image JPEG-compressed at this quality (8-bit first).")
@click.option("--blind", is_flag=True,
              help="Denoiser: also measure it not told the sigma, estimating it from each noisy "
                   "image as aigc denoise does without --sigma (report: blind).")
@click.option("--compare", type=click.Choice(["bm3d"]),
              help="Denoiser: also measure BM3D on the same noisy images, told the same sigma "
                   "(needs aigc[bm3d]).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the evaluation's own noise.")
@ensemble_option
@precision_option
@sampler_options
@quiet_option
def evaluate(source: str | None, samples_folder: str | None, dataset_reference: str | None,
             as_json: bool, split: str, limit: int | None,
             metric_names: str | None, importance_samples: int, fid_samples: int | None,
             feature_extractor: str | None, closest_pairs: str | None, cas: bool,
             cas_samples: int, clean_folder: str | None, sigma: float,
             eight_bit: bool, poisson_gain: float, jpeg_quality: int | None, blind: bool,
             compare: str | None, seed: int, ensemble: int, precision: str,
             quiet: bool, sampling_options: dict) -> None:
    """Report a trained model's metrics on the dataset's test split.

    \b
    GAN: fid (Frechet distance of generated to test images in the features of
         the project's Fashion-MNIST classifier, or --feature-extractor).
    VAE: neg_elbo_nats (negative ELBO) and nll_iw_nats (importance-weighted
         negative log-likelihood), nats per image; fid of prior samples.
    Classifier: accuracy.
    Denoiser (RUN_DIR or built-in gray/color): PSNR and SSIM on --clean images
         with --sigma noise (optionally beside BM3D, timed on the same images:
         speedup_vs_bm3d), seconds per image. Published convention by default;
         --eight-bit, --poisson-gain and --jpeg-quality degrade images as users'
         photos are.

    \b
    Examples:
      aigc eval runs/fashion_mnist_vae --json
      aigc eval runs/fashion_mnist_vae --importance-samples 1000 --limit 1000
      aigc eval gray --clean ../shared/data/denoise/test/BSD68 --sigma 25 --compare bm3d
      aigc eval color --clean ../shared/data/denoise/test/CBSD68 --sigma 15 --eight-bit
      aigc eval gray --clean ../shared/data/denoise/test/BSD68 --sigma 5 --eight-bit --blind
      aigc eval runs/fashion_mnist_diffusion --steps 10 --sampler dpmpp_2m --json
    """
    if (source is None) == (samples_folder is None):
        raise click.UsageError("give a RUN_DIR|CHECKPOINT, or --samples FOLDER --dataset NAME")
    if samples_folder and not dataset_reference:
        raise click.UsageError("--samples needs --dataset NAME|CONFIG (what to measure against)")
    start_tensorflow()
    from aigc_cli.inference.defaults import resolve_denoise_settings
    from aigc_cli.inference.evaluation import evaluate as run_evaluation
    from aigc_cli.inference.evaluation import evaluate_samples
    from aigc_cli.io.files import cache_dir

    if samples_folder:
        _report(evaluate_samples(samples_folder, dataset_reference, {
            "feature_extractor": feature_extractor, "closest_pairs": closest_pairs,
            "cache_dir": cache_dir()}), as_json)
        return

    settings = resolve_denoise_settings(precision, ensemble)
    chosen = tuple(n.strip() for n in metric_names.split(",")) if metric_names else None
    options = {
        "importance_samples": importance_samples, "seed": seed, "fid_samples": fid_samples,
        "feature_extractor": feature_extractor, "closest_pairs": closest_pairs,
        "cas": cas, "cas_samples": cas_samples, "cache_dir": cache_dir(), "clean": clean_folder,
        "sigma": sigma, "eight_bit": eight_bit, "poisson_gain": poisson_gain,
        "jpeg_quality": jpeg_quality, "compare": compare, "blind": blind,
        "ensemble": settings.ensemble, "precision": settings.precision, "quiet": quiet,
        "sampling": sampling_options}
    # A built-in name runs as the built-in the defaults chose for this machine.
    result = run_evaluation(settings.builtin(source), split=split, limit=limit,
                            metric_names=chosen, options=options)
    _report(result, as_json)


def _report(result: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result))
        return
    for key, value in result.items():
        if isinstance(value, (list, dict)):
            continue  # per-image rows and nested reports: use --json
        shown = f"{value:.4f}" if isinstance(value, float) else value
        click.echo(f"{key:<20} {shown}")
