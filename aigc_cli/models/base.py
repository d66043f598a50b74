"""What every model family gives the shared loop, ``sample`` and ``eval``.

A family is a ``keras.Model`` subclass that owns its networks, optimizers and
random state. The loop never branches on the family: it calls ``train_step``
inside ``strategy.run``, ``preview`` for grids, and checkpoints
``checkpoint_items()``; inference restores only ``inference_items()``.
"""

from __future__ import annotations

from typing import Mapping, Protocol

import keras
import numpy as np
import tensorflow as tf

from aigc_cli.models.optimizers import minimize


class GenerativeModel(keras.Model):
    """Base class of the model families."""

    #: Size of the latent vector ``generate`` takes; 0 for families that have none.
    latent_dim: int = 0
    #: Names in ``aigc_cli.metrics.METRICS`` that ``aigc eval`` reports for this family.
    metric_names: tuple[str, ...] = ()
    #: Whether ``train_step`` takes (images, labels) instead of images.
    uses_labels: bool = False
    #: Whether ``aigc eval`` measures on the dataset's test split (else the metric
    #: brings its own data, like a denoiser's --clean folder).
    evaluates_on_split: bool = True

    #: (metric name, result key, "min" or "max"): what ``training.eval_every`` measures
    #: during training and how the best checkpoint is chosen.
    selection_metric: tuple[str, str, str] | None = None
    #: Serving functions ``aigc export`` writes (``aigc_cli/inference/export.py``); the first is
    #: the SavedModel's ``serving_default``.
    serving: tuple[str, ...] = ()

    #: DP-SGD's update when ``training.privacy`` is set (the loop sets it), else None.
    privacy = None
    #: The networks that read training images (a private run clips and noises their
    #: gradients; the others see data only through them). The family's config key that
    #: removes a layer mixing examples of a batch is named for each.
    private_networks: dict[str, str] = {}

    def train_step(self, batch) -> dict[str, tf.Tensor]:
        """One update of every network on a per-replica batch: images [N, H, W, C] in
        [-1, 1], or (images, labels) when ``uses_labels``.

        Returns scalar losses already divided by the replica count, so that a
        SUM across replicas is the global mean.
        """
        raise NotImplementedError

    def private_train_step(self, batch_and_mask) -> dict[str, tf.Tensor]:
        """``train_step`` on a fixed-shape Poisson-sampled batch whose ``mask`` [N] says
        which examples were selected (DP-SGD)."""
        batch, self.privacy.mask = batch_and_mask
        return self.train_step(batch)

    def minimize(self, optimizer: keras.optimizers.Optimizer, losses_fn, inputs: tuple,
                 variables) -> tuple[tf.Tensor, tf.Tensor, dict]:
        """Update ``variables`` from ``losses_fn(*inputs)`` = (per-example losses [N],
        a dict of per-example outputs): by the gradient of their replica mean, or, in a
        private run, by DP-SGD's clipped and noised gradient (one example at a time,
        vectorised). Returns (the mean loss to log, per-example losses, outputs)."""
        if self.privacy is None:
            with tf.GradientTape() as tape:
                losses, outputs = losses_fn(*inputs)
                loss = replica_mean(losses)
            minimize(optimizer, tape, loss, variables)
            return loss, losses, outputs
        from aigc_cli.privacy.dp_sgd import apply_private

        losses, outputs = apply_private(self.privacy, optimizer, losses_fn, inputs, variables)
        return self.batch_mean(losses), losses, outputs

    def batch_mean(self, values: tf.Tensor) -> tf.Tensor:
        """Mean of per-example values over this replica's batch (the examples a Poisson
        sample selected, in a private run), scaled so replicas sum to the global mean."""
        if self.privacy is None:
            return replica_mean(values)
        return self.privacy.masked_mean(values)

    def preview(self, images: tf.Tensor, seed: int) -> dict[str, tf.Tensor]:
        """Named image batches [N, H, W, C] in [-1, 1] for the grids in samples/.

        ``images`` is a fixed batch of training images; ``seed`` fixes any noise.
        """
        raise NotImplementedError

    def generate(self, latents: tf.Tensor) -> tf.Tensor:
        """Images [N, H, W, C] in [-1, 1] from latents [N, latent_dim]."""
        raise NotImplementedError

    def after_step(self) -> None:
        """Bookkeeping after each update, in cross-replica context (e.g. weight averages).

        Runs inside the compiled train function, outside ``strategy.run``.
        """
        return None  # a statement, so AutoGraph can convert the default body

    def prepare_inference(self) -> None:
        """Bring inference-only state up to date before a checkpoint, a grid or an
        evaluation (e.g. an averaged generator's batch-norm statistics). Eager."""
        return None

    #: Whether ``fit_to_data`` does anything; then the loop calls it before each evaluation
    #: and before the closing checkpoint (not on a signal: the checkpoint comes first).
    fits_to_data: bool = False
    #: ``inference_items`` that ``fit_to_data`` makes afresh: ``training.init_from``
    #: leaves them out, so a donor run without them can start this one.
    refitted_items: tuple[str, ...] = ()

    def fit_to_data(self, images: np.ndarray, step: int) -> None:
        """Fit inference state that reads the training images once the networks are
        trained (a VAE's latent density): ``images`` uint8 [N, H, W, C]. Eager."""
        return None

    def checkpoint_items(self) -> dict[str, object]:
        """Everything training restores: networks, optimizers, random state."""
        raise NotImplementedError

    def inference_items(self) -> dict[str, object]:
        """The subset of ``checkpoint_items`` that inference needs."""
        raise NotImplementedError

    #: Whether ``adapt_weights`` can start this model from a smaller one of its family.
    grows_from_smaller = False

    def adapt_weights(self, name: str, donor_weights: list) -> list:
        """``training.init_from``'s weights for network ``name`` made to fit it; by
        default as they are (a family that can grow a smaller network overrides this)."""
        return donor_weights

    def learning_rates(self) -> dict[str, float]:
        """Current learning rate of each optimizer, for logs."""
        return {f"lr/{name}": float(keras.ops.convert_to_numpy(opt.learning_rate))
                for name, opt in self.optimizers_by_network().items()}

    def optimizers_by_network(self) -> Mapping[str, keras.optimizers.Optimizer]:
        """Each trained network's optimizer, by the name used in ``optimizer.*``."""
        raise NotImplementedError

    def build_optimizers(self) -> None:
        """Create optimizer slots now, so a checkpoint restores them in one pass."""
        for name, optimizer in self.optimizers_by_network().items():
            optimizer.build(getattr(self, name).trainable_variables)


class ModelBuilder(Protocol):
    """The signature of every entry in ``MODEL_FAMILIES``."""

    def __call__(self, model_config, optimizer_configs, image_shape: tuple[int, int, int],
                 seed: int) -> GenerativeModel: ...


def replica_mean(values: tf.Tensor) -> tf.Tensor:
    """Mean over this replica's examples, scaled so replicas sum to the global mean."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return tf.reduce_mean(values) / tf.cast(replicas, values.dtype)


def update_average(average: keras.Model, live: keras.Model, decay) -> None:
    """One step of an exponential moving average of ``live``'s weights into ``average``."""
    for averaged, current in zip(average.trainable_variables, live.trainable_variables):
        averaged.assign(decay * averaged + (1.0 - decay) * current)
