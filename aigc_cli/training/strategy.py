"""The tf.distribute strategy named by ``training.distribute``."""

from __future__ import annotations

import tensorflow as tf


def make_strategy(name: str) -> tf.distribute.Strategy:
    """``default``: one device (the GPU when there is one); ``mirrored``: all local GPUs.

    Everything the loop builds is created inside ``strategy.scope()``, so the
    same code runs on one device or many.
    """
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
