"""Errors a user can understand and fix; the CLI prints them as one line.

``exit_code`` follows DESIGN.md: 2 for bad usage, config or input (the message
names what to fix), 1 for a failure at run time.
"""

from __future__ import annotations


class AigcError(Exception):
    """A failure reported to the user without a traceback (exit code 1)."""

    exit_code = 1


class InputError(AigcError):
    """Bad input the user can fix: a config, a data path, a checkpoint (exit 2)."""

    exit_code = 2


class ConfigError(InputError):
    """An invalid config value; ``key`` is its dotted path, when known."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


class DataError(InputError):
    """A dataset that cannot be found or read."""


class CheckpointError(InputError):
    """A run dir or checkpoint that is missing, foreign or damaged."""


class TrainingDiverged(AigcError):
    """A non-finite loss or weight stopped training (exit 1); nothing after the last
    good checkpoint was saved."""


class CheckpointWriteError(AigcError):
    """A checkpoint that could not be written (a full or read-only disk; exit 1)."""


class SetupError(InputError):
    """A missing package the command needs; the message names the pip command (exit 2)."""
