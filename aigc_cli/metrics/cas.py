"""Classification Accuracy Score (Ravuri & Vinyals 2019, https://arxiv.org/abs/1905.10887):
the project's classifier trained on a class-conditional generator's labelled samples
alone, then measured on the real test split. It asks whether synthetic data can stand
in for the real data, the question private synthetic data is made for."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from aigc_cli.config import ClassifierConfig
from aigc_cli.data.sources import ImageSet
from aigc_cli.errors import InputError
from aigc_cli.io.images import to_uint8
from aigc_cli.io.progress import progress
from aigc_cli.metrics.accuracy import evaluate_accuracy

#: The classifier's training on the samples: configs/fashion_mnist_classifier.yaml's
#: network with group normalisation, Adam 1e-3, batch 128, this many steps (about 4
#: passes over 30,000 samples).
CAS_STEPS = 1000
CAS_BATCH = 128


def labelled_samples(model, count: int, seed: int, batch_size: int = 500):
    """``count`` samples (uint8) with their class labels, the classes in turn."""
    generate = tf.function(model.generate, reduce_retracing=True)
    rng = np.random.default_rng(seed)
    labels = np.arange(count, dtype=np.int32) % model.num_classes
    images = []
    for start in range(0, count, batch_size):
        latents = rng.standard_normal((min(batch_size, count - start), model.latent_dim))
        batch = generate(tf.constant(latents, tf.float32),
                         tf.constant(labels[start:start + len(latents)]))
        images.append(to_uint8(batch.numpy()))
    return np.concatenate(images), labels


def evaluate_cas(model, data: ImageSet, options: dict) -> dict:
    """``cas``: the test accuracy of a classifier trained on ``cas_samples`` samples."""
    if not getattr(model, "uses_labels", False):
        raise InputError("--cas needs a class-conditional generator (model.num_classes)")
    if data.labels is None:
        raise InputError(f"{data.origin} has no labels to measure the classifier against")
    from aigc_cli.models.classifier import Classifier, build_classifier_network

    count, steps = int(options.get("cas_samples") or 30000), int(options.get("cas_steps") or
                                                                 CAS_STEPS)
    seed = int(options.get("seed", 0))
    images, labels = labelled_samples(model, count, seed)
    # Group normalisation: batch norm's moving averages lag a short training (a test
    # with 100 steps scored chance in inference mode at 100% in training mode).
    network = build_classifier_network(ClassifierConfig(num_classes=model.num_classes,
                                                        normalization="group"),
                                       images.shape[1:])
    optimizer = keras.optimizers.Adam(1e-3)
    batches = iter(tf.data.Dataset.from_tensor_slices((images, labels)).repeat()
                   .shuffle(count, seed=seed).batch(CAS_BATCH, drop_remainder=True))

    @tf.function
    def step(batch_images, batch_labels):
        with tf.GradientTape() as tape:
            _, logits = network(tf.cast(batch_images, tf.float32) / 127.5 - 1.0, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=batch_labels, logits=logits))
        optimizer.apply_gradients(zip(tape.gradient(loss, network.trainable_variables),
                                      network.trainable_variables))

    for _ in progress(range(steps), "cas training", options.get("quiet", True), unit="step"):
        step(*next(batches))
    trained = Classifier(network, optimizer)
    return {"cas": evaluate_accuracy(trained, data, options)["accuracy"], "cas_samples": count,
            "cas_steps": steps}
