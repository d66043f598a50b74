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


def bench(config: RunConfig, steps: int, warmup: int, quiet: bool = True,
          rounds: int = 3) -> dict:
    """Training (tool loop vs plain loop), sampling and denoising throughput, peak memory.

    The two loops take turns, ``rounds`` timed windows each (ABAB...), and the
    medians are compared, so that drift of the machine's speed (other processes,
    clocks, caches) does not favour whichever loop happens to run first.
    """
    training = config.training
    with tempfile.TemporaryDirectory(prefix="aigc-bench-") as work, StopRequest() as stop:
        tool = ToolLoop(config, RunDir(Path(work) / "run"), warmup, quiet, stop,
                        total_steps=warmup + rounds * steps)
        plain = PlainLoop(config, warmup)
        tool_seconds, plain_steps = [], []
        try:
            for _ in range(rounds):
                tool_seconds.append(tool.window(steps))
                plain_steps.extend(plain.window(steps))
            events = tool.event_seconds()
        finally:
            tool.close()
    elapsed = float(np.median(tool_seconds))
    charged = elapsed + steps * (events["grid_seconds"] / training.sample_every
                                 + events["checkpoint_seconds"] / training.checkpoint_every)
    batch = training.batch_size
    reference = step_statistics(plain_steps, batch)
    reference["images_per_sec"] = round(batch * steps / float(np.median(
        [sum(plain_steps[i:i + steps]) for i in range(0, len(plain_steps), steps)])), 2)
    train = {"images_per_sec": round(batch * steps / elapsed, 2),
             "images_per_sec_amortized": round(batch * steps / charged, 2),
             "seconds_per_window": [round(t, 3) for t in tool_seconds], **events,
             "sample_every": training.sample_every,
             "checkpoint_every": training.checkpoint_every}
    # Four significant figures, not decimals: the ratio can be tiny when
    # grids and checkpoints dominate a short run.
    ratio = train["images_per_sec_amortized"] / reference["images_per_sec"]
    result = {"model": config.model.type, "batch_size": batch, "steps": steps,
              "warmup_steps": warmup, "rounds": rounds,
              "device": "GPU" if tf.config.list_logical_devices("GPU") else "CPU",
              "tensorflow": tf.__version__, "train": train, "reference_loop": reference,
              "tool_over_reference": float(f"{ratio:.4g}")}
    model = tool.session.model
    if getattr(model, "latent_dim", 0):
        result["sampling"] = _sampling(model)
    if hasattr(model, "denoise"):
        result["denoising"] = _denoising(model, config.dataset.channels)
    result["peak_memory_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if result["device"] == "GPU":
        result["peak_gpu_memory_mb"] = round(
            tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20, 1)
    return result


class ToolLoop:
    """The tool's own loop at the config's intervals (logging capped to the window);
    a grid and a checkpoint are timed once each and charged at the config's rates:
    forcing them into a short window (as the end of a run does) would overstate what
    they cost."""

    def __init__(self, config: RunConfig, run: RunDir, warmup: int, quiet: bool,
                 stop: StopRequest, total_steps: int):
        training = config.training
        self.window_training = dataclasses.replace(training, max_seconds=None, eval_every=0)
        self.config = config.replace(output=dataclasses.replace(config.output,
                                                                run_dir=str(run.root)))
        self.session = build_session(self.config, run, 0)
        self.reporter = Reporter(run, 0, total_steps, training.batch_size, quiet)
        self.stop = stop
        self.window(warmup, final_outputs=True)  # tracing, first grid and checkpoint

    def window(self, steps: int, final_outputs: bool = False) -> float:
        """Seconds for ``steps`` more steps through ``run_steps``."""
        training = dataclasses.replace(self.window_training,
                                       steps=self.session.step + steps,
                                       log_every=min(self.window_training.log_every, steps))
        started = time.perf_counter()
        run_steps(self.session, self.reporter, self.config.replace(training=training), self.stop,
                  final_outputs)
        return time.perf_counter() - started

    def event_seconds(self) -> dict:
        session, seed = self.session, self.window_training.seed
        grid = _timed(lambda: (session.model.prepare_inference(), self.reporter.grids(
            session.step, session.model, session.preview_images, seed)))
        checkpoint = _timed(lambda: (session.model.prepare_inference(),
                                     session.checkpointer.save(session.step + 1)))
        return {"grid_seconds": round(grid, 3), "checkpoint_seconds": round(checkpoint, 3)}

    def close(self) -> None:
        self.reporter.close()


class PlainLoop:
    """The family's step in a bare tf.function over a few batches held in memory."""

    def __init__(self, config: RunConfig, warmup: int):
        from aigc_cli.data.pipeline import training_dataset
        from aigc_cli.data.sources import load_images

        images = load_images(config.dataset)
        config = config.with_epochs_resolved(len(images.images))  # the same schedule
        training = config.training
        self.model = MODEL_FAMILIES.get(config.model.type)(
            config.model, config.optimizer, config.dataset.image_shape, training.seed)
        self.model.build_optimizers()
        dataset = training_dataset(images, config.dataset, training.batch_size, training.seed,
                                   with_labels=self.model.uses_labels)
        self.batches = list(itertools.islice(dataset, 8))
        self.step = tf.function(self.model.train_step)
        self.calls = 0
        self.window(warmup)

    def window(self, steps: int) -> list[float]:
        """The seconds of each of ``steps`` steps."""
        seconds = []
        for _ in range(steps):
            started = time.perf_counter()
            losses = self.step(self.batches[self.calls % len(self.batches)])
            float(next(iter(losses.values())))  # the step's results are ready
            seconds.append(time.perf_counter() - started)
            self.calls += 1
        return seconds


def _timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


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
    from aigc_cli.inference.denoising import TiledDenoiser

    image = np.random.default_rng(0).uniform(0, 1, (side, side, channels)).astype(np.float32)
    denoiser = TiledDenoiser(model)
    denoiser(image, 0.1)  # traces the graph
    started = time.perf_counter()
    denoiser(image, 0.1)
    seconds = time.perf_counter() - started
    return {"megapixels_per_sec": round(side * side / 1e6 / seconds, 3),
            "image": f"{side}x{side}x{channels}", "seconds": round(seconds, 3)}
