"""An image classifier trained through the shared loop.

Its use in this project is as a feature extractor: FID/KID need features of
real and generated images, and InceptionV3's ImageNet weights are neither
offline-friendly nor meaningful on 28x28 grayscale clothes.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from aigc_cli.config import ClassifierConfig, OptimizerConfig
from aigc_cli.models.base import GenerativeModel
from aigc_cli.models.layers import conv_block
from aigc_cli.models.optimizers import build_optimizer


def build_classifier_network(config: ClassifierConfig,
                             image_shape: tuple[int, int, int]) -> keras.Model:
    """image [N, H, W, C] in [-1, 1] → (features [N, feature_units], logits [N, classes])."""
    images = keras.Input(image_shape, name="images")
    x = images
    for width in config.widths:
        x = conv_block(x, width, 3, norm=config.normalization, act="relu")
        x = conv_block(x, width, 3, norm=config.normalization, act="relu")
        x = layers.MaxPooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    features = layers.Dense(config.feature_units, activation="relu", name="features")(x)
    logits = layers.Dense(config.num_classes, dtype="float32", name="logits")(
        layers.Dropout(config.dropout)(features))
    return keras.Model(images, [features, logits], name="classifier")


class Classifier(GenerativeModel):
    """The network, its optimizer; trains on (images, labels)."""

    uses_labels = True
    metric_names = ("accuracy",)
    private_networks = {"classifier": "model.normalization"}
    selection_metric = ("accuracy", "accuracy", "max")

    def __init__(self, network: keras.Model, optimizer: keras.optimizers.Optimizer):
        super().__init__(name="classifier_model")
        self.classifier = network
        self.classifier_optimizer = optimizer

    def train_step(self, batch):

        def losses(images, labels):
            _, logits = self.classifier(images, training=True)
            correct = tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels)
            return (tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits),
                    {"correct": tf.cast(correct, tf.float32)})

        loss, _, outputs = self.minimize(self.classifier_optimizer, losses, batch,
                                         self.classifier.trainable_variables)
        return {"loss": loss, "accuracy": self.batch_mean(outputs["correct"])}

    def features(self, images: tf.Tensor) -> tf.Tensor:
        """Penultimate-layer features [N, feature_units] of images in [-1, 1]."""
        return self.classifier(images, training=False)[0]

    def logits(self, images: tf.Tensor) -> tf.Tensor:
        return self.classifier(images, training=False)[1]

    def preview(self, images, seed):
        return {}

    def optimizers_by_network(self):
        return {"classifier": self.classifier_optimizer}

    def checkpoint_items(self):
        return {"classifier": self.classifier, "classifier_optimizer": self.classifier_optimizer}

    def inference_items(self):
        return {"classifier": self.classifier}


def build_classifier(model_config: ClassifierConfig,
                     optimizer_configs: dict[str, OptimizerConfig],
                     image_shape: tuple[int, int, int], seed: int) -> Classifier:
    """A classifier for ``image_shape`` with its optimizer (see ``ModelBuilder``)."""
    return Classifier(build_classifier_network(model_config, image_shape),
                      build_optimizer(optimizer_configs["classifier"], "classifier_optimizer"))
