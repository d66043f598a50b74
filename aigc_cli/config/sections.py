"""The config sections every run has: dataset (with its noise), optimizer, training, output.

Frozen dataclasses; each field's ``option`` carries its default, range and
help text (``aigc config keys`` prints them). Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from aigc_cli.config.schema import option


@dataclass(frozen=True)
class NoiseConfig:
    """How noisy copies of clean images are made (aigc_cli/data/noise.py says why each)."""

    sigma: float | tuple[float, ...] = option(
        25.0, "Gaussian noise std-dev in 0-255 units: one value, or [low, high] for a "
        "uniformly drawn level per image (blind training)", min=0.0, max=255.0)
    poisson_gain: Optional[float | tuple[float, ...]] = option(
        None, "Poisson-Gaussian (signal-dependent) noise: a in the variance a·x + (sigma/255)^2 "
        "of a pixel of intensity x in [0, 1] (Foi et al. 2008), one value or [low, high] "
        "drawn per image; null: Gaussian only", min=0.0, max=1.0)
    poisson_probability: float = option(
        1.0, "probability that an image gets that Poisson part (the others: Gaussian only), "
        "so that one model learns both", min=0.0, max=1.0)
    level_map: bool = option(
        False, "tell the network each Poisson-Gaussian image's noise level per pixel, "
        "sqrt(a·x + (sigma/255)^2) at the locally averaged intensity x (the map blind "
        "inference reads) instead of one equivalent white sigma; for models with noise_map")
    quantize_8bit: float = option(
        0.0, "probability that a noisy image is clipped to [0, 1] and rounded to 256 levels, "
        "as a saved 8-bit file is (0: never, the published convention; 1: always)",
        min=0.0, max=1.0)
    jpeg_probability: float = option(
        0.0, "probability that a noisy image is JPEG-compressed (after 8-bit clipping) at a "
        "quality drawn from jpeg_quality", min=0.0, max=1.0)
    jpeg_quality: tuple[int, ...] = option(
        (60, 95), "[low, high] JPEG quality range (1-100) of that compression", min=1, max=100)


@dataclass(frozen=True)
class DatasetConfig:
    type: Literal["fashion_mnist", "mnist", "cifar10", "folder"] = option(
        "fashion_mnist", "where images come from")
    path: Optional[str] = option(None, "a local folder (or, for the IDX datasets, the folder "
                                 "holding the four .gz files); searched first")
    split: Literal["train", "test"] = option("train", "split of the IDX datasets to train on")
    image_size: int = option(28, "images are resized and centre-cropped to this square size",
                             min=4, max=4096)
    channels: Literal[1, 3] = option(1, "1 for grayscale, 3 for RGB")
    horizontal_flip: bool = option(False, "random left-right flips while training")
    shuffle_buffer: Optional[int] = option(None, "shuffle buffer in images; null shuffles "
                                           "the whole dataset", min=1)
    download: bool = option(True, "fall back to Keras' downloader when no local copy exists")
    on_device: Optional[bool] = option(
        None, "true: keep a whole-image dataset under 2 GiB as one tensor on the training "
        "device and gather each batch inside the compiled step (the same batches as the "
        "tf.data pipeline); false: the tf.data pipeline; null: on with a GPU or TPU, off on "
        "a CPU (measured equal there)")
    patch_size: Optional[int] = option(None, "train on random square patches of this size "
                                       "cut from full-size images (denoisers) instead of "
                                       "whole images fitted to image_size", min=4, max=4096)
    random_rotations: bool = option(False, "random 90-degree rotations and flips of patches")
    noise: Optional[NoiseConfig] = option(None, "synthesize noisy copies of the clean images "
                                          "(denoisers): Gaussian, Poisson-Gaussian, 8-bit, "
                                          "JPEG")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """Shape of one training example: a patch, or a whole fitted image."""
        size = self.patch_size or self.image_size
        return (size, size, self.channels)


@dataclass(frozen=True)
class OptimizerConfig:
    type: Literal["adam", "adamw", "rmsprop", "sgd"] = option("adam", "Keras optimizer")
    learning_rate: float = option(1e-4, "step size", min=0.0, min_exclusive=True)
    beta_1: float = option(0.9, "Adam/AdamW first-moment decay", min=0.0, max=1.0)
    beta_2: float = option(0.999, "Adam/AdamW second-moment decay", min=0.0, max=1.0)
    epsilon: float = option(1e-7, "numerical stability term", min=0.0, min_exclusive=True)
    weight_decay: Optional[float] = option(None, "decoupled weight decay (AdamW, SGD)", min=0.0)
    momentum: float = option(0.0, "momentum of SGD and RMSprop", min=0.0, max=1.0)
    clipnorm: Optional[float] = option(None, "clip each gradient to this L2 norm",
                                       min=0.0, min_exclusive=True)
    schedule: Literal["constant", "cosine"] = option(
        "constant", "learning-rate schedule; cosine decays to 1% over decay_steps")
    decay_steps: Optional[int] = option(None, "steps of the cosine decay (default: "
                                        "training.steps)", min=1)
    warmup_steps: int = option(0, "steps of a linear ramp up to the rate, multiplying the "
                               "schedule (Adam's first steps are lr-sized whatever the "
                               "gradient: a warm start without a ramp forgets what it "
                               "started from)", min=0)


@dataclass(frozen=True)
class PrivacyConfig:
    """DP-SGD (docs/privacy.md): per-example clipping, Gaussian noise, Poisson sampling."""

    clip_norm: float = option(1.0, "each example's gradient is clipped to this L2 norm "
                              "(over all of a private network's weights)",
                              min=0.0, min_exclusive=True)
    noise_multiplier: Optional[float] = option(
        None, "Gaussian noise std-dev added to the summed clipped gradients, in units of "
        "clip_norm; null: calibrated from target_epsilon", min=0.0, min_exclusive=True)
    target_epsilon: Optional[float] = option(
        None, "the epsilon the configured run (training.steps or epochs) spends: the noise "
        "multiplier is calibrated to it, and training stops when it is spent",
        min=0.0, min_exclusive=True)
    delta: Optional[float] = option(
        None, "delta of the (epsilon, delta) guarantee; null: 1e-5, or 1/(10·N) for N "
        "training images where that is smaller (it must stay below 1/N)",
        min=0.0, max=1.0, min_exclusive=True)
    accountant: Literal["pld", "rdp"] = option(
        "pld", "dp-accounting's privacy loss distributions (tight) or Rényi DP (looser)")


@dataclass(frozen=True)
class TrainingConfig:
    batch_size: int = option(256, "global batch size (split across replicas)", min=1, max=65536)
    steps: int = option(10000, "total training steps; a larger value extends a resumed run",
                        min=1, max=1000000000000)
    epochs: Optional[float] = option(None, "train for this many passes over the training "
                                     "images instead (steps = ceil(epochs x images / "
                                     "batch_size), set when the run starts; overrides "
                                     "training.steps)", min=0.0, min_exclusive=True)
    seed: int = option(0, "seeds weights, data order, noise and preview latents", min=0)
    log_every: int = option(100, "steps between metrics.jsonl / TensorBoard scalars", min=1)
    sample_every: int = option(1000, "steps between image grids in samples/", min=1)
    checkpoint_every: int = option(1000, "steps between checkpoints (one is also written at "
                                   "the end, on max_seconds and on SIGINT/SIGTERM)", min=1)
    keep_checkpoints: int = option(3, "how many recent checkpoints to keep", min=1)
    max_seconds: Optional[float] = option(None, "stop after this much training wall time, "
                                          "with a checkpoint", min=0.0, min_exclusive=True)
    preview_images: int = option(64, "images in each preview grid", min=1, max=1024)
    init_from: Optional[str] = option(None, "start a new run from the weights of a run dir, a "
                                      "checkpoint or a built-in model (gray, color, "
                                      "gray-slim): "
                                      "fine-tuning, e.g. onto your own photos; a smaller "
                                      "denoiser without batch norm grows into a deeper, "
                                      "wider one, a wider one of the same depth slims into a "
                                      "narrower one (its strongest channels)")
    eval_every: int = option(0, "steps between evaluations during training (FID for GANs, "
                             "ELBO for VAEs, PSNR for denoisers); the best checkpoint by it is "
                             "kept in checkpoints/best/. 0: off", min=0)
    eval_samples: int = option(2000, "generated samples (GAN FID) or test images (VAE, "
                               "classifier) per evaluation during training", min=2, max=1000000)
    eval_images: Optional[str] = option(None, "denoisers: folder of clean images to evaluate "
                                        "on during training (noise added at eval_sigma)")
    eval_sigma: float = option(25.0, "denoisers: noise level (0-255 scale) of the evaluation "
                               "during training", min=0.0)
    deterministic: bool = option(False, "exact resume: N steps, resume, M steps equals N+M "
                                 "steps (dropout's random state is checkpointed too, and "
                                 "TensorFlow ops run deterministically: slower on GPUs)")
    on_nan: Literal["stop", "rollback"] = option(
        "stop", "when a loss or weight turns NaN/inf: stop (naming the step and the last good "
        "checkpoint) or rollback (restore that checkpoint, halve every learning rate, go on)")
    steps_per_call: int = option(1, "training steps per compiled call (fewer Python round "
                                 "trips: helps small models and accelerators)", min=1, max=100000)
    precision: Literal["float32", "mixed_bfloat16", "mixed_float16", "auto"] = option(
        "float32", "Keras dtype policy; mixed_float16 adds dynamic loss scaling (GPUs); "
        "mixed_bfloat16 measured 1.4-3.5x faster for convolutions on CPUs with AMX-BF16 and "
        "many times slower on CPUs without native bfloat16; auto: mixed_bfloat16 where "
        "bfloat16 is native (AMX-BF16 or AVX512-BF16 CPUs, GPUs of compute capability 8.0+), "
        "float32 elsewhere (manifest.json records the choice)")
    jit_compile: bool = option(False, "XLA-compile the training step (GPUs, TPUs; measured "
                               "slower on CPU)")
    privacy: Optional[PrivacyConfig] = option(
        None, "differentially private training (DP-SGD) of every network that reads "
        "training images; the run records the epsilon it spent (docs/privacy.md)")
    distribute: Literal["default", "mirrored", "multi_worker", "tpu"] = option(
        "default", "tf.distribute strategy: default (one device), mirrored (all local GPUs), "
        "multi_worker (machines listed in TF_CONFIG), tpu (AIGC_TPU)")


@dataclass(frozen=True)
class OutputConfig:
    run_dir: Optional[str] = option(None, "where checkpoints, samples, logs and metrics go; "
                                    "default runs/<config file name>")
