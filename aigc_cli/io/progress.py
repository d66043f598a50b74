"""The tqdm bar of the tool's per-item loops (stderr; ``--quiet`` turns it off); training
and sampling keep their own bars, which carry losses and byte counts."""

from __future__ import annotations

from typing import Iterable, TypeVar

from tqdm import tqdm

Item = TypeVar("Item")


def progress(items: Iterable[Item], desc: str, quiet: bool, total: int | None = None,
             unit: str = "it") -> Iterable[Item]:
    """``items`` with a progress bar unless ``quiet``; the bar clears itself when done."""
    return tqdm(items, desc=desc, total=total, unit=unit, disable=quiet, leave=False,
                dynamic_ncols=True)
