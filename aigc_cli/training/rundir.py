"""The run directory layout (DESIGN.md) and its small files; no TensorFlow."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from aigc_cli import __version__
from aigc_cli.config import RunConfig, load_config, save_config
from aigc_cli.config.schema import to_dict
from aigc_cli.errors import CheckpointError, ConfigError
from aigc_cli.io.files import append_line, atomic_write_text


@dataclass(frozen=True)
class RunDir:
    """Paths inside one run dir."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    def create(self, config: RunConfig, facts: dict) -> None:
        """Make the folders; write the resolved config and the manifest (versions,
        devices: ``facts``)."""
        for folder in (self.checkpoints, self.samples, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        save_config(config, self.config)
        previous = json.loads(self.manifest.read_text()) if self.manifest.is_file() else {}
        manifest = {**previous, "aigc": __version__, "python": platform.python_version(),
                    "platform": platform.platform(),
                    **facts, "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        atomic_write_text(self.manifest, json.dumps(manifest, indent=2) + "\n")

    def read_manifest(self) -> dict:
        """manifest.json's contents ({} when the run dir has none)."""
        return json.loads(self.manifest.read_text()) if self.manifest.is_file() else {}

    def log_metrics(self, record: dict) -> None:
        """Append one JSON object to metrics.jsonl."""
        append_line(self.metrics, json.dumps(record, sort_keys=False))

    def load_config(self) -> RunConfig:
        """The resolved config this run was trained with."""
        if not self.config.is_file():
            raise CheckpointError(f"{self.root} has no config.yaml; point at the run dir that "
                                  "`aigc train` wrote (it holds config.yaml and checkpoints/)")
        return load_config(self.config)

    def refuse_model_change(self, config: RunConfig) -> None:
        """A resume whose ``model`` section differs from the one the run's checkpoints were
        written with is a config error naming the first changed key (the weights would
        not fit, or would mean something else)."""
        if not self.config.is_file() or not (self.checkpoints / "checkpoint").is_file():
            return
        trained = to_dict(load_config(self.config).model)
        for key, value in to_dict(config.model).items():
            if trained.get(key) != value:
                raise ConfigError(
                    f"model.{key} is {value!r}, but {self.root} was trained with "
                    f"{trained.get(key)!r}: a run's model cannot change on resume; train into "
                    f"a new --run-dir (training.init_from: {self.root} starts from its weights)",
                    key=f"model.{key}")

    def refuse_privacy_change(self, settings: dict | None) -> None:
        """A resume must continue the accounting it started: the same privacy settings
        (or none on both sides), else a config error saying which changed."""
        if not (self.checkpoints / "checkpoint").is_file():
            return
        trained = self.read_manifest().get("privacy")
        trained = {key: trained[key] for key in settings or {}} if trained and settings \
            else trained
        if trained == settings:
            return
        if trained is None or settings is None:
            was, now = ("private", "not") if settings is None else ("not private", "private")
            raise ConfigError(f"{self.root} was trained {was}; a resume cannot make it {now} "
                              "(train into a new --run-dir)", key="training.privacy")
        changed = next(key for key in settings if settings[key] != trained[key])
        raise ConfigError(f"training.privacy: {changed} is {settings[changed]!r}, but {self.root} "
                          f"was trained with {trained[changed]!r}; a resume continues the same "
                          "accounting (train into a new --run-dir)", key="training.privacy")

    def record_privacy(self, spend: dict) -> None:
        """What the run has spent so far, into manifest.json's ``privacy``."""
        manifest = self.read_manifest()
        manifest["privacy"] = {**manifest.get("privacy", {}), **spend}
        atomic_write_text(self.manifest, json.dumps(manifest, indent=2) + "\n")
