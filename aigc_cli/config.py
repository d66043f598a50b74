"""The typed run config: YAML in, one frozen ``RunConfig`` out, validated.

``load_config`` is the only place that reads YAML (``yaml.safe_load``: no tags,
nothing executed). ``--set KEY=VALUE`` overrides are merged into the parsed
YAML before validation, so they get the same checks and messages as the file.
Standard library and PyYAML only: never TensorFlow.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

import yaml

from aigc_cli.errors import ConfigError
from aigc_cli.model_configs import (MODEL_CONFIGS, ClassifierConfig, DCGANConfig,  # noqa: F401
                                    DenoiserConfig, DenoisingVAEConfig, VAEConfig,
                                    upsampling_plan)
from aigc_cli.schema import did_you_mean, option, parse, section, to_dict
from aigc_cli.utils.files import atomic_write_text

log = logging.getLogger("aigc")


@dataclass(frozen=True)
class NoiseConfig:
    sigma: float | tuple[float, ...] = option(
        25.0, "Gaussian noise std-dev in 0-255 units: one value, or [low, high] for a "
        "uniformly drawn level per image (blind training)", min=0.0, max=255.0)


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
                                          "(denoisers): dataset.noise.sigma")

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
                                      "checkpoint or a built-in model (gray, color): "
                                      "fine-tuning, e.g. onto your own photos; a smaller "
                                      "denoiser without batch norm grows into a deeper, "
                                      "wider one")
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
    precision: Literal["float32", "mixed_bfloat16", "mixed_float16"] = option(
        "float32", "Keras dtype policy; mixed_float16 adds dynamic loss scaling (GPUs); "
        "mixed_bfloat16 measured 1.4-3.5x faster for convolutions on CPUs with AMX-BF16")
    jit_compile: bool = option(False, "XLA-compile the training step (GPUs, TPUs; measured "
                               "slower on CPU)")
    distribute: Literal["default", "mirrored", "multi_worker", "tpu"] = option(
        "default", "tf.distribute strategy: default (one device), mirrored (all local GPUs), "
        "multi_worker (machines listed in TF_CONFIG), tpu (AIGC_TPU)")


@dataclass(frozen=True)
class OutputConfig:
    run_dir: Optional[str] = option(None, "where checkpoints, samples, logs and metrics go; "
                                    "default runs/<config file name>")


@dataclass(frozen=True)
class RunConfig:
    """Everything one run needs; built once at the CLI edge and passed down."""

    model: Any = section(DCGANConfig, "model family and architecture (model.type)")
    dataset: DatasetConfig = section(DatasetConfig, "training images")
    optimizer: dict[str, OptimizerConfig] = dataclasses.field(
        default_factory=dict, metadata={"help": "one optimizer per trained network"})
    training: TrainingConfig = section(TrainingConfig, "loop length, batch, intervals")
    output: OutputConfig = section(OutputConfig, "where the run is written")

    def replace(self, **sections: Any) -> "RunConfig":
        return dataclasses.replace(self, **sections)

    def with_epochs_resolved(self, example_count: int) -> "RunConfig":
        """``training.epochs`` turned into ``training.steps`` for a dataset of
        ``example_count`` images (and a cosine decay left open set to match)."""
        if self.training.epochs is None:
            return self
        steps = max(1, math.ceil(self.training.epochs * example_count
                                 / self.training.batch_size))
        return self.replace(training=dataclasses.replace(self.training, steps=steps),
                            optimizer=_cosine_decay_filled(self.optimizer, steps))


TOP_LEVEL = ("model", "dataset", "optimizer", "training", "output")


def warn_if_a_schedule_ends_early(config: RunConfig) -> None:
    """Log a cosine decay that ends before the run does (steps resolved)."""
    # The decay length is fixed when a run starts (config.yaml records it), so that a
    # resumed run replays the same schedule; a longer run needs it stretched by hand.
    steps = config.training.steps
    for name, settings in config.optimizer.items():
        if settings.schedule == "cosine" and (settings.decay_steps or steps) < steps:
            log.warning("optimizer.%s: the cosine decay ends at step %d; steps %d-%d run at "
                        "1%% of the learning rate (set optimizer.%s.decay_steps=%d to stretch "
                        "it)", name, settings.decay_steps, settings.decay_steps + 1, steps,
                        name, steps)


def _cosine_decay_filled(optimizer: dict[str, OptimizerConfig],
                         steps: int) -> dict[str, OptimizerConfig]:
    """Cosine schedules without a decay length decay over the whole run."""
    return {name: dataclasses.replace(o, decay_steps=steps)
            if o.schedule == "cosine" and o.decay_steps is None else o
            for name, o in optimizer.items()}


def build_config(data: Any) -> RunConfig:
    """Validate plain YAML data into a RunConfig (errors name the dotted key)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"the config must be a mapping of sections ({', '.join(TOP_LEVEL)}), "
                          f"got {type(data).__name__}")
    for key in data:
        if key not in TOP_LEVEL:
            raise ConfigError(f"unknown section '{key}'{did_you_mean(str(key), TOP_LEVEL)} "
                              f"(sections: {', '.join(TOP_LEVEL)})", key=str(key))
    model = _build_model(data.get("model"))
    dataset = parse(DatasetConfig, data.get("dataset"), "dataset")
    optimizer = _build_optimizers(type(model).optimizers, data.get("optimizer"))
    training = parse(TrainingConfig, data.get("training"), "training")
    if training.epochs is None:  # else the steps are known once the data is (see above)
        optimizer = _cosine_decay_filled(optimizer, training.steps)
    config = RunConfig(model=model, dataset=dataset, optimizer=optimizer, training=training,
                       output=parse(OutputConfig, data.get("output"), "output"))
    model.check(dataset)
    if dataset.noise is not None and config.model.type not in ("denoiser", "denoising_vae"):
        raise ConfigError(f"dataset.noise is for denoisers; a {config.model.type} model trains "
                          "on clean images", key="dataset.noise")
    sigma = dataset.noise.sigma if dataset.noise else 0.0
    if isinstance(sigma, tuple) and (len(sigma) != 2 or sigma[0] > sigma[1]):
        raise ConfigError(f"dataset.noise.sigma must be one number or [low, high], got "
                          f"{list(sigma)}", key="dataset.noise.sigma")
    if dataset.type == "folder" and not dataset.path:
        raise ConfigError("dataset.path is required for dataset.type 'folder'",
                          key="dataset.path")
    return config


def _build_model(data: Any) -> Any:
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError("model must be a mapping with a 'type' key", key="model")
    family = data.get("type", "dcgan")
    if family not in MODEL_CONFIGS:
        raise ConfigError(f"unknown model.type '{family}'{did_you_mean(str(family), MODEL_CONFIGS)}"
                          f" (choose one of: {', '.join(sorted(MODEL_CONFIGS))})",
                          key="model.type")
    return parse(MODEL_CONFIGS[family], data, "model")


def _build_optimizers(names: tuple[str, ...], data: Any) -> dict[str, OptimizerConfig]:
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"optimizer must map each network ({', '.join(names)}) to its "
                          "settings", key="optimizer")
    for key in data:
        if key not in names:
            raise ConfigError(f"unknown key 'optimizer.{key}'{did_you_mean(str(key), names)} "
                              f"(this model trains: {', '.join(names)})", key=f"optimizer.{key}")
    return {name: parse(OptimizerConfig, data.get(name), f"optimizer.{name}") for name in names}


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b=value`` into (['a', 'b'], YAML-typed value)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects KEY=VALUE (like training.steps=100), got '{text}'")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as error:
        raise ConfigError(f"--set {key}: value '{raw}' is not valid YAML ({_first_line(error)})")
    return key.strip().split("."), value


def apply_overrides(data: dict, overrides: list[str] | tuple[str, ...]) -> dict:
    """A copy of ``data`` with each ``KEY=VALUE`` override set at its dotted path."""
    data = _deep_copy(data)
    for text in overrides:
        parts, value = parse_override(text)
        node = data
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                prefix = ".".join(parts[:depth + 1])
                raise ConfigError(f"--set {'.'.join(parts)}: '{prefix}' is a value, not a "
                                  "section", key=prefix)
            node = child
        node[parts[-1]] = value
    return data


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Read, override and validate a YAML config; errors name the file or --set key."""
    path = Path(path)
    data = read_yaml(path)
    merged = apply_overrides(data, overrides)
    overridden = [parse_override(text)[0] for text in overrides]
    try:
        config = build_config(merged)
    except ConfigError as error:
        raise ConfigError(f"{_source_of(error.key, overridden, path)}: {error}",
                          key=error.key) from None
    if config.output.run_dir is None:
        config = config.replace(output=OutputConfig(run_dir=str(Path("runs") / path.stem)))
    return config


def read_yaml(path: Path) -> dict:
    """The mapping in a YAML file, via ``yaml.safe_load``; ConfigError otherwise."""
    if path.is_dir():
        raise ConfigError(f"{path} is a folder; expected a YAML config file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config {path}: {error}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {_first_line(error)}") from None
    if data is None:
        raise ConfigError(f"{path}: the file is empty; see configs/ for examples")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (model, dataset, ...), "
                          f"got a {type(data).__name__}")
    return data


def save_config(config: RunConfig, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically."""
    atomic_write_text(path, dump_config(config))


class _ConfigDumper(yaml.SafeDumper):
    """Block-style sections with short lists inline: ``generator_widths: [256, 128]``."""


_ConfigDumper.add_representer(
    list, lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:seq", data,
                                                         flow_style=True))


def config_hash(config: RunConfig) -> str:
    """SHA-256 of the resolved recipe (every section but ``output``): equal hashes, equal
    training settings, wherever the run was written."""
    import hashlib
    import json

    recipe = {name: value for name, value in to_dict(config).items() if name != "output"}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def dump_config(config: RunConfig) -> str:
    """The resolved config as YAML text, every default included."""
    return yaml.dump(to_dict(config), Dumper=_ConfigDumper, sort_keys=False,
                     default_flow_style=False)


def reference_rows(model_type: str = "dcgan") -> list[tuple[str, str, Any, str]]:
    """(key, type, default, help) for every config key of one model family."""
    from aigc_cli.schema import describe_fields

    model_class = MODEL_CONFIGS[model_type]
    rows = describe_fields(model_class, "model.")
    for network in model_class.optimizers:
        rows += describe_fields(OptimizerConfig, f"optimizer.{network}.")
    for name, cls in (("dataset", DatasetConfig), ("training", TrainingConfig),
                      ("output", OutputConfig)):
        rows += describe_fields(cls, f"{name}.")
    return rows


def _source_of(key: str | None, overridden: list[list[str]], path: Path) -> str:
    if key:
        for parts in overridden:
            dotted = ".".join(parts)
            if key == dotted or key.startswith(dotted + ".") or dotted.startswith(key + "."):
                return f"--set {dotted}"
    return str(path)


def _first_line(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text if len(text) < 200 else text[:197] + "..."


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data
