"""Keras optimizers from ``OptimizerConfig``."""

from __future__ import annotations

import keras
import tensorflow as tf

from aigc_cli.config import OptimizerConfig


class ScaledSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A learning rate (a number or a schedule) times a linear warmup over the first
    ``warmup_steps`` and a scale the loop can lower (``training.on_nan: rollback``)
    without rebuilding or retracing anything."""

    def __init__(self, base, warmup_steps: int = 0):
        self.base = base
        self.warmup_steps = warmup_steps
        self.scale = tf.Variable(1.0, trainable=False, dtype=tf.float32,
                                 name="learning_rate_scale")

    def __call__(self, step):
        rate = tf.cast(self.base(step) if callable(self.base) else self.base, tf.float32)
        if self.warmup_steps:
            ramp = (tf.cast(step, tf.float32) + 1.0) / float(self.warmup_steps)
            rate *= tf.minimum(ramp, 1.0)
        return rate * self.scale

    def get_config(self):
        base = self.base.get_config() if callable(self.base) else self.base
        return {"base": base, "warmup_steps": self.warmup_steps,
                "scale": float(self.scale.numpy())}


def build_optimizer(config: OptimizerConfig, name: str) -> keras.optimizers.Optimizer:
    """A Keras optimizer named ``name`` (its variables show under that name)."""
    learning_rate = config.learning_rate
    if config.schedule == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(
            config.learning_rate, decay_steps=config.decay_steps, alpha=0.01)
    common = dict(learning_rate=ScaledSchedule(learning_rate, config.warmup_steps),
                  clipnorm=config.clipnorm, name=name)
    optimizer = _inner_optimizer(config, common)
    if keras.mixed_precision.global_policy().name == "mixed_float16":
        # float16 gradients underflow without a scaled loss; this skips non-finite steps.
        return keras.optimizers.LossScaleOptimizer(optimizer, name=f"{name}_loss_scale")
    return optimizer


def _inner_optimizer(config: OptimizerConfig, common: dict) -> keras.optimizers.Optimizer:
    if config.type == "adam":
        return keras.optimizers.Adam(beta_1=config.beta_1, beta_2=config.beta_2,
                                     epsilon=config.epsilon, **common)
    if config.type == "adamw":
        return keras.optimizers.AdamW(weight_decay=config.weight_decay or 0.004,
                                      beta_1=config.beta_1, beta_2=config.beta_2,
                                      epsilon=config.epsilon, **common)
    if config.type == "rmsprop":
        return keras.optimizers.RMSprop(momentum=config.momentum, epsilon=config.epsilon,
                                        **common)
    return keras.optimizers.SGD(momentum=config.momentum, weight_decay=config.weight_decay,
                                **common)


def loss_scale(optimizer: keras.optimizers.Optimizer):
    """The dynamic loss scale of a LossScaleOptimizer (mixed_float16), else None."""
    return getattr(optimizer, "dynamic_scale", None)


def minimize(optimizer: keras.optimizers.Optimizer, tape, loss, variables) -> None:
    """One update of ``variables`` from ``loss`` recorded on ``tape``.

    With loss scaling, the backward pass starts from the scale instead of 1 (the
    same as differentiating loss * scale) and the optimizer unscales.
    """
    scale = loss_scale(optimizer)
    seed = None if scale is None else tf.cast(scale, loss.dtype)
    gradients = tape.gradient(loss, variables, output_gradients=seed)
    optimizer.apply_gradients(zip(gradients, variables))


def scale_learning_rate(optimizer: keras.optimizers.Optimizer, factor: float) -> float:
    """Multiply the optimizer's learning rate by ``factor``; returns the new scale."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    schedule = inner._learning_rate  # the ScaledSchedule build_optimizer gave it
    schedule.scale.assign(schedule.scale * factor)
    return float(schedule.scale.numpy())
