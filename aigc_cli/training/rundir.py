"""The run directory layout (DESIGN.md) and its small files; no TensorFlow."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from aigc_cli import __version__
from aigc_cli.config import RunConfig, load_config, save_config
from aigc_cli.errors import CheckpointError
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
