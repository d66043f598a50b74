"""What the loop reports: progress bar, metrics.jsonl, TensorBoard, PNG grids."""

from __future__ import annotations

import sys
import time

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from aigc_cli.io.images import make_grid, save_png, to_uint8
from aigc_cli.models.base import GenerativeModel
from aigc_cli.training.rundir import RunDir


class Reporter:
    """Accumulates step losses and writes them out at the loop's intervals."""

    def __init__(self, run: RunDir, start_step: int, total_steps: int, batch_size: int,
                 quiet: bool, writes: bool = True):
        self.run = run
        self.writes = writes  # False on non-chief workers: nothing goes to the run dir
        self.batch_size = batch_size
        self.writer = (tf.summary.create_file_writer(str(run.logs)) if writes
                       else tf.summary.create_noop_writer())
        self.bar = tqdm(total=total_steps, initial=start_step, unit="step", disable=quiet,
                        dynamic_ncols=True, desc="train")
        self.started = time.monotonic()
        self._interval_losses: list[dict[str, tf.Tensor]] = []
        self._interval_start = (start_step, self.started)
        self._postfix_time = 0.0
        self._preview = None
        self.logged_step = start_step

    def record(self, step: int, losses: dict[str, tf.Tensor], steps: int = 1) -> None:
        """Keep one call's losses (no host sync) and advance the bar by its ``steps``."""
        self._interval_losses.append(losses)
        self.bar.update(steps)
        now = time.monotonic()
        if now - self._postfix_time > 1.0 and not self.bar.disable:
            self._postfix_time = now
            first_step, first_time = self._interval_start
            rate = (step - first_step) * self.batch_size / max(now - first_time, 1e-9)
            self.bar.set_postfix({"img/s": f"{rate:.0f}",
                                  **{k: f"{float(v):.3f}" for k, v in losses.items()}},
                                 refresh=False)

    def log(self, step: int, model: GenerativeModel, extra: dict | None = None) -> dict:
        """Write the interval's mean losses, throughput, learning rates and ``extra``
        values (a private run's epsilon)."""
        now = time.monotonic()
        first_step, first_time = self._interval_start
        record = {"step": step, "time": round(time.time(), 3),
                  "elapsed_s": round(now - self.started, 3),
                  "images_per_sec": round((step - first_step) * self.batch_size
                                          / max(now - first_time, 1e-9), 2)}
        if self._interval_losses:
            names = self._interval_losses[0].keys()
            record.update({name: float(np.mean([float(s[name]) for s in self._interval_losses]))
                           for name in names})
        record.update(model.learning_rates())
        record.update(extra or {})
        if self.writes:
            self.run.log_metrics(record)
        with self.writer.as_default(step=step):
            for name, value in record.items():
                if name not in ("step", "time", "elapsed_s"):
                    tf.summary.scalar(name, value)
        self.writer.flush()
        self._interval_losses = []
        self._interval_start = (step, now)
        self.logged_step = step
        return record

    def rewind(self, step: int) -> None:
        """Forget the steps after ``step`` (a rollback): their losses and bar progress."""
        self._interval_losses = []
        self._interval_start = (step, time.monotonic())
        self.logged_step = step
        self.bar.n = step
        self.bar.refresh()

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """Extra named values (evaluation results) to metrics.jsonl and TensorBoard."""
        if not self.writes:
            return
        self.run.log_metrics({"step": step, "time": round(time.time(), 3), **values})
        with self.writer.as_default(step=step):
            for name, value in values.items():
                tf.summary.scalar(name, value)
        self.writer.flush()
        if values and not self.bar.disable:
            shown = ", ".join(f"{name} {value:.4g}" for name, value in values.items())
            tqdm.write(f"step {step}: {shown}", file=sys.stderr)

    def grids(self, step: int, model: GenerativeModel, preview_images: tf.Tensor,
              seed: int, xmp: bytes | None = None) -> None:
        """Save each preview batch as a PNG grid (carrying the XMP packet ``xmp``) and a
        TensorBoard image."""
        if not self.writes:
            return
        if self._preview is None:
            # Compiled once: an autoregressive decoder's pixel loop is slow when eager.
            self._preview = tf.function(lambda images: model.preview(images, seed))
        for name, images in self._preview(preview_images).items():
            grid = make_grid(to_uint8(images.numpy()))
            save_png(grid, self.run.samples / f"{name}_step_{step:08d}.png", xmp=xmp)
            with self.writer.as_default(step=step):
                tf.summary.image(name, grid[None])
        self.writer.flush()

    def message(self, text: str) -> None:
        """A line on stderr that does not break the bar (silent with --quiet)."""
        if not self.bar.disable:
            tqdm.write(text, file=sys.stderr)

    def close(self) -> None:
        self.bar.close()
        self.writer.close()
