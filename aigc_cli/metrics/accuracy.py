"""Top-1 accuracy of a classifier on a labelled split."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from aigc_cli.data.sources import ImageSet
from aigc_cli.errors import InputError


def evaluate_accuracy(model, data: ImageSet, options: dict, batch_size: int = 500) -> dict:
    """``accuracy`` in [0, 1] of ``model.logits`` against the split's labels."""
    if data.labels is None:
        raise InputError(f"{data.origin} has no labels to measure accuracy against")
    logits = tf.function(model.logits, reduce_retracing=True)
    predictions = np.concatenate([
        np.argmax(logits(tf.constant(data.images[i:i + batch_size], tf.float32) / 127.5 - 1.0)
                  .numpy(), axis=-1)
        for i in range(0, len(data.images), batch_size)])
    return {"accuracy": float(np.mean(predictions == data.labels))}
