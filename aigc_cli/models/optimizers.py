"""Keras optimizers from ``OptimizerConfig``."""

from __future__ import annotations

import keras

from aigc_cli.config import OptimizerConfig


def build_optimizer(config: OptimizerConfig, name: str) -> keras.optimizers.Optimizer:
    """A Keras optimizer named ``name`` (its variables show under that name)."""
    learning_rate = config.learning_rate
    if config.schedule == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(
            config.learning_rate, decay_steps=config.decay_steps, alpha=0.01)
    common = dict(learning_rate=learning_rate, clipnorm=config.clipnorm, name=name)
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
