"""SIGINT/SIGTERM → a flag the loop checks at each step boundary."""

from __future__ import annotations

import signal
import threading


class StopRequest:
    """Context manager: the first SIGINT/SIGTERM sets ``requested``; a second one
    restores the default handler's behaviour (an immediate stop)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested: str | None = None
        self._previous = {}

    def _handle(self, signum, frame):
        if self.requested:
            self._restore()
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _restore(self):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def __exit__(self, *exc_info) -> None:
        self._restore()
