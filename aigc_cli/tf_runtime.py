"""Importing TensorFlow for a command, without its C++ start-up chatter."""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def _stderr_fd_silenced():
    """Point file descriptor 2 at /dev/null; TensorFlow's native logger writes
    "oneDNN custom operations are on" there before any log level applies."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow(quiet: bool = True):
    """Import TensorFlow (quietly unless ``quiet`` is false) and return the module."""
    if not quiet or "tensorflow" in sys.modules:
        import tensorflow

        return tensorflow
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_fd_silenced():
        import tensorflow
        import keras  # noqa: F401  (its first import also logs)

        tensorflow.constant(0)  # device initialisation logs too
    return tensorflow
