"""What the shared loop does differently in a private run: check the networks, give
the model its DP-SGD update, and stream Poisson-sampled batches."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from aigc_cli.config import RunConfig
from aigc_cli.data.pipeline import preview_batch
from aigc_cli.data.sources import load_images
from aigc_cli.errors import ConfigError
from aigc_cli.models.base import GenerativeModel
from aigc_cli.models.layers import MinibatchStdDev
from aigc_cli.privacy.dp_sgd import PrivateUpdate
from aigc_cli.privacy.plan import PrivacyPlan

#: Layers whose output for one example depends on the other examples of the batch:
#: their per-example gradients are not per example, so no clipping bounds one image.
MIXING_LAYERS = (keras.layers.BatchNormalization, MinibatchStdDev)


def refuse_mixing_layers(model: GenerativeModel) -> None:
    """ConfigError naming the key to change when a private network mixes examples."""
    if not model.private_networks:
        raise ConfigError(f"training.privacy: the {type(model).__name__} family does not "
                          "support private training yet", key="training.privacy")
    for name, key in model.private_networks.items():
        network = getattr(model, name)
        if network is None:  # an optional network this model does not have
            continue
        for layer in network._flatten_layers(include_self=False, recursive=True):
            if isinstance(layer, MIXING_LAYERS):
                raise ConfigError(
                    f"training.privacy: the {name} network has {type(layer).__name__}, which "
                    "mixes the examples of a batch (no per-example gradient, so no bound on "
                    f"what one image contributes); set {key} to remove it (group or layer "
                    "normalisation, or none, where the family offers them)", key=key)


def make_private(model: GenerativeModel, plan: PrivacyPlan) -> None:
    """Give ``model`` DP-SGD's update (a fresh secret noise key)."""
    refuse_mixing_layers(model)
    model.privacy = PrivateUpdate(plan.clip_norm, plan.noise_multiplier,
                                  plan.expected_batch_size)


def fit_to_replicas(plan: PrivacyPlan, strategy: tf.distribute.Strategy) -> PrivacyPlan:
    """The plan with its batch capacity rounded up to split evenly over the replicas
    (more room for the sample: the overflow chance only falls)."""
    replicas = strategy.num_replicas_in_sync
    capacity = -(-plan.batch_capacity // replicas) * replicas
    return dataclasses.replace(plan, batch_capacity=capacity)


def preview_images(config: RunConfig, count: int) -> np.ndarray:
    """The preview grids' images in a private run: never training images (a grid of
    reconstructions would publish them). The other split of a dataset that has one;
    else blank images (a GAN's grid uses only their number)."""
    dataset = config.dataset
    if dataset.type != "folder":
        held_out = "test" if dataset.split == "train" else "train"
        return preview_batch(load_images(dataset, held_out), dataset, count)
    return np.zeros((count, *dataset.image_shape), np.uint8)
