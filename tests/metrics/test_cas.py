"""Classification Accuracy Score: a classifier trained on samples alone, measured on
real test images. A generator that draws each asked-for class scores near 1; one that
draws the next class for every label scores near 0."""

import numpy as np
import pytest
import tensorflow as tf

from aigc_cli.data.sources import ImageSet
from aigc_cli.errors import InputError
from aigc_cli.metrics.cas import evaluate_cas

CLASSES = 3


def _pattern(labels, rng):
    """16x16 images in [-1, 1] with a bright block in the label's corner, plus noise."""
    images = np.full((len(labels), 16, 16, 1), -1.0, np.float32)
    for index, label in enumerate(labels):
        images[index, 4 * label:4 * label + 6, 4 * label:4 * label + 6] = 1.0
    return np.clip(images + 0.2 * rng.normal(size=images.shape), -1, 1).astype(np.float32)


class PatternGenerator:
    uses_labels, num_classes, latent_dim = True, CLASSES, 2

    def __init__(self, shift: int = 0):
        self.shift = shift
        rng = np.random.default_rng(2)  # 50 noisy variants of each class's pattern
        self.bank = tf.constant(np.stack([_pattern([label] * 50, rng) for label in range(CLASSES)]))

    def generate(self, latents, labels):
        drawn = (labels + self.shift) % CLASSES
        variant = tf.cast(tf.abs(latents[:, 0]) * 1000, tf.int32) % 50
        return tf.gather_nd(self.bank, tf.stack([drawn, variant], axis=1))


def _test_split():
    labels = np.arange(90) % CLASSES
    images = np.rint((_pattern(labels, np.random.default_rng(1)) + 1) * 127.5).astype(np.uint8)
    return ImageSet(images, labels, "patterns")


@pytest.mark.parametrize("shift, expected", [(0, 1.0), (1, 0.0)])
def test_cas_rewards_samples_of_the_asked_for_class(shift, expected):
    report = evaluate_cas(PatternGenerator(shift), _test_split(),
                          {"cas_samples": 300, "cas_steps": 60})
    assert report["cas"] == pytest.approx(expected, abs=0.1)
    assert report["cas_samples"] == 300


def test_cas_needs_a_class_conditional_generator():
    class Unconditional:
        uses_labels = False

    with pytest.raises(InputError, match="class-conditional"):
        evaluate_cas(Unconditional(), _test_split(), {})
