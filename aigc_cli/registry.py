"""Name → implementation maps that import their implementation on first use.

Entries are ``"package.module:attribute"`` strings, so listing and validating
names (``names()``) never imports TensorFlow; ``get()`` imports the module the
first time a name is asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

from aigc_cli.config.schema import did_you_mean
from aigc_cli.errors import ConfigError


class Registry:
    """A lazily importing mapping from short lower-case names to objects."""

    def __init__(self, kind: str, entries: dict[str, str]):
        self.kind = kind
        self._entries = dict(entries)

    def names(self) -> list[str]:
        """The registered names, sorted; imports nothing."""
        return sorted(self._entries)

    def check(self, name: str, key: str | None = None) -> None:
        """Raise ConfigError listing the valid names when ``name`` is unknown."""
        if name not in self._entries:
            raise ConfigError(
                f"unknown {self.kind} '{name}'{did_you_mean(name, self._entries)} "
                f"(choose one of: {', '.join(self.names())})", key=key)

    def get(self, name: str) -> Any:
        """The object registered under ``name``, imported on first use."""
        self.check(name)
        module_name, _, attribute = self._entries[name].partition(":")
        return getattr(importlib.import_module(module_name), attribute)
