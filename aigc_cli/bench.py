"""``aigc bench``: how fast a config trains, samples and denoises on this machine.

Training is timed twice in one process, after warm-up: through the tool's own
loop (data pipeline, progress bar, metrics.jsonl, TensorBoard; grids and
checkpoints timed once and charged at the config's intervals) and through a
plain loop of the same family's compiled step over batches already in memory.
Their ratio is what the tool's features cost.
"""

from __future__ import annotations

import dataclasses
import itertools
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from aigc_cli.config import RunConfig
from aigc_cli.models import MODEL_FAMILIES
from aigc_cli.training.loop import build_session, run_steps
from aigc_cli.training.reporting import Reporter
from aigc_cli.training.rundir import RunDir
from aigc_cli.training.signals import StopRequest


def step_statistics(seconds: list[float], batch_size: int) -> dict:
    """Images/s over the whole window, and the median and p90 step time."""
    times = np.asarray(seconds)
    return {"images_per_sec": round(batch_size * len(times) / times.sum(), 2),
            "step_ms_median": round(1000 * float(np.median(times)), 3),
            "step_ms_p90": round(1000 * float(np.percentile(times, 90)), 3)}


def bench(config: RunConfig, steps: int, warmup: int, quiet: bool = True) -> dict:
    """Training (tool loop vs plain loop), sampling and denoising throughput, peak memory."""
    with tempfile.TemporaryDirectory(prefix="aigc-bench-") as work:
        tool, model = _tool_loop(config, RunDir(Path(work) / "run"), steps, warmup, quiet)
    plain = _plain_loop(config, steps, warmup)
    result = {"model": config.model.type, "batch_size": config.training.batch_size,
              "steps": steps, "warmup_steps": warmup,
              "device": "GPU" if tf.config.list_logical_devices("GPU") else "CPU",
              "tensorflow": tf.__version__,
              "train": tool, "reference_loop": plain,
              "tool_over_reference": round(tool["images_per_sec_amortized"]
                                           / plain["images_per_sec"], 4)}
    if getattr(model, "latent_dim", 0):
        result["sampling"] = _sampling(model)
    if hasattr(model, "denoise"):
        result["denoising"] = _denoising(model, config.dataset.channels)
    result["peak_memory_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if result["device"] == "GPU":
        result["peak_gpu_memory_mb"] = round(
            tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20, 1)
    return result


def _tool_loop(config: RunConfig, run: RunDir, steps: int, warmup: int, quiet: bool):
    """The tool's loop at the config's own intervals; a grid and a checkpoint are then
    timed once each and charged at the config's rates (``images_per_sec_amortized``):
    forcing them into a short window would overstate what they cost."""
    training = config.training
    window = dataclasses.replace(
        training, steps=warmup, log_every=min(training.log_every, steps), max_seconds=None,
        eval_every=0)
    config = config.replace(training=window, output=dataclasses.replace(
        config.output, run_dir=str(run.root)))
    session = build_session(config, run, 0)
    reporter = Reporter(run, 0, warmup + steps, training.batch_size, quiet)
    try:
        with StopRequest() as stop:
            run_steps(session, reporter, config, stop)  # tracing, first grid and checkpoint
            timed = config.replace(training=dataclasses.replace(window, steps=warmup + steps))
            started = time.perf_counter()
            run_steps(session, reporter, timed, stop)
            elapsed = time.perf_counter() - started
            grid_seconds = _timed(lambda: (session.model.prepare_inference(), reporter.grids(
                session.step, session.model, session.preview_images, training.seed)))
            checkpoint_seconds = _timed(lambda: (session.model.prepare_inference(),
                                                 session.checkpointer.save(session.step + 1)))
    finally:
        reporter.close()
    charged = elapsed + steps * (grid_seconds / training.sample_every
                                 + checkpoint_seconds / training.checkpoint_every)
    return {"images_per_sec": round(training.batch_size * steps / elapsed, 2),
            "images_per_sec_amortized": round(training.batch_size * steps / charged, 2),
            "seconds": round(elapsed, 3), "grid_seconds": round(grid_seconds, 3),
            "checkpoint_seconds": round(checkpoint_seconds, 3),
            "sample_every": training.sample_every,
            "checkpoint_every": training.checkpoint_every}, session.model


def _timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _plain_loop(config: RunConfig, steps: int, warmup: int) -> dict:
    """The family's step in a bare tf.function over a few batches held in memory."""
    from aigc_cli.data.pipeline import training_dataset
    from aigc_cli.data.sources import load_images

    training = config.training
    model = MODEL_FAMILIES.get(config.model.type)(
        config.model, config.optimizer, config.dataset.image_shape, training.seed)
    model.build_optimizers()
    dataset = training_dataset(load_images(config.dataset), config.dataset, training.batch_size,
                               training.seed, with_labels=model.uses_labels)
    batches = list(itertools.islice(dataset, 8))
    step = tf.function(model.train_step)
    seconds = []
    for index in range(warmup + steps):
        started = time.perf_counter()
        losses = step(batches[index % len(batches)])
        float(next(iter(losses.values())))  # the step's results are ready
        if index >= warmup:
            seconds.append(time.perf_counter() - started)
    return step_statistics(seconds, training.batch_size)


def _sampling(model, batch_size: int = 250, batches: int = 4) -> dict:
    """Generated images/s (compute only; ``aigc sample`` overlaps PNG writing with it)."""
    generate = tf.function(model.generate)
    latents = tf.random.normal((batch_size, model.latent_dim), seed=0)
    generate(latents).numpy()
    started = time.perf_counter()
    for _ in range(batches):
        generate(latents).numpy()
    return {"images_per_sec": round(batch_size * batches / (time.perf_counter() - started), 2),
            "batch_size": batch_size}


def _denoising(model, channels: int, side: int = 1024) -> dict:
    """Megapixels/s of ``aigc denoise``'s tiled inference on a side x side image."""
    from aigc_cli.denoise import TiledDenoiser

    image = np.random.default_rng(0).uniform(0, 1, (side, side, channels)).astype(np.float32)
    denoiser = TiledDenoiser(model)
    denoiser(image, 0.1)  # traces the function for these tile shapes
    started = time.perf_counter()
    denoiser(image, 0.1)
    seconds = time.perf_counter() - started
    return {"megapixels_per_sec": round(side * side / 1e6 / seconds, 3),
            "image": f"{side}x{side}x{channels}", "seconds": round(seconds, 3)}
