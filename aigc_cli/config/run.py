"""The typed run config: YAML in, one frozen ``RunConfig`` out, validated.

``load_config`` is the only place that reads YAML (``yaml.safe_load``: no tags,
nothing executed). ``--set KEY=VALUE`` overrides are merged into the parsed
YAML before validation, so they get the same checks and messages as the file.
Standard library and PyYAML only: never TensorFlow.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from aigc_cli.config.families import MODEL_CONFIGS, DCGANConfig
from aigc_cli.config.schema import did_you_mean, parse, section, to_dict
from aigc_cli.config.sections import (DatasetConfig, OptimizerConfig, OutputConfig,
                                      TrainingConfig)
from aigc_cli.errors import ConfigError
from aigc_cli.io.files import atomic_write_text

log = logging.getLogger("aigc")


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
    if dataset.noise is not None:
        _check_noise_ranges(dataset.noise)
    privacy = training.privacy
    if privacy is not None and privacy.noise_multiplier is None and privacy.target_epsilon is None:
        raise ConfigError("training.privacy needs noise_multiplier (the noise, in units of "
                          "clip_norm) or target_epsilon (the budget the run spends)",
                          key="training.privacy")
    if privacy is not None and getattr(model, "prior_components", 0):
        # The fit reads every training image's code with no clipping or noise.
        raise ConfigError("model.prior_components fits a density to the training images "
                          "outside DP-SGD, which training.privacy would not cover: set it to 0 "
                          "in a private run", key="model.prior_components")
    if privacy is not None and training.distribute in ("multi_worker", "tpu"):
        # Each worker would draw its own secret sampling key: the union of their samples
        # is not the Poisson sample the accounting assumes.
        raise ConfigError(f"training.privacy runs on one machine (training.distribute: default "
                          f"or mirrored), not {training.distribute}", key="training.distribute")
    if dataset.type == "folder" and not dataset.path:
        raise ConfigError("dataset.path is required for dataset.type 'folder'",
                          key="dataset.path")
    return config


def _check_noise_ranges(noise) -> None:
    for name in ("sigma", "poisson_gain", "jpeg_quality"):
        value = getattr(noise, name)
        if isinstance(value, tuple) and (len(value) != 2 or value[0] > value[1]):
            single = "" if name == "jpeg_quality" else "one number or "
            raise ConfigError(f"dataset.noise.{name} must be {single}[low, high], got "
                              f"{list(value)}", key=f"dataset.noise.{name}")


def _build_model(data: Any) -> Any:
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError("model must be a mapping with a 'type' key", key="model")
    family = data.get("type", "dcgan")
    if not isinstance(family, str) or family not in MODEL_CONFIGS:
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
    recipe = {name: value for name, value in to_dict(config).items() if name != "output"}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def dump_config(config: RunConfig) -> str:
    """The resolved config as YAML text, every default included."""
    return yaml.dump(to_dict(config), Dumper=_ConfigDumper, sort_keys=False,
                     default_flow_style=False)


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
