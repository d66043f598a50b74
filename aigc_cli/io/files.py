"""Atomic file writes: a reader sees the old file or the new one, never half."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    os.chmod(temporary, 0o644)  # mkstemp's 0600 would make outputs private to the user
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def atomic_write_bytes(path: str | Path, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    ``durable`` also fsyncs before the rename, so the file survives a power
    cut; bulk outputs (thousands of samples) skip it for speed.
    """
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as stream:
            stream.write(data)
            if durable:
                stream.flush()
                os.fsync(stream.fileno())


def write_new_files(items: list[tuple[Path, bytes]]) -> None:
    """Write many small new files, each under a temporary name then renamed, so none is
    ever seen half-written; no fsync and no random temporary names (bulk outputs)."""
    for parent in {path.parent for path, _ in items}:
        parent.mkdir(parents=True, exist_ok=True)
    for path, data in items:
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(temporary, "wb") as stream:  # mode 0666 & ~umask, like any new file
                stream.write(data)
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def append_line(path: str | Path, line: str) -> None:
    """Append one line and flush it to disk (for metrics.jsonl)."""
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(line.rstrip("\n") + "\n")
        stream.flush()
        os.fsync(stream.fileno())


def cache_dir() -> Path:
    """Where computed, re-creatable files go (reference statistics): $XDG_CACHE_HOME/aigc."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aigc"
