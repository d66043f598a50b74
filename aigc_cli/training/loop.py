"""The one training loop every model family shares.

The family decides *what* one step does (``GenerativeModel.train_step``); this
loop decides *when* things happen: logging, grids, checkpoints, stopping. It
has no family-specific branches.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf

from aigc_cli.config import RunConfig, config_hash, warn_if_a_schedule_ends_early
from aigc_cli.io.provenance import generated_packet, tool_record
from aigc_cli.data.pipeline import DeviceBatches, preview_batch, training_dataset
from aigc_cli.data.sources import ImageSet, load_images
from aigc_cli.errors import TrainingDiverged
from aigc_cli.models import MODEL_FAMILIES
from aigc_cli.models.base import GenerativeModel
from aigc_cli.models.optimizers import scale_learning_rate
from aigc_cli.models.precision import training_policy
from aigc_cli.privacy.plan import PrivacyPlan, plan_privacy
from aigc_cli.privacy.sampling import private_dataset
from aigc_cli.privacy.training import fit_to_replicas, make_private
from aigc_cli.privacy.training import preview_images as private_preview_images
from aigc_cli.training.checkpoint import Checkpointer, latest_step
from aigc_cli.training.evaluation import TrainingEvaluator
from aigc_cli.training.reporting import Reporter
from aigc_cli.training.rundir import RunDir
from aigc_cli.training.signals import StopRequest
from aigc_cli.training.strategy import is_chief, make_strategy
from aigc_cli.training.warm_start import initialize_from


@dataclass(frozen=True)
class TrainResult:
    """How a ``train`` call ended."""

    run_dir: Path
    start_step: int
    step: int
    stop_reason: str  # completed | already_complete | max_seconds | SIGINT | SIGTERM
    checkpoint: str | None


@dataclass
class Session:
    """What the loop works with once everything is built and restored."""

    model: GenerativeModel
    checkpointer: Checkpointer
    train_function: tf.types.experimental.PolymorphicFunction
    iterator: object
    preview_images: tf.Tensor
    step: int
    evaluator: TrainingEvaluator | None = None
    privacy: PrivacyPlan | None = None
    run: RunDir | None = None
    chief: bool = True  # False on non-chief workers: they write nothing to the run dir
    #: uint8 [N, H, W, C], for a model that ``fits_to_data``; None otherwise.
    training_images: object = None


def train(config: RunConfig, quiet: bool = False) -> TrainResult:
    """Train (or resume) the run that ``config`` describes."""
    run = RunDir(Path(config.output.run_dir))
    images = None
    if config.training.epochs is not None:  # the run's length depends on the data
        images = load_images(config.dataset)
        config = config.with_epochs_resolved(len(images.images))
    training = config.training
    start_step = latest_step(run.checkpoints) if run.checkpoints.is_dir() else 0
    if start_step >= training.steps:
        return TrainResult(run.root, start_step, start_step, "already_complete",
                           tf.train.latest_checkpoint(str(run.checkpoints)))
    warn_if_a_schedule_ends_early(config)
    session = build_session(config, run, start_step, images)
    resumed_from = session.step  # below start_step when a damaged checkpoint was skipped
    reporter = Reporter(run, session.step, training.steps, training.batch_size,
                        quiet or not session.chief, writes=session.chief)
    if session.step:
        reporter.message(f"resuming {run.root} from step {session.step}")
    try:
        with StopRequest() as stop:
            reason = run_steps(session, reporter, config, stop)
    finally:
        reporter.close()
        if not session.chief:
            shutil.rmtree(session.checkpointer.directory, ignore_errors=True)
    return TrainResult(run.root, resumed_from, session.step, reason, session.checkpointer.latest)


def build_session(config: RunConfig, run: RunDir, start_step: int,
                  images: ImageSet | None = None) -> Session:
    """Data (``images``, else loaded), strategy, model, optimizers and checkpoint,
    restored when resuming."""
    images = load_images(config.dataset) if images is None else images
    config = config.with_epochs_resolved(len(images.images))
    training = config.training
    initialized_from = None
    # Multi-worker strategies must exist before TensorFlow runs anything else.
    strategy = make_strategy(training.distribute)
    chief = is_chief(strategy)
    keras.utils.set_random_seed(training.seed)
    if training.deterministic:
        tf.config.experimental.enable_op_determinism()
    policy = training_policy(training.precision)
    keras.mixed_precision.set_global_policy(policy)
    privacy = (fit_to_replicas(plan_privacy(config, len(images.images)), strategy)
               if training.privacy else None)
    with strategy.scope():
        model = MODEL_FAMILIES.get(config.model.type)(
            config.model, config.optimizer, config.dataset.image_shape, training.seed)
        if privacy:
            make_private(model, privacy)
        model.build_optimizers()
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        checkpoint_items = {**model.checkpoint_items(), "step": step}
        if training.deterministic:
            checkpoint_items["seed_states"] = seed_generator_states(model.checkpoint_items())
        # Every worker saves (the save is collective); only the chief's copy is kept.
        folder = run.checkpoints if chief else Path(tempfile.mkdtemp(prefix="aigc-worker-"))
        checkpointer = Checkpointer(folder, checkpoint_items, training.keep_checkpoints)
        run.refuse_model_change(config)
        run.refuse_privacy_change(privacy.settings() if privacy else None)
        restored = checkpointer.restore_latest(run.checkpoints)
        if not restored and training.init_from:
            initialized_from = initialize_from(model, training.init_from)
    # Before anything is written: a config that cannot be evaluated is an input error.
    evaluator = (TrainingEvaluator(model, config, run, checkpoint_items)
                 if training.eval_every and chief else None)
    if chief:
        run.create(config, {"tensorflow": tf.__version__, "keras": keras.__version__,
                            "config_sha256": config_hash(config), "seed": training.seed,
                            "dataset_sha256": images.fingerprint(),
                            "strategy": type(strategy).__name__, "precision": policy,
                            "replicas": strategy.num_replicas_in_sync,
                            **({"privacy": privacy.manifest()} if privacy else {}),
                            **({"initialized_from": initialized_from} if initialized_from
                               else {})})
    # The stream continues at the restored step: a resumed run sees the batches an
    # uninterrupted one would have.
    device_batches, iterator = None, None
    if privacy:
        dataset = private_dataset(images, config.dataset, privacy.batch_capacity,
                                  privacy.sampling_rate, model.privacy.key, model.uses_labels,
                                  start_batch=int(step.numpy()))
        iterator = iter(strategy.experimental_distribute_dataset(dataset))
    elif DeviceBatches.eligible(images, config.dataset):
        with strategy.scope():
            device_batches = DeviceBatches(images, config.dataset, training.batch_size,
                                           training.seed, model.uses_labels)
    else:
        dataset = training_dataset(images, config.dataset, training.batch_size, training.seed,
                                   with_labels=model.uses_labels,
                                   start_batch=int(step.numpy()))
        iterator = iter(strategy.experimental_distribute_dataset(dataset))
    preview = (private_preview_images(config, training.preview_images) if privacy else
               preview_batch(images, config.dataset, training.preview_images))
    return Session(model=model, checkpointer=checkpointer, evaluator=evaluator, chief=chief,
                   privacy=privacy, run=run,
                   train_function=compile_train_function(strategy, model, step,
                                                         training.steps_per_call,
                                                         training.jit_compile,
                                                         device_batches),
                   iterator=iterator,
                   preview_images=tf.constant(preview, tf.float32) / 127.5 - 1.0,
                   step=int(step.numpy()),
                   training_images=images.images if model.fits_to_data else None)


def seed_generator_states(items: dict[str, object]) -> list:
    """The state variables of every Keras SeedGenerator (dropout's) inside ``items``:
    tf.train.Checkpoint does not track them, and exact resume needs them."""
    states = []
    for item in items.values():
        if isinstance(item, keras.Model):
            for layer in item._flatten_layers(include_self=True, recursive=True):
                states.extend(generator.state for generator in
                              getattr(layer, "_seed_generators", ()))
    return states


def compile_train_function(strategy: tf.distribute.Strategy, model: GenerativeModel,
                           step: tf.Variable, steps_per_call: int = 1, jit_compile: bool = False,
                           device_batches: DeviceBatches | None = None):
    """One compiled call: ``count`` times (next batch → ``train_step`` on every replica),
    returning the last step's losses summed over replicas. Call it as ``f(iterator, count)``.

    With ``device_batches`` the batch is gathered on the device from the step number
    (``iterator`` is then None).
    """
    # XLA compiles the step itself; the iterator and the replica loop stay outside it.
    step_function = model.private_train_step if model.privacy else model.train_step
    train_step = tf.function(step_function, jit_compile=True) if jit_compile else step_function

    def one_step(iterator):
        if device_batches is not None:
            per_replica = strategy.run(
                lambda: train_step(device_batches.replica_batch(step.read_value())))
        else:
            per_replica = strategy.run(train_step, args=(next(iterator),))
        model.after_step()
        step.assign_add(1)
        return {name: strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                for name, value in per_replica.items()}

    if steps_per_call == 1:
        return tf.function(lambda iterator, count: one_step(iterator))

    @tf.function
    def train_function(iterator, count):
        losses = one_step(iterator)
        for _ in tf.range(count - 1):
            losses = one_step(iterator)
        return losses

    return train_function


def _crossed(before: int, after: int, every: int) -> bool:
    """Whether a multiple of ``every`` lies in (before, after]; never for ``every`` 0 (off)."""
    return every > 0 and after // every > before // every


MAX_ROLLBACKS = 5


def run_steps(session: Session, reporter: Reporter, config: RunConfig, stop: StopRequest,
              final_outputs: bool = True) -> str:
    """Step until done, out of time or signalled; ends with a checkpoint and a grid.

    Losses and weights are checked for NaN/inf at every log interval and before
    every checkpoint, so no checkpoint ever holds a diverged model.
    ``final_outputs=False`` leaves out the closing checkpoint and grid (``aigc bench``'s
    timed windows, which charge those at the config's intervals instead).
    """
    training = config.training
    deadline = time.monotonic() + training.max_seconds if training.max_seconds else None
    saved_step = grid_step = session.step
    reason = "completed"
    unchecked: list[dict] = []  # losses since the last finiteness check
    rollbacks = 0
    full_call = tf.constant(training.steps_per_call, tf.int32)  # made once, not per step
    last_step = training.steps
    if session.privacy and session.privacy.allowed_steps < last_step:
        last_step, reason = session.privacy.allowed_steps, "privacy_budget"
    while session.step < last_step:
        count = min(training.steps_per_call, last_step - session.step)
        calls = full_call if count == training.steps_per_call else tf.constant(count, tf.int32)
        losses = session.train_function(session.iterator, calls)
        before, session.step = session.step, session.step + count
        unchecked.append(losses)
        save_due = _crossed(before, session.step, training.checkpoint_every)
        if save_due or _crossed(before, session.step, training.log_every):
            problem = _divergence(unchecked, session.model)
            unchecked = []
            if problem:
                rollbacks += 1
                _handle_divergence(session, reporter, training, problem, rollbacks)
                saved_step = grid_step = session.step
                continue
        reporter.record(session.step, losses, count)
        if _crossed(before, session.step, training.log_every):
            reporter.log(session.step, session.model, privacy_record(session))
        grid_due = _crossed(before, session.step, training.sample_every)
        eval_due = session.evaluator and _crossed(before, session.step, training.eval_every)
        if save_due or grid_due or eval_due:
            session.model.prepare_inference()
        if eval_due and session.training_images is not None:  # before the grid and the save
            session.model.fit_to_data(session.training_images, session.step)
        if grid_due:
            reporter.grids(session.step, session.model, session.preview_images, training.seed,
                       grid_packet(session, config))
            grid_step = session.step
        if save_due:
            session.checkpointer.save(session.step)
            saved_step = session.step
        if eval_due:
            reporter.scalars(session.step, session.evaluator.evaluate(session.step))
        if stop.requested:
            reason = stop.requested
            break
        if deadline is not None and time.monotonic() >= deadline:
            reason = "max_seconds"
            break
    if not final_outputs:
        return reason
    # The checkpoint first: on a signal, it is the part that must not be lost (so a fit
    # to the data waits for the next run's end), and a failed fit must not lose it.
    fit_now = session.training_images is not None and reason not in ("SIGINT", "SIGTERM")
    if saved_step != session.step or session.checkpointer.latest is None:
        problem = _divergence(unchecked, session.model)
        if problem:  # rollback restores the last checkpoint: nothing new to save
            _handle_divergence(session, reporter, training, problem, rollbacks + 1)
            fit_now = False
        else:
            session.model.prepare_inference()
            session.checkpointer.save(session.step)
    if fit_now:  # the same step again, now with the fit
        session.model.fit_to_data(session.training_images, session.step)
        session.checkpointer.save(session.step)
    if reporter.logged_step != session.step:
        reporter.log(session.step, session.model, privacy_record(session))
    if session.privacy and session.chief:
        session.run.record_privacy(session.privacy.spend(session.step).as_dict())
    if fit_now or grid_step != session.step:  # after a fit, the prior grid changes
        session.model.prepare_inference()
        reporter.grids(session.step, session.model, session.preview_images, training.seed,
                       grid_packet(session, config))
    return reason


def grid_packet(session: Session, config: RunConfig) -> bytes:
    """The XMP packet of the preview grids at this step: the recipe, and a private run's
    spend so far."""
    record = {**tool_record(), "model": config.model.type, "step": session.step,
              "config_sha256": config_hash(config), "preview_seed": config.training.seed}
    if session.privacy:
        record["privacy"] = session.privacy.spend(session.step).as_dict()
    return generated_packet(record)


def privacy_record(session: Session) -> dict:
    """A private run's epsilon so far, for the log ({} for other runs)."""
    if not session.privacy:
        return {}
    return {"privacy/epsilon": session.privacy.spend(session.step).epsilon}


def _divergence(losses: list[dict], model: GenerativeModel) -> str | None:
    """What is not finite (a loss, or the weights), or None."""
    for record in losses:
        for name, value in record.items():
            if not math.isfinite(float(value)):
                return f"{name} is {float(value)}"
    finite = [tf.reduce_all(tf.math.is_finite(v)) for v in model.trainable_variables]
    if finite and not bool(tf.reduce_all(finite)):
        return "the weights hold NaN or inf"
    return None


def _handle_divergence(session: Session, reporter: Reporter, training, problem: str,
                       rollbacks: int) -> None:
    """Stop with a clear error, or restore the last good checkpoint at a lower rate."""
    latest = session.checkpointer.latest
    where = (f"the last good checkpoint is {latest}" if latest
             else "no checkpoint was written before it")
    if training.on_nan == "stop" or rollbacks > MAX_ROLLBACKS or not latest:
        advice = ("lower optimizer.*.learning_rate or set training.on_nan: rollback"
                  if training.on_nan == "stop" else "lower optimizer.*.learning_rate")
        raise TrainingDiverged(f"training diverged by step {session.step} ({problem}); "
                               f"{where}; nothing after it was saved; {advice}")
    session.checkpointer.restore_latest()
    scales = {name: scale_learning_rate(optimizer, 0.5)
              for name, optimizer in session.model.optimizers_by_network().items()}
    diverged_at, session.step = session.step, int(session.checkpointer.checkpoint.step.numpy())
    reporter.rewind(session.step)
    reporter.message(f"step {diverged_at}: {problem}; rolled back to {latest} with the "
                     "learning rates halved")
    reporter.scalars(session.step, {"rollback_from_step": diverged_at,
                                    **{f"lr_scale/{name}": s for name, s in scales.items()}})
