"""The tf.distribute strategy named by ``training.distribute``."""

from __future__ import annotations

import tensorflow as tf


def make_strategy(name: str) -> tf.distribute.Strategy:
    """``default``: one device (the GPU when there is one); ``mirrored``: every local GPU.

    With no GPU, ``mirrored`` replicates over the logical CPU devices
    (``AIGC_CPU_DEVICES``, see ``tf_runtime``). Everything the loop builds is
    created inside ``strategy.scope()``, so the same code runs on any of them.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if tf.config.list_logical_devices("GPU"):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.MirroredStrategy(
        devices=[device.name for device in tf.config.list_logical_devices("CPU")])
